"""Paths a compose file names stay inside the ops repo; working directories are absolute."""

from pathlib import Path

import pytest

from revops.validate import external, validate
from revops.validate.findings import CheckRun, ERROR
from revops.validate.rules import Context

CASES = Path(__file__).parent / "cases"
SERVICE = 'services:\n  api:\n    image: "revflow/api:1.4.2"\n'


def flagged(path: Path, rule: str, ctx: Context = Context()) -> dict:
    found: dict = {}
    for f in validate([path], ctx, externals=False).findings:
        if f.rule == rule:
            found.setdefault(f.service, []).append(f)
    return found


def test_every_path_outside_the_repo_is_flagged():
    found = flagged(CASES / "outside-repo.bad.yml", "outside-repo")
    assert set(found) == {"context-parent", "context-absolute", "dockerfile-absolute", "additional-context",
                          "context-remote", "env-absolute", "env-relative", "env-long", "env-home", "extends-file"}
    [hostroot] = found["additional-context"]  # docker-image:// is not a path
    assert hostroot.key == "services.additional-context.build.additional_contexts.hostroot"
    assert all(f.severity == ERROR and f.line for items in found.values() for f in items)


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "revops.yaml").write_text("# the ops repo\n")
    (tmp_path / "compose").mkdir()
    return tmp_path


def test_symlinks_are_followed_out_of_the_repo(repo):
    (repo / "compose" / "ctx").symlink_to("/etc")
    (repo / "compose" / "app.env").symlink_to("/etc/hostname")
    (repo / "compose" / "inside.env").write_text("A=1\n")
    (repo / "compose" / "alias.env").symlink_to("inside.env")
    compose = repo / "compose" / "app.yml"
    compose.write_text(SERVICE + "    build: ctx\n    env_file: [app.env, alias.env, ../compose/inside.env]\n")
    found = flagged(compose, "outside-repo")["api"]
    assert sorted(f.key for f in found) == ["services.api.build", "services.api.env_file.0"]
    assert any("resolves to /etc/hostname" in f.message for f in found)


def test_the_configured_shared_env_file_is_allowed(repo):
    compose = repo / "compose" / "app.yml"
    compose.write_text(SERVICE + "    env_file: /opt/shared-api-engine/.env\n")
    assert "api" in flagged(compose, "outside-repo")
    trusted = Context(repo=repo, trusted_paths=(Path("/opt/shared-api-engine/.env"),))
    assert flagged(compose, "outside-repo", trusted) == {}


def test_the_configured_repo_wins_over_markers(repo):
    compose = repo / "compose" / "app.yml"
    compose.write_text(SERVICE + "    env_file: ../shared.env\n")
    assert flagged(compose, "outside-repo") == {}  # revops.yaml marks repo/ as the repo
    assert "api" in flagged(compose, "outside-repo", Context(repo=repo / "compose"))


def test_include_outside_the_repo(repo):
    compose = repo / "compose" / "app.yml"
    compose.write_text("include:\n  - /etc/other.yml\n  - path: [inner.yml]\n    env_file: /root/.env\n" + SERVICE)
    found = flagged(compose, "outside-repo")[None]
    assert sorted(f.key for f in found) == ["include.0", "include.1"]


def test_a_file_that_names_outside_paths_never_reaches_compose_config(repo, monkeypatch):
    """docker-compose config would read the env file; the file is held back, and the check says so."""
    given = []

    def fake_compose_config(files):
        given.extend(files)
        return CheckRun("compose-config", "ran", f"config -q on {len(files)} file(s)"), []

    monkeypatch.setattr(external, "compose_config", fake_compose_config)
    monkeypatch.setattr(external, "hadolint", lambda files: (CheckRun("hadolint", "ran", "no Dockerfiles"), []))
    bad = repo / "compose" / "bad.yml"
    bad.write_text(SERVICE + "    env_file: /etc/shadow\n")
    good = repo / "compose" / "good.yml"
    good.write_text(SERVICE)
    result = validate([repo / "compose"], Context())
    assert given == [good]
    [run] = [c for c in result.checks if c.name == "compose-config"]
    assert "not given 1 file(s) that name paths outside the repo" in run.detail


