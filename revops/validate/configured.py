"""What revops.yaml (and the inventory beside it) tells validation: the validation Context."""

from __future__ import annotations

from pathlib import Path

from revops import model
from revops.config import Config
from revops.errors import RevopsError
from revops.validate.registry import Context


def context(config: Config | None) -> Context:
    """The base image, the ops repo, and the host files a compose file may name outside it:
    the shared env file, and every EnvironmentFile= a unit of the inventory reads (generate
    writes those paths into env_file). Without a config, an empty Context."""
    if config is None:
        return Context()
    return Context(base_image=config.image_base, repo=config.base_dir,
                   trusted_paths=tuple(sorted(_host_files(config, [config.shared_env_file, *_unit_env_files(config)]))),
                   secret_allow=config.secrets_allow, secrets_dir=config.secrets_path,
                   docker_cli=config.swarm.cli if config.swarm is not None else "docker")


def _unit_env_files(config: Config) -> list[str]:
    """The inventory's environment files; none when there is no readable inventory (validate
    then holds every env_file outside the repo but the shared one to the rule)."""
    try:
        inventory = model.load(config.out("inventory"), with_venvs=False, cache_dir=config.cache_dir)
    except (RevopsError, OSError, TypeError, AttributeError, ValueError):
        return []  # a broken inventory is for the verbs that read it to report; here it only trusts less
    return [path for unit in inventory.units for path in unit.environment_files]


def _host_files(config: Config, paths: list[str]) -> set[Path]:
    """Each path where it lies on this machine: under the host root (a unit on a copied root
    may already name the root's own directory)."""
    root = str(config.root).rstrip("/")
    found = set()
    for path in paths:
        inside = path[len(root):] if root and (path == root or path.startswith(root + "/")) else path
        found.add(config.root / inside.lstrip("/"))
    return found
