"""Secrets: never stored, never visible, delivered only to the process.

`digest`: what the inventory keeps of an Environment= value (a digest; the value only when it
is not a secret), and the keyed digest of a service's copy. `bundle`: what a service may read
(its env files and its secret Environment= values), read from the host as systemd would.
`copies`: the root-only directory of per-service copies that compose mounts as secrets.
`versions`: which copy a container holds (the ledger's digest) against what its files give now.
The flows that use them are migrate's write-secret step and `secrets rotate`
(revops/migrate/rotation.py).
"""
