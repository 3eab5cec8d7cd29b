"""Read scenario files: YAML -> plain dict plus a map from field path to (line, column).

The only module that reads input files (workbooks are handed to `optimizer.excel`, which
makes the same dict). libyaml (ruamel.yaml.clib) turns the text into a stream of
events and `_Builder` makes the document from them without recursion, judging as it goes what could
hurt: nesting depth, the size anchors and aliases would expand the document to, duplicate keys
(reported, not fatal). Every key and item keeps its position. What the builder leaves to ruamel
(explicit tags, merge keys `<<`, keys that are lists or mappings) is built again, within the same
limits, by ruamel's round-trip loader, which is safe too (no Python object construction).
"""

from __future__ import annotations

import csv
import errno
import functools
import io
import re
import warnings
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.resolver import implicit_resolvers
from ruamel.yaml.scalarbool import ScalarBoolean

from optimizer.errors import Position, Problem, ScenarioError

Path_ = tuple[str | int, ...]

# Limits on a scenario file (README, "Limits"). An honest scenario is far inside every one of them.
#: Largest file read, in bytes.
MAX_BYTES = 50_000_000
#: Deepest nesting of mappings and lists (a scenario needs about ten levels).
MAX_DEPTH = 64
#: Most values (scalars, lists and mappings) a document may hold once its aliases are expanded.
MAX_VALUES = 20_000_000
#: Anchors and aliases may expand a document to this many times the values written in it ...
ALIAS_RATIO = 100
#: ... or to this many values, whichever is more: beyond both it is an alias bomb ("billion laughs").
ALIAS_FLOOR = 1_000_000


