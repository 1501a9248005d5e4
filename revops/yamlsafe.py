"""The one YAML loader: every YAML file revops reads goes through `load_file` or `load_text`.

YAML is untrusted input here (a compose file in a pull request, a hand-edited inventory), and
plain `yaml.safe_load` is safe only from code execution. This loader also bounds what a
small file can cost:

- alias expansion: a "billion laughs" document (aliases of aliases, each doubling the data)
  is a few hundred bytes that expand to 10^9 nodes in every consumer that walks the data
  (json.dumps, jsonschema, the rules). The expanded size of every node is counted as it is
  composed (O(1) per node, so counting never expands anything), and a document that
  expands to more than `EXPANSION_FACTOR` times its own nodes (with `EXPANSION_FLOOR` of
  slack for ordinary anchors) is refused; so is an alias inside the node it names (a cycle);
- nesting depth, written or reached through aliases: at most `MAX_DEPTH`, so no consumer's
  recursion can overflow;
- size: the file is read only if it is a regular file under a byte limit (revops.regularfile).
  libyaml parses in time linear in its input; the composer below is one loop over its events.

Duplicate keys are refused with both lines: YAML 1.2 forbids them, and PyYAML and compose
silently keep the last one. Values are plain data only (mapping, list, str, int, float,
bool, null): timestamps stay strings, as compose reads them, and `!!binary`, `!!set`,
`!!omap`, `!!pairs` are refused. Every error is a YamlError, a ConfigError (exit 2) with the
file, the line and a stable `rule` that `revops validate` reports as a finding.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from typing import Any

import yaml
from yaml import events as ev
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from revops import regularfile
from revops.errors import ConfigError

MAX_DEPTH = 32  # compose files nest 6 deep, the inventory 5: deep enough, far from recursion limits
EXPANSION_FACTOR = 10
EXPANSION_FLOOR = 100_000
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
_SATURATE = 1 << 62  # expanded sizes stop counting here (a bomb of 10^100 stays a small int)

# Rule ids, also the ids of validate's findings for a compose file that cannot be read.
INVALID = "yaml-invalid"
DUPLICATE_KEY = "duplicate-key"
BOMB = "yaml-bomb"
TOO_DEEP = "yaml-too-deep"

try:
    from yaml.cyaml import CParser as _CParser
except ImportError:  # pragma: no cover - PyYAML without libyaml
    _CParser = None


class YamlError(ConfigError):
    """A YAML file revops cannot accept; `rule` is one of the rule ids above (or
    regularfile's: "not-regular-file", "too-large", "not-utf8", "unreadable", "path-missing")."""

    def __init__(self, path: str, message: str, line: int | None = None, *, rule: str = INVALID,
                 key: str | None = None) -> None:
        super().__init__(path, key, message, line)
        self.rule = rule
        self.detail = message


class _Resolver(yaml.resolver.Resolver):
    """YAML 1.1's implicit types less the timestamp: `2024-01-01` stays a string (as compose,
    a YAML 1.2 reader, sees it), and no date a file holds can fail to construct."""


_Resolver.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}


class _Constructor(yaml.constructor.SafeConstructor):
    """SafeConstructor for plain data: a number that cannot be built (an integer of 5,000
    digits: Python's int() refuses it) is a ConstructorError at its node, never a ValueError."""

    def _number(self, node: Node, build: Any) -> Any:
        try:
            return build(self, node)
        except (ValueError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(None, None, f"cannot read this number: {exc}",
                                                    node.start_mark) from None

    def construct_yaml_int(self, node: Node) -> Any:
        return self._number(node, yaml.constructor.SafeConstructor.construct_yaml_int)

    def construct_yaml_float(self, node: Node) -> Any:
        return self._number(node, yaml.constructor.SafeConstructor.construct_yaml_float)

    def _refuse(self, node: Node) -> Any:
        raise yaml.constructor.ConstructorError(
            None, None, f"tag {node.tag} is not allowed: revops reads plain data only", node.start_mark)


for _tag in ("binary", "set", "omap", "pairs", "timestamp"):
    _Constructor.add_constructor(f"tag:yaml.org,2002:{_tag}", _Constructor._refuse)
_Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_yaml_int)
_Constructor.add_constructor("tag:yaml.org,2002:float", _Constructor.construct_yaml_float)


