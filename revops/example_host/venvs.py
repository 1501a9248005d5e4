"""Fake virtualenvs made of files: healthy ones, and the corrupted kinds a rebuild loop leaves.

A healthy fake venv looks to a scanner like one `python3 -m venv` + `pip install` made on the
host: pyvenv.cfg, bin/python -> /usr/bin/python3 (absolute, as the host sees it),
lib/python3.11/site-packages with one dist-info per installed distribution whose RECORD hashes
match the files beside it. No pip runs; nothing here can be imported for real.
"""

from __future__ import annotations

import base64
import hashlib

from revops.example_host.tree import Tree

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
    tree.file(f"{path}/bin/activate",
              f'# source me\nVIRTUAL_ENV="{path}"\nexport VIRTUAL_ENV\nPATH="$VIRTUAL_ENV/bin:$PATH"\n')
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
    if kind not in _DAMAGE:
        raise ValueError(f"unknown venv damage: {kind}")
    dists = dict(sorted(dists.items())[:3])
    add_healthy(tree, path, dists)
    first = sorted(dists)[0]
    _DAMAGE[kind](tree, path, first, dists[first])


def _dangling_interpreter(tree: Tree, path: str, dist: str, version: str) -> None:
    tree.symlink(f"{path}/bin/python", "/usr/bin/python3.9")


def _interpreter_loop(tree: Tree, path: str, dist: str, version: str) -> None:
    tree.symlink(f"{path}/bin/python", "python3")
    tree.symlink(f"{path}/bin/python3", "python")


def _half_installed(tree: Tree, path: str, dist: str, version: str) -> None:
    # pip renames what it replaces to "~" + name[1:] and removes it only when the install ends
    tree.file(f"{path}/{SITE}/~{dist.replace('-', '_')[1:]}-{version}.dist-info/METADATA", b"Name: partial\n")


def _duplicate_dist(tree: Tree, path: str, dist: str, version: str) -> None:
    _add_dist(tree, path, dist, "0.0.9")


def _no_site_packages(tree: Tree, path: str, dist: str, version: str) -> None:
    for p in tree.under(f"{path}/lib/"):
        del tree.entries[p]
    tree.directory(f"{path}/lib/python3.11")


def _version_drift(tree: Tree, path: str, dist: str, version: str) -> None:
    tree.file(f"{path}/pyvenv.cfg", pyvenv_cfg(path, version="3.9.18"))


def _hash_mismatch(tree: Tree, path: str, dist: str, version: str) -> None:
    tree.file(f"{path}/{SITE}/{_dist_dir(dist, version)}/METADATA",
              f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\nSummary: edited by hand on the host\n")


def _record_file_missing(tree: Tree, path: str, dist: str, version: str) -> None:
    # RECORD lists the package's code, which was never moved in
    files = _package_files(dist, version)
    files[f"{dist.replace('-', '_')}/__init__.py"] = f'__version__ = "{version}"\n'.encode()
    tree.file(f"{path}/{SITE}/{_dist_dir(dist, version)}/RECORD", _record(dist, version, files))


def _metadata_unreadable(tree: Tree, path: str, dist: str, version: str) -> None:
    # RECORD is rewritten to match: the damage is the content, not the hash
    files = {f"{_dist_dir(dist, version)}/METADATA": b"\xff\xfe\x00M\x00e\x00t\x00\xc3\x28 truncated\n"}
    for rel, data in files.items():
        tree.file(f"{path}/{SITE}/{rel}", data)
    tree.file(f"{path}/{SITE}/{_dist_dir(dist, version)}/RECORD", _record(dist, version, files))


def _no_pyvenv_cfg(tree: Tree, path: str, dist: str, version: str) -> None:
    del tree.entries[f"{path}/pyvenv.cfg"]


def _home_gone(tree: Tree, path: str, dist: str, version: str) -> None:
    tree.file(f"{path}/pyvenv.cfg", pyvenv_cfg(path, home="/usr/local/python3.10/bin"))


_DAMAGE = {
    "interpreter-missing": _dangling_interpreter, "interpreter-loop": _interpreter_loop,
    "half-installed": _half_installed, "duplicate-dist": _duplicate_dist,
    "site-packages-missing": _no_site_packages, "version-drift": _version_drift,
    "record-hash-mismatch": _hash_mismatch, "record-file-missing": _record_file_missing,
    "metadata-unreadable": _metadata_unreadable, "pyvenv-cfg-missing": _no_pyvenv_cfg,
    "home-missing": _home_gone,
}