@dataclass
class SourceMap:
    """Where each field of a scenario file was written, and what the loader found wrong without stopping.

    `positions` maps a field path to its 1-based (line, column); `origins` maps the path of a field
    changed on the command line to the argument that changed it (`--set risk.aversion=2`), which is
    named instead of a file position; `problems` are loader findings (duplicate keys) that validation
    reports together with everything else.
    """

    file: str
    positions: dict[Path_, Position] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    origins: dict[Path_, str] = field(default_factory=dict)
    flow_items: dict[Path_, array] = field(default_factory=dict)
    """Line and column of every item of a `[...]` list, interleaved (a large file has millions)."""

    def locate(self, path: Path_) -> Position | None:
        """Position of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            items = self.flow_items.get(path[:-1])
            if items is not None and isinstance(path[-1], int) and 2 * path[-1] + 1 < len(items):
                return items[2 * path[-1]], items[2 * path[-1] + 1]
            path = path[:-1]
        return self.positions.get(())

    def origin(self, path: Path_) -> tuple[Path_, str] | None:
        """The command-line argument that set `path` or an ancestor of it, with the path it set."""
        path = tuple(path)
        for n in range(len(path), 0, -1):
            if path[:n] in self.origins:
                return path[:n], self.origins[path[:n]]
        return None


#: File endings read as Excel workbooks; every other file is read as YAML.
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")


def read_scenario(path: str | Path) -> tuple[dict[str, Any], SourceMap]:
    """Read a scenario file, YAML or an Excel workbook (by its ending), into the dict the schema
    validates and its SourceMap."""
    if Path(path).suffix.lower() in WORKBOOK_SUFFIXES:
        from optimizer.excel import read_workbook  # openpyxl is imported only for workbooks

        return read_workbook(path)
    return read_yaml(path)


def read_yaml(path: str | Path) -> tuple[dict[str, Any], SourceMap]:
    """Read one YAML scenario file; raise ScenarioError (never a traceback) on anything unreadable."""
    name = str(path)
    raw = read_input_bytes(path, "scenario file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ScenarioError(
            [Problem((), f"not UTF-8 text (byte {exc.start}, line {line}); save the file as UTF-8")],
            file=name,
        ) from None
    return parse_yaml_text(text, name)


def read_input_bytes(path: str | Path, what: str) -> bytes:
    """The bytes of an input file (at most MAX_BYTES); a clear ScenarioError for every way it can fail."""
    path = Path(path)
    name = str(path)
    limit = MAX_BYTES

    def fail(message: str) -> ScenarioError:
        return ScenarioError([Problem((), message)], file=name)

    try:
        info = path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise fail(f"{name} is a symlink loop (too many levels of symbolic links)") from None
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            broken = " (a symlink to a missing target)" if path.is_symlink() else ""
            raise fail(f"{what} not found: {name}{broken}") from None
        raise fail(f"cannot read {name}: {exc.strerror}") from None
    if path.is_dir():
        raise fail(f"{name} is a directory, not a {what}")
    if info.st_size > limit:
        raise fail(f"{name} is larger than {limit:,} bytes ({info.st_size:,}), the most this tool reads")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)  # a FIFO or device has no size: read one byte past the limit
    except OSError as exc:
        raise fail(f"cannot read {name}: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise fail(f"{name} is larger than {limit:,} bytes, the most this tool reads")
    return raw



def read_input_text(path: str | Path, what: str) -> str:
    """The UTF-8 text of an input file (a BOM dropped); read as `read_input_bytes`, and text that is
    not UTF-8 is a ScenarioError naming the file."""
    try:
        return read_input_bytes(path, what).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ScenarioError([Problem((), "not UTF-8 text")], file=str(path)) from None


def csv_rows(text: str, name: str) -> list[list[str]]:
    """The rows of CSV text; a malformed file is a ScenarioError naming the line where reading stopped."""
    reader = csv.reader(io.StringIO(text))
    try:
        return list(reader)
    except csv.Error as exc:
        raise ScenarioError([Problem((), f"not a readable CSV file: {exc}", (reader.line_num, 1))],
                            file=name) from None

def parse_yaml_text(text: str, name: str = "<string>") -> tuple[dict[str, Any], SourceMap]:
    """Parse a scenario document into a plain dict and its SourceMap; raise ScenarioError when it is
    not YAML, is too deep or too large, or is not a mapping."""
    doc, smap = load_document(text, name)
    if doc is None:
        raise ScenarioError([Problem((), "the file is empty: expected a scenario mapping")], file=name)
    if not isinstance(doc, dict):
        raise ScenarioError([Problem((), f"expected a mapping of scenario fields, got {_kind(doc)}")], file=name)
    return doc, smap


def _kind(value: Any) -> str:
    """What a YAML value is, in words."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    return f"a text ({str(value)[:40]!r})"


def load_document(text: str, name: str = "<string>") -> tuple[Any, SourceMap]:
    """Any YAML document (a scenario, or a `--set` value) as plain dicts, lists and scalars."""
    if "\x00" in text:
        raise ScenarioError([Problem((), "the file contains NUL bytes: not a text file")], file=name)
    builder = _Builder(name)
    try:
        for event in _events(text):
            builder.feed(event)
    except ReaderError as exc:  # a character YAML does not allow; libyaml gives its byte offset
        where = _byte_line_col(text, exc.position)
        raise ScenarioError([Problem((), f"YAML error: character {exc.character!r} is not allowed in YAML "
                                         "text", where)], file=name) from None
    except MarkedYAMLError as exc:
        raise ScenarioError([Problem((), f"YAML syntax error: {_yaml_message(exc)}", _mark(exc))],
                            file=name) from None
    except (YAMLError, UnicodeError) as exc:
        raise ScenarioError([Problem((), f"YAML error: {exc}")], file=name) from None
    builder.check_size()
    if builder.defer:
        doc, smap = _round_trip(text, name)
        smap.problems = builder.smap.problems + smap.problems
        return doc, smap
    return builder.finish(), builder.smap


def yaml_value(text: str) -> Any:
    """One value written as YAML (a workbook cell's `[a, b]` or `{1: 0.5}`), as the loader gives it
    inside a file (keys as text), within the same limits; ValueError with the reason if it is not YAML."""
    try:
        value, smap = load_document(text, "<cell>")
    except ScenarioError as exc:
        raise ValueError(exc.problems[0].message) from None
    if smap.problems:
        raise ValueError(smap.problems[0].message)
    return value


