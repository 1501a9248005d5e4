"""The CIS Docker Benchmark's container runtime checks (section 5) that a compose file decides.

Numbers are those of CIS Docker Benchmark v1.6.0 (the version docker-bench-security 1.6.0
implements). What a running engine decides (swarm mode 5.1, sshd 5.7, `docker exec` 5.23-5.24)
or what revops' own rules already hold (5.9 ports-api-only, 5.14 ports-all-interfaces, 5.27
healthcheck-missing, 5.28 image-unpinned) is not repeated here. 5.15 (on-failure:5) is left
out on purpose: revops' services run `restart: unless-stopped` (restart-missing).

Dangerous settings are errors; hardening that is merely absent (no cap_drop, no limits, no
no-new-privileges) is one warning per service, so a file that forgets all of it reads as one
line per service, not five.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from revops.validate import ports
from revops.validate.documents import ComposeDoc
from revops.validate.findings import ERROR, WARNING, Finding
from revops.validate.registry import Context, rule, service_key

# docker run's --pid/--ipc/--uts/--userns and compose's cgroup: "host" shares the host's namespace.
NAMESPACES = {
    "network_mode": ("network", "5.10"),
    "pid": ("process", "5.16"),
    "ipc": ("IPC", "5.17"),
    "uts": ("UTS", "5.21"),
    "userns_mode": ("user", "5.31"),
    "cgroup": ("cgroup", "5.25"),
}
# Docker's default capability set (moby's oci/caps defaults): adding one of these back after
# cap_drop: [ALL] is the benchmark's own remedy; anything else widens the container.
DEFAULT_CAPS = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                          "NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
# security_opt values that switch a confinement off: (what, CIS number)
UNCONFINED = {
    "seccomp:unconfined": ("the seccomp profile", "5.22"),
    "apparmor:unconfined": ("the AppArmor profile", "5.2"),
    "label:disable": ("SELinux labelling", "5.3"),
    "systempaths:unconfined": ("the masking of /proc and /sys paths", None),  # no number of its own
}
# CIS 5.6's sensitive directories, and Docker's own data; a mount of one, of anything under
# it, or of a directory holding it exposes the host.
SENSITIVE_DIRS = ("/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/sys", "/usr", "/var/lib/docker")
# Read-only mounts of these are the usual way to share the time zone and CA roots: harmless.
HARMLESS_READ_ONLY = ("/etc/localtime", "/etc/timezone", "/usr/share/zoneinfo", "/etc/ssl/certs",
                      "/etc/ca-certificates", "/usr/share/ca-certificates")
# The engine's API: whoever reaches one of these controls the host (CIS 5.32).
ENGINE_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock",
                  "/run/containerd/containerd.sock", "/var/run/containerd/containerd.sock")


def _services(doc: ComposeDoc):
    return doc.services().items()


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


@rule("privileged", ERROR, "no service (nor a lifecycle hook of one) runs privileged (CIS 5.5)")
def privileged(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for name, svc in _services(doc):
        if svc.get("privileged") is True:
            found.append(doc.finding(name, service_key(name, "privileged"), "privileged", ERROR,
                                     "privileged: true gives the container every capability and device of the "
                                     "host (CIS Docker Benchmark 5.5)"))
        for hook in ("pre_start", "post_start", "pre_stop"):
            steps = svc.get(hook)
            for i, step in enumerate(steps if isinstance(steps, list) else []):
                if isinstance(step, dict) and step.get("privileged") is True:
                    found.append(doc.finding(name, service_key(name, hook, str(i), "privileged"), "privileged", ERROR,
                                             f"{hook} hook {i} runs privileged: the host's every capability "
                                             "(CIS Docker Benchmark 5.5)"))
    return found


@rule("host-namespace", ERROR, "no service shares a host namespace: network_mode, pid, ipc, uts, "
      "userns_mode or cgroup set to host (CIS 5.10, 5.16, 5.17, 5.21, 5.31)")
def host_namespace(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for name, svc in _services(doc):
        for key, (what, number) in NAMESPACES.items():
            if str(svc.get(key, "")).strip().lower() == "host":
                found.append(doc.finding(name, service_key(name, key), "host-namespace", ERROR,
                                         f"{key}: host shares the host's {what} namespace with the container "
                                         f"(CIS Docker Benchmark {number})"))
    return found


def _capability(name: str) -> str:
    upper = name.strip().upper()
    return upper[4:] if upper.startswith("CAP_") else upper


@rule("cap-add", ERROR, "cap_add adds no capability beyond Docker's default set, never ALL (CIS 5.4)")
def cap_add(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for name, svc in _services(doc):
        for i, cap in enumerate(_strings(svc.get("cap_add"))):
            capability = _capability(cap)
            if capability == "ALL":
                message = "cap_add: ALL gives the container every capability of the host"
            elif capability not in DEFAULT_CAPS:
                message = f"cap_add: {capability} is beyond Docker's default set"
            else:
                continue
            found.append(doc.finding(name, service_key(name, "cap_add", str(i)), "cap-add", ERROR,
                                     f"{message}: drop it, or drop ALL and add back only what the service needs "
                                     "(CIS Docker Benchmark 5.4)"))
    return found


def security_options(svc: dict[str, Any]) -> list[tuple[int, str]]:
    """security_opt entries as (index, "key:value") in lower case (docker takes ':' or '=')."""
    return [(i, opt.strip().lower().replace("=", ":", 1)) for i, opt in enumerate(_strings(svc.get("security_opt")))]


@rule("security-opt-unconfined", ERROR, "security_opt switches off no confinement: seccomp, AppArmor, "
      "SELinux, masked paths (CIS 5.2, 5.3, 5.22)")
def security_opt_unconfined(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for name, svc in _services(doc):
        for i, opt in security_options(svc):
            if opt in UNCONFINED:
                what, number = UNCONFINED[opt]
                cited = f" (CIS Docker Benchmark {number})" if number else ""
                found.append(doc.finding(name, service_key(name, "security_opt", str(i)), "security-opt-unconfined",
                                         ERROR, f"security_opt {opt} switches off {what}{cited}"))
    return found


@rule("devices", ERROR, "no host device is mapped into a container (CIS 5.18)")
def devices(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for name, svc in _services(doc):
        for key in ("devices", "device_cgroup_rules"):
            entries = svc.get(key)
            for i, entry in enumerate(entries if isinstance(entries, list) else []):
                if key == "devices":
                    source = entry.get("source") if isinstance(entry, dict) else str(entry).split(":")[0]
                    what = f"maps the host's device {source} into the container"
                else:
                    what = f"rule {entry!r} lets the container use host devices"
                found.append(doc.finding(name, service_key(name, key, str(i)), "devices", ERROR,
                                         f"{key} {what} (CIS Docker Benchmark 5.18)"))
    return found


@dataclass(frozen=True)
class Mount:
    """A host path a service mounts (bind mounts, and named volumes bound to a host device)."""

    index: int  # position in the service's volumes list
    source: str  # as written
    host_path: str  # absolute and normalised; a relative source resolved from the compose file, symlinks too
    read_only: bool
    propagation: str | None  # shared, rshared, slave, ... when set


def mounts(doc: ComposeDoc, svc: dict[str, Any]) -> list[Mount]:
    """Host paths a service's volumes mount, short or long syntax (compose-spec 05-services.md, volumes)."""
    bound = _bound_volumes(doc.data.get("volumes"))
    entries = svc.get("volumes")
    found = []
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        mount = _long_mount(doc, index, entry, bound) if isinstance(entry, dict) else _short_mount(doc, index, entry, bound)
        if mount is not None:
            found.append(mount)
    return found


