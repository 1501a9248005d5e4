"""The repo's own compose/ (the example host's generated stack): current and valid.

The shared env file lives on the host, not in the repo, so validation runs on a copy of
compose/ beside an empty stand-in at the path the compose files name (as examples/ci-workflow.yml
does in CI).
"""

import shutil
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


def test_repo_compose_passes_validation(tmp_path):
    shutil.copytree(REPO / "compose", tmp_path / "compose")
    env_files = {e for path in (tmp_path / "compose").glob("*.yml")
                 for svc in yaml.safe_load(path.read_text())["services"].values() for e in svc.get("env_file", [])}
    assert env_files == {"../opt/shared-api-engine/.env"}
    stand_in = tmp_path / "opt/shared-api-engine/.env"
    stand_in.parent.mkdir(parents=True)
    stand_in.write_text("")
    shutil.copy(REPO / "revops.yaml", tmp_path / "revops.yaml")
    done = revops("validate", "compose", "--format", "json", cwd=tmp_path)
    result = yaml.safe_load(done.stdout)
    assert done.returncode == 0 and result["errors"] == 0, [f for f in result["findings"] if f["severity"] == "error"]
    assert {"compose-spec", "rules"} <= {c["name"] for c in result["checks"] if c["status"] == "ran"}
