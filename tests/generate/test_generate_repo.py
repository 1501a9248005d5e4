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