@dataclass
class Document:
    """A loaded YAML document: its data and its node tree (for the line of any key)."""

    path: str
    data: Any
    root: Node | None

    def line(self, *keys: str | int) -> int | None:
        """1-based line of the key (or list item) reached by `keys`; of the deepest one on
        the way when the rest is missing (the document's first line when none is there);
        None for an empty document."""
        if self.root is None:
            return None
        node: Node | None = self.root
        line = self.root.start_mark.line + 1
        for key in keys:
            node, key_node = _child(node, key)
            if node is None:
                break
            line = (key_node or node).start_mark.line + 1
        return line

    def key_lines(self, item: str = "[{}]") -> dict[str, int]:
        """Every dotted key -> its 1-based line: "health.path", and list items with `item`
        ("suites.core.units[0]", or ".{}" for "services.web.ports.0")."""
        lines: dict[str, int] = {}
        if self.root is None:
            return lines
        stack: list[tuple[Node, str]] = [(self.root, "")]
        while stack:  # bounded: the document passed the expansion limit
            node, prefix = stack.pop()
            if isinstance(node, MappingNode):
                for key_node, value_node in node.value:
                    key = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
                    lines.setdefault(key, key_node.start_mark.line + 1)
                    stack.append((value_node, key))
            elif isinstance(node, SequenceNode):
                for i, value_node in enumerate(node.value):
                    key = prefix + item.format(i)
                    lines.setdefault(key, value_node.start_mark.line + 1)
                    stack.append((value_node, key))
        return lines


def dotted(keys: tuple[Any, ...] | list[Any]) -> str:
    """A key path as errors show it: ("suites", "core", "units", 0) -> "suites.core.units[0]"."""
    text = ""
    for key in keys:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text


