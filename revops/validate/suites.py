"""revops.yaml's suites against the inventory, for `revops validate`: a unit that two suites
match (the first wins, so the second silently loses it) and a pattern that matches no unit.

These need the inventory, so they are findings of `validate` (which CI runs) rather than
errors of every verb: loading revops.yaml stays independent of what was scanned.
"""

from __future__ import annotations

import os
from pathlib import Path

from revops import config as config_mod
from revops import model, yamlsafe
from revops.errors import ConfigError
from revops.validate.findings import ERROR, WARNING, CheckRun, Finding

SEVERITY = {"suite-overlap": ERROR, "suite-unmatched": WARNING}
RULES = {
    "suite-overlap": "no unit is matched by two suites (the first match wins; the second loses it silently)",
    "suite-unmatched": "every suite pattern matches a unit of the inventory",
}


def check(config: config_mod.Config) -> tuple[CheckRun, list[Finding]]:
    """The suites check of `config`: its CheckRun (skipped without an inventory) and findings
    located in revops.yaml. A broken inventory is itself an error finding."""
    try:
        inventory = model.load(config.out("inventory"), with_venvs=False, cache_dir=config.cache_dir)
    except ConfigError as exc:
        if not (config.out("inventory") / model.UNITS_FILE).exists():
            return CheckRun("suites", "skipped", "no inventory yet: run `revops inventory scan`"), []
        return (CheckRun("suites", "ran", "revops.yaml suites against the inventory"),
                [Finding(exc.path, None, exc.key, "inventory-invalid", ERROR, exc.message, exc.line)])
    problems = config_mod.suite_problems(config, [u.name for u in inventory.units])
    doc = yamlsafe.load_file(config.path)
    name = _shown(config.path)
    findings = [Finding(name, None, p.key, p.rule, SEVERITY[p.rule], f"suite {p.suite}: {p.message}",
                        doc.line("suites", p.suite, "units", p.index)) for p in problems]
    return CheckRun("suites", "ran", f"revops.yaml suites against {len(inventory.units)} inventory units"), findings


def _shown(path: Path) -> str:
    """The file as the repo names it when it is under the current directory."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return os.fspath(path)
