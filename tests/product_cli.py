"""The product's command line, run in-process, for the reference comparisons: which commands and
options exist (so a comparison skips, with its reason, until its feature lands), and a run that
writes a scenario to YAML and reads back what the product wrote."""

from __future__ import annotations

import functools
import gc
import json
from pathlib import Path

import typer
import yaml
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


def write_yaml(doc: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())
