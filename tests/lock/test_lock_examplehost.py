"""The whole pipeline on the example host: example-host, inventory scan, lock against the
test bed's wheelhouse (real pip-tools and pip, no index), and the repo's committed locks."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from packaging.requirements import Requirement

from revops import model
from revops.lock import lockfile, sources

REPO = Path(__file__).resolve().parents[2]
SUITES = ("core", "lead-gen", "buyer-intent", "digital-landlord", "tech-efficiency", "platform", "tools", "legacy", "revwins")


def revops(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    return subprocess.run([sys.executable, "-m", "revops", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def wheelhouse_of(testbed) -> Path:
    """The test bed's wheelhouse (REVOPS_WHEELHOUSE); the fixture already checked it holds wheels."""
    return Path(testbed.wheelhouse)


@pytest.fixture(scope="module")
def scanned_host(tmp_path_factory) -> Path:
    """A fresh example host with its inventory: plain files, no test bed needed."""
    host = tmp_path_factory.mktemp("lock-example-host")
    for args in (("example-host", str(host)), ("inventory", "scan")):
        done = revops(host, *args)
        assert done.returncode == 0, done.stderr
    return host


@pytest.fixture(scope="module")
def locked_host(scanned_host, testbed):
    """The example host locked offline once for the whole module."""
    host = scanned_host
    wheelhouse = wheelhouse_of(testbed)
    done = revops(host, "lock", "--offline", "--find-links", str(wheelhouse), "--json")
    assert done.returncode == 0, done.stderr + done.stdout
    return host, wheelhouse, json.loads(done.stdout)


def test_every_venv_of_the_example_host_is_read_even_the_corrupted_ones(scanned_host):
    inventory = model.load(scanned_host / "inventory")
    assert len(inventory.venvs) > 200
    for venv in inventory.venvs:
        found = sources.from_venv("probe", sources.on_disk(scanned_host, venv.path), venv.path)
        assert found.wanted or found.notes, venv.path
    broken = [v for v in inventory.venvs if {"interpreter-missing", "interpreter-loop"} & set(v.problems)]
    assert broken, "the example host should carry venvs with a broken interpreter"
    assert any(sources.from_venv("probe", sources.on_disk(scanned_host, v.path), v.path).wanted for v in broken)


def test_a_service_without_requirements_is_locked_from_its_venv(scanned_host, tmp_path):
    """revpublish loses its requirements.txt: its venv's top-level dists stand in, and it says so."""
    host = tmp_path / "host"
    shutil.copytree(scanned_host, host, symlinks=True)
    module = host / "opt/revflow-os/modules/revpublish"
    asked = {Requirement(line.split("#")[0]).name.lower() for line in (module / "requirements.txt").read_text().splitlines()
             if line.split("#")[0].strip()}
    (module / "requirements.txt").unlink()
    done = revops(host, "lock", "--dry-run", "--json", "--suite", "core")
    assert done.returncode == 0, done.stderr
    (suite,) = json.loads(done.stdout)["suites"]
    (service,) = [s for s in suite["services"] if s["name"] == "revpublish.service"]
    assert service["source"] == "venv" and service["path"] == "/opt/revflow-os/modules/revpublish/venv"
    assert asked <= {Requirement(r).name.lower() for r in service["requirements"]}
    assert all("==" in r for r in service["requirements"])
    assert not (host / "lockfiles").exists()


def lock_bytes(host: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((host / "lockfiles").iterdir())}


@pytest.mark.realstack
def test_every_suite_is_locked_with_exact_pins_and_hashes(locked_host):
    host, _, result = locked_host
    assert [(s["name"], s["status"]) for s in result["suites"]] == [(name, "locked") for name in SUITES]
    for name in SUITES:
        text = (host / f"lockfiles/{name}.txt").read_text()
        assert lockfile.unpinned_entries(text) == [], name
        assert lockfile.pins(text), name
        assert lockfile.header_fields(text)["input-sha256"] == lockfile.digest((host / f"lockfiles/{name}.in").read_text())
    sources = {s["source"] for suite in result["suites"] for s in suite["services"]}
    assert sources <= {"requirements.txt", "venv", "none"} and "requirements.txt" in sources
    settled = {(s["name"], o["dist"]) for s in result["suites"] for o in s["overrides"] if o["settled_conflict"]}
    assert settled == {("lead-gen", "requests"), ("buyer-intent", "httpx"), ("digital-landlord", "beautifulsoup4")}


