"""The repo's own compose/ (the example host's generated stack): current and valid.

The shared env file lives on the host, not in the repo, so validation runs on a copy of
compose/ beside an empty stand-in at the path the compose files name (as examples/ci-workflow.yml
does in CI).
"""

import sys
from pathlib import Path

import yaml

from revops.adapters import proc

REPO = Path(__file__).resolve().parents[2]


def revops(*args, cwd=REPO):
    return proc.run([sys.executable, "-m", "revops", *args], cwd=cwd, check=False, timeout=300)


def test_repo_compose_matches_its_inputs():
    done = revops("generate", "--check")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr


def test_repo_compose_passes_validation():
    """What CI runs on the ops repo, in the repo itself. No service names an env file: each
    reads a secret file `revops migrate` writes on the host (none is committed)."""
    docs = [yaml.safe_load(path.read_text()) for path in (REPO / "compose").glob("*.yml")]
    assert not any("env_file" in svc for doc in docs for svc in doc["services"].values())
    files = {spec["file"] for doc in docs for spec in (doc.get("secrets") or {}).values()}
    assert files and all(f.startswith("../.revops/secrets/") for f in files)
    done = revops("validate", "compose", "--format", "json")
    result = yaml.safe_load(done.stdout)
    assert done.returncode == 0 and result["errors"] == 0, [f for f in result["findings"] if f["severity"] == "error"]
    assert {"compose-spec", "rules"} <= {c["name"] for c in result["checks"] if c["status"] == "ran"}


def test_every_live_unit_of_the_example_host_is_generated_or_has_another_destination():
    """Issue #15: only the deprecated and the masked unit are skipped; jobs keep their timers,
    the set-up runs before its dependents, the numbered template instances are replicas."""
    import json

    done = revops("generate", "--check", "--json")
    result = json.loads(done.stdout)
    assert {s["unit"] for s in result["skipped"]} == {"revaudit.service", "revflow-legacy-crawler.service"}
    assert len(result["retired"]) == 11 and len(result["kept_on_host"]) == 2
    kinds = {}
    for s in result["services"]:
        kinds[s["kind"]] = kinds.get(s["kind"], 0) + 1
    assert kinds == {"service": 103, "job": 30, "setup": 2}
    top = yaml.safe_load((REPO / "compose/docker-compose.yml").read_text())["services"]
    backup = top["revflow-backup"]
    assert backup["profiles"] == ["jobs"] and backup["restart"] == "no"
    assert backup["labels"]["revops.kind"] == "job"
    worker = top["revflow-worker"]
    assert worker["deploy"] == {"replicas": 3}
    assert worker["labels"]["revops.instances"] == ("revflow-worker@1.service revflow-worker@2.service "
                                                    "revflow-worker@3.service")
    assert "--" in worker["command"] and "generic-%i" in worker["command"]
    # revflow-worker@ is After= the one-shot set-up: it waits for it to complete
    assert worker["depends_on"] == {"revflow-db-migrate": {"condition": "service_completed_successfully"}}
    assert top["revflow-db-migrate"]["depends_on"] == {
        "revflow-db-migrate-step1": {"condition": "service_completed_successfully"}}
    assert top["revflow-db-migrate-step1"]["command"][-2:] == ["--task", "migrate"]
    assert top["revflow-db-migrate"]["command"][-2:] == ["--task", "seed"]