def _events(text: str) -> Any:
    """libyaml's event stream of `text` (ruamel's pure-Python parser if ruamel.yaml.clib is missing)."""
    return YAML(typ="safe", pure=False).parse(text)


def _mark(exc: MarkedYAMLError) -> tuple[int, int] | None:
    mark = exc.problem_mark or exc.context_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else None


def _yaml_message(exc: MarkedYAMLError) -> str:
    return " ".join(str(part) for part in (exc.context, exc.problem) if part) or str(exc)


def _byte_line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of a UTF-8 byte offset into `text`."""
    head = text.encode("utf-8")[: max(0, offset)]
    line_start = head.rfind(b"\n") + 1
    return head.count(b"\n") + 1, len(head[line_start:].decode("utf-8", "replace")) + 1


# --- the event builder ----------------------------------------------------------------------------

_STR = "tag:yaml.org,2002:str"
_TAG = "tag:yaml.org,2002:"
_NON_SPECIFIC = (None, "!")
# Numbers that YAML 1.2's rules resolve to int or float and Python reads the same way as ruamel does
_NUMBER_START = frozenset("-+0123456789")
_FAST_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\Z")
_FAST_FLOAT = re.compile(r"[-+]?[0-9]+(?:\.[0-9]*(?:[eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)\Z")


@functools.cache
def _implicit_rules(version: tuple[int, int]) -> dict[str | None, list[tuple[str, Any]]]:
    """ruamel's implicit-tag rules of one YAML version, by first character (None: any)."""
    table: dict[str | None, list[tuple[str, Any]]] = {}
    for versions, tag, regexp, first in implicit_resolvers:
        if version in versions:
            for char in first or [None]:
                table.setdefault(char, []).append((tag, regexp.match))
    return table


@functools.cache
def _constructor(version: tuple[int, int]) -> Any:
    """ruamel's safe constructor for the scalars the fast patterns leave (0x1F, 1_000, .inf, 1.1 octals)."""
    yaml = YAML(typ="safe", pure=True)
    yaml.version = version
    return yaml.constructor


class _Defer(Exception):
    """The document uses YAML the builder leaves to ruamel (explicit tags, merge keys, complex keys)."""


_NO_KEY = object()


class _Open:
    """A mapping or list being built: its value, path, expanded size and, for a mapping, its pending key."""

    __slots__ = ("value", "path", "size", "anchor", "is_map", "key", "skip", "flow")

    def __init__(self, value: dict | list, path: Path_, anchor: str | None, flow: bool):
        self.value, self.path, self.anchor = value, path, anchor
        self.is_map = isinstance(value, dict)
        self.flow = array("I") if flow and not self.is_map else None  # a `[...]` list: its items' positions
        self.size = 1
        self.key: Any = _NO_KEY
        self.skip = False  # the pending key is a duplicate: its value is read but not kept


