"""The product's command line, run in-process, for the reference comparisons: which commands,
options and scenario fields exist (so a comparison skips, with its reason, until its feature lands),
and helpers to write a scenario as YAML and read back what the product wrote."""

from __future__ import annotations

import functools
import gc
import json
from pathlib import Path

import typer
import yaml
from ruamel.yaml import YAML
from typer.testing import CliRunner

from optimizer.cli import app


def invoke(*args: str):
    """`optimize ARGS...` in this process; the run command turns the cyclic GC off for its one
    solve (a CLI-edge trick), so it is turned back on for the test process."""
    try:
        return CliRunner().invoke(app, [str(a) for a in args])
    finally:
        gc.enable()


@functools.cache
def _cli():
    """The click group behind `optimize` (its commands and their options, as declared)."""
    return typer.main.get_command(app)


def has_command(name: str) -> bool:
    """Whether `optimize NAME` is a command."""
    return name in _cli().commands


def has_option(command: str, option: str) -> bool:
    """Whether `optimize COMMAND` takes `option` (e.g. "--analyze")."""
    cmd = _cli().commands.get(command)
    return cmd is not None and any(option in param.opts for param in cmd.params)


@functools.cache
def schema_text() -> str:
    """`optimize schema`: the JSON Schema of the scenario file, as text."""
    return invoke("schema").output


def schema_knows(*names: str) -> bool:
    """Whether every one of these field names or enum values appears in the scenario schema (how a
    comparison finds out that a new scenario field has landed)."""
    text = schema_text()
    return all(f'"{name}"' in text for name in names)


def write_yaml(doc: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def read_yaml(path: Path) -> object:
    """A YAML file the product wrote, read as the product reads scenario files: YAML 1.2, in which
    `on`, `yes` and `off` are strings. PyYAML (YAML 1.1) would read a ban's `on: arrival` as the key
    True: the rule would lose its `on` and the scenario would no longer validate."""
    return YAML(typ="safe").load(path.read_text())


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())