def _short_mount(doc: ComposeDoc, index: int, entry: Any, bound: dict[str, str]) -> Mount | None:
    parts = str(entry).split(":")
    if len(parts) < 2:
        return None  # an anonymous volume
    source, options = parts[0], set(",".join(parts[2:]).lower().split(","))
    propagation = next((o for o in options if o in ("shared", "rshared", "slave", "rslave", "private", "rprivate")), None)
    host = _host_path(doc, source, bound)
    return None if host is None else Mount(index, source, host, "ro" in options, propagation)


def _long_mount(doc: ComposeDoc, index: int, entry: dict[str, Any], bound: dict[str, str]) -> Mount | None:
    kind = str(entry.get("type", "volume"))
    if kind not in ("bind", "volume") or entry.get("source") is None:
        return None
    source = str(entry["source"])
    host = _host_path(doc, source, bound) if kind == "volume" else _host_path(doc, source, {}, bind=True)
    bind = entry.get("bind") if isinstance(entry.get("bind"), dict) else {}
    propagation = bind.get("propagation")
    return None if host is None else Mount(index, source, host, entry.get("read_only") is True,
                                           None if propagation is None else str(propagation).lower())


def _bound_volumes(volumes: Any) -> dict[str, str]:
    """Named volumes of the local driver bound to a host directory (driver_opts o: bind, device: PATH)."""
    bound = {}
    for name, spec in (volumes.items() if isinstance(volumes, dict) else []):
        opts = spec.get("driver_opts") if isinstance(spec, dict) else None
        if isinstance(opts, dict) and "bind" in str(opts.get("o", "")).split(",") and opts.get("device"):
            bound[str(name)] = str(opts["device"])
    return bound