class _Builder:
    """Builds one YAML document from parser events, without recursion, keeping every position.

    Aliases are shared while building and copied only at the end, once the expanded size (counted
    per anchor, never by expanding) has been judged: a document may expand to `ALIAS_RATIO` times the
    values written in it or to `ALIAS_FLOOR` values, whichever is more, and never past `MAX_VALUES`.
    """

    def __init__(self, name: str):
        self.smap = SourceMap(name, {(): (1, 1)})
        self.stack: list[_Open] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.open_anchors: set[str] = set()
        self.alias_sites: list[tuple[dict | list, Any, str]] = []
        self.root: Any = None
        self.written = 0  # value nodes written in the text (keys are not values)
        self.expanded = 0  # value nodes once every alias is expanded
        self.documents = 0
        self.defer = False  # the document uses what ruamel's round-trip loader must build
        self.version = (1, 2)
        self.rule_cache: dict[str, list[tuple[str, Any]]] = {}

    def fail(self, message: str, mark: Any, path: Path_ = ()) -> ScenarioError:
        where = (mark.line + 1, mark.column + 1) if mark is not None else None
        return ScenarioError([Problem(path, message, where)], file=self.smap.file)

    def feed(self, event: Any) -> None:
        kind = event.__class__
        if kind is ScalarEvent:
            value = self.scalar(event)
            if event.anchor is not None:
                self.anchors[event.anchor] = (value, 1)
            self.add(value, 1, event.start_mark)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            self.push({} if kind is MappingStartEvent else [], event)
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            done = self.stack.pop()
            if done.flow:
                self.smap.flow_items[done.path] = done.flow
            if done.anchor is not None:
                self.anchors[done.anchor] = (done.value, done.size)
                self.open_anchors.discard(done.anchor)
            self.add(done.value, done.size, None, counted=True)
        elif kind is AliasEvent:
            self.alias(event)
        elif kind is DocumentStartEvent:
            self.documents += 1
            if self.documents > 1:
                raise self.fail("YAML syntax error: expected a single document in the stream, but found "
                                "another document", event.start_mark)
            if event.version is not None:
                self.version = tuple(event.version)
                self.rule_cache = {}

    def push(self, value: dict | list, event: Any) -> None:
        """Open a mapping or list; refuse it at once past MAX_DEPTH."""
        parent = self.stack[-1] if self.stack else None
        path = self.child_path(parent) if parent is not None else ()
        if len(self.stack) >= MAX_DEPTH:
            raise self.fail(f"the document is nested more than {MAX_DEPTH} levels deep (a scenario needs about "
                            "ten levels of lists and mappings)", event.start_mark, path[:2])
        if parent is not None and parent.is_map and parent.key is _NO_KEY:
            self.defer = True  # a list or mapping used as a key
        if event.tag not in _NON_SPECIFIC and event.tag not in (_TAG + "map", _TAG + "seq"):
            self.defer = True  # an explicit tag: `!!set`, `!!omap`, a custom one
        if parent is not None and not parent.is_map:
            self.smap.positions[path] = (event.start_mark.line + 1, event.start_mark.column + 1)
            if parent.flow is not None:
                parent.flow.extend((event.start_mark.line + 1, event.start_mark.column + 1))
        self.written += 1
        self.expanded += 1
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)
        self.stack.append(_Open(value, path, event.anchor, bool(event.flow_style)))

    @staticmethod
    def child_path(parent: _Open) -> Path_:
        if parent.is_map:
            key = parent.key
            return (*parent.path, key if isinstance(key, str) else str(key))
        return (*parent.path, len(parent.value))

    def add(self, value: Any, size: int, mark: Any, counted: bool = False) -> None:
        """Attach a finished node (a key, a value or an item) to the collection being built.

        `mark` is its position (None for a closed list or mapping: recorded when it opened);
        `counted`: its size is in the totals already (a closed collection, an alias)."""
        parent = self.stack[-1] if self.stack else None
        if parent is not None and parent.is_map and parent.key is _NO_KEY:
            self.key(parent, value, mark)
            return
        if not counted:
            self.written += 1
            self.expanded += size
        if parent is None:
            self.root = value
        elif parent.is_map:
            if not parent.skip:
                parent.value[parent.key] = value
            parent.key, parent.skip = _NO_KEY, False
            parent.size += size
        else:
            if mark is not None:  # None: a closed list or mapping, placed when it opened
                if parent.flow is not None:
                    parent.flow.extend((mark.line + 1, mark.column + 1))
                else:
                    self.smap.positions[(*parent.path, len(parent.value))] = (mark.line + 1, mark.column + 1)
            parent.value.append(value)
            parent.size += size

    def key(self, parent: _Open, value: Any, mark: Any) -> None:
        """A mapping key: its position, or a duplicate-key problem (reported; the first value is kept)."""
        if isinstance(value, (dict, list)):
            value = f"<{type(value).__name__} key>"  # the round-trip loader builds complex keys
        key = value if isinstance(value, str) else str(value)
        path = (*parent.path, key)
        where = (mark.line + 1, mark.column + 1) if mark is not None else None
        if key in parent.value:
            first = self.smap.positions.get(path)
            written = f" (written as {value!r})" if not isinstance(value, str) else ""
            self.smap.problems.append(Problem(path, f"duplicate key `{key}`{written}: already given on line "
                                              f"{first[0] if first else '?'}; the first value is used", where))
            parent.skip = True
            key = "\x00" + key  # what the skipped value holds is placed under a path no real field has
        elif where is not None:
            self.smap.positions[path] = where
        parent.key = key

    def alias(self, event: Any) -> None:
        name = event.anchor
        if name not in self.anchors:
            if name in self.open_anchors:
                raise self.fail(f"YAML error: alias *{name} is used inside the node it names (a loop)",
                                event.start_mark)
            raise self.fail(f"YAML syntax error: found undefined alias {name!r}", event.start_mark)
        value, size = self.anchors[name]
        container = isinstance(value, (dict, list))
        parent = self.stack[-1] if self.stack else None
        if parent is not None and parent.is_map and parent.key is _NO_KEY:
            if container:
                self.defer = True  # a list or mapping used as a key
            self.key(parent, value, event.start_mark)
            return
        if container and parent is not None and not parent.skip:
            where = parent.key if parent.is_map else len(parent.value)
            self.alias_sites.append((parent.value, where, name))
        self.add(value, size, event.start_mark, counted=True)
        self.expanded += size  # an alias writes no value of its own: only what it expands to counts

    def scalar(self, event: Any) -> Any:
        """The value of a scalar: YAML 1.2 (or the document's %YAML version) implicit types."""
        value = event.value
        tag = event.tag
        if tag in _NON_SPECIFIC:
            if not event.implicit[0]:
                return value  # quoted, or the non-specific tag `!`
            if self.version == (1, 2) and value[:1] in _NUMBER_START:  # most values of a large file
                if _FAST_INT.match(value):
                    return int(value)
                if _FAST_FLOAT.match(value):
                    return float(value)
            tag = self.implicit_tag(value)
        if tag == _STR:
            return value
        suffix = tag[len(_TAG):] if tag.startswith(_TAG) else None
        if suffix in ("int", "float", "bool", "null") and event.tag in _NON_SPECIFIC:
            construct = getattr(_constructor(self.version), f"construct_yaml_{suffix}")
            try:
                with warnings.catch_warnings():  # ruamel's advice on YAML 1.1 floats is for programmers
                    warnings.simplefilter("ignore")
                    return construct(ScalarNode(tag, value, event.start_mark, event.end_mark))
            except (ValueError, TypeError, KeyError, IndexError, OverflowError):
                pass  # the round-trip loader reports it with its position
        elif suffix == "timestamp" and event.tag in _NON_SPECIFIC:
            return value  # dates as written, for the schema to reject with the text the user wrote
        self.defer = True  # an explicit tag, a merge key `<<`, `=`, or a value ruamel's constructor rejects
        return value

    def implicit_tag(self, value: str) -> str:
        """The tag ruamel's resolver gives a plain scalar (its rules, looked up once per first character)."""
        first = value[:1]
        rules = self.rule_cache.get(first)
        if rules is None:
            table = _implicit_rules(self.version)
            rules = self.rule_cache[first] = table.get(first, []) + table.get(None, [])
        for tag, match in rules:
            if match(value):
                return tag
        return _STR

    def check_size(self) -> None:
        """Refuse alias bombs and documents past MAX_VALUES before anything is expanded."""
        if self.expanded > max(ALIAS_FLOOR, ALIAS_RATIO * self.written):
            raise ScenarioError([Problem((), f"anchors and aliases would expand the document to "
                                             f"{_count(self.expanded)} values from {self.written:,} written, more "
                                             f"than {ALIAS_RATIO}x (an alias bomb?)")], file=self.smap.file)
        if self.expanded > MAX_VALUES:
            raise ScenarioError([Problem((), f"the document holds {self.expanded:,} values, more than the "
                                             f"{MAX_VALUES:,} this tool reads")], file=self.smap.file)

    def finish(self) -> Any:
        """The document, with every alias replaced by its own copy (so that no two fields share an object)."""
        for container, where, name in self.alias_sites:  # document order: inner aliases are copied first
            container[where] = _copy(self.anchors[name][0])
        return self.root


