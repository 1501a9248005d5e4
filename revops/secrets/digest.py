"""Digests of secret values: what may be stored and shown instead of the values themselves.

Two kinds, each named by its prefix:

- `scrypt:` (inventory, a secret-looking Environment= value): scrypt (RFC 7914) salted with the
  variable's name. The inventory is committed to git and must be the same on every scan of an
  unchanged host, so the digest cannot be keyed; a plain hash of a short password would be a
  guessing oracle for anyone who can read the repo, so it is a deliberately slow one (about
  60 ms per value here, each value once per scan).
- `sha256:` (inventory, a value kept in clear anyway): a plain hash, to tell versions apart.
- `hmac-sha256:` (a service's copy: status, the ledger, rotation): keyed with a random key kept
  in the copies' root-only directory (copies.py), so the digest says nothing to whoever reads
  it without root on the host.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from typing import Iterable

from revops import secretscan

# scrypt cost: N=2**12, r=8 takes 4 MiB and about 60 ms on a 2-core host.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 12, 8, 1
DIGEST_BYTES = 16  # 128 bits tell versions apart; the prefix says how they were made
SHOWN_HEX = 16  # characters of a keyed digest shown (64 bits)


def value_digest(key: str, value: str, secret: bool) -> str:
    """The inventory's digest of `key=value`: scrypt for a secret, sha256 otherwise."""
    if secret:
        return "scrypt:" + _scrypt(key, value)
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:2 * DIGEST_BYTES]


@functools.lru_cache(maxsize=1024)  # one value shared by many units is hashed once per scan
def _scrypt(key: str, value: str) -> str:
    return hashlib.scrypt(value.encode("utf-8", "surrogatepass"), salt=b"revops-inventory\0" + key.encode(),
                          n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=DIGEST_BYTES).hex()


def environment_record(environment: dict[str, str], allow: Iterable[str] = ()) -> tuple[dict[str, str | None], dict[str, str]]:
    """What the inventory keeps of a unit's Environment=: ({name: value, or None when it looks
    like a secret}, {name: digest}), both in the unit's order. secretscan.looks_secret judges,
    with `allow` (revops.yaml secrets.allow) for what it gets wrong."""
    allow = tuple(allow)
    kept: dict[str, str | None] = {}
    digests: dict[str, str] = {}
    for key, value in environment.items():
        secret = secretscan.looks_secret(key, value, allow) is not None
        kept[key] = None if secret else value
        digests[key] = value_digest(key, value, secret)
    return kept, digests


def keyed(key: bytes, data: bytes) -> str:
    """The digest of a copy's bytes shown in status and the ledger: `hmac-sha256:` and 16 hex."""
    return "hmac-sha256:" + hmac.new(key, data, hashlib.sha256).hexdigest()[:SHOWN_HEX]
