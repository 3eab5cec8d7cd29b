"""Read scenario files: YAML -> plain dict plus a map from field path to (line, column).

The only module that reads input files. YAML is parsed by ruamel.yaml's round-trip loader, which
is safe (no Python object construction) and keeps the position of every key and item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from optimizer.errors import Problem, ScenarioError

Path_ = tuple[str | int, ...]

#: Documents that expand (through anchors and aliases) to more nodes than this are refused.
MAX_NODES = 2_000_000
MAX_BYTES = 50_000_000


@dataclass(frozen=True)
class SourceMap:
    """Where each field of a scenario file was written (1-based line and column)."""

    file: str
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Path_) -> tuple[int, int] | None:
        """Position of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get(())


def read_yaml(path: str | Path) -> tuple[dict[str, Any], SourceMap]:
    """Read one YAML scenario file; raise ScenarioError (never a traceback) on anything unreadable."""
    path = Path(path)
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
    """Parse YAML text into a plain dict and its SourceMap."""
    if "\x00" in text:
        raise ScenarioError([Problem((), "the file contains NUL bytes: not a text file")], file=name)
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        doc = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = (mark.line + 1, mark.column + 1) if mark is not None else None
        what = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        if "duplicate key" in str(exc).lower():
            what = _duplicate_key_message(exc)
        raise ScenarioError([Problem((), f"YAML syntax error: {what}", where)], file=name) from None
    except YAMLError as exc:
        raise ScenarioError([Problem((), f"YAML error: {exc}")], file=name) from None
    if doc is None:
        raise ScenarioError([Problem((), "the file is empty: expected a scenario mapping")], file=name)
    if not isinstance(doc, CommentedMap):
        raise ScenarioError(
            [Problem((), f"expected a mapping of scenario fields at the top, got {type(doc).__name__}")],
            file=name,
        )
    smap = SourceMap(name)
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
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    # dates, timestamps, binary: hand back as text so the schema can reject them with a clear message
    return str(node)
