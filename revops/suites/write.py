"""Writing a Proposal into revops.yaml as a block the operator reviews, everything else kept.

ruamel.yaml edits the file round-trip: the operator's comments, key order, quoting and
indentation stay as they were. What it adds:

- each new suite under `suites:`, with `suggested: true` and, beside each unit, the reason
  it is there; a comment above the first one says how to accept the proposal;
- units joining an existing suite, appended to its `units:` with their reasons, and
  `suggested: true` on that suite;
- `retire:` and `keep_on_host:` entries, each unit with its reason as the value.

`migrate` refuses a suite marked `suggested: true`: removing the key is the review. The new
text is checked by revops' own loader and schema (revops.config.parse) before it replaces
the file; a proposal that would not load is a bug, and nothing is written.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from revops import config as config_mod
from revops import coverage
from revops.errors import ConfigError
from revops.suites.suggest import Proposal

REVIEW = ("Proposed by `revops suites suggest`: review each suite marked `suggested: true` (its units "
          "and the reason beside each), then remove that key; `revops migrate` refuses a suite that still has it.")
COMMENT_WIDTH = 160


def _yaml() -> YAML:
    yaml = YAML()  # round-trip: comments, order and quoting kept
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def render(text: str, proposal: Proposal, path: Path) -> str:
    """revops.yaml's new text with the proposal added (see the module); ConfigError if the
    result would not pass revops' loader (nothing to write then)."""
    yaml = _yaml()
    try:
        doc = yaml.load(text) if text.strip() else None
    except YAMLError as exc:
        # revops' loader (PyYAML, YAML 1.1) took the file but the round-trip editor (ruamel.yaml,
        # YAML 1.2) reads it otherwise (a tab after `key:`, say): it cannot be edited safely.
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(str(path), None, f"cannot be edited keeping its comments ({problem}); nothing written",
                          mark.line + 1 if mark is not None else None) from None
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, CommentedMap):
        raise ConfigError(str(path), None, "not a mapping of settings; nothing written")
    suites = _unshared(_section(doc, "suites", after=("systemd", "host")), path, "suites")
    reasons = _unit_reasons(proposal)
    first_new = True
    for suite in proposal.suites:
        if suite.new:
            body = CommentedMap()
            body["phase"] = suite.phase
            body["suggested"] = True
            body["units"] = CommentedSeq()
            suites[suite.name] = body
            if first_new:
                suites.yaml_set_comment_before_after_key(suite.name, before=REVIEW, indent=2)
                first_new = False
        else:
            body = _unshared(suites[suite.name], path, f"suites.{suite.name}")
            if "suggested" not in body:
                body.insert(list(body).index("phase") + 1 if "phase" in body else 0, "suggested", True)
            else:
                body["suggested"] = True
        units = _unshared(body["units"], path, f"suites.{suite.name}.units")
        column = max(len(name) for name in suite.units) + 12  # past `      - "NAME"`, aligned
        for name in suite.units:
            units.append(DoubleQuotedScalarString(name))
            units.yaml_add_eol_comment("# " + _clip(reasons.get(name, "")), len(units) - 1, column=column)
    for key, placements in (("retire", proposal.retire), ("keep_on_host", proposal.keep_on_host)):
        if placements:
            section = _unshared(_section(doc, key, after=("deprecated",)), path, key)
            for placement in placements:
                section[placement.unit] = placement.reasons[0]
    out = io.StringIO()
    yaml.dump(doc, out)
    new_text = out.getvalue()
    config_mod.parse(new_text, path)  # raises ConfigError naming the key if the result is wrong
    return new_text


def write(path: Path, text: str, proposal: Proposal) -> str:
    """Replace revops.yaml atomically (same directory, same mode) with render()'s text."""
    new_text = render(text, proposal, path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".revops.yaml.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(new_text)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return new_text


def _unshared(node: Any, path: Path, key: str) -> Any:
    """`node` itself when revops may add to it; ConfigError naming the file, key and line when it
    is shared: anchored (`&name`, so each `*name` alias is the same node) or filled by a merge
    key (`<<: *name`, whose entries belong to the anchored mapping). YAML 1.2 "3.2.2.2. Anchors
    and Aliases": an alias is the anchored node itself, so a unit appended to it would silently
    appear under every key that names it (a list also used as `deprecated:`, say)."""
    anchor = getattr(getattr(node, "anchor", None), "value", None)
    merged = getattr(node, "merge", None)
    if anchor or merged:
        how = f"the anchor &{anchor}" if anchor else "a merge key (<<)"
        line = node.lc.line + 1 if getattr(node, "lc", None) is not None and node.lc.line is not None else None
        raise ConfigError(str(path), key, f"shared through {how}: adding to it would change every key "
                          "that uses it; write it out in full, then run again (nothing written)", line)
    return node


def _section(doc: CommentedMap, key: str, after: tuple[str, ...]) -> Any:
    """The mapping under `key`, made (after the first of `after` present, else at the end) when
    absent or empty (`retire:` with nothing under it)."""
    if isinstance(doc.get(key), CommentedMap):
        return doc[key]
    made = CommentedMap()
    if key in doc:
        doc[key] = made
        return made
    keys = list(doc)
    anchor = next((k for k in after if k in doc), None)
    doc.insert(keys.index(anchor) + 1 if anchor is not None else len(keys), key, made)
    return made


def _unit_reasons(proposal: Proposal) -> dict[str, str]:
    """The words beside each entry of units: (a template's line speaks for its instances)."""
    found: dict[str, str] = {}
    for placement in proposal.placements:  # sorted by unit: a template's first instance speaks
        found.setdefault(coverage.unit_file(placement.unit), "; ".join(placement.reasons))
    return found


def _clip(text: str) -> str:
    """A reason as one comment line. Its words come from unit files (a timer's OnCalendar=, say),
    so a character YAML does not allow in a stream (YAML 1.2 "5.1. Character Set": C0/C1
    controls, surrogates) or one that ends a comment (a line break) is written escaped."""
    text = " ".join(text.split())
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= COMMENT_WIDTH else text[: COMMENT_WIDTH - 3] + "..."
