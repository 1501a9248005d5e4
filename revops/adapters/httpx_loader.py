"""httpx, imported without its command line.

`import httpx` (0.28) also imports httpx._main, its CLI, and with it click, rich and pygments:
about 40 ms on this machine, paid by every `revops status` (upstream: encode/httpx#3547, which
moves that import into `python -m httpx`). A None in sys.modules makes that one import fail
with ImportError, which httpx already handles as "CLI dependencies not installed". revops
never runs httpx's CLI. Every revops module gets httpx from here.
"""

from __future__ import annotations

import sys
from typing import Any


def load() -> Any:
    """The httpx module (imported on first call)."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    import httpx

    return httpx
