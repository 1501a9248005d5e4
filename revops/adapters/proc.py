"""Every subprocess revops runs goes through here, so failures read the same everywhere."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Mapping, Sequence

from revops.errors import AdapterUnavailable, CheckFailed


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def which(program: str) -> str | None:
    return shutil.which(program)


def run(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float | None = None,
    input: str | None = None,
) -> Completed:
    """Run argv (never a shell string); raise CheckFailed with its stderr when it fails."""
    argv = [str(a) for a in argv]
    try:
        proc = subprocess.run(
            argv, cwd=cwd, env=None if env is None else dict(env), capture_output=True,
            text=True, timeout=timeout, input=input, check=False,
        )
    except FileNotFoundError:
        raise AdapterUnavailable(f"{argv[0]}: not found on PATH") from None
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"{' '.join(argv[:3])}...: no answer within {timeout:g}s") from None
    done = Completed(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise CheckFailed(f"{' '.join(argv[:4])} exited {proc.returncode}:\n" + "\n".join(tail))
    return done