def test_a_driven_project_goes_to_the_compose_tool_once_and_alone(repo, monkeypatch):
    """migrate's preflight names the files it drives: those go to one `config -q` together; the
    others (the per-suite files) are only for the verb to check one by one."""
    given = []
    monkeypatch.setattr(external, "compose_config", lambda files: pytest.fail("each file alone"))
    monkeypatch.setattr(external, "project_config", lambda files: given.append(list(files)) or (
        CheckRun("compose-config", "ran", f"config -q on {len(files)} file(s) as one project"), []))
    monkeypatch.setattr(external, "hadolint", lambda files: (CheckRun("hadolint", "ran", "no Dockerfiles"), []))
    main = repo / "compose" / "docker-compose.yml"
    main.write_text(SERVICE)
    (repo / "compose" / "suite.yml").write_text(SERVICE)
    result = validate([repo / "compose"], Context(), project=[main])
    assert given == [[main]]
    assert "as one project" in {c.name: c.detail for c in result.checks}["compose-config"]


def test_a_held_back_file_outside_the_driven_project_is_not_said_to_be_missing_from_it(repo, monkeypatch):
    """A per-suite file that names outside paths would not have gone to the project's
    `config -q` anyway: the check's detail counts only the project's files it held back."""
    monkeypatch.setattr(external, "project_config", lambda files: (
        CheckRun("compose-config", "ran", f"config -q on {len(files)} file(s) as one project"), []))
    monkeypatch.setattr(external, "hadolint", lambda files: (CheckRun("hadolint", "ran", "no Dockerfiles"), []))
    main = repo / "compose" / "docker-compose.yml"
    main.write_text(SERVICE)
    (repo / "compose" / "suite.yml").write_text(SERVICE + "    env_file: /etc/shadow\n")
    checks = {c.name: c.detail for c in validate([repo / "compose"], Context(), project=[main]).checks}
    assert checks["compose-config"] == "config -q on 1 file(s) as one project"
    main.write_text(SERVICE + "    env_file: /etc/shadow\n")
    checks = {c.name: c.detail for c in validate([repo / "compose"], Context(), project=[main]).checks}
    assert "not given 1 file(s) that name paths outside the repo" in checks["compose-config"]


def test_working_dir_variants():
    found = flagged(CASES / "working-dir.bad.yml", "working-dir")
    assert set(found) == {"tilde", "tilde-path", "relative"}
    assert "'~'" in found["tilde"][0].message and "not absolute" in found["relative"][0].message


def test_dockerfile_workdir_variants():
    found = [f for f in validate([CASES / "dockerfile-workdir.bad.Dockerfile"], Context(), externals=False).findings
             if f.rule == "dockerfile-workdir"]
    assert [f.line for f in found] == [3, 4, 5]
    assert "no JSON form" in found[2].message


def test_the_config_trusts_the_host_files_its_units_read(tmp_path):
    """On a real host the ops repo and the host root differ: generate writes env_file as the
    unit's own absolute path, which validate accepts; any other host file stays an error."""
    from revops.config import Config
    from revops.validate import configured

    ops, root = tmp_path / "ops", tmp_path / "root"
    (ops / "inventory").mkdir(parents=True)
    (ops / "compose").mkdir()
    (ops / "inventory" / "units.yaml").write_text(
        "root: /\nunits:\n- name: relay.service\n  path: etc/systemd/system/relay.service\n"
        f"  environment_files: [{root}/etc/relay/relay.env]\n")
    config = Config(path=ops / "revops.yaml", root=root)
    compose = ops / "compose" / "relay.yml"
    compose.write_text(SERVICE + f"    env_file: [{root}/etc/relay/relay.env, {root}/opt/shared-api-engine/.env, "
                       f"{root}/etc/shadow]\n")
    ctx = configured.context(config)
    assert ctx.repo == ops and ctx.base_image == config.image_base
    [f] = flagged(compose, "outside-repo", ctx)["api"]
    assert f.key == "services.api.env_file.2"
    (ops / "inventory" / "units.yaml").write_text("units: notalist\n")  # unreadable: only the shared file
    keys = sorted(f.key for f in flagged(compose, "outside-repo", configured.context(config))["api"])
    assert keys == ["services.api.env_file.0", "services.api.env_file.2"]
