"""Rules for stack files: what `docker stack deploy` reads differently from compose.

A compose document is a stack file when its name says so: `*.stack.yml` (what `revops
generate` writes for the Swarm target), `stack.yml` or `docker-stack.yml` (documents.is_stack_file).
Sources: the compose file format 3 reference ("deploy", "Not supported for docker stack
deploy"), `docker stack deploy`'s own warnings ("Ignoring unsupported options", "Setting the
container name is not supported"), and Swarm's networking (the routing mesh and a service's
virtual IP are made with the kernel's IPVS).
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path
from typing import Any

from revops.validate.documents import ComposeDoc
from revops.validate.findings import ERROR, WARNING, Finding
from revops.validate.ports import published
from revops.validate.registry import Context, rule, service_key

# Keys `docker stack deploy` ignores (it says "Ignoring unsupported options: ..."): the service
# runs without them, whatever the file says. `restart` is deploy.restart_policy on a cluster.
IGNORED = ("restart", "security_opt", "privileged", "network_mode", "devices", "links", "external_links",
           "cgroup_parent", "cgroupns_mode", "userns_mode", "ipc", "pid", "shm_size", "mac_address",
           "domainname")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?(?:ns|us|ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _stack_services(doc: ComposeDoc) -> list[tuple[str, dict[str, Any]]]:
    return list(doc.services().items()) if doc.stack else []


def _deploy(svc: dict[str, Any]) -> dict[str, Any]:
    deploy = svc.get("deploy")
    return deploy if isinstance(deploy, dict) else {}


@rule("stack-build", ERROR, "a stack file's services name an image and no build: (a node cannot build; "
      "stack deploy ignores it)")
def stack_build(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    return [doc.finding(name, service_key(name, "build"), "stack-build", ERROR,
                        "build: has no effect on a cluster (stack deploy ignores it and every node pulls "
                        "`image:` from its registry): build and push the image (`revops build --push`)")
            for name, svc in _stack_services(doc) if "build" in svc]


@rule("stack-container-name", ERROR, "a stack file sets no container_name (stack deploy does not support it)")
def stack_container_name(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    return [doc.finding(name, service_key(name, "container_name"), "stack-container-name", ERROR,
                        "container_name is not supported by stack deploy: a service's tasks are named by "
                        "Swarm (<stack>_<service>.<slot>.<task>), and several replicas cannot share a name")
            for name, svc in _stack_services(doc) if "container_name" in svc]


@rule("stack-depends-on", WARNING, "depends_on has no effect in a stack file: Swarm starts services in no order")
def stack_depends_on(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    return [doc.finding(name, service_key(name, "depends_on"), "stack-depends-on", WARNING,
                        "depends_on has no effect on Swarm, which starts every service at once and in no "
                        "order; `revops migrate --target swarm` waits for each dependency's health itself")
            for name, svc in _stack_services(doc) if svc.get("depends_on")]


@rule("stack-ignored-option", WARNING, "a stack file sets no option stack deploy ignores (restart, security_opt, "
      "privileged, network_mode, devices, ...)")
def stack_ignored_option(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for name, svc in _stack_services(doc):
        for key in IGNORED:
            if key in svc:
                extra = (": use deploy.restart_policy" if key == "restart" else
                         ": a Swarm service cannot set no-new-privileges (CIS 5.26 is met on compose only)"
                         if key == "security_opt" else "")
                found.append(doc.finding(name, service_key(name, key), "stack-ignored-option", WARNING,
                                         f"{key} is ignored by stack deploy; the service runs without it{extra}"))
    return found


@rule("stack-env-file", ERROR, "a stack file has no env_file: (its values would stand in the service's spec)")
def stack_env_file(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    return [doc.finding(name, service_key(name, "env_file"), "stack-env-file", ERROR,
                        "env_file: is read where `stack deploy` runs and its values are written into the "
                        "service's spec, shown by `docker service inspect` on every manager: give the file "
                        "as a Docker secret (secrets:) instead")
            for name, svc in _stack_services(doc) if svc.get("env_file")]


def health_window_s(svc: dict[str, Any]) -> float | None:
    """How long the service's health check needs at most to call a new task unhealthy:
    start_period + interval * retries + timeout (Docker's defaults for what is not given:
    30s, 3, 30s, 0s). None without a health check or when a value is not a duration."""
    hc = svc.get("healthcheck")
    if not isinstance(hc, dict) or hc.get("disable") is True or not hc.get("test"):
        return None
    try:
        interval = _seconds(hc.get("interval", "30s"))
        timeout = _seconds(hc.get("timeout", "30s"))
        start = _seconds(hc.get("start_period", "0s"))
        retries = int(hc.get("retries", 3))
    except (TypeError, ValueError, OverflowError):  # OverflowError: `retries: .inf` (a YAML float)
        return None
    return start + interval * retries + timeout


def _seconds(value: Any) -> float:
    """A Go duration as compose takes it ("1m30s", "500ms") in seconds; ValueError otherwise."""
    if not isinstance(value, str) or not _DURATION.match(value):
        raise ValueError(value)
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(value))


@rule("stack-update-monitor", ERROR, "update_config and rollback_config watch a new task at least as long as "
      "its health check needs to fail it, and an update's failure rolls back")
def stack_update_monitor(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for name, svc in _stack_services(doc):
        window = health_window_s(svc)
        deploy = _deploy(svc)
        for section in ("update_config", "rollback_config"):
            cfg = deploy.get(section)
            cfg = cfg if isinstance(cfg, dict) else {}
            key = service_key(name, "deploy", section, "monitor")
            monitor = cfg.get("monitor", "5s")  # Swarm's default
            try:
                seconds = _seconds(monitor)
            except ValueError:
                found.append(doc.finding(name, key, "stack-update-monitor", ERROR,
                                         f"monitor {monitor!r} is not a duration such as 2m20s"))
                continue
            if window is not None and seconds < window:
                found.append(doc.finding(name, key, "stack-update-monitor", ERROR,
                                         f"{section}.monitor is {monitor}{' (the default)' if 'monitor' not in cfg else ''}, "
                                         f"but the health check needs up to {window:g}s (start_period + interval x "
                                         f"retries + timeout) to call a new task unhealthy: Swarm would count a task "
                                         f"as updated before its health could fail it; give at least {window:g}s"))
        update = deploy.get("update_config") if isinstance(deploy.get("update_config"), dict) else {}
        if update.get("failure_action", "pause") != "rollback":
            found.append(doc.finding(name, service_key(name, "deploy", "update_config", "failure_action"),
                                     "stack-update-monitor", WARNING,
                                     f"update_config.failure_action is {update.get('failure_action', 'pause')!r}"
                                     f"{'' if 'failure_action' in update else ' (the default)'}: a failed update "
                                     "stays half-done; rollback puts the previous version back"))
    return found


def ipvs_missing() -> str | None:
    """Why this machine's kernel has no IPVS (the routing mesh and virtual IPs need it), or
    None when it has, or may load, the ip_vs module. Only this machine is seen: a cluster's
    nodes may differ."""
    if os.path.exists("/proc/net/ip_vs"):
        return None
    modules = Path("/lib/modules") / platform.release()
    try:
        if any(modules.glob("kernel/net/netfilter/ipvs/ip_vs.ko*")):
            return None
    except OSError:
        pass
    return f"this machine's kernel ({platform.release()}) has no IPVS: no /proc/net/ip_vs, no ip_vs module"


@rule("stack-port-public", WARNING, "each published port of a stack file is public: on every node (ingress) or "
      "on each node running a task (mode host), on every interface")
def stack_port_public(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    no_ipvs = ipvs_missing() if doc.stack else None
    for name, svc in _stack_services(doc):
        raw = svc.get("ports") if isinstance(svc.get("ports"), list) else []
        global_mode = _deploy(svc).get("mode") == "global"
        for entry in published(svc):
            item = raw[entry.index] if entry.index < len(raw) else None
            mode = item.get("mode", "ingress") if isinstance(item, dict) else "ingress"
            key = service_key(name, "ports", str(entry.index))
            if mode == "host":
                nodes = "every node (deploy.mode global)" if global_mode else "each node that runs one of its tasks"
                found.append(doc.finding(name, key, "stack-port-public", WARNING,
                                         f"port {entry.first}/{entry.protocol} is published in mode host: it answers "
                                         f"on every interface of {nodes}; keep the nodes' other interfaces "
                                         "firewalled"))
            else:
                message = (f"port {entry.first}/{entry.protocol} is published through the ingress routing mesh: it "
                           "answers on every interface of every node of the cluster, and the mesh needs IPVS")
                if no_ipvs:
                    message += f"; {no_ipvs}: publish it in mode host (and deploy.mode global) instead"
                found.append(doc.finding(name, key, "stack-port-public", ERROR if no_ipvs else WARNING, message))
    return found


@rule("stack-endpoint-vip", WARNING, "a stack file's services use endpoint_mode dnsrr (a virtual IP needs IPVS)")
def stack_endpoint_vip(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    no_ipvs = ipvs_missing() if doc.stack else None
    for name, svc in _stack_services(doc):
        mode = _deploy(svc).get("endpoint_mode", "vip")
        if mode != "dnsrr":
            message = (f"endpoint_mode is {mode!r}{'' if 'endpoint_mode' in _deploy(svc) else ' (the default)'}: "
                       "the service's virtual IP is made with IPVS; dnsrr (DNS round robin) needs nothing")
            if no_ipvs:
                message += f"; {no_ipvs}"
            found.append(doc.finding(name, service_key(name, "deploy", "endpoint_mode"), "stack-endpoint-vip",
                                     WARNING, message))
    return found


@rule("stack-image-registry", WARNING, "a stack file's images name the registry the nodes pull from")
def stack_image_registry(doc: ComposeDoc, ctx: Context) -> list[Finding]:
    found = []
    for name, svc in _stack_services(doc):
        image = svc.get("image")
        first = str(image).split("/", 1)[0] if isinstance(image, str) and "/" in image else ""
        if not (("." in first or ":" in first or first == "localhost")):
            found.append(doc.finding(name, service_key(name, "image"), "stack-image-registry", WARNING,
                                     f"image {image!r} names no registry: every node would pull it from Docker "
                                     "Hub; tag it for your registry (`revops build --push`)"))
    return found
