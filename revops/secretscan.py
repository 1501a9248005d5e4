"""Does a value look like a secret? One answer for every part of revops that meets values.

`looks_secret(key, value, allow)` is the whole API: it returns why a `KEY=value` pair looks
like a secret ("credentials in a URL", "a high-entropy string", "a GitHub Token", "a
secret-looking name"), or None. The reason never contains the value, so callers may print it.

Two tests, either is enough:
- the value, through detect-secrets (Yelp's maintained detector, PyPI `detect-secrets`): its
  plugins know credentials in URLs (`scheme://user:pass@host`), private keys, JSON web tokens,
  and the token formats of AWS, GitHub, GitLab, Slack, Stripe, npm, PyPI, OpenAI and others;
  its high-entropy plugins flag random-looking strings (Shannon entropy over the base64 or hex
  alphabet above its own limits: 4.5 and 3.0 bits per character);
- the key's name: words such as PASSWORD, SECRET, TOKEN, KEY, CREDENTIAL, PWD (what a
  human names a secret), with any value that is not empty.

`allow` is the caller's allow-list for what the tests get wrong: shell-style patterns
(fnmatch, case-insensitive) matched against the key; an allowed key is never a secret.

detect-secrets and its plugins are imported on the first call only (about 0.4 s here: it
pulls in requests), so modules that merely import this one pay nothing.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from typing import Any, Iterable

# Words in a variable's name that say it holds a secret: anywhere in the name ...
NAME_PARTS = ("PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "PRIVATE")
# ... or as a whole word between underscores (PWD in DB_PWD, not in PWDUMP).
NAME_WORDS = frozenset({"PWD", "PASS", "SALT"})

# What the detector reads of one value: enough for any key or token, and bounded time for any input.
MAX_SCAN = 65536  # characters of one value
MAX_LINES = 200
MAX_LINE = 4096
# detect-secrets plugins left out: a public IP address is not a secret here.
_SKIPPED_PLUGINS = frozenset({"IPPublicDetector"})
_ENTROPY_TYPES = {"Base64 High Entropy String", "Hex High Entropy String"}
_KINDS = {
    "Basic Auth Credentials": "credentials in a URL",
    "Base64 High Entropy String": "a high-entropy string",
    "Hex High Entropy String": "a high-entropy string",
    "Secret Keyword": "a secret-looking name",
    "Private Key": "a private key",
    "JSON Web Token": "a JSON web token",
}


def looks_secret(key: str, value: str | None, allow: Iterable[str] = ()) -> str | None:
    """Why `key=value` looks like a secret, or None when it does not (or `key` is allowed).

    key: the variable's name; value: its text (None or blank: nothing to hold, never a
    secret); allow: fnmatch patterns on the key, case-insensitive. The reason names the kind
    of secret, never the value. Raises nothing for any text.
    """
    if value is None or not str(value).strip() or allowed(key, allow):
        return None
    text = str(value)[:MAX_SCAN]
    return (_url_credentials(text) or detected(key, text)
            or ("a secret-looking name" if secret_name(key) else None))


def allowed(key: str, allow: Iterable[str]) -> bool:
    upper = key.upper()
    return any(fnmatch.fnmatchcase(upper, pattern.upper()) for pattern in allow)


def secret_name(key: str) -> bool:
    """True when the variable's name says it holds a secret (API_TOKEN, DB_PWD, SECRET_KEY)."""
    upper = key.upper()
    return any(part in upper for part in NAME_PARTS) or bool(NAME_WORDS & set(re.split(r"[^A-Z0-9]+", upper)))


def _url_credentials(value: str) -> str | None:
    """A password in a URL, user name or not (redis://:pass@host is one detect-secrets misses).

    Linear in the value: each "://" is looked at once, up to the end of its authority."""
    start = value.find("://")
    while start != -1:
        authority = re.split(r"[/?#\s]", value[start + 3:start + 3 + MAX_LINE], maxsplit=1)[0]
        userinfo, at, _ = authority.rpartition("@")
        if at and userinfo.partition(":")[2]:
            return "credentials in a URL"
        start = value.find("://", start + 3)
    return None


def detected(key: str, value: str) -> str | None:
    """The kind of secret detect-secrets finds in the value (each line of it), or None."""
    return _detect(key, value)


@functools.lru_cache(maxsize=4096)
def _detect(key: str, value: str) -> str | None:
    scanner = _scanner()
    for line in (value.splitlines() or [value])[:MAX_LINES]:
        kinds = scanner(key, line[:MAX_LINE])
        if kinds:
            return _reason(sorted(kinds, key=_rank)[0])
    return None


def _rank(secret_type: str) -> tuple[int, str]:
    """Most telling first: a known format, then credentials or keywords, then mere entropy."""
    return (2 if secret_type in _ENTROPY_TYPES else 1 if secret_type in _KINDS else 0, secret_type)


def _reason(secret_type: str) -> str:
    return _KINDS.get(secret_type) or f"a known token format ({secret_type})"


@functools.lru_cache(maxsize=1)
def _scanner():
    """detect-secrets, configured once: every plugin but the skipped ones, default filters."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import configure_settings_from_baseline, get_plugins

    names = sorted(cls.__name__ for cls in get_mapping_from_secret_type_to_class().values()
                   if cls.__name__ not in _SKIPPED_PLUGINS)
    configure_settings_from_baseline({"plugins_used": [{"name": name} for name in names]})
    limits = {plugin.secret_type: plugin for plugin in get_plugins() if plugin.secret_type in _ENTROPY_TYPES}

    def scan(key: str, line: str) -> set[str]:
        # An assignment with the value quoted, as detect-secrets reads a config line: the keyword
        # plugin sees the name, the entropy plugins see the whole value as one string.
        text = f'{_word(key)}="{line.replace(chr(34), chr(39))}"'
        found: set[str] = set()
        for secret in scan_line(text):
            plugin: Any = limits.get(secret.type)
            # scan_line searches unquoted words too and leaves the entropy limit to its caller
            if plugin is not None and not plugin.calculate_shannon_entropy(secret.secret_value or "") > plugin.entropy_limit:
                continue
            found.add(secret.type)
        return found

    return scan


def _word(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", key) or "value"
