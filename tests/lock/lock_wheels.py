"""Tiny real wheels and a tiny host, built in a temp dir for offline pip-tools/pip runs."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import yaml

from revops import model


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def build_wheel(directory: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A pure-Python wheel holding module `name` (VERSION set) and its dist-info."""
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    metadata = "\n".join(["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}",
                          *[f"Requires-Dist: {r}" for r in requires]]) + "\n"
    files = {
        f"{module}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist_info}/METADATA": metadata,
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: revops-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [f"{path},{_record_hash(text.encode())},{len(text.encode())}" for path, text in files.items()]
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    path = directory / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for member, text in files.items():
            wheel.writestr(zipfile.ZipInfo(member, date_time=(2024, 1, 1, 0, 0, 0)), text)
    return path


# The wheelhouse the offline tests resolve from: alpha 2.0 needs beta; gamma needs alpha<2.
TINY_WHEELS = (
    ("alpha", "1.0", ()), ("alpha", "2.0", ("beta>=1.0",)),
    ("beta", "1.0", ()), ("beta", "1.1", ()),
    ("gamma", "1.0", ("alpha<2",)),
    ("delta", "0.5", ()),
)


def build_wheelhouse(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, version, requires in TINY_WHEELS:
        build_wheel(directory, name, version, requires)
    return directory


def install_fake_dist(venv: Path, name: str, version: str, requires: tuple[str, ...] = (),
                      metadata: bool = True) -> None:
    """What pip leaves in site-packages, without pip: enough for revops to read."""
    info = venv / "lib" / "python3.11" / "site-packages" / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    if metadata:
        lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}",
                 *[f"Requires-Dist: {r}" for r in requires]]
        (info / "METADATA").write_text("\n".join(lines) + "\n", encoding="utf-8")


def broken_venv(venv: Path) -> None:
    """A venv whose interpreter points nowhere, as the auto-healing loop left them."""
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    (venv / "bin" / "python").symlink_to("/nonexistent/python3.11")
    (venv / "pyvenv.cfg").write_text("home = /nonexistent\nversion = 3.11.2\n", encoding="utf-8")


def write_host(root: Path, services: dict[str, dict], suites: dict[str, dict], deprecated: list[str] = ()) -> Path:
    """revops.yaml + inventory/units.yaml + module dirs; services: name -> {suite, requirements, app, deprecated}."""
    units = []
    for name, spec in services.items():
        stem = name.removesuffix(".service")
        workdir = f"/opt/mods/{stem}"
        disk = root / workdir.lstrip("/")
        disk.mkdir(parents=True, exist_ok=True)
        if spec.get("requirements") is not None:
            (disk / "requirements.txt").write_text(spec["requirements"], encoding="utf-8")
        if spec.get("app") is not None:
            (disk / "app.py").write_text(spec["app"], encoding="utf-8")
        venv = f"{workdir}/venv"
        for dist in spec.get("installed", ()):
            install_fake_dist(root / venv.lstrip("/"), *dist)
        if spec.get("installed"):
            broken_venv(root / venv.lstrip("/"))
        units.append(model.Unit(
            name=name, path=f"etc/systemd/system/{name}",
            exec_start=[[f"{venv}/bin/uvicorn", "app:app", "--port", "8000"]],
            working_directory=workdir, venv=venv, suite=spec.get("suite"),
            deprecated=bool(spec.get("deprecated")),
        ).to_dict())
    (root / "inventory").mkdir(parents=True, exist_ok=True)
    (root / "inventory" / "units.yaml").write_text(
        yaml.safe_dump({"root": "/", "scanned_at": "2026-01-01T00:00:00Z", "units": units}), encoding="utf-8")
    (root / "inventory" / "venvs.yaml").write_text(yaml.safe_dump({"venvs": []}), encoding="utf-8")
    config = {"host": {"root": "."}, "suites": suites, "deprecated": list(deprecated)}
    path = root / "revops.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path
