"""revops: move RevFlow OS from systemd units and venvs to a Docker Compose stack."""

__version__ = "0.1.0"
