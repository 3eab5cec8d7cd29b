"""The `optimize` process: Ctrl-C and SIGTERM are handled from the first line, then the command line runs.

This module imports nothing heavy, so a signal that lands while Python loads Typer, NumPy, pandas and
HiGHS (most of a small run's time) still ends in one line and the conventional exit code.
"""

from __future__ import annotations

import os
import signal
import sys

from optimizer.errors import exit_code


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI cancel, `docker stop`), raised where Python is, as Ctrl-C is: the same clean-up runs
    (the solve is cancelled, temporary folders are removed, the previous results stay)."""


_OUTCOMES = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
_received: list[str] = []


def _on_signal(signum: int, _frame: object) -> None:
    _received.append(_OUTCOMES[signum])
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def install_signal_handlers() -> None:
    """SIGINT and SIGTERM raise KeyboardInterrupt (SIGTERM as its subclass Terminated)."""
    for signum in _OUTCOMES:
        signal.signal(signum, _on_signal)


def stopped(detail: str | None = None) -> int:
    """Say in one line on stderr that a signal stopped the run; returns its exit code (130 for Ctrl-C,
    143 for SIGTERM)."""
    outcome = _received[-1] if _received else "interrupted"
    sys.stderr.write(f"{outcome}{': ' + detail if detail else ''}\n")
    return int(exit_code(outcome))


def main() -> None:
    """Console entry point (`optimize`, `python -m optimizer`)."""
    install_signal_handlers()
    try:
        from optimizer.cli import run

        code = run(sys.argv[1:])
    except KeyboardInterrupt:
        code = stopped()
    # Exit at once once output is flushed: results are already fsynced and renamed into place, and
    # tearing down a large model's objects costs up to half a second (benchmarks/README.md).
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (KeyboardInterrupt, OSError):
        pass
    os._exit(code)
