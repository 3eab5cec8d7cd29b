"""User extensions: a Python file with `extend(model, data)` that adds constraints and objective
terms to the labelled Pyomo model before the solve (as PyPSA's `extra_functionality`)."""

from __future__ import annotations

import importlib.util
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from optimizer.errors import BadInputError

Extension = Callable[[Any, Any], None]


class ExtensionError(BadInputError):
    """The extension could not be loaded, failed, or left a model we cannot solve (bad input)."""


def load_extension(path: str | Path, function: str = "extend") -> Extension:
    """The `extend` function of a Python file; ExtensionError naming the file if there is none."""
    path = Path(path)
    if not path.is_file():
        raise ExtensionError(f"--extension {path}: no such file")
    spec = importlib.util.spec_from_file_location(f"optimizer_extension_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ExtensionError(f"--extension {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the user's code: say where it failed, no traceback
        raise ExtensionError(f"--extension {path}: importing it failed: {_where(exc, path)}") from None
    fn = getattr(module, function, None)
    if not callable(fn):
        raise ExtensionError(f"--extension {path}: defines no function `{function}(model, data)`")
    fn.__extension_file__ = str(path)
    return fn


def apply_extension(fn: Extension, model: Any, data: Any) -> None:
    """Run `fn(model, data)`; an exception becomes an ExtensionError naming the function and line."""
    try:
        fn(model, data)
    except Exception as exc:  # noqa: BLE001 - the user's code
        raise ExtensionError(f"extension {describe(fn)} failed: {_where(exc, getattr(fn, '__extension_file__', None))}"
                             ) from None


def describe(fn: Extension) -> str:
    """`rules.py:extend` for a loaded file, else the function's qualified name."""
    where = getattr(fn, "__extension_file__", None) or getattr(fn, "__module__", "")
    return f"{Path(where).name if where else ''}:{getattr(fn, '__qualname__', 'extend')}".lstrip(":")


def _where(exc: BaseException, path: str | Path | None) -> str:
    """`ValueError: ... (rules.py line 12)`: the user's innermost frame, if any."""
    frames = traceback.extract_tb(exc.__traceback__)
    line = ""
    if path is not None:
        mine = [f for f in frames if Path(f.filename).resolve() == Path(path).resolve()]
        if mine:
            line = f" ({Path(path).name} line {mine[-1].lineno})"
    elif frames:
        line = f" ({Path(frames[-1].filename).name} line {frames[-1].lineno})"
    return f"{type(exc).__name__}: {exc}{line}"


__all__ = ["ExtensionError", "apply_extension", "describe", "load_extension"]
