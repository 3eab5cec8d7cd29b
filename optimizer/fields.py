"""The scenario schema as a tree of fields, read from the Pydantic models of spec.py.

The workbook layout (`optimizer.excel`) and the YAML writer (`optimizer.convert`) are built from
this walk rather than from lists of field names, so a field added to spec.py has a place in both
without further code (tests/test_excel.py checks that every field of the JSON Schema has one).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from optimizer.spec import Month, Series, Window

#: What a field holds, as far as writing it down is concerned:
#: scalar  one number, text, month, choice or true/false
#: words   one text or a list of texts (`where.material: [gallium, germanium]`)
#: series  a SERIES: a constant, one value per period or a {YYYY-MM: value} step function
#: model   a nested section (`stockpile`, `expansion`, `where`, `horizon`)
#: models  a list of sections (`materials`, `policies`, a scenario's `events`)
#: map     a mapping of keys to scalars (`outputs`), or also a plain scalar when `plain`
#: yaml    anything else, written as YAML text
#: list    a list of scalars while classifying (a field of that type is `words`)
Kind = Literal["scalar", "words", "series", "model", "models", "map", "yaml", "list"]

_SERIES_MARKS = typing.get_args(Series)[1:]
_MONTH_MARKS = typing.get_args(Month)[1:]


@dataclass(frozen=True)
class Field:
    """One field of a model, by the key written in a scenario file."""

    key: str
    kind: Kind
    models: tuple[type[BaseModel], ...] = ()
    """The section's model (several for a union of models): kinds model and models."""
    plain: bool = False
    """words: a single text is allowed besides a list; map: a single scalar besides a mapping."""
    required: bool = False
    default: Any = None
    description: str = ""
    choices: tuple[str, ...] = ()
    """The allowed values of a choice (Literal) field."""
    month: bool = False
    """A YYYY-MM month."""
    value: str = ""
    """What a scalar is, in words: `a number`, `text`, `a month YYYY-MM`."""

    @property
    def optional_section(self) -> bool:
        """A section that may be omitted (None) although every one of its fields has a default, so an
        empty section means something else than none (`stockpile: {}` is storage, no stockpile none)."""
        return (self.kind == "model" and not self.required and self.default is None
                and not any(f.required for f in fields_of(self.models)))


@functools.cache
def fields_of(models: tuple[type[BaseModel], ...]) -> tuple[Field, ...]:
    """The fields of a model (or the union of several), in the order a scenario file writes them:
    declaration order, with the window (`from`, `until`) last, as in SPEC section 2's examples."""
    seen: dict[str, Field] = {}
    for model in models:
        for name, info in model.model_fields.items():
            key = info.alias or name
            if key not in seen:
                seen[key] = _field(key, info)
    last = {info.alias or name for name, info in Window.model_fields.items()}
    return tuple(sorted(seen.values(), key=lambda f: f.key in last))


def _field(key: str, info: Any) -> Field:
    shape = _classify(info.annotation, tuple(info.metadata))
    kind = "words" if shape.kind == "list" else shape.kind
    default = None if info.default is PydanticUndefined else info.default
    if info.default_factory is not None:
        default = info.default_factory()
    return dataclasses.replace(shape, key=key, kind=kind, required=info.is_required(), default=default,
                               description=info.description or "")


_SCALARS = {str: "text", int: "a whole number", float: "a number", bool: "TRUE or FALSE"}


def _classify(tp: Any, metadata: tuple = ()) -> Field:
    """The shape of a type as a Field without key; kind `list` is a list of scalars (made `words`)."""
    while typing.get_origin(tp) is typing.Annotated:
        metadata += tuple(tp.__metadata__)
        tp = typing.get_args(tp)[0]
    if any(mark in metadata for mark in _SERIES_MARKS):
        return Field("", "series")
    if any(mark in metadata for mark in _MONTH_MARKS):
        return Field("", "scalar", month=True, value="a month YYYY-MM")
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        members = [_classify(arg) for arg in typing.get_args(tp) if arg is not type(None)]
        if len(members) == 1:
            return members[0]
        kinds = {m.kind for m in members}
        choices = tuple(dict.fromkeys(c for m in members for c in m.choices))
        if kinds == {"scalar"}:
            values = " or ".join(dict.fromkeys(m.value for m in members if m.value))
            return Field("", "scalar", choices=choices, month=all(m.month for m in members), value=values)
        if kinds == {"model"}:
            return Field("", "model", tuple(model for m in members for model in m.models))
        if kinds == {"scalar", "list"}:
            return Field("", "words", plain=True, choices=choices)
        if kinds == {"scalar", "map"}:
            return Field("", "map", plain=True)
        return Field("", "yaml")
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return Field("", "model", (tp,))
    if origin in (list, tuple):
        item = _classify(typing.get_args(tp)[0])
        if item.kind == "model":
            return Field("", "models", item.models)
        return Field("", "list", choices=item.choices) if item.kind == "scalar" else Field("", "yaml")
    if origin is dict:
        return Field("", "map" if _classify(typing.get_args(tp)[1]).kind == "scalar" else "yaml")
    if origin is Literal:
        return Field("", "scalar", choices=tuple(str(v) for v in typing.get_args(tp)))
    if tp in _SCALARS:
        return Field("", "scalar", value=_SCALARS[tp])
    return Field("", "yaml")


# --- a validated scenario as the document a planner would write ---------------------------------


def document(instance: BaseModel) -> dict[str, Any]:
    """The fields the planner gave (defaults they did not write are left out), in the order of
    `fields_of`, with whole numbers written as integers (`12`, not `12.0`: the same value once
    validated). What the YAML and workbook writers write."""
    dump = instance.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return _ordered(dump, (type(instance),))


def _ordered(value: dict[str, Any], models: tuple[type[BaseModel], ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields_of(models):
        if f.key not in value or (value[f.key] is None and f.default is None):
            continue
        item = value[f.key]
        if f.kind == "model" and isinstance(item, dict):
            item = _ordered(item, f.models)
        elif f.kind == "models" and isinstance(item, list):
            item = [_ordered(v, f.models) if isinstance(v, dict) else v for v in item]
        else:
            item = whole_numbers(item)
        out[f.key] = item
    return out


def whole_numbers(value: Any) -> Any:
    """Floats that are whole numbers as ints, in nested lists and mappings."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_numbers(v) for v in value]
    return value
