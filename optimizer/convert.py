"""`optimize convert`: a scenario file written as YAML or as a workbook, validated on the way.

Both writers start from `optimizer.fields.document`: the fields the planner gave, in the order of
SPEC section 2's example. Comments of a YAML file and notes of a workbook are not carried over.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from optimizer.errors import UsageError

#: Output formats and the file endings they are written with.
SUFFIXES = {"yaml": (".yaml", ".yml"), "xlsx": (".xlsx",)}
#: A section or list item is written on one line (YAML flow style) when it is at most this wide.
FLOW_WIDTH = 100


def convert_file(source: str | Path, to: str | None = None, out: str | Path | None = None,
                 force: bool = False) -> Path:
    """Read and validate `source` (YAML or a workbook), write it as `to` (`yaml` or `xlsx`; default
    the other one, or what `out` ends in) at `out` (default: beside `source`); return the path.
    ScenarioError for an invalid scenario, UsageError for arguments that cannot be used; nothing is
    written then, and an existing file is replaced only with `force` (in one step: never half-written)."""
    from optimizer.checks import validate
    from optimizer.fields import document
    from optimizer.loader import WORKBOOK_SUFFIXES, read_scenario

    source = Path(source)
    fmt = _format(to, out, source.suffix.lower() in WORKBOOK_SUFFIXES)
    target = Path(out) if out is not None else source.with_suffix(SUFFIXES[fmt][0])
    if target.suffix.lower() not in SUFFIXES[fmt]:
        raise UsageError(f"--out {target}: a {fmt} file ends in {' or '.join(SUFFIXES[fmt])}")
    if target.exists() and source.exists() and target.resolve() == source.resolve():
        raise UsageError(f"{target} is the file being converted: give another --out")
    if target.exists() and not force:
        raise UsageError(f"{target} exists: pass --force to replace it (comments in it are not kept) or give "
                         "another --out")
    scenario = validate(*read_scenario(source))
    doc = document(scenario)
    if fmt == "xlsx":
        from optimizer.excel import workbook_bytes

        data = workbook_bytes(doc)
    else:
        header = (f"{target.name}: scenario `{scenario.name}` written by `optimize convert` from {source.name}.\n"
                  "Comments and notes of the original are not carried over (docs/excel.md).")
        data = scenario_yaml(doc, header).encode()
    write_atomically(target, data)
    return target


def _format(to: str | None, out: str | Path | None, from_workbook: bool) -> str:
    if to is not None:
        fmt = {"yml": "yaml"}.get(to.lower(), to.lower())
        if fmt not in SUFFIXES:
            raise UsageError(f"--to {to!r}: use yaml or xlsx")
        return fmt
    if out is not None:
        for fmt, suffixes in SUFFIXES.items():
            if Path(out).suffix.lower() in suffixes:
                return fmt
        raise UsageError(f"--out {out}: cannot tell the format from its ending; give --to yaml or --to xlsx")
    return "yaml" if from_workbook else "xlsx"


def write_atomically(target: Path, data: bytes) -> None:
    """Write a file whole or not at all (a temporary file beside it, renamed into place)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def scenario_yaml(doc: dict[str, Any], header: str = "") -> str:
    """A scenario document as YAML text a planner can read: sections in block style, short items
    (rules, budgets, `where`, `expansion`) on one line as in SPEC section 2, lists of numbers on one line."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt", pure=True)
    yaml.width = 4096  # a series of 40 periods stays on one line rather than wrapping mid-list
    yaml.indent(mapping=2, sequence=4, offset=2)
    node = _node(doc, depth=0)
    if header:
        node.yaml_set_start_comment(header)
    out = io.StringIO()
    yaml.dump(node, out)
    return out.getvalue()


def _node(value: Any, depth: int, flow: bool = False) -> Any:
    """ruamel containers with the flow style chosen: the top level and its sections in block style;
    a list's items on one line each when every one of them fits (FLOW_WIDTH) and holds no list of
    mappings; below that, a mapping on one line when it fits; lists of numbers or texts on one line."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, dict):
        node = CommentedMap((k, _node(v, depth + 1)) for k, v in value.items())
        if flow or depth >= 3 and _fits(value):
            node.fa.set_flow_style()
        return node
    if isinstance(value, list):
        items = bool(value) and all(isinstance(v, dict) and _fits(v) for v in value)
        node = CommentedSeq(_node(v, depth + 1, flow=items) for v in value)
        if all(not isinstance(v, (dict, list)) for v in value):
            node.fa.set_flow_style()
        return node
    return value


def _fits(value: dict[str, Any]) -> bool:
    """Holds no list of mappings and is at most FLOW_WIDTH wide on one line (about: JSON without quotes)."""
    return _flat(value) and len(json.dumps(value, ensure_ascii=False).replace('"', "")) <= FLOW_WIDTH


def _flat(value: Any) -> bool:
    """No list of mappings inside (a scenario with events is not flat; a rule with its filter is)."""
    if isinstance(value, dict):
        return all(_flat(v) for v in value.values())
    if isinstance(value, list):
        return all(not isinstance(v, dict) and _flat(v) for v in value)
    return True
