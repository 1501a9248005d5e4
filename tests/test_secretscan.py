"""revops.secretscan: which KEY=value pairs look like secrets, and why (never the value).

Every value below is made up; AKIAIOSFODNN7EXAMPLE is AWS's own documentation example.
"""

import subprocess
import sys

import pytest

from revops import secretscan
from revops.secretscan import looks_secret

SECRETS = [
    ("DATABASE_URL", "postgresql://app:hunter2@db.internal/app", "credentials in a URL"),
    ("CACHE_URL", "redis://:p4ssw0rd@cache:6379/0", "credentials in a URL"),  # no user name
    ("RELAY", "ghp_Zx8kQ2mN4pR6sT1vW3yB5dF7hJ9lC0aE2gI4", "a known token format (GitHub Token)"),
    ("UPLOADER", "AKIAIOSFODNN7EXAMPLE", "a known token format (AWS Access Key)"),
    ("BILLING", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "a known token format (Stripe Access Key)"),
    ("SESSION", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
                "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "a JSON web token"),
    ("OPAQUE", "Zm9vYmFyYmF6cXV4cXV1eHh5enp6eHl6MTIzNDU2Nzg5MA==", "a high-entropy string"),
    ("UPSTREAM_SIG", "8f2b9c1d7e6a5b4c3d2e1f0a9b8c7d6e", "a high-entropy string"),
    ("SIGNING", "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", "a private key"),
    ("DB_PASSWORD", "hunter2", "a secret-looking name"),
    ("RELAY_TOKEN", "r3l4y", "a secret-looking name"),
    ("db_pwd", "x", "a secret-looking name"),
    ("API_KEY", "abc", "a secret-looking name"),
]

NOT_SECRETS = [
    ("REVFLOW_SERVICE", "revaudit-v6"),
    ("LOG_LEVEL", "info"),
    ("PORT", "8550"),
    ("PYTHONPATH", "/opt/revflow-os/modules/revscore-iq/src:/opt/revflow-os/shared/lib"),
    ("REDIS_URL", "redis://redis:6379/0"),
    ("DATABASE_URL", "postgresql://db.internal:5432/app"),
    ("CALLBACK", "https://hooks.revflow.example/api/v2/callbacks/score?source=iq"),
    ("UPSTREAM", "8.8.8.8"),  # a public address is not a secret here
    ("REQUEST_ID", "550e8400-e29b-41d4-a716-446655440000"),
    ("GUNICORN_CMD_ARGS", "--workers 4 --bind 0.0.0.0:8000 --timeout 120"),
    ("IMAGE_TAG", "4046914d63f6"),
    ("PASSTHROUGH", None),
    ("API_TOKEN", ""),
    ("MONITOR", "   "),
]


@pytest.mark.parametrize("key, value, reason", SECRETS)
def test_secrets_are_found_with_their_kind(key, value, reason):
    assert looks_secret(key, value) == reason


@pytest.mark.parametrize("key, value", NOT_SECRETS)
def test_ordinary_values_are_not_secrets(key, value):
    assert looks_secret(key, value) is None


@pytest.mark.parametrize("key, value, reason", SECRETS)
def test_the_reason_never_holds_the_value(key, value, reason):
    found = looks_secret(key, value)
    assert found and all(part not in found for part in value.split() if len(part) > 3)


def test_allow_list_matches_keys_case_insensitively():
    assert looks_secret("UPSTREAM_SIG", "8f2b9c1d7e6a5b4c3d2e1f0a9b8c7d6e", allow=["upstream_*"]) is None
    assert looks_secret("DB_PASSWORD", "hunter2", allow=["DB_PASSWORD"]) is None
    assert looks_secret("DB_PASSWORD", "hunter2", allow=["OTHER_*"]) == "a secret-looking name"


@pytest.mark.parametrize("key, expected", [
    ("API_TOKEN", True), ("SECRET_KEY", True), ("DB_PASSWD", True), ("MYSQL_PWD", True),
    ("AWS_CREDENTIALS", True), ("PASSWORD_SALT", True), ("QUEUE", False), ("PWDUMP", False),
    ("REVFLOW_SUITE", False), ("PASSTHROUGH", False),
])
def test_secret_names(key, expected):
    assert secretscan.secret_name(key) is expected


def test_importing_the_module_does_not_import_the_detector():
    """`revops status` and friends import modules that import this one: they must not pay for
    detect-secrets (and requests, which it pulls in)."""
    code = "import sys, revops.secretscan; print('detect_secrets' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
