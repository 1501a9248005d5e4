"""Secrets in compose files: inline values, interpolation defaults, `secrets:` files. No finding
repeats a value."""

import re
from pathlib import Path

import pytest
from revops.validate import validate
from revops.validate.rules import Context
from revops.validate.secrets import Fallback, interpolate

CASES = Path(__file__).parent / "cases"


def findings(path: Path, rule: str, ctx: Context = Context()):
    return [f for f in validate([path], ctx, externals=False).findings if f.rule == rule]


# The made-up secrets of the case files: none may appear in any finding.
SECRET_VALUES = {
    "inline-secret": ["s3cr3t", "hunter2", "ghp_Zx8kQ2mN4pR6sT1vW3yB5dF7hJ9lC0aE2gI4", "p4ssw0rd",
                      "8f2b9c1d7e6a5b4c3d2e1f0a9b8c7d6e", "AKIAIOSFODNN7EXAMPLE"],
    "secret-default": ["letmein", "hunter2", "tok-9f8e7d6c", "k3y"],
}


def reason(message: str) -> str:
    return re.search(r"looks like a secret \((.*)\); the value is not shown", message).group(1)


def test_inline_secrets_by_name_and_by_value():
    found = findings(CASES / "inline-secret.bad.yml", "inline-secret")
    assert {f.key: reason(f.message) for f in found} == {
        "services.worker.environment.API_TOKEN": "a secret-looking name",
        "services.listed.environment.1": "credentials in a URL",
        "services.listed.environment.2": "a known token format (GitHub Token)",
        "services.by-value.environment.CACHE_URL": "credentials in a URL",
        "services.by-value.environment.UPSTREAM_SIG": "a high-entropy string",
        "services.by-value.environment.AWS_ID": "a known token format (AWS Access Key)",
    }
    assert all(f.line for f in found)


@pytest.mark.parametrize("case, rule", [("inline-secret", "inline-secret"), ("secret-default", "secret-default")])
def test_no_finding_echoes_a_value(case, rule):
    path = CASES / f"{case}.bad.yml"
    found = [f for f in validate([path], Context(), externals=False).findings]
    assert [f for f in found if f.rule == rule]
    for value in SECRET_VALUES[case]:
        assert value in path.read_text()
        for f in found:
            assert value not in f.message, (f.rule, f.key)


def test_secret_defaults_anywhere_in_the_file():
    found = findings(CASES / "secret-default.bad.yml", "secret-default")
    assert sorted((f.key, f.message.split("}")[0]) for f in found) == [
        ("services.api.command.2", "the default of ${ADMIN_PASSWORD"),
        ("services.api.environment.DATABASE_URL", "the default of ${DATABASE_URL"),
        ("services.api.environment.DB_PASSWORD", "the default of ${DB_PASSWORD"),
        ("services.api.environment.NESTED", "the default of ${API_TOKEN"),
        ("services.api.labels.0", "the default of ${SIGNING_KEY"),
    ]
    assert all(f.service == "api" and f.line for f in found)


def test_allow_list_from_the_context():
    allow = Context(secret_allow=("UPSTREAM_SIG", "api_token"))
    keys = {f.key for f in findings(CASES / "inline-secret.bad.yml", "inline-secret", allow)}
    assert "services.by-value.environment.UPSTREAM_SIG" not in keys
    assert "services.worker.environment.API_TOKEN" not in keys
    assert "services.listed.environment.1" in keys


@pytest.mark.parametrize("value, literal, fallbacks", [
    ("${A}", "", []),
    ("$A-x", "-x", []),
    ("${A:-x}", "", [Fallback("A", "x")]),
    ("${A-x y}", "", [Fallback("A", "x y")]),
    ("${A:?message}", "", []),
    ("${A:+on}", "", [Fallback("A", "on")]),
    ("pre ${A:-${B:-deep}} post", "pre  post", [Fallback("A", ""), Fallback("B", "deep")]),
    ("$$A and $${B:-no}", "$A and ${B:-no}", []),
    ("cost: 5$", "cost: 5$", []),
    ("$1 and $-", "$1 and $-", []),
    ("${unclosed", "${unclosed", []),
])
def test_interpolation_as_compose_reads_it(value, literal, fallbacks):
    assert interpolate(value) == (literal, fallbacks)


