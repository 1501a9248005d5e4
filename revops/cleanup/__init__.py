"""Phase 3: redundant unit files and corrupted venvs into a quarantine, never deleted.

plan.py decides (pure), quarantine.py moves files and writes the manifest, undo puts them
back byte for byte.
"""
