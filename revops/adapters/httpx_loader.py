"""httpx, imported without its command line.

`import httpx` (0.28) also imports httpx._main, its CLI, and with it click, rich and pygments:
about 40 ms on this machine, paid by every `revops status` (upstream: encode/httpx#3547, which
moves that import into `python -m httpx`). revops never runs httpx's CLI, so a stand-in module
is registered under that name before httpx is first imported. Every revops module gets httpx
from here.
"""

from __future__ import annotations

import sys
import types
from typing import Any

CLI_MODULE = "httpx._main"


def _cli_unavailable(*_args: Any, **_kwargs: Any) -> None:
    raise RuntimeError("httpx's command line is not loaded inside revops; run `python -m httpx`")


def load() -> Any:
    """The httpx module (imported on first call)."""
    if "httpx" not in sys.modules and CLI_MODULE not in sys.modules:
        stand_in = types.ModuleType(CLI_MODULE, "stand-in: revops does not load httpx's CLI")
        stand_in.main = _cli_unavailable  # type: ignore[attr-defined]
        sys.modules[CLI_MODULE] = stand_in
    import httpx

    return httpx
