"""`revops suites suggest`: a destination for every live unit in no suite, with a reason per
unit; `--write` adds it to revops.yaml as a block to review (revops/suites/write.py).

Reads the inventory, revops.yaml (which may have no suites yet) and each live unit's
requirements under the host root, as `revops lock` reads them; asks no outside system.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from revops import model, regularfile
from revops.config import Config
from revops.errors import EXIT_OK, ConfigError
from revops.lock import reqfile, sources, target
from revops.suites import suggest as S
from revops.suites import write as W


@dataclass
class SuggestResult:
    proposal: S.Proposal
    config_path: str
    written: bool = False
    python: str = ""  # the target Python the requirement sets were checked for

    @property
    def exit_code(self) -> int:
        return EXIT_OK  # a proposal is data; nothing failed

    def contract(self) -> dict[str, Any]:
        return {**self.proposal.to_dict(), "config": self.config_path, "written": self.written,
                "python": self.python}


def suggest(config: Config, *, write: bool = False) -> SuggestResult:
    inventory = model.load(config.out("inventory"), cache_dir=config.cache_dir)
    reader = reqfile.Reader(config.root, config.cache_dir)
    requirements = {u.name: sources.gather(u.name, u.working_directory, u.venv, config.root, reader)
                    for u in inventory.units if not u.masked and not u.template}
    python, _warnings = target.choose(config.image_python, [v.python_version for v in inventory.venvs
                                                            if v.python_version])
    proposal = S.suggest(inventory, config, requirements, python)
    result = SuggestResult(proposal, str(config.path), python=python.version)
    if write and proposal.placements:
        try:
            text = regularfile.read_text(config.path)
        except regularfile.FileRefused as exc:
            raise ConfigError(exc.path, None, exc.reason) from None
        W.write(config.path, text, proposal)
        result.written = True
    return result


def render(result: SuggestResult, console: Console) -> None:
    p = result.proposal
    if not p.placements:
        console.print(f"Every live unit has a destination ({p.covered_before} of {p.live}); nothing to propose.")
        return
    console.print(Text.assemble(("Proposal", "bold"), f": {len(p.placements)} units without a destination "
                                f"({p.covered_before} of {p.live} live units had one; requirement sets "
                                f"checked for Python {result.python})"))
    suites = Table("suite", "phase", "units", "requirements", title="Suites")
    for s in p.suites:
        suites.add_row(s.name + ("" if s.new else " (joined)"), str(s.phase), str(len(s.units)),
                       str(s.requirements) if s.new else "-")
    console.print(suites)
    table = Table("unit", "destination", "why", title="Each unit")
    for placement in p.placements:
        where = f"{placement.suite} (phase {placement.phase})" if placement.kind == S.SUITE else placement.kind
        table.add_row(placement.unit, where, "\n".join(placement.reasons))
    console.print(table)
    for line in p.refused:
        console.print(Text.assemble(("kept apart: ", "yellow"), line))
    if result.written:
        console.print(f"written to {result.config_path}: review each suite marked `suggested: true`, then remove "
                      "the key (migrate refuses it until then); run `revops lock` and `revops generate`")
    else:
        console.print("nothing written; `revops suites suggest --write` adds it to revops.yaml for review")
