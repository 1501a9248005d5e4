"""`revops stabilize`: suite venvs built from the locks, and the units still under systemd
repointed at them by a drop-in, health-gated and reversible (issue #17)."""
