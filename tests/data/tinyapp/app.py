"""The smallest service shaped like a RevFlow module: a FastAPI app answering GET /health."""

import os

from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
def health() -> dict[str, object]:
    return {"status": "ok", "uid": os.getuid()}
