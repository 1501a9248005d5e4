"""One error family, and what a verb's result says when it fails; exit codes are decided here
and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class RevopsError(Exception):
    """Base of every error revops raises on purpose; carries its exit code."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class CheckFailed(RevopsError):
    """A check or a step failed (exit 1)."""

    exit_code = EXIT_FAILED


class UsageError(RevopsError):
    """Bad flags, arguments or configuration (exit 2)."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """revops.yaml is missing or wrong; the message names file, key and expectation."""

    def __init__(self, path: str, key: str | None, message: str, line: int | None = None) -> None:
        where = path if line is None else f"{path}:{line}"
        text = f"{where}: {message}" if key is None else f"{where}: {key}: {message}"
        super().__init__(text)
        self.path = path
        self.key = key
        self.line = line


class AdapterUnavailable(RevopsError):
    """An outside system (bus, engine, database) cannot be reached or is not installed."""

    exit_code = EXIT_FAILED


@dataclass(frozen=True)
class Failure:
    """Why a verb's result fails, in the words the CLI prints on stderr after the result."""

    message: str
    hint: str | None = None


class CheckResult:
    """A verb's result that passes or fails as a whole: its `ok` decides the exit code (0 or
    1), and `failed()` words the failure. Mixed into the result's dataclass (not a field)."""

    ok: bool

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.ok else EXIT_FAILED

    @property
    def failure(self) -> Failure | None:
        return None if self.ok else self.failed()

    def failed(self) -> Failure:
        raise NotImplementedError


class Outcome(Protocol):
    """What every verb returns: its data, and the exit code the CLI exits with. A result may
    also carry `failure: Failure | None`, printed as an error after the result itself."""

    @property
    def exit_code(self) -> int: ...
