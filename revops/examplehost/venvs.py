"""Fake virtualenvs made of files: healthy ones, and the corrupted kinds a rebuild loop leaves.

A healthy fake venv looks to a scanner like one `python3 -m venv` + `pip install` made on the
host: pyvenv.cfg, bin/python -> /usr/bin/python3 (absolute, as the host sees it),
lib/python3.11/site-packages with one dist-info per installed distribution whose RECORD hashes
match the files beside it. No pip runs; nothing here can be imported for real.
"""

from __future__ import annotations

import base64
import hashlib

from revops.examplehost.tree import Tree

PYTHON_VERSION = "3.11.2"  # the host's /usr/bin/python3 (Debian bookworm)
SITE = "lib/python3.11/site-packages"
SEED_PIP = "23.0.1"

# Every kind of damage the host shows, each one a single observable defect.
KINDS = (
    "interpreter-missing",  # bin/python points at an interpreter that is gone
    "interpreter-loop",  # bin/python -> python3 -> python
    "half-installed",  # pip's "~name" temporary directory left in site-packages
    "duplicate-dist",  # two dist-info directories of one distribution
    "site-packages-missing",  # lib/python3.11/site-packages is gone
    "version-drift",  # pyvenv.cfg says 3.9 while the tree is lib/python3.11
    "record-hash-mismatch",  # a file changed after install: RECORD's sha256 disagrees
    "record-file-missing",  # RECORD lists a file that is not there
    "metadata-unreadable",  # METADATA is not valid UTF-8 and has no Name
    "pyvenv-cfg-missing",  # no pyvenv.cfg
    "home-missing",  # pyvenv.cfg's home is a directory that no longer exists
)
# Defects after which the venv's python still starts (used where a live unit runs from it).
RUNNABLE_KINDS = tuple(k for k in KINDS if not k.startswith("interpreter-"))


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _dist_dir(name: str, version: str) -> str:
    return f"{name.replace('-', '_')}-{version}.dist-info"


def _package_files(name: str, version: str) -> dict[str, bytes]:
    """Files of a dist (relative to site-packages), RECORD excluded: only its metadata, to keep
    the host small (a few hundred venvs); the package code itself is not needed by any scanner."""
    info = _dist_dir(name, version)
    return {f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()}


def _record(name: str, version: str, files: dict[str, bytes]) -> bytes:
    info = _dist_dir(name, version)
    rows = [f"{path},{_record_hash(data)},{len(data)}" for path, data in sorted(files.items())]
    rows.append(f"{info}/RECORD,,")
    return ("\n".join(rows) + "\n").encode()


def pyvenv_cfg(path: str, home: str = "/usr/bin", version: str = PYTHON_VERSION) -> str:
    return (f"home = {home}\ninclude-system-site-packages = false\nversion = {version}\n"
            f"executable = /usr/bin/python3.11\ncommand = /usr/bin/python3 -m venv {path}\n")


def add_healthy(tree: Tree, path: str, dists: dict[str, str], scripts: tuple[str, ...] = ()) -> None:
    """A complete venv at `path` holding `dists` (name -> version) plus pip."""
    tree.file(f"{path}/pyvenv.cfg", pyvenv_cfg(path))
    tree.symlink(f"{path}/bin/python", "/usr/bin/python3")
    tree.symlink(f"{path}/bin/python3", "python")
    tree.symlink(f"{path}/bin/python3.11", "python")
    tree.symlink(f"{path}/lib64", "lib")
    tree.file(f"{path}/bin/activate", f'# source me\nVIRTUAL_ENV="{path}"\nexport VIRTUAL_ENV\nPATH="$VIRTUAL_ENV/bin:$PATH"\n')
    for script in ("pip",) + scripts:
        tree.file(f"{path}/bin/{script}", _console_script(path, script), 0o755)
    for name, version in sorted({**dists, "pip": SEED_PIP}.items()):
        _add_dist(tree, path, name, version, f"../../../bin/{name}" if name in scripts else None)


def _add_dist(tree: Tree, path: str, name: str, version: str, script: str | None = None) -> None:
    files = _package_files(name, version)
    for rel, data in files.items():
        tree.file(f"{path}/{SITE}/{rel}", data)
    if script:  # a console script pip wrote into bin/, listed in RECORD as pip does
        files[script] = _console_script(path, name).encode()
    tree.file(f"{path}/{SITE}/{_dist_dir(name, version)}/RECORD", _record(name, version, files))


def _console_script(path: str, name: str) -> str:
    module = {"pip": "pip._internal.cli.main", "uvicorn": "uvicorn.main"}.get(name, f"{name}.main")
    return (f"#!{path}/bin/python\n# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom {module} import main\n"
            "if __name__ == '__main__':\n    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
            "    sys.exit(main())\n")


def add_corrupted(tree: Tree, path: str, kind: str, dists: dict[str, str]) -> None:
    """A venv at `path` with exactly one defect of `kind` (see KINDS). Like a copy the rebuild
    loop abandoned, it holds only the first few of its origin's distributions."""
    dists = dict(sorted(dists.items())[:3])
    add_healthy(tree, path, dists)
    first = sorted(dists)[0]
    info = f"{path}/{SITE}/{_dist_dir(first, dists[first])}"
    if kind == "interpreter-missing":
        tree.symlink(f"{path}/bin/python", "/usr/bin/python3.9")
    elif kind == "interpreter-loop":
        tree.symlink(f"{path}/bin/python", "python3")
        tree.symlink(f"{path}/bin/python3", "python")
    elif kind == "half-installed":
        tree.file(f"{path}/{SITE}/~{first.replace('-', '_')[1:]}-{dists[first]}.dist-info/METADATA", b"Name: partial\n")
    elif kind == "duplicate-dist":
        _add_dist(tree, path, first, "0.0.9")
    elif kind == "site-packages-missing":
        for p in tree.under(f"{path}/lib/"):
            del tree.entries[p]
        tree.directory(f"{path}/lib/python3.11")
    elif kind == "version-drift":
        tree.file(f"{path}/pyvenv.cfg", pyvenv_cfg(path, version="3.9.18"))
    elif kind == "record-hash-mismatch":
        tree.file(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {first}\nVersion: {dists[first]}\n"
                  "Summary: edited by hand on the host\n")
    elif kind == "record-file-missing":  # the package's code is listed, but was never moved in
        files = _package_files(first, dists[first])
        files[f"{first.replace('-', '_')}/__init__.py"] = f'__version__ = "{dists[first]}"\n'.encode()
        tree.file(f"{info}/RECORD", _record(first, dists[first], files))
    elif kind == "metadata-unreadable":
        files = {f"{_dist_dir(first, dists[first])}/METADATA": b"\xff\xfe\x00M\x00e\x00t\x00\xc3\x28 truncated\n"}
        tree.file(f"{info}/METADATA", files[f"{_dist_dir(first, dists[first])}/METADATA"])
        tree.file(f"{info}/RECORD", _record(first, dists[first], files))  # the damage is the content, not the hash
    elif kind == "pyvenv-cfg-missing":
        del tree.entries[f"{path}/pyvenv.cfg"]
    elif kind == "home-missing":
        tree.file(f"{path}/pyvenv.cfg", pyvenv_cfg(path, home="/usr/local/python3.10/bin"))
    else:
        raise ValueError(f"unknown venv damage: {kind}")