@pytest.mark.realstack
def test_check_passes_and_a_second_run_skips_every_suite(locked_host):
    host, wheelhouse, _ = locked_host
    before = lock_bytes(host)
    done = revops(host, "lock", "--offline", "--find-links", str(wheelhouse), "--json")
    assert done.returncode == 0, done.stderr
    assert {s["status"] for s in json.loads(done.stdout)["suites"]} == {"unchanged"}
    assert lock_bytes(host) == before
    assert revops(host, "lock", "--check").returncode == 0


@pytest.mark.realstack
def test_removing_an_override_names_both_services_and_pins_and_keeps_the_lock(locked_host, tmp_path):
    host, wheelhouse, _ = locked_host
    config = yaml.safe_load((host / "revops.yaml").read_text())
    del config["suites"]["lead-gen"]["overrides"]
    edited = tmp_path / "revops.yaml"
    edited.write_text(yaml.safe_dump(config, sort_keys=False).replace("root: .", f"root: {host}"))
    shutil.copytree(host / "inventory", tmp_path / "inventory")
    shutil.copytree(host / "lockfiles", tmp_path / "lockfiles")
    before = {p.name: p.read_bytes() for p in (tmp_path / "lockfiles").iterdir()}
    done = revops(tmp_path, "lock", "--offline", "--find-links", str(wheelhouse), "--json", "--suite", "lead-gen")
    assert done.returncode == 1, done.stderr
    (suite,) = json.loads(done.stdout)["suites"]
    assert suite["status"] == "conflict"
    pairs = [{(s["pin"], tuple(s["services"])) for s in c["sides"]} for c in suite["conflicts"]]
    assert {("requests==2.31.0", ("revprospect.service",)), ("requests==2.32.4", ("revenrich.service",))} in pairs
    assert {p.name: p.read_bytes() for p in (tmp_path / "lockfiles").iterdir()} == before
    text = revops(tmp_path, "lock", "--offline", "--find-links", str(wheelhouse), "--suite", "lead-gen").stdout
    assert "revprospect.service" in text and "revenrich.service" in text and "requests==2.31.0" in text


@pytest.mark.realstack
def test_the_core_lock_is_proven(locked_host):
    host, wheelhouse, _ = locked_host
    done = revops(host, "lock", "--offline", "--find-links", str(wheelhouse), "--suite", "core", "--prove", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    (suite,) = json.loads(done.stdout)["suites"]
    proof = suite["proof"]
    assert proof["installed"] and proof["pip_check"]
    imported = {i["service"] for i in proof["imports"] if i["ok"]}
    assert {"revcore-gateway.service", "revpublish.service", "revaudit-v6.service", "revscore-iq.service"} <= imported
    assert all(i["ok"] is not False for i in proof["imports"])


def test_the_repos_inputs_are_what_the_verb_merges_on_the_example_host(scanned_host, tmp_path):
    """The committed lockfiles/*.in equal a fresh merge of the example host (interpreter-independent)."""
    host = tmp_path / "host"
    shutil.copytree(scanned_host, host, symlinks=True, ignore=shutil.ignore_patterns("lockfiles"))
    shutil.copytree(REPO / "lockfiles", host / "lockfiles")
    done = revops(host, "lock", "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    assert {s["status"] for s in json.loads(done.stdout)["suites"]} == {"unchanged"}


@pytest.mark.realstack
def test_the_repos_locks_are_what_the_verb_produces_on_the_example_host(locked_host):
    """Byte for byte, when resolved under the same Python (markers depend on its version)."""
    host, _, _ = locked_host
    committed = {p.name: p.read_bytes() for p in sorted((REPO / "lockfiles").glob("*.txt"))}
    made_with = {lockfile.header_fields(text.decode()).get("python") for text in committed.values()}
    if made_with != {platform.python_version()}:
        message = f"the repo's locks were resolved under Python {made_with}, this is {platform.python_version()}"
        if os.environ.get("CI") == "true":  # scripts/bootstrap builds .venv on the services' Python
            pytest.fail(message)
        pytest.skip(message)
    assert committed == {k: v for k, v in lock_bytes(host).items() if k.endswith(".txt")}


def test_the_repos_locks_pass_check():
    """What CI runs on the ops repo: every lock present, matching its input, pinned with hashes."""
    done = revops(REPO, "lock", "--check", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [s["status"] for s in json.loads(done.stdout)["suites"]] == ["ok"] * len(SUITES)
