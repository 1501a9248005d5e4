"""revops' reading of field requirements files agrees with pip's own, file by file.

The corpus (tests/lock/corpus/) holds the shapes services ship: pip-compile output with
hashes and `# via` blocks, a poetry export (markers and hashes on every line), a `-r`/`-c`
chain across directories, and a file using every global option pip takes. Each file is read:
- by revops (revops.lock.reqfile, under a host root);
- by pip's parse_requirements (the reading `pip install -r` does, includes followed by pip);
- by `pip install --dry-run --report`, offline against stub wheels made here;
and they must agree on every name, specifier, extra, marker, hash and constraint.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
from lock_wheels import build_wheel
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from revops.adapters import proc
from revops.lock import reqfile

CORPUS = Path(__file__).parent / "corpus"
FILES = ["pip-compile-hashed.txt", "poetry-export.txt", "chain/requirements.txt", "options.txt"]
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


@pytest.fixture(autouse=True)
def _corpus_environment(monkeypatch):
    monkeypatch.setenv("CORPUS_CHARSET", "3.4.2")  # options.txt pins charset_normalizer==${CORPUS_CHARSET}


def _spec(specifier) -> tuple[str, ...]:
    return tuple(sorted(str(s) for s in SpecifierSet(str(specifier))))


def _marker(marker) -> str | None:
    return None if marker is None else str(Marker(str(marker)))


def ours(root: Path, name: str) -> set[tuple]:
    reading = reqfile.Reader(root).read(f"/corpus/{name}")
    assert reading.errors == [], reading.errors
    found = set()
    for item in reading.requested:
        req = Requirement(item.requirement)
        found.add((canonicalize_name(req.name), _spec(req.specifier), tuple(sorted(req.extras)), _marker(req.marker),
                   tuple(sorted(item.hashes)), item.constraint))
    return found


def pips(path: Path) -> set[tuple]:
    """pip's own reading: parse_requirements, then the InstallRequirement pip builds from each line."""
    from pip._internal.req.constructors import install_req_from_parsed_requirement
    from pip._internal.req.req_file import parse_requirements

    found = set()
    for parsed in parse_requirements(str(path), session=None):
        ireq = install_req_from_parsed_requirement(parsed)
        hashes = tuple(sorted((ireq.hash_options or {}).get("sha256", ())))
        found.add((canonicalize_name(ireq.req.name), _spec(ireq.req.specifier), tuple(sorted(ireq.req.extras)),
                   _marker(ireq.markers), hashes, parsed.constraint))
    return found


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("corpus-root")
    shutil.copytree(CORPUS, directory / "corpus")
    return directory


@pytest.mark.parametrize("name", FILES)
def test_revops_reads_every_name_specifier_marker_and_hash_as_pip_does(root, name):
    mine, pip_reading = ours(root, name), pips(root / "corpus" / name)
    assert mine == pip_reading
    assert len(mine) >= 4


# ---- against `pip install --dry-run --report` ----------------------------------------------------

def _version_for(specifier: tuple[str, ...]) -> str:
    spec = SpecifierSet(",".join(specifier))
    candidates = [s.split("=")[-1].lstrip("<>~!") for s in specifier] + ["0.1", "1.0"]
    for candidate in candidates:
        try:
            if Version(candidate) in spec or spec.contains(candidate, prereleases=True):
                return candidate
        except ValueError:
            continue
    raise AssertionError(f"no stub version for {specifier}")


def _with_stub_hashes(text: str, hashes: dict[str, str]) -> str:
    """The same file with each requirement's hashes replaced by its stub wheel's (pip checks them)."""
    out, current = [], None
    for line in text.splitlines():
        match = _NAME.match(line)
        if match:
            current = canonicalize_name(match.group(1))
        out.append(_HASH.sub(f"--hash=sha256:{hashes.get(current, '0' * 64)}", line))
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("name", FILES)
def test_what_pip_would_install_is_exactly_what_revops_read_for_this_interpreter(root, tmp_path, name):
    import hashlib

    requested = ours(root, name)
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    required = {dist for dist, *_, constraint in requested if not constraint}
    every_spec: dict[str, tuple[str, ...]] = {}
    for dist, specifier, *_ in requested:
        every_spec[dist] = every_spec.get(dist, ()) + specifier  # constraints count for the version pip picks
    versions = {dist: _version_for(every_spec[dist]) for dist in required}
    hashes = {}
    for dist, version in versions.items():
        wheel = build_wheel(stubs, dist, version)
        hashes[dist] = hashlib.sha256(wheel.read_bytes()).hexdigest()
    copy = tmp_path / "copy"
    shutil.copytree(root / "corpus", copy)
    target = copy / name
    target.write_text(_with_stub_hashes(target.read_text(), hashes))
    report = tmp_path / "report.json"
    done = proc.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-index",
                     "--disable-pip-version-check", "--find-links", stubs, "--report", report, "--quiet",
                     "-r", target], cwd=tmp_path, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    installed = {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"]
                 for i in json.loads(report.read_text())["install"] if i["requested"]}
    expected = {dist: specifier for dist, specifier, _, marker, _, constraint in requested
                if not constraint and (marker is None or Marker(marker).evaluate())}
    assert set(installed) == set(expected)
    for dist, version in installed.items():
        assert SpecifierSet(",".join(expected[dist])).contains(version, prereleases=True), (dist, version)
