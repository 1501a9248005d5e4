"""Unit file text for each catalogued service, as the host has it or as a user manager runs it.

Offline, paths are the host's (/opt/...), units run as User=revflow and APIs bind 0.0.0.0.
Live, every path is prefixed with the directory the host was written to, there is no User=,
APIs bind 127.0.0.1, and only phase-1 APIs run uvicorn from a real venv: the others run the
one stdlib light app, so 149 units stay affordable on a small machine.
"""

from __future__ import annotations

from dataclasses import dataclass

from revops.example_host.catalog import GATEWAY, SHARED_ENV, Service

LIGHTAPP = "/opt/revflow-os/lightapp.py"


@dataclass(frozen=True)
class Layout:
    live: bool = False
    prefix: str = ""  # the host directory, when live

    def at(self, host_path: str) -> str:
        return self.prefix + host_path if self.live and host_path.startswith("/") else host_path

    @property
    def bind(self) -> str:
        return "127.0.0.1" if self.live else "0.0.0.0"

    @property
    def wanted_by(self) -> str:
        return "default.target" if self.live else "multi-user.target"


def exec_start(s: Service, lay: Layout) -> list[str]:
    """The ExecStart command lines (without the key) of a service."""
    if s.role in ("api", "duplicate") and s.port:
        return [_api_command(s, lay)]
    if s.role == "command":
        return [_plain_command(s, lay)]
    python = lay.at(f"{s.venv}/bin/python")
    script = lay.at(f"{s.code_dir}/{s.script}")
    if "two-exec-start" in s.features:
        return [f"{python} {script} --task migrate", f"{python} {script} --task seed"]
    return [" ".join([python, script, *s.args])]


def _api_command(s: Service, lay: Layout) -> str:
    if lay.live and not (s.suite == "core" and s.role == "api"):
        return (f"{lay.at(s.venv + '/bin/python')} {lay.at(LIGHTAPP)} --service {s.stem} "
                f"--host {lay.bind} --port {s.port}")
    if "line-continuation" in s.features:
        return (f"{lay.at(s.venv + '/bin/uvicorn')} app:app \\\n    --host {lay.bind} --port {s.port} \\\n"
                f"    --workers 1 --proxy-headers")
    return f"{lay.at(s.venv + '/bin/uvicorn')} app:app --host {lay.bind} --port {s.port}"


def _plain_command(s: Service, lay: Layout) -> str:
    # "+": run with full privileges; "@": the second word becomes argv[0] (the name in ps)
    if s.stem == "revflow-tmp-clean":
        return ("+/bin/sh -c 'while sleep 3600; do find " + lay.at("/tmp/revflow")
                + " -type f -mtime +2 -delete; done'")
    return f"@/usr/bin/tail revflow-log-shipper -n 0 -F {lay.at('/var/log/revflow/app.log')}"


def render(s: Service, lay: Layout) -> str:
    """The whole unit file."""
    lines = [f"# {s.name}: {s.description}", "[Unit]", f"Description={s.description}"]
    lines += _unit_section(s)
    lines += ["", "[Service]"] + _service_section(s, lay)
    if s.role != "job" or s.timer is None:
        lines += ["", "[Install]", f"WantedBy={lay.wanted_by}"]
    return "\n".join(lines) + "\n"


def _unit_section(s: Service) -> list[str]:
    lines = []
    if "requires-gateway" in s.features:
        lines += [f"After=network-online.target {GATEWAY}", f"Requires={GATEWAY}"]
    elif "after-db-migrate" in s.features:  # the database's schema first: a one-shot set-up
        lines += ["After=network-online.target revflow-db-migrate.service", "Wants=revflow-db-migrate.service"]
    elif s.role in ("api", "worker", "duplicate", "leftover"):
        lines.append("After=network-online.target")
    if s.role == "deprecated":
        lines += ["# v5 is deprecated (use revaudit-v6), but nobody disabled it", "StartLimitIntervalSec=0"]
    if s.role == "failing":
        lines += ["StartLimitIntervalSec=60", "StartLimitBurst=3"]
    if s.module and s.module.number:
        lines.append(f"Documentation=file:///opt/revflow-os/docs/module-{s.module.number:02d}.md")
    return lines


def _service_section(s: Service, lay: Layout) -> list[str]:
    kind = "oneshot" if s.role == "job" else "simple"
    lines = [f"Type={kind}"]
    if not lay.live:
        lines += ["User=revflow", "Group=revflow"]
    if s.code_dir:
        lines.append(f"WorkingDirectory={lay.at(s.code_dir)}")
    lines += _environment(s, lay)
    if "exec-start-pre" in s.features:
        lines.append(f"ExecStartPre=-/usr/bin/test -s {lay.at(SHARED_ENV)}")
    if "semicolon-comment" in s.features:
        lines.append(f"; ran on port {s.port + 1000 if s.port else 0} before the gateway existed")
    lines += [f"ExecStart={cmd}" for cmd in exec_start(s, lay)]
    if "garbage-line" in s.features:
        lines.append("PASTED FROM CHAT: restart this one if the dashboard hangs")
    if "two-exec-start" in s.features:
        lines.append("RemainAfterExit=yes")
    lines += _restart(s)
    if "memory-max" in s.features:
        lines.append("MemoryMax=512M")
    if "cpu-quota" in s.features:
        lines.append("CPUQuota=50%")
    return lines


def _environment(s: Service, lay: Layout) -> list[str]:
    if s.role in ("masked", "command"):
        return []
    dash = "-" if "optional-env-file" in s.features else ""
    name = f"{s.stem}%i" if s.role == "template" else s.stem  # each instance names itself
    lines = [f"EnvironmentFile={dash}{lay.at(SHARED_ENV)}"]
    if "quoted-environment" in s.features:
        lines.append(f'Environment="REVFLOW_SERVICE={name}" "LOG_FORMAT=json" "FEATURE_FLAGS=trace rate-limit"')
    else:
        lines.append(f"Environment=REVFLOW_SERVICE={name}")
    if s.suite:
        lines.append(f"Environment=REVFLOW_SUITE={s.suite}")
    return lines


def _restart(s: Service) -> list[str]:
    if s.role == "job":
        return []
    if s.role == "deprecated":
        return ["Restart=always", "RestartSec=3"]
    if s.role == "failing":
        return ["Restart=on-failure", "RestartSec=2"]
    if s.role == "worker" or s.role == "template":
        return ["Restart=on-failure", "RestartSec=10"]
    return ["Restart=always", "RestartSec=5"]


def timer(s: Service) -> str:
    return (f"# {s.stem}.timer: triggers {s.name}\n[Unit]\nDescription=Timer for {s.description}\n\n"
            f"[Timer]\nOnCalendar={s.timer}\nPersistent=true\nRandomizedDelaySec=120\n\n"
            "[Install]\nWantedBy=timers.target\n")
