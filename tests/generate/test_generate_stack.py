"""`revops generate` for a Swarm target: the stack file beside the compose files."""

import json

import pytest
import yaml

from revops import cli, config as config_mod, errors
from revops.commands import generate
from revops.validate import validate
from revops.validate.rules import Context

import generate_minihost as minihost

SWARM = """\
swarm:
  registry: 10.77.0.1:5000
  insecure_registry: true
  publish: [revcore-gateway.service]
  placement:
    core:
      replicas: 2
      constraints: [node.role==worker]
      spread: [node.labels.zone]
      max_replicas_per_node: 1
"""


def run_main(argv):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    return exit_info.value.code


UNIT = ("[Service]\nExecStart=/bin/true\nEnvironmentFile=/opt/shared-api-engine/.env\n"
        "Environment=PUBLISH_BATCH=50 \"PUBLISH_API_TOKEN=not-for-compose\"\n")


@pytest.fixture
def ops(tmp_path, monkeypatch):
    config = minihost.write(tmp_path)
    config.write_text(config.read_text() + SWARM)
    unit = tmp_path / "etc/systemd/system/revpublish.service"  # where the secret's Environment= value is read
    unit.parent.mkdir(parents=True, exist_ok=True)
    unit.write_text(UNIT)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def stack(ops):
    return yaml.safe_load((ops / "compose/revflow.stack.yml").read_text())


def test_stack_file_beside_the_compose_files(ops, capsys):
    assert run_main(["generate", "--target", "swarm", "--json"]) == 0
    paths = {f["path"] for f in json.loads(capsys.readouterr().out)["files"]}
    assert "revflow.stack.yml" in paths and "docker-compose.yml" in paths
    doc = stack(ops)
    assert set(doc["services"]) == {"revcore-gateway", "revpublish", "revpublish-worker", "revprospect"}
    gateway, publish = doc["services"]["revcore-gateway"], doc["services"]["revpublish"]
    # Published in host mode (no IPVS for the routing mesh), one task per node.
    assert gateway["ports"] == [{"target": 8004, "published": 8004, "protocol": "tcp", "mode": "host"}]
    assert gateway["deploy"]["mode"] == "global" and "replicas" not in gateway["deploy"]
    assert gateway["deploy"]["update_config"]["order"] == "stop-first"
    # Not published: replicas and placement from revops.yaml, start-first (no port held on a node).
    assert "ports" not in publish
    deploy = publish["deploy"]
    assert (deploy["mode"], deploy["replicas"], deploy["endpoint_mode"]) == ("replicated", 2, "dnsrr")
    assert deploy["placement"] == {"constraints": ["node.role==worker"], "preferences": [{"spread": "node.labels.zone"}],
                                   "max_replicas_per_node": 1}
    health = config_mod.load().health  # monitor: the health check's verdict window, and one interval more
    window = health.verdict_window_s()
    assert window > health.unhealthy_after_s()
    assert deploy["update_config"] == {"parallelism": 1, "order": "start-first", "failure_action": "rollback",
                                       "monitor": f"{window:g}s", "max_failure_ratio": 0}
    assert deploy["rollback_config"]["failure_action"] == "pause"
    assert deploy["resources"] == {"limits": {"cpus": "0.5", "memory": "768m", "pids": 512},
                                   "reservations": {"cpus": "0.12", "memory": "384M"}}
    assert deploy["restart_policy"]["condition"] == "any"
    # lead-gen has no placement: one replica anywhere.
    assert doc["services"]["revprospect"]["deploy"]["replicas"] == 1
    assert "placement" not in doc["services"]["revprospect"]["deploy"]
    for svc in doc["services"].values():
        assert svc["image"].startswith("10.77.0.1:5000/revflow/")
        assert not {"build", "env_file", "container_name", "depends_on", "restart"} & set(svc)
    assert doc["networks"] == {"revflow-network": {"external": True, "name": "revflow-network"}}


