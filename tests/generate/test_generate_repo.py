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
    """What CI runs on the ops repo, in the repo itself. The env file the services name is the
    host's; the repo holds only a stand-in with no values, so nothing secret is committed."""
    env_files = {e for path in (REPO / "compose").glob("*.yml")
                 for svc in yaml.safe_load(path.read_text())["services"].values() for e in svc.get("env_file", [])}
    assert env_files == {"../opt/shared-api-engine/.env"}
    stand_in = (REPO / "opt/shared-api-engine/.env").read_text()
    assert all(line.startswith("#") for line in stand_in.splitlines() if line.strip()), "the stand-in holds values"
    done = revops("validate", "compose", "--format", "json")
    result = yaml.safe_load(done.stdout)
    assert done.returncode == 0 and result["errors"] == 0, [f for f in result["findings"] if f["severity"] == "error"]
    assert {"compose-spec", "rules"} <= {c["name"] for c in result["checks"] if c["status"] == "ran"}
