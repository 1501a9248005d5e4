"""A template's numbered instances as compose replicas, for real: compose honours
deploy.replicas, and each replica reads its own number (where the unit had %i) from its
DNS name on the stack's network before it execs the argv."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from revops.adapters import compose
from revops.generate import replica

pytestmark = pytest.mark.realstack

ARGV = ("/usr/bin/python3", "-c",
        "import os, sys, time; print('worker', sys.argv[1], os.environ['QUEUE'], flush=True); time.sleep(120)", "%i")


def test_three_replicas_each_with_its_own_number(testbed, tmp_path):
    network = f"revops-rep-{uuid.uuid4().hex[:8]}"
    doc = {"services": {"worker": {
        "image": testbed.base_image, "command": list(replica.command("/usr/bin/python3", ARGV, ("QUEUE",))),
        "environment": {"QUEUE": "generic-%i", "OTHER": "keeps-%i"}, "deploy": {"replicas": 3},
        "networks": ["net"], "restart": "unless-stopped"}},
        "networks": {"net": {"name": network}}}
    files = [str(tmp_path / "docker-compose.yml")]
    (tmp_path / "docker-compose.yml").write_text(json.dumps(doc))
    client = compose.connect(cwd=tmp_path, project=f"revopsrep{uuid.uuid4().hex[:8]}")
    try:
        client.up(files)
        assert len(client.ps(files, "worker")) == 3
        lines: set[str] = set()
        for _ in range(100):
            out = client.run(files, "logs", "--no-color", "worker").stdout
            lines = {line.split("|", 1)[1].strip() for line in out.splitlines() if "| worker" in line}
            if len(lines) == 3:
                break
            time.sleep(0.2)
        assert lines == {"worker 1 generic-1", "worker 2 generic-2", "worker 3 generic-3"}
    finally:
        client.run(files, "down", "--remove-orphans", "-t", "1", check=False)