def _secret_compose(tmp_path: Path, mode: int | None) -> Path:
    if mode is not None:
        secret = tmp_path / "relay.secret"
        secret.write_text("made-up\n")
        secret.chmod(mode)
    compose = tmp_path / "compose.yml"
    compose.write_text('services:\n  api:\n    image: "revflow/api:1.4.2"\n    secrets: [relay]\n'
                       "secrets:\n  relay:\n    file: ./relay.secret\n  outer:\n    external: true\n")
    return compose


@pytest.mark.parametrize("mode, who", [(0o600, None), (0o400, None), (0o640, "its group"), (0o604, "others"),
                                       (0o644, "its group and others")])
def test_secret_file_modes(tmp_path, mode, who):
    found = findings(_secret_compose(tmp_path, mode), "secret-file-mode")
    if who is None:
        assert found == []
    else:
        [f] = found
        assert f.key == "secrets.relay.file" and f.line == 7 and f"{mode:04o}, open to {who}:" in f.message


def test_missing_secret_file(tmp_path):
    compose = _secret_compose(tmp_path, None)
    [f] = findings(compose, "secret-file-missing")
    assert f.key == "secrets.relay.file" and "relay.secret" in f.message
    assert findings(compose, "secret-file-mode") == []


def test_a_copy_revops_migrate_writes_is_no_finding_until_written_then_held_to_its_mode(tmp_path):
    copies = tmp_path / ".revops/secrets"
    compose = tmp_path / "compose/api.yml"
    compose.parent.mkdir()
    compose.write_text('services:\n  api:\n    image: "revflow/api:1.4.2"\n    secrets: [api.env]\n'
                       "secrets:\n  api.env:\n    file: ../.revops/secrets/api.env\n")
    ctx = Context(repo=tmp_path, secrets_dir=copies)
    assert findings(compose, "secret-file-missing", ctx) == []  # migrate writes it
    assert len(findings(compose, "secret-file-missing")) == 1  # without the config: a missing file
    copies.mkdir(parents=True)
    (copies / "api.env").write_text("A=1\n")
    (copies / "api.env").chmod(0o644)
    [f] = findings(compose, "secret-file-mode", ctx)
    assert "0644, open to its group and others" in f.message


def test_a_secret_file_outside_the_repo_is_refused_but_the_configured_copies_directory(tmp_path):
    repo = tmp_path / "ops"
    compose = repo / "compose/api.yml"
    compose.parent.mkdir(parents=True)
    compose.write_text('services:\n  api:\n    image: "revflow/api:1.4.2"\n    secrets: [a, b]\n'
                       "secrets:\n  a:\n    file: /etc/shadow\n  b:\n    file: /var/lib/revops/secrets/api.env\n")
    found = findings(compose, "outside-repo", Context(repo=repo, secrets_dir=Path("/var/lib/revops/secrets")))
    assert [(f.key, "secret file /etc/shadow" in f.message) for f in found] == [("secrets.a.file", True)]


def test_env_file_is_refused_in_generated_files_only(tmp_path):
    body = 'services:\n  api:\n    image: "revflow/api:1.4.2"\n    env_file: [app.env]\n'
    (tmp_path / "app.env").write_text("LOG_LEVEL=info\n")
    generated, own = tmp_path / "generated.yml", tmp_path / "own.yml"
    generated.write_text("# Generated by `revops generate` for suite core (phase 1).\n" + body)
    own.write_text("# written by hand\n" + body)
    [f] = findings(generated, "generated-env-file")
    assert f.key == "services.api.env_file" and f.line == 5 and "docker" in f.message
    assert findings(own, "generated-env-file") == []
