"""Fuzzing revops' parsers (issue 12, "Done when"): random bytes, byte-level mutations of real
files and random subtrees grafted into real documents, fed to the unit-file reader, the
config loader, the inventory loader, validate's compose pipeline and the lock reader.

Each input must end, within a generous bound (conftest's `ends`), in a result or in one of
revops' own errors (a RevopsError, or a finding): any other exception, or a hang, fails. Hypothesis runs
derandomized (the same inputs on every run, so CI is reproducible) with no example database.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revops import config, model
from revops.errors import RevopsError
from revops.example_host import catalog, hostconfig, unitfiles
from revops.lock import lockfile
from revops.unitfile import RootFS, read_units
from revops.unitfile.ports import port_of
from revops.unitfile.specifiers import HostFacts
from revops.validate import validate
from revops.validate.rules import Context

REPO = Path(__file__).resolve().parents[1]
FUZZ = settings(max_examples=int(os.environ.get("REVOPS_FUZZ_EXAMPLES", "150")), deadline=None, database=None,
                derandomize=not os.environ.get("REVOPS_FUZZ_RANDOM"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

# Bytes that matter to one of the formats: YAML structure, aliases and tags, unit-file syntax
# (sections, continuations, specifiers, prefixes), encodings, Rich markup, shell.
TOKENS = [b"&a ", b"*a", b"<<: *a", b"[", b"]", b"{", b"}", b": ", b"- ", b"\n", b"  ", b"\t", b"---\n", b"? ",
          b"!!python/object/apply:os.system ['id']", b"!!binary aGk=", b"!!set", b"'", b'"', b"#", b"%YAML 1.1\n",
          b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"\r", b"\\\n", b"\\", b"[Service]\n", b"[Unit]\n", b"%n", b"%i",
          b"%%", b"=", b"@", b"-@+!", b"ExecStart=", b"EnvironmentFile=-", b"$(id)", b"[/]", b"[link=x]",
          b"9" * 5000, b"1e999999", b"~", b"null", b"true", b"0x1F", b"2024-13-45"]


def _tricky_units() -> list[bytes]:
    spec = importlib.util.spec_from_file_location("tricky_cases", REPO / "tests/unitfile/tricky_cases.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.CASES.values())


UNIT_CORPUS = [unitfiles.render(s, unitfiles.Layout()).encode() for s in catalog.services()
               if s.role != "masked"][:12] + [text.encode() for _, text in catalog.DROPINS.values()] + _tricky_units()
CONFIG_CORPUS = [(REPO / "revops.yaml").read_bytes(), hostconfig.revops_yaml("/srv/live").encode(),
                 config.MINIMAL.encode()]
_INVENTORY = yaml.safe_load((REPO / "inventory/units.yaml").read_text())
INVENTORY_CORPUS = [yaml.safe_dump({**_INVENTORY, "units": _INVENTORY["units"][i:i + 4]}).encode() for i in (0, 40, 120)]
COMPOSE_CORPUS = [p.read_bytes() for p in sorted((REPO / "compose").glob("*.yml"))][:3] + \
    [p.read_bytes() for p in sorted((REPO / "tests/validate/cases").glob("*.yml"))][:6]
LOCK_CORPUS = [(REPO / "lockfiles/core.txt").read_bytes()[:3000]]


@st.composite
def mutated(draw, corpus: list[bytes]) -> bytes:
    """A real file with 1-8 edits: bytes inserted, deleted, replaced, lines doubled, tokens."""
    data = bytearray(draw(st.sampled_from(corpus)))
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "line", "token"]))
        if op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 64))]
        elif op == "replace" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "line":
            start = data.rfind(b"\n", 0, pos) + 1
            end = data.find(b"\n", pos)
            end = len(data) if end < 0 else end + 1
            data[start:start] = data[start:end] * draw(st.integers(1, 3))
        else:
            data[pos:pos] = draw(st.sampled_from(TOKENS))
    return bytes(data)


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=20), st.sampled_from(["[/]", "30s", "256m", "127.0.0.1", "../x", "", "*"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)


@st.composite
def grafted(draw, corpus: list[bytes]) -> bytes:
    """A real YAML document with random values put in place of 1-3 of its subtrees."""
    data = yaml.safe_load(draw(st.sampled_from(corpus)))
    for _ in range(draw(st.integers(1, 3))):
        node, key = _random_slot(draw, data)
        if node is None:
            data = draw(VALUES)
        else:
            node[key] = draw(VALUES)
    return yaml.safe_dump(data, allow_unicode=True).encode()


def _random_slot(draw, data):
    node, key = None, None
    current = data
    for _ in range(draw(st.integers(0, 5))):
        if isinstance(current, dict) and current:
            key = draw(st.sampled_from(sorted(current, key=str)))
        elif isinstance(current, list) and current:
            key = draw(st.integers(0, len(current) - 1))
        else:
            break
        node, current = current, current[key]
    return node, key


def inputs(corpus: list[bytes], structured: bool = True):
    choices = [st.binary(max_size=3000), mutated(corpus)]
    return st.one_of(*choices, grafted(corpus)) if structured else st.one_of(*choices)


def accepted(fn) -> None:
    """fn(), where one of revops' own errors is an accepted ending (any other propagates)."""
    try:
        fn()
    except RevopsError:
        pass


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(data=inputs(UNIT_CORPUS, structured=False))
def test_unit_files(work, data, ends):
    units = work / "root/etc/systemd/system"
    units.mkdir(parents=True, exist_ok=True)
    (units / "fuzz.service").write_bytes(data)
    (units / "fuzz@.service").write_bytes(data)

    def read():
        for unit in read_units(RootFS(work / "root"), ("etc/systemd/system",), "*", HostFacts()):
            if unit.config is not None:
                port_of([cmd.argv for cmd in unit.config.exec_start], dict(unit.config.environment))
    ends(lambda: accepted(read))


@FUZZ
@given(data=inputs(CONFIG_CORPUS))
def test_revops_yaml(work, data, ends):
    (work / "revops.yaml").write_bytes(data)
    ends(lambda: accepted(lambda: config.load(work / "revops.yaml")))


@FUZZ
@given(data=inputs(INVENTORY_CORPUS))
def test_inventory(work, data, ends):
    inventory = work / "inventory"
    inventory.mkdir(exist_ok=True)
    (inventory / model.UNITS_FILE).write_bytes(data)
    (inventory / model.VENVS_FILE).write_bytes(b"venvs: []\n")

    def load():
        model.store_cache(inventory / model.UNITS_FILE, work / "cache")
        model.load(inventory, cache_dir=work / "cache")
    ends(lambda: accepted(load))


@FUZZ
@given(data=inputs(COMPOSE_CORPUS))
def test_compose_files_under_validate(work, data, ends):
    (work / "compose").mkdir(exist_ok=True)
    (work / "compose/fuzz.yml").write_bytes(data)

    def check():
        result = validate([work / "compose/fuzz.yml"], Context(base_image="revflow/python-base:bookworm"),
                          externals=False)
        assert result.files  # the file was read or reported, never skipped
    ends(lambda: accepted(check))


@FUZZ
@given(data=inputs(LOCK_CORPUS, structured=False))
def test_lock_files(work, data, ends):
    (work / "core.txt").write_bytes(data)
    ends(lambda: accepted(lambda: lockfile.pins(lockfile.read_lock(work / "core.txt", "core"))))
