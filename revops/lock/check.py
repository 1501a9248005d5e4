"""Whether a suite's lock is current: the check of `revops lock --check` and migrate's preflight."""

from __future__ import annotations

from pathlib import Path

from revops.lock import lockfile, target
from revops.lock.results import CHECK_OK, MISSING, STALE, UNPINNED, SuiteResult


def paths(lock_dir: Path, suite: str) -> tuple[Path, Path]:
    """The suite's input and lock: lockfiles/<suite>.in and lockfiles/<suite>.txt."""
    return lock_dir / f"{suite}.in", lock_dir / f"{suite}.txt"


def rel(path: Path, base: Path) -> str:
    """path relative to the ops repo when it is inside it (as results name files)."""
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def check_suite(lock_dir: Path, suite: str, base: Path, python: target.Target | None = None) -> SuiteResult:
    """A lock exists, matches the digest of its input, was resolved for the target Python
    `python` (not compared when None), and pins every entry with a hash."""
    in_path, txt_path = paths(lock_dir, suite)
    result = SuiteResult(suite, CHECK_OK, rel(in_path, base), rel(txt_path, base))
    if not in_path.is_file() or not txt_path.is_file():
        missing = [rel(p, base) for p in (in_path, txt_path) if not p.is_file()]
        result.status, result.error = MISSING, f"missing: {', '.join(missing)}; run `revops lock --suite {suite}`"
        return result
    result.input_digest = lockfile.digest(lockfile.read_lock(in_path))
    text = lockfile.read_lock(txt_path, suite)
    result.recorded_digest = lockfile.header_fields(text).get(lockfile.DIGEST_KEY)
    result.resolver = lockfile.header_fields(text).get("resolver")
    result.pins = len(lockfile.pins(text))
    bad = lockfile.unpinned_entries(text)
    locked_for = lockfile.header_fields(text).get(lockfile.PYTHON_KEY)
    if result.recorded_digest != result.input_digest:
        result.status = STALE
        result.error = (f"{result.lockfile} was compiled from another input than {result.input} "
                        f"(recorded {result.recorded_digest or 'no digest'}); run `revops lock --suite {suite}`")
    elif python is not None and locked_for != python.version:
        result.status = STALE
        result.error = (f"{result.lockfile} was resolved for Python {locked_for or '(not recorded)'}, but the "
                        f"target is Python {python.version} (from {python.source}); run `revops lock --suite {suite}`")
    elif bad:
        result.status, result.error = UNPINNED, f"entries without == and a sha256 hash: {', '.join(bad)}"
    return result
