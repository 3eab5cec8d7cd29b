"""Read scenario files: YAML -> plain dict plus a map from field path to (line, column).

The only module that reads input files (workbooks are handed to `optimizer.excel`, which makes the
same dict). YAML is parsed by ruamel.yaml's round-trip loader, which is safe (no Python object
construction) and keeps the position of every key and item.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarbool import ScalarBoolean
from ruamel.yaml.tag import Tag

from optimizer.errors import Position, Problem, ScenarioError

Path_ = tuple[str | int, ...]

#: Documents that expand (through anchors and aliases) to more nodes than this are refused.
MAX_NODES = 1_000_000
MAX_BYTES = 50_000_000


class _OnceResolver(VersionedResolver):
    """ruamel's YAML 1.2 implicit-tag rules, looked up once per document instead of once per scalar.

    ruamel's own `resolve` re-derives the YAML version and its rule table for every scalar, reaches
    each pattern through a lazy wrapper and makes a new Tag each time: 40-50 % of loading a large
    scenario. Same rules in the same order, first match wins (tests/test_validation.py checks that
    documents load the same).
    """

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode and implicit[0]:
            first = value[0] if value else ""
            try:
                rules = self._rules[first]
            except AttributeError:  # first scalar of the document: its YAML version is known by now
                self._table, self._rules, self._tags = self.versioned_resolver, {}, {}
                return self.resolve(kind, value, implicit)
            except KeyError:
                rules = self._rules[first] = [(tag, regexp.match) for tag, regexp in
                                              self._table.get(first, []) + self._table.get(None, [])]
            for tag, match in rules:
                if match(value):
                    if tag not in self._tags:
                        self._tags[tag] = Tag(suffix=tag)
                    return self._tags[tag]
            implicit = (False, implicit[1])
        return super().resolve(kind, value, implicit)


def safe_yaml() -> YAML:
    """ruamel's C-based safe loader (YAML 1.2, duplicate keys refused, no object construction)."""
    fast = YAML(typ="safe", pure=False)  # ruamel.yaml.clib's C parser; pure Python if it is missing
    fast.Resolver = _OnceResolver
    fast.allow_duplicate_keys = False
    return fast


@dataclass
class SourceMap:
    """Where each field of a scenario file was written: 1-based (line, column), or a workbook cell.

    Positions are only needed to report problems, so a file that parsed on the fast path keeps its
    text and gets them from the (slower) round-trip parser on the first `locate` call.
    """

    file: str
    positions: dict[Path_, Position] = field(default_factory=dict)
    text: str | None = None

    def locate(self, path: Path_) -> Position | None:
        """Position of `path`, or of its nearest ancestor that has one."""
        if self.text is not None:
            text, self.text = self.text, None
            try:
                self.positions.update(_round_trip(text, self.file)[1].positions)
            except ScenarioError:  # e.g. nested too deeply for the round-trip parser: top-level keys only
                for number, line in enumerate(text.splitlines(), start=1):
                    match = re.match(r"([A-Za-z_][\w-]*)\s*:", line)
                    if match:
                        self.positions.setdefault((match.group(1),), (number, 1))
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get(())


#: File endings read as Excel workbooks; every other file is read as YAML.
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")


def read_scenario(path: str | Path) -> tuple[dict[str, Any], SourceMap]:
    """Read a scenario file, YAML or an Excel workbook (by its ending), into the dict the schema
    validates and its SourceMap."""
    if Path(path).suffix.lower() in WORKBOOK_SUFFIXES:
        from optimizer.excel import read_workbook  # openpyxl is imported only for workbooks

        return read_workbook(path)
    return read_yaml(path)


def read_bytes(path: Path) -> bytes:
    """The bytes of an input file; ScenarioError (never a traceback) when it cannot be read."""
    name = str(path)
    if not path.exists():
        raise ScenarioError([Problem((), f"file not found: {name}")], file=name)
    if path.is_dir():
        raise ScenarioError([Problem((), f"{name} is a directory, not a scenario file")], file=name)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError([Problem((), f"cannot read {name}: {exc.strerror}")], file=name) from None
    if len(raw) > MAX_BYTES:
        raise ScenarioError([Problem((), f"{name} is larger than {MAX_BYTES} bytes")], file=name)
    return raw


def read_yaml(path: str | Path) -> tuple[dict[str, Any], SourceMap]:
    """Read one YAML scenario file; raise ScenarioError (never a traceback) on anything unreadable."""
    path = Path(path)
    name = str(path)
    raw = read_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ScenarioError(
            [Problem((), f"not UTF-8 text (byte {exc.start}, line {line}); save the file as UTF-8")],
            file=name,
        ) from None
    return parse_yaml_text(text, name)


