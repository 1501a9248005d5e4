"""A script ExecStart= runs from outside its WorkingDirectory goes into the image at its path.

The live example host's APIs run one shared launcher (/opt/revflow-os/lightapp.py) beside their
code dirs; an image holding only the code dir failed with "can't open file" (session 6's bench:
every lead-gen API's candidate). generate names such scripts, its Dockerfile copies each one to
the same path, the image tag follows their bytes, and build stages them read inside the host root.
"""

from __future__ import annotations

import json

import pytest
import yaml

from revops import cli
from revops.generate import context, mapping
from revops.generate.parsed import _Mismatch, check_dockerfile
from revops.unitfile.rootfs import RootFS, RootReadError

import generate_minihost as minihost

LAUNCHER = "/opt/revflow-os/lightapp.py"


@pytest.mark.parametrize("command, expected", [
    (("/opt/venv/bin/python", LAUNCHER, "--port", "8601"), (LAUNCHER,)),
    (("/opt/venv/bin/python", "/srv/app/main.py"), ()),  # inside the working dir: the code COPY has it
    (("/opt/venv/bin/python", "main.py"), ()),  # relative: in the working dir
    (("/opt/venv/bin/python", "/opt/venv/bin/tool.py"), ()),  # the suite's venv: the image's own
    (("/opt/venv/bin/python", LAUNCHER, LAUNCHER, "/opt/b.py"), (LAUNCHER,)),  # the script run, not its arguments
    (("/opt/venv/bin/python", "/opt/x/../lightapp.py"), ()),  # not normalised: never written into a COPY
    (("/opt/venv/bin/python", "/opt/$HOME.py"), ()),  # a Dockerfile would expand it
    ((LAUNCHER,), ()),  # argv[0] is the program, not a script argument
    (("/opt/venv/bin/python", "/opt/shared/config.json"), ()),  # only Python scripts
])
def test_outside_scripts_are_the_absolute_python_scripts_beside_the_code(command, expected):
    assert mapping.outside_scripts(command, "/srv/app") == expected