def _host_path(doc: ComposeDoc, source: str, bound: dict[str, str], *, bind: bool = False) -> str | None:
    if "$" in source:
        return None  # interpolated: known only when compose runs
    if source in bound:
        source = bound[source]
    elif not (bind or source.startswith(("/", "."))):
        return None  # a named volume
    if source.startswith("/"):
        return posixpath.normpath(source).replace("//", "/")
    if source.startswith("~"):
        return None  # the home of whoever runs compose: not known here
    return str((doc.path.parent / source).resolve())


def _inside_or_holding(path: str, directory: str) -> bool:
    """True when path is directory, lies under it, or holds it."""
    return path == directory or path.startswith(directory.rstrip("/") + "/") or directory.startswith(path.rstrip("/") + "/")


@rule("host-path-sensitive", ERROR, "no service mounts a sensitive host directory: /, /boot, /dev, /etc, /lib, "
      "/proc, /sys, /usr, Docker's data; bind mounts and bound volumes, symlinks resolved (CIS 5.6)")
def host_path_sensitive(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for name, svc in _services(doc):
        for mount in mounts(doc, svc):
            if mount.read_only and any(mount.host_path == ok or mount.host_path.startswith(ok + "/")
                                       for ok in HARMLESS_READ_ONLY):
                continue
            hit = next((d for d in SENSITIVE_DIRS if _inside_or_holding(mount.host_path, d)), None)
            if hit is not None:
                shown = mount.source if mount.source == mount.host_path else f"{mount.source} (that is {mount.host_path})"
                found.append(doc.finding(name, service_key(name, "volumes", str(mount.index)), "host-path-sensitive",
                                         ERROR, f"mounts the host's {shown}{' read-only' if mount.read_only else ''}, "
                                         f"{_exposes(mount.host_path, hit)}: mount only the service's own data "
                                         "(CIS Docker Benchmark 5.6)"))
    return found


def _exposes(path: str, sensitive: str) -> str:
    if path == "/":
        return "the whole filesystem of the host"
    if path == sensitive or path.startswith(sensitive + "/"):
        return f"which is {sensitive}" if path == sensitive else f"which lies in {sensitive}"
    return f"which holds {sensitive}"


@rule("docker-socket", ERROR, "no service mounts the engine's socket (docker.sock, containerd.sock) or a "
      "directory holding it (CIS 5.32)")
def docker_socket(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for name, svc in _services(doc):
        for mount in mounts(doc, svc):
            hit = next((s for s in ENGINE_SOCKETS if _inside_or_holding(mount.host_path, s)), None)
            if hit is not None:
                found.append(doc.finding(name, service_key(name, "volumes", str(mount.index)), "docker-socket",
                                         ERROR, f"mounts {mount.source}, which reaches {hit}: whoever talks to "
                                         "the engine owns the host, read-only or not (CIS Docker Benchmark 5.32)"))
    return found


@rule("mount-propagation-shared", ERROR, "no mount uses shared propagation (CIS 5.20)")
def mount_propagation_shared(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for name, svc in _services(doc):
        for mount in mounts(doc, svc):
            if mount.propagation in ("shared", "rshared"):
                found.append(doc.finding(name, service_key(name, "volumes", str(mount.index)),
                                         "mount-propagation-shared", ERROR,
                                         f"{mount.source} is mounted with {mount.propagation} propagation: mounts "
                                         "made in the container reach the host (CIS Docker Benchmark 5.20)"))
    return found


@rule("privileged-port", WARNING, "no host port below 1024 is published (CIS 5.8)")
def privileged_port(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    return [doc.finding(name, service_key(name, "ports", str(entry.index)), "privileged-port", WARNING,
                        f"publishes privileged host port {entry.first}: use a port above 1023 "
                        "(CIS Docker Benchmark 5.8)")
            for name, svc in _services(doc) for entry in ports.published(svc) if entry.first < 1024]


@rule("cgroup-parent", WARNING, "no service picks its own cgroup parent (CIS 5.25)")
def cgroup_parent(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    return [doc.finding(name, service_key(name, "cgroup_parent"), "cgroup-parent", WARNING,
                        "cgroup_parent places the container outside the engine's own cgroup, and its limits "
                        "with it: confirm that is meant (CIS Docker Benchmark 5.25)")
            for name, svc in _services(doc) if svc.get("cgroup_parent")]


def read_only_asked(doc: ComposeDoc, ctx: Context) -> bool:
    """The config (Context.read_only_root) or the file itself (x-revops: {read_only_root: true}) asks."""
    own = doc.data.get("x-revops")
    return ctx.read_only_root or (isinstance(own, dict) and own.get("read_only_root") is True)


@rule("read-only-root", ERROR, "where the config asks for it, every service runs with read_only: true (CIS 5.13)")
def read_only_root(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    if not read_only_asked(doc, ctx):
        return []
    return [doc.finding(name, service_key(name, "read_only"), "read-only-root", ERROR,
                        "the root filesystem is writable, and the config asks for read_only: true (writable "
                        "paths as tmpfs or volumes) (CIS Docker Benchmark 5.13)")
            for name, svc in _services(doc) if svc.get("read_only") is not True]


def _limit(svc: dict[str, Any], *keys: str, deploy: str) -> bool:
    values = [svc.get(k) for k in keys]
    resources = svc.get("deploy", {}).get("resources", {}) if isinstance(svc.get("deploy"), dict) else {}
    limits = resources.get("limits", {}) if isinstance(resources, dict) else {}
    values.append(limits.get(deploy) if isinstance(limits, dict) else None)
    return any(v is not None and str(v).strip() not in ("", "0", "-1", "0.0") for v in values)


def missing_hardening(svc: dict[str, Any], *, stack: bool = False) -> list[str]:
    """What a service lacks of the benchmark's hardening, each with its number; [] when hardened.
    A stack file's service cannot set no-new-privileges (Swarm has no such option; stack
    deploy ignores security_opt), so it is not asked of one (rule stack-ignored-option says so)."""
    missing = []
    if "ALL" not in {_capability(c) for c in _strings(svc.get("cap_drop"))}:
        missing.append("cap_drop: [ALL] (5.4)")
    if not _limit(svc, "mem_limit", deploy="memory"):
        missing.append("a memory limit, mem_limit (5.11)")
    if not _limit(svc, "cpus", "cpu_shares", "cpu_quota", deploy="cpus"):
        missing.append("a CPU limit, cpus (5.12)")
    if not stack and not any(opt in ("no-new-privileges", "no-new-privileges:true") for _, opt in security_options(svc)):
        missing.append("security_opt no-new-privileges:true (5.26)")
    if not _limit(svc, "pids_limit", deploy="pids"):
        missing.append("a pids_limit (5.29)")
    return missing


@rule("hardening-missing", WARNING, "every service drops all capabilities, sets no-new-privileges and has "
      "memory, CPU and PID limits (CIS 5.4, 5.11, 5.12, 5.26, 5.29)")
def hardening_missing(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for name, svc in _services(doc):
        missing = missing_hardening(svc, stack=doc.stack)
        if missing:
            found.append(doc.finding(name, service_key(name), "hardening-missing", WARNING,
                                     "not hardened (CIS Docker Benchmark): add " + ", ".join(missing)))
    return found