def test_env_files_are_a_digest_named_secret_for_the_entrypoint(ops):
    generate.run(config_mod.load())
    doc = stack(ops)
    compose = yaml.safe_load((ops / "compose/docker-compose.yml").read_text())
    publish = doc["services"]["revpublish"]
    [mount] = publish["secrets"]
    # The same file the compose service mounts, for the same entrypoint in the same image.
    assert mount["target"] == compose["services"]["revpublish"]["secrets"] == ["revpublish.env"] or \
        mount["target"] == compose["services"]["revpublish"]["secrets"][0]
    assert mount["source"].startswith("revpublish.env-") and len(mount["source"]) == len("revpublish.env-") + 12
    assert mount["mode"] == 0o400 and mount["uid"] == publish["user"].split(":")[0]
    assert doc["secrets"][mount["source"]] == {"external": True, "name": mount["source"]}
    text = (ops / "compose/revflow.stack.yml").read_text()
    assert "fake-secret-value" not in text and "not-for-compose" not in text
    # The secret holds the env file, then the withheld Environment= value, as the entrypoint reads them.
    from revops.generate import stack as stack_mod
    from revops.secrets import bundle
    cfg = config_mod.load()
    content = bundle.read(cfg.root, cfg.unit_dirs, "revpublish.service", ("PUBLISH_API_TOKEN",)).text()
    assert b"PUBLISH_API_TOKEN" in content and b"not-for-compose" in content
    assert mount["source"] == f"revpublish.env-{stack_mod.env_digest(content)[:12]}"
    # A changed env file is a new secret (and a drift `generate --check` reports).
    (ops / minihost.ENV_FILE.lstrip("/")).write_text("DATABASE_PASSWORD=rotated\n")
    assert generate.run(config_mod.load(), check=True).exit_code == 1
    generate.run(config_mod.load())
    assert stack(ops)["services"]["revpublish"]["secrets"][0]["source"] != mount["source"]


def test_check_covers_the_stack_file(ops):
    generate.run(config_mod.load())
    assert generate.run(config_mod.load(), check=True).exit_code == 0
    path = ops / "compose/revflow.stack.yml"
    path.write_text(path.read_text().replace("endpoint_mode: dnsrr", "endpoint_mode: vip", 1))
    result = generate.run(config_mod.load(), check=True)
    assert result.exit_code == 1 and "revflow.stack.yml" in result.failure.message


def test_generated_stack_file_passes_validate(ops):
    generate.run(config_mod.load())
    found = validate([ops / "compose/revflow.stack.yml"], Context(repo=ops), externals=False).findings
    assert {f.rule for f in found} <= {"stack-port-public"}, [(f.rule, f.message) for f in found]
    [public] = found
    assert public.service == "revcore-gateway" and "every node (deploy.mode global)" in public.message


def test_no_stack_file_without_a_swarm_block(tmp_path, monkeypatch):
    minihost.write(tmp_path)
    monkeypatch.chdir(tmp_path)
    generate.run(config_mod.load())
    assert not (tmp_path / "compose/revflow.stack.yml").exists()
    with pytest.raises(errors.ConfigError, match="no `swarm:`"):
        generate.run(config_mod.load(), target="swarm")
    assert run_main(["generate", "--target", "kubernetes"]) == 2


@pytest.mark.parametrize("block, key", [
    ("swarm:\n  registry: 'http://x:5000'\n", "swarm.registry"),
    ("swarm:\n  registry: r:5000\n  placement:\n    nosuch: {replicas: 1}\n", "swarm.placement.nosuch"),
    ("swarm:\n  registry: r:5000\n  placement:\n    core: {constraints: ['rm -rf /']}\n", "swarm.placement.core.constraints"),
    ("target: swarm\n", "target"),
])
def test_bad_swarm_blocks_are_config_errors(tmp_path, block, key):
    config = minihost.write(tmp_path)
    config.write_text(config.read_text() + block)
    with pytest.raises(errors.ConfigError) as info:
        config_mod.load(config)
    assert key in str(info.value)