def _host(root, script_text: str = "print('launched')\n"):
    worker = minihost.worker_unit("revprospect-relay.service", "lead-gen", 2)
    worker["exec_start"] = [[f"{minihost.MODULES}/revprospect-relay/venv/bin/python", LAUNCHER, "--queue", "relay"]]
    minihost.write(root, [*minihost.default_units(), worker])
    (root / LAUNCHER.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    (root / LAUNCHER.lstrip("/")).write_text(script_text)


def _generate(root, monkeypatch, capsys) -> dict:
    monkeypatch.chdir(root)
    with pytest.raises(SystemExit) as done:
        cli.main(["generate", "--json"])
    assert done.value.code == 0
    return json.loads(capsys.readouterr().out)


def test_generate_copies_the_script_to_its_path_and_says_so(tmp_path, monkeypatch, capsys):
    _host(tmp_path)
    _generate(tmp_path, monkeypatch, capsys)
    dockerfile = (tmp_path / "compose/lead-gen/Dockerfile").read_text()
    assert f'COPY [".stage/scripts/revprospect-relay/1", "{LAUNCHER}"]' in dockerfile
    assert dockerfile.count(".stage/scripts/") == 1  # the other services' commands name none
    svc = yaml.safe_load((tmp_path / "compose/lead-gen.yml").read_text())["services"]["revprospect-relay"]
    assert svc["command"] == ["/opt/venv/bin/python", LAUNCHER, "--queue", "relay"]


def test_the_image_tag_follows_the_scripts_bytes(tmp_path, monkeypatch, capsys):
    _host(tmp_path)
    _generate(tmp_path, monkeypatch, capsys)
    compose = tmp_path / "compose/lead-gen.yml"
    first = yaml.safe_load(compose.read_text())["services"]["revprospect-relay"]["image"]
    (tmp_path / LAUNCHER.lstrip("/")).write_text("print('launched, version 2')\n")
    _generate(tmp_path, monkeypatch, capsys)
    second = yaml.safe_load(compose.read_text())["services"]["revprospect-relay"]["image"]
    assert first != second  # a changed launcher is a new image, as a changed code dir is


def test_the_dockerfile_check_refuses_a_stage_without_the_scripts_copy(tmp_path, monkeypatch, capsys):
    from revops import config as config_mod, model
    from revops.generate.drift import render_now

    _host(tmp_path)
    _generate(tmp_path, monkeypatch, capsys)
    config = config_mod.load(tmp_path / "revops.yaml")
    rendered = render_now(model.load(config.out("inventory")), config)
    assert not rendered.drift.changed, rendered.drift
    [suite] = [s for s in rendered.plan.suites if s.name == "lead-gen"]
    text = (tmp_path / "compose/lead-gen/Dockerfile").read_text()
    check_dockerfile(text, suite)  # as generated: passes
    without = "\n".join(line for line in text.splitlines() if ".stage/scripts/" not in line)
    with pytest.raises(_Mismatch, match="no COPY of the script"):
        check_dockerfile(without, suite)


def test_stage_copies_each_script_read_inside_the_root_only(tmp_path):
    root = tmp_path / "host"
    (root / "opt/shared").mkdir(parents=True)
    (root / "opt/shared/launch.py").write_text("print('launch')\n")
    code = root / "srv/app"
    code.mkdir(parents=True)
    (code / "app.py").write_text("app = 1\n")
    ctx = tmp_path / "compose/core"
    ctx.mkdir(parents=True)
    stage = context.stage(ctx, "x==1\n", {}, {"api": code}, {"api": ("/opt/shared/launch.py",)}, root)
    assert (stage / "scripts/api/1").read_text() == "print('launch')\n"
    # a digest over code and scripts, read the same way generate reads them
    fs = RootFS(root, cache=False)
    digest = context.scripts_digest(fs, "c0de", ("/opt/shared/launch.py",))
    assert digest is not None and digest != "c0de" and context.scripts_digest(fs, "c0de", ()) == "c0de"
    # a symlink leading out of the root is not followed onto this machine's own files
    outside = tmp_path / "secret.py"
    outside.write_text("TOKEN = 'not-for-images'\n")
    (root / "opt/shared/escape.py").symlink_to(outside)
    with pytest.raises(RootReadError):
        context.stage(ctx, "x==1\n", {}, {"api": code}, {"api": ("/opt/shared/escape.py",)}, root)
    assert context.scripts_digest(fs, "c0de", ("/opt/shared/escape.py",)) is None
    assert context.scripts_digest(fs, "c0de", ("/opt/shared/missing.py",)) is None


def test_a_staged_script_is_readable_by_the_image_user_whatever_the_umask(tmp_path):
    """COPY gives the file to root with the staged mode; the service runs as its own user. A
    umask of 027 (CIS) or 077 on the machine that builds, or a 0640 script on the host, must
    not leave the image's copy unreadable (the very "can't open file" the copy is for)."""
    import os
    import stat

    root = tmp_path / "host"
    (root / "opt/shared").mkdir(parents=True)
    (root / "opt/shared/launch.py").write_text("print('launch')\n")
    (root / "opt/shared/launch.py").chmod(0o640)
    code = root / "srv/app"
    code.mkdir(parents=True)
    ctx = tmp_path / "compose/core"
    ctx.mkdir(parents=True)
    old = os.umask(0o077)
    try:
        stage = context.stage(ctx, "x==1\n", {}, {"api": code}, {"api": ("/opt/shared/launch.py",)}, root)
    finally:
        os.umask(old)
    assert stat.S_IMODE((stage / "scripts/api/1").stat().st_mode) & 0o444 == 0o444
    # revops' entrypoint too: every service with a secret file runs it as its own user
    assert stat.S_IMODE((stage / context.STAGED_ENTRYPOINT).stat().st_mode) & 0o444 == 0o444


@pytest.mark.parametrize("command, expected", [
    (("/usr/bin/python3", "-u", "-X", "dev", LAUNCHER, "--port", "1"), (LAUNCHER,)),  # its options skipped
    (("/opt/venv/bin/python", "/srv/app/main.py", "--settings", "/etc/app/settings.py"), ()),  # an argument
    (("/opt/venv/bin/gunicorn", "-c", "/etc/app/gunicorn.conf.py", "app:app"), ()),  # not a Python run
    (("/usr/bin/python3", "-m", "app", "/opt/shared/plugin.py"), ()),  # -m runs a module
])
def test_only_the_script_the_interpreter_runs_is_copied_never_a_file_it_is_handed(command, expected):
    """A .py the program is given (a settings module holding passwords, a gunicorn config) is
    configuration: copying it would put what may be secrets into the image."""
    assert mapping.outside_scripts(command, "/srv/app") == expected


def test_a_settings_file_handed_to_the_program_is_noted_not_copied(tmp_path, monkeypatch, capsys):
    worker = minihost.worker_unit("revprospect-relay.service", "lead-gen", 2)
    worker["exec_start"] = [[f"{minihost.MODULES}/revprospect-relay/venv/bin/python", "worker.py",
                             "--settings", "/etc/app/settings.py"]]
    minihost.write(tmp_path, [*minihost.default_units(), worker])
    (tmp_path / "etc/app").mkdir(parents=True)
    (tmp_path / "etc/app/settings.py").write_text("DB_PASSWORD = 'hunter2-not-for-images'\n")
    doc = _generate(tmp_path, monkeypatch, capsys)
    assert ".stage/scripts/" not in (tmp_path / "compose/lead-gen/Dockerfile").read_text()
    notes = [n for s in doc["services"] if s["name"] == "revprospect-relay" for n in s["notes"]] \
        if isinstance(doc.get("services"), list) else json.dumps(doc)
    assert "/etc/app/settings.py" in str(notes) and "not copied" in str(notes), notes


def test_each_replicas_own_script_is_copied_where_its_number_names_it(tmp_path, monkeypatch, capsys):
    """Instances running /opt/workers/1.py and 2.py are one service whose command names
    /opt/workers/%i.py: each replica runs its own file, so the image holds both (no file is
    named %i.py, and build would fail the whole suite looking for one)."""
    units = []
    for n in (1, 2):
        unit = minihost.worker_unit(f"revprospect-w@{n}.service", "lead-gen", 2)
        unit["path"] = "etc/systemd/system/revprospect-w@.service"
        unit["working_directory"] = f"{minihost.MODULES}/revprospect-w"
        unit["venv"] = f"{minihost.MODULES}/revprospect-w/venv"
        unit["exec_start"] = [[f"{minihost.MODULES}/revprospect-w/venv/bin/python", f"/opt/workers/{n}.py"]]
        units.append(unit)
    minihost.write(tmp_path, [*minihost.default_units(), *units])
    (tmp_path / "opt/workers").mkdir(parents=True)
    for n in (1, 2):
        (tmp_path / f"opt/workers/{n}.py").write_text(f"print({n})\n")
    _generate(tmp_path, monkeypatch, capsys)
    dockerfile = (tmp_path / "compose/lead-gen/Dockerfile").read_text()
    copies = [line for line in dockerfile.splitlines() if ".stage/scripts/" in line]
    assert copies == ['COPY [".stage/scripts/revprospect-w/1", "/opt/workers/1.py"]',
                      'COPY [".stage/scripts/revprospect-w/2", "/opt/workers/2.py"]'], dockerfile
    svc = yaml.safe_load((tmp_path / "compose/lead-gen.yml").read_text())["services"]
    assert [s.get("deploy", {}).get("replicas") for s in svc.values() if "revprospect-w" in str(s)] == [2]


def test_staged_code_is_readable_by_the_image_user_whatever_its_modes_on_the_host(tmp_path):
    code = tmp_path / "code"
    (code / "pkg").mkdir(parents=True)
    (code / "app.py").write_text("app = 1\n")
    (code / "pkg/run.sh").write_text("#!/bin/sh\n")
    (code / "app.py").chmod(0o640)  # root:app on the host: the image's root owns it, the user is other
    (code / "pkg/run.sh").chmod(0o750)
    (code / "pkg").chmod(0o700)
    ctx = tmp_path / "compose/core"
    ctx.mkdir(parents=True)
    stage = context.stage(ctx, "x==1\n", {}, {"api": code})
    modes = {p.relative_to(stage / "services/api").as_posix(): p.stat().st_mode & 0o777
             for p in (stage / "services/api").rglob("*")}
    assert modes == {"app.py": 0o644, "pkg": 0o755, "pkg/run.sh": 0o755}
    assert (stage / "services/api").stat().st_mode & 0o777 == 0o755
