"""The manager's task rows as revops reads them (Engine API GET /tasks). The real manager's
rows are read by tests/migrate/test_migrate_swarm_realstack.py; these pin the fields a
rotation's gate depends on with a row of the API's shape."""

from __future__ import annotations

from revops.adapters import swarm

ROW = {
    "ID": "t1", "ServiceID": "s1", "Slot": 2, "NodeID": "n1", "DesiredState": "running",
    "CreatedAt": "2026-11-29T20:59:55Z",
    "Status": {"State": "running", "Message": "started", "Timestamp": "2026-11-29T21:00:01Z",
               "ContainerStatus": {"ExitCode": 0}},
    "Spec": {"ContainerSpec": {
        "Image": "10.0.0.5:5000/revflow/revpublish:abc@sha256:00",
        "Secrets": [{"File": {"Name": "revpublish.env", "UID": "10001", "GID": "10001", "Mode": 256},
                     "SecretID": "dspx", "SecretName": "revpublish.env-91256f17d3f4"}]}},
}


def test_a_task_names_the_secrets_its_own_spec_mounts():
    # A rolling update's old and new tasks mount different secrets: the gate counts by these.
    task = swarm._task(ROW)
    assert task.secrets == ("revpublish.env-91256f17d3f4",)
    assert (task.state, task.slot, task.node_id, task.image) == ("running", 2, "n1", ROW["Spec"]["ContainerSpec"]["Image"])


def test_a_task_without_secrets_mounts_none():
    row = {**ROW, "Spec": {"ContainerSpec": {"Image": "x"}}}
    assert swarm._task(row).secrets == ()