def _count(n: int) -> str:
    """A count for a message: `1,234,567`, or `about 10^3000` (a bomb's count has thousands of digits)."""
    return f"{n:,}" if n < 10**15 else f"about 10^{int(n.bit_length() * 0.30103)}"


def _copy(value: Any) -> Any:
    """A copy of nested dicts and lists (the depth is at most MAX_DEPTH)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


# --- the round-trip loader, for what the builder defers -----------------------------------------------


def _round_trip(text: str, name: str) -> tuple[Any, SourceMap]:
    """Parse with ruamel's round-trip loader, which keeps positions and builds tags and merge keys.

    Only reached after the builder has judged depth and size; duplicate keys were reported by it.
    """
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = True  # the builder reported them; the first value is kept, as there
    try:
        doc = yaml.load(text)
    except MarkedYAMLError as exc:
        raise ScenarioError([Problem((), f"YAML syntax error: {_yaml_message(exc)}", _mark(exc))],
                            file=name) from None
    except YAMLError as exc:
        raise ScenarioError([Problem((), f"YAML error: {exc}")], file=name) from None
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        # a scalar the YAML constructor cannot turn into a value: `!!int abc`, `!!float ten`
        path, where, value = _unconstructible(text)
        message = f"`{value}` cannot be read as a value: {exc}" if value is not None else f"YAML value error: {exc}"
        raise ScenarioError([Problem(path, message, where)], file=name) from None
    smap = SourceMap(name, {(): (1, 1)})
    return _plain(doc, (), smap), smap


def _unconstructible(text: str) -> tuple[Path_, tuple[int, int] | None, str | None]:
    """Path, position and text of the first scalar (key or value) the YAML constructor cannot build."""
    yaml = YAML(typ="safe", pure=True)
    try:
        root = yaml.compose(text)
    except Exception:  # noqa: BLE001 - no position to offer
        return (), None, None
    stack: list[tuple[Any, Path_]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, MappingNode):
            for k, v in reversed(node.value):
                child = (*path, str(getattr(k, "value", k)))
                stack += [(v, child), (k, child)]
        elif isinstance(node, SequenceNode):
            stack += [(v, (*path, i)) for i, v in reversed(list(enumerate(node.value)))]
        elif isinstance(node, ScalarNode):
            try:
                yaml.constructor.construct_object(node, deep=True)
            except Exception:  # noqa: BLE001 - this is the culprit
                return path, (node.start_mark.line + 1, node.start_mark.column + 1), str(node.value)
    return (), None, None


def _plain(node: Any, path: Path_, smap: SourceMap) -> Any:
    """Convert ruamel containers to dicts/lists, recording positions (depth at most MAX_DEPTH)."""
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key in node:
            child = (*path, str(key))
            try:
                line, col = node.lc.key(key)
                position = (line + 1, col + 1)
            except (KeyError, TypeError, AttributeError):
                position = None
            if str(key) in out:  # keys that differ only as text: `1` and `'1'`
                smap.problems.append(Problem(child, f"duplicate key `{key}` (written as {key!r} and "
                                                    f"{str(key)!r}); the first value is used", position))
                continue
            if position is not None:
                smap.positions.setdefault(child, position)
            out[str(key)] = _plain(node[key], child, smap)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, item in enumerate(node):
            child = (*path, i)
            try:
                line, col = node.lc.item(i)
                smap.positions.setdefault(child, (line + 1, col + 1))
            except (KeyError, TypeError, AttributeError, IndexError):
                pass
            items.append(_plain(item, child, smap))
        return items
    if isinstance(node, (bool, ScalarBoolean)) or node is None:
        return None if node is None else bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    # dates, timestamps, binary, tagged values: as text, for the schema to reject clearly
    return str(node)
