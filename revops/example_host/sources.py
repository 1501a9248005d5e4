"""The text of the files the host's services run: module code, the light app, the shared .env."""

from __future__ import annotations

from revops.example_host.catalog import Service, required_environment


def app_py(s: Service) -> str:
    title = s.module.title if s.module else s.description
    return f'''"""{s.stem}: {title}. Served by uvicorn as `app:app`."""

import os

from fastapi import FastAPI
from fastapi.responses import JSONResponse

SERVICE = "{s.stem}"
# From its environment (EnvironmentFile= and Environment=): without them it cannot serve.
REQUIRED = {required_environment(s)!r}

app = FastAPI(title=SERVICE)


@app.get("/health")
def health():
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:  # names only: a value never leaves the process
        return JSONResponse({{"status": "unavailable", "service": SERVICE, "missing": missing}}, status_code=503)
    return {{"status": "ok", "service": SERVICE}}
'''


def loop_py(s: Service) -> str:
    """worker.py / scheduler.py: a queue consumer that idles when its queue is empty."""
    return f'''"""{s.stem}: {s.description}. Polls its queue; sleeps while the queue is empty."""

import argparse
import signal
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queue", default="{s.stem}")
    args = parser.parse_args()
    # nothing is in flight between polls, so a stop request can end the process at once
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"{s.stem}: consuming queue {{args.queue}}", flush=True)
    while True:
        time.sleep(5)


if __name__ == "__main__":
    main()
'''


def job_py(s: Service) -> str:
    return f'''"""{s.stem}: {s.description}. Runs once and exits."""

import sys

if __name__ == "__main__":
    print("{s.stem}: done", " ".join(sys.argv[1:]), flush=True)
'''


def audit_v5_py() -> str:
    return '''"""revaudit v5: the deprecated audit. Its schema was dropped with v6, so it cannot start."""

import sys

if __name__ == "__main__":
    print("revaudit v5: schema v5 not found in database (migrated to v6)", file=sys.stderr, flush=True)
    sys.exit(3)
'''


def lightapp_py() -> str:
    """One stdlib file every non-phase-1 API runs in the live host, answering GET /health."""
    return '''"""Light stand-in for a module API in the live example host: GET /health, stdlib only."""

import argparse
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# From the shared env file (EnvironmentFile=): without it the module cannot serve.
REQUIRED = ("DATABASE_URL",)


def handler_for(service: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path.split("?", 1)[0] == "/health"
            missing = [name for name in REQUIRED if not os.environ.get(name)]
            if not found:
                status, body = 404, json.dumps({"detail": "Not Found"})
            elif missing:  # names only: a value never leaves the process
                status, body = 503, json.dumps({"status": "unavailable", "service": service, "missing": missing})
            else:
                status, body = 200, json.dumps({"status": "ok", "service": service})
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args) -> None:  # the journal needs no line per probe
            pass

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--service", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), handler_for(args.service))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


if __name__ == "__main__":
    main()
'''


# Every value is fake; tests check that none of them reaches a unit file or any output.
SECRETS = {
    "OPENAI_API_KEY": "sk-fake-example-host-0123456789abcdef",
    "ANTHROPIC_API_KEY": "sk-ant-fake-example-host-fedcba9876543210",
    "DATAFORSEO_PASSWORD": "fake-d4taf0rseo-pw",
    "SUPERTOKENS_API_KEY": "fake-supertokens-key-5b1f0c",
    "DATABASE_URL": "postgresql://revflow:fake-db-pass-8c2e@127.0.0.1:5432/revflow",
    "REDIS_URL": "redis://:fake-redis-pass-41aa@127.0.0.1:6379/0",
    "JWT_SECRET": "fake-jwt-secret-7f3d9e2a",
}


def env_file() -> str:
    lines = ["# Shared by every RevFlow module (EnvironmentFile=). FAKE values: example host only."]
    lines += [f"{k}={v}" for k, v in SECRETS.items()]
    lines += ["DATAFORSEO_LOGIN=ops@revflow.example", "CHROMA_URL=http://127.0.0.1:8000", "LOG_LEVEL=info"]
    return "\n".join(lines) + "\n"


def python_placeholder() -> str:
    """The host's /usr/bin/python3.11 inside DIR, so absolute venv links resolve under the root."""
    return "#!/bin/sh\n# placeholder for the host's CPython 3.11.2 binary\nexec /usr/bin/python3.11 \"$@\"\n"