def describe(value: Any) -> str:
    """A loaded value as an error message shows it: short, in YAML's words, with its type
    where that is the point ("got str '30'", "got null", "got a list")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}" if isinstance(value, str) else text


def _child(node: Node, key: str | int) -> tuple[Node | None, Node | None]:
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.value == str(key):
                return value_node, key_node
    elif isinstance(node, SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        return node.value[key], None
    return None, None


def load_file(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """Read and load the YAML file `path` (a regular file, UTF-8, at most `max_bytes`).

    Raises YamlError for every reason it cannot be loaded (regularfile's reasons included).
    """
    try:
        text = regularfile.read_text(path, max_bytes)
    except regularfile.FileRefused as exc:
        raise YamlError(exc.path, exc.reason, rule=exc.rule) from None
    return load_text(text, str(path))


def load_text(text: str, name: str) -> Document:
    """Load one YAML document from `text`; `name` is the file named in errors."""
    loader = _Loader(text)
    # Tens of thousands of small objects, none in a cycle (a recursive document is refused):
    # the cycle collector's passes over them would only cost time (a third of the load).
    collecting = gc.isenabled()
    gc.disable()
    try:
        root = _Composer(loader, name).compose()
        data = None if root is None else loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise _yaml_error(name, exc, text) from None
    except RecursionError:  # cannot happen within MAX_DEPTH; a clear error if it ever does
        raise YamlError(name, f"nested too deeply (more than {MAX_DEPTH} levels)", rule=TOO_DEEP) from None
    finally:
        loader.dispose()
        if collecting:
            gc.enable()
    return Document(name, data, root)


class _PyLoader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, _Constructor, _Resolver):
    """PyYAML's own reader, scanner and parser (slower; the same events), when it was built
    without libyaml; our composer; the plain-data constructor and resolver."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        _Constructor.__init__(self)
        _Resolver.__init__(self)

    def dispose(self) -> None:
        pass


if _CParser is not None:
    class _CLoader(_CParser, _Constructor, _Resolver):  # type: ignore[misc,valid-type]
        """libyaml's parser for the events (linear time, iterative)."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            _Constructor.__init__(self)
            _Resolver.__init__(self)

_Loader: Any = _CLoader if _CParser is not None else _PyLoader


class _Frame:
    __slots__ = ("node", "anchor", "size", "height", "key", "seen")

    def __init__(self, node: Node, anchor: str | None) -> None:
        self.node, self.anchor = node, anchor
        self.size, self.height = 1, 1
        self.key: Node | None = None  # a mapping's key waiting for its value
        self.seen: dict[tuple[str, str], int] | None = {} if isinstance(node, MappingNode) else None


class _Composer:
    """Events to nodes in one loop (no recursion), counting each node's expanded size and
    height as it completes, so aliases are measured without being expanded."""

    def __init__(self, loader: _Loader, name: str) -> None:
        self.loader, self.name = loader, name
        self.anchors: dict[str, tuple[Node, int, int]] = {}  # anchor -> node, size, height
        self.open: set[str] = set()  # anchors of collections still being composed
        self.nodes = 0
        self.worst_alias: tuple[int, int] = (0, 0)  # expanded size, line

    def compose(self) -> Node | None:
        get, check = self.loader.get_event, self.loader.check_event
        get()  # stream start
        if check(ev.StreamEndEvent):
            get()
            return None
        get()  # document start
        root, size = self._document()
        get()  # document end
        if not check(ev.StreamEndEvent):
            extra = get()
            raise YamlError(self.name, "more than one YAML document; revops reads one",
                            extra.start_mark.line + 1)
        limit = EXPANSION_FLOOR + EXPANSION_FACTOR * self.nodes
        if size > limit:
            shown = f"more than {_SATURATE}" if size >= _SATURATE else str(size)
            raise YamlError(self.name, f"aliases expand {self.nodes} written values to {shown} "
                            f"(limit {limit}): refused as a YAML bomb", self.worst_alias[1] or None, rule=BOMB)
        return root

    def _document(self) -> tuple[Node, int]:
        """One loop over the document's events (scalars first: most events are scalars)."""
        stack: list[_Frame] = []
        get, resolve, anchors = self.loader.get_event, self.loader.resolve, self.anchors
        while True:
            event = get()
            kind = type(event)
            if kind is ev.ScalarEvent:
                self.nodes += 1
                tag = event.tag
                if tag is None or tag == "!":
                    tag = resolve(ScalarNode, event.value, event.implicit)
                node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
                if event.anchor is not None:
                    anchors[event.anchor] = (node, 1, 1)
                size = height = 1
            elif kind is ev.MappingEndEvent or kind is ev.SequenceEndEvent:
                frame = stack.pop()
                frame.node.end_mark = event.end_mark
                node, size, height = frame.node, min(frame.size, _SATURATE), frame.height
                if frame.anchor is not None:
                    self.open.discard(frame.anchor)
                    anchors[frame.anchor] = (node, size, height)
            elif kind is ev.MappingStartEvent or kind is ev.SequenceStartEvent:
                self.nodes += 1
                if len(stack) >= MAX_DEPTH:
                    raise YamlError(self.name, f"nested more than {MAX_DEPTH} levels deep", event.start_mark.line + 1,
                                    rule=TOO_DEEP)
                stack.append(self._start(event))
                continue
            elif kind is ev.AliasEvent:
                self.nodes += 1
                node, size, height = self._alias(event)
            else:  # pragma: no cover - the parser emits nothing else inside a document
                raise YamlError(self.name, f"unexpected {kind.__name__}", event.start_mark.line + 1)
            if not stack:
                return node, size
            parent = stack[-1]
            parent.size += size
            if height >= parent.height:
                parent.height = height + 1
                if parent.height > MAX_DEPTH:  # deep only through aliases
                    raise YamlError(self.name, f"aliases nest values more than {MAX_DEPTH} levels deep",
                                    node.start_mark.line + 1, rule=TOO_DEEP)
            if parent.seen is None:
                parent.node.value.append(node)
            elif parent.key is None:
                self._key(stack, node)
                parent.key = node
            else:
                parent.node.value.append((parent.key, node))
                parent.key = None

    def _alias(self, event: ev.AliasEvent) -> tuple[Node, int, int]:
        line = event.start_mark.line + 1
        if event.anchor in self.open:
            raise YamlError(self.name, f"alias *{event.anchor} is inside the node it names (a recursive "
                            "structure): refused as a YAML bomb", line, rule=BOMB)
        if event.anchor not in self.anchors:
            raise YamlError(self.name, f"alias *{event.anchor} names no anchor before it", line)
        node, size, height = self.anchors[event.anchor]
        if size > self.worst_alias[0]:
            self.worst_alias = (size, line)
        return node, size, height

    def _start(self, event: ev.CollectionStartEvent) -> _Frame:
        kind = SequenceNode if isinstance(event, ev.SequenceStartEvent) else MappingNode
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.loader.resolve(kind, None, event.implicit)
        node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
        if event.anchor is not None:
            self.open.add(event.anchor)
        return _Frame(node, event.anchor)

    def _key(self, stack: list[_Frame], key: Node) -> None:
        mapping, line = stack[-1], key.start_mark.line + 1
        if not isinstance(key, ScalarNode):
            raise YamlError(self.name, "a mapping key must be a plain value, not a list or mapping", line)
        identity = (key.tag, key.value)
        first = mapping.seen.get(identity)  # type: ignore[union-attr]
        if first is not None:
            raise YamlError(self.name, f"duplicate key {key.value!r} (first at line {first}, again at line {line}): "
                            "YAML keeps only one of them", line, rule=DUPLICATE_KEY, key=_path(stack, key.value))
        mapping.seen[identity] = line  # type: ignore[index]


def _path(stack: list[_Frame], last: str) -> str:
    """The dotted key being composed: "services.web.ports[0]"."""
    path = ""
    for frame in stack[:-1]:
        if frame.seen is None:
            path += f"[{len(frame.node.value)}]"
        elif frame.key is not None:
            path += f".{frame.key.value}" if path else str(frame.key.value)
    return f"{path}.{last}" if path else str(last)


def _yaml_error(name: str, exc: yaml.YAMLError, text: str) -> YamlError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    line = mark.line + 1 if mark is not None else None
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow: no mark, a position
        line = text.count("\n", 0, exc.position) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or "\0")
        problem = f"character U+{char:04X} is not allowed in YAML"
    if isinstance(exc, yaml.constructor.ConstructorError):  # well-formed YAML, a value revops refuses
        return YamlError(name, problem.replace("tag:yaml.org,2002:", "!!"), line)
    return YamlError(name, f"not valid YAML: {problem}", line)