def parse_yaml_text(text: str, name: str = "<string>") -> tuple[dict[str, Any], SourceMap]:
    """Parse YAML text into a plain dict and its SourceMap.

    Fast path: ruamel's C-based safe loader (same YAML 1.2 rules, duplicate keys refused, no object
    construction). Anything it rejects is parsed again by the round-trip loader, which reports the
    problem with its line and column.
    """
    if "\x00" in text:
        raise ScenarioError([Problem((), "the file contains NUL bytes: not a text file")], file=name)
    try:
        doc = safe_yaml().load(text)
    except RecursionError:
        raise ScenarioError([Problem((), "the document is nested too deeply")], file=name) from None
    except Exception:  # noqa: BLE001 - whatever the fast loader rejects, the round-trip loader explains
        return _round_trip(text, name)
    if not isinstance(doc, dict):
        return _round_trip(text, name)
    try:
        data = _plain_fast(doc, [MAX_NODES])
    except ValueError:
        return _round_trip(text, name)
    except _TooLarge:
        raise ScenarioError(
            [Problem((), f"the document expands to more than {MAX_NODES} values (anchors and aliases?)")],
            file=name,
        ) from None
    return data, SourceMap(name, text=text)


def yaml_value(text: str) -> Any:
    """One value written as YAML (a workbook cell's `[a, b]` or `{1: 0.5}`), as the YAML loader
    would give it inside a file (keys as text); ValueError with the parser's reason if it is not YAML."""
    try:
        return _plain_fast(safe_yaml().load(text), [MAX_NODES])
    except _TooLarge:
        raise ValueError(f"expands to more than {MAX_NODES} values") from None
    except Exception as exc:  # noqa: BLE001 - whatever the parser rejects is reported with its reason
        raise ValueError(str(getattr(exc, "problem", None) or exc)) from None


def _plain_fast(node: Any, budget: list[int]) -> Any:
    """Plain copy of a safe-loaded document, counting nodes against `budget` (alias bombs)."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if str(key) in out:
                raise ValueError(f"keys {key!r} and {str(key)!r} collide")  # the round-trip pass reports it
            out[str(key)] = _plain_fast(value, budget)
        return out
    if isinstance(node, list):
        return [_plain_fast(v, budget) for v in node]
    if isinstance(node, (bool, int, float, str)) or node is None:
        return node
    return str(node)  # dates, timestamps, binary: as text, for the schema to reject clearly


def _round_trip(text: str, name: str) -> tuple[dict[str, Any], SourceMap]:
    """Parse with the round-trip loader, which keeps every key's and item's position."""
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        doc = yaml.load(text)
    except RecursionError:
        raise ScenarioError([Problem((), "the document is nested too deeply")], file=name) from None
    except ReaderError as exc:  # a character YAML does not allow; ruamel gives only its offset
        where = _line_col(text, exc.position)
        raise ScenarioError([Problem((), f"YAML error: character {exc.character!r} is not allowed in YAML text",
                                     where)], file=name) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = (mark.line + 1, mark.column + 1) if mark is not None else None
        what = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        if "duplicate key" in str(exc).lower():
            what = _duplicate_key_message(exc)
        raise ScenarioError([Problem((), f"YAML syntax error: {what}", where)], file=name) from None
    except YAMLError as exc:
        raise ScenarioError([Problem((), f"YAML error: {exc}")], file=name) from None
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        # a scalar the YAML constructor cannot turn into a value: an impossible date, `!!int abc`
        path, where, value = _unconstructible(text)
        if re.match(r"^\d{4}-\d{1,2}-\d{1,2}", value or ""):
            message = f"`{value}` is not a valid date ({exc}); write months as YYYY-MM"
        else:
            message = f"`{value}` cannot be read as a value: {exc}" if value is not None else f"YAML value error: {exc}"
        raise ScenarioError([Problem(path, message, where)], file=name) from None
    if doc is None:
        raise ScenarioError([Problem((), "the file is empty: expected a scenario mapping")], file=name)
    if not isinstance(doc, CommentedMap):
        raise ScenarioError(
            [Problem((), f"expected a mapping of scenario fields at the top, got {type(doc).__name__}")],
            file=name,
        )
    smap = SourceMap(name, {(): (1, 1)})
    budget = [MAX_NODES]
    try:
        data = _plain(doc, (), smap, budget)
    except _TooLarge:
        raise ScenarioError(
            [Problem((), f"the document expands to more than {MAX_NODES} values (anchors and aliases?)")],
            file=name,
        ) from None
    return data, smap


class _TooLarge(Exception):
    pass


def _line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    offset = max(0, min(offset, len(text)))
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


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



def _duplicate_key_message(exc: MarkedYAMLError) -> str:
    problem = str(exc.problem or "")
    return f"duplicate key {problem.split('duplicate key')[-1].strip()}".strip() or "duplicate key"


def _plain(node: Any, path: Path_, smap: SourceMap, budget: list[int]) -> Any:
    """Convert ruamel containers to dicts/lists, recording positions; count nodes against `budget`."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for key in node:
            child = (*path, str(key))
            if str(key) in out:
                raise ScenarioError([Problem(child, f"duplicate key {str(key)!r} (written as {key!r} and "
                                             f"{str(key)!r})", smap.positions.get(child))], file=smap.file)
            try:
                line, col = node.lc.key(key)
                smap.positions.setdefault(child, (line + 1, col + 1))
            except (KeyError, TypeError, AttributeError):
                pass
            out[key if isinstance(key, str) else str(key)] = _plain(node[key], child, smap, budget)
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
            items.append(_plain(item, child, smap, budget))
        return items
    if isinstance(node, (bool, ScalarBoolean)) or node is None:
        return None if node is None else bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    # dates, timestamps, binary: hand back as text so the schema can reject them with a clear message
    return str(node)
