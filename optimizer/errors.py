"""Domain errors and the exit codes the command line maps them to (SPEC section 5)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of `optimize`."""

    OPTIMAL = 0
    BAD_INPUT = 1
    INFEASIBLE = 2
    TIME_LIMIT = 3
    FAILURE = 4
    INTERRUPTED = 130  # SIGINT (Ctrl-C): 128 + 2, the shell's convention
    TERMINATED = 143  # SIGTERM (CI cancel, `docker stop`): 128 + 15


# The one table from an outcome to the exit code. Outcomes: a solve's (solve.SolveStatus.outcome), a
# domain error's (OptimizerError.outcome), or the signal that stopped the run.
EXIT_CODES: dict[str, ExitCode] = {
    "optimal": ExitCode.OPTIMAL,
    "bad_input": ExitCode.BAD_INPUT,
    "infeasible": ExitCode.INFEASIBLE,
    "time_limit": ExitCode.TIME_LIMIT,
    "error": ExitCode.FAILURE,
    "interrupted": ExitCode.INTERRUPTED,
    "terminated": ExitCode.TERMINATED,
}


def exit_code(outcome: str) -> ExitCode:
    """Exit code of an outcome (EXIT_CODES; anything unknown is a failure)."""
    return EXIT_CODES.get(str(outcome), ExitCode.FAILURE)


def format_path(path: tuple[str | int, ...]) -> str:
    """`("sources", 1, "price")` -> `sources[1].price`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


@dataclass(frozen=True)
class Cell:
    """A cell of a workbook sheet (1-based row and column), shown as Excel writes it: `sources!D7`."""

    sheet: str
    row: int
    column: int

    def __str__(self) -> str:
        letters, n = "", self.column
        while n:
            n, rest = divmod(n - 1, 26)
            letters = chr(ord("A") + rest) + letters
        sheet = self.sheet if re.fullmatch(r"\w+", self.sheet) else "'" + self.sheet.replace("'", "''") + "'"
        return f"{sheet}!{letters}{self.row}"


#: Where a problem is in its file: (line, column) of a text file, or a workbook cell.
Position = tuple[int, int] | Cell


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where (field path, file position or argument) and what."""

    path: tuple[str | int, ...]
    message: str
    position: Position | None = None
    origin: str | None = None
    """The command-line argument that gave the field (`--set risk.aversion=2`), named instead of a file."""

    def render(self, file: str | None = None) -> str:
        if self.origin:
            return f"{self.origin}: {self.message}"
        if isinstance(self.position, Cell):
            where = f"{file}:{self.position}: " if file else f"{self.position}: "
            if not self.path:  # a problem with the workbook's layout: the cell says where
                return where + self.message
        elif file:
            where = file + (f":{self.position[0]}:{self.position[1]}" if self.position else "") + ": "
        elif self.position:
            where = f"line {self.position[0]}:{self.position[1]}: "
        else:
            where = ""
        return f"{where}{format_path(self.path)}: {self.message}"


class OptimizerError(Exception):
    """Base class: an error the command line reports without a traceback; its `outcome` gives the exit
    code (EXIT_CODES)."""

    outcome = "error"

    @property
    def exit_code(self) -> ExitCode:
        return exit_code(self.outcome)


class BadInputError(OptimizerError):
    """Input the user must fix (exit 1): the message names the file, field, argument or path."""

    outcome = "bad_input"


class ScenarioError(BadInputError):
    """The scenario (or another input file) is invalid; carries every problem found."""

    def __init__(self, problems: list[Problem], file: str | None = None):
        self.problems = problems
        self.file = file
        super().__init__(self.render())

    def render(self) -> str:
        head = f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}"
        head += f" in {self.file}" if self.file else ""
        return head + ":\n" + "\n".join("  " + p.render(self.file) for p in self.problems)


class UsageError(BadInputError):
    """A command-line argument that cannot be used (a format, an output file that exists)."""


class SolveError(OptimizerError):
    """The solver failed or returned no usable answer."""


class InfeasibleError(OptimizerError):
    """The plan is infeasible or unbounded; the message explains it in the scenario's terms."""

    outcome = "infeasible"


class TimeLimitError(OptimizerError):
    """The time limit was reached before any feasible plan was found."""

    outcome = "time_limit"


def no_plan_error(status, explanation: str | None = None) -> OptimizerError:
    """The error for a solve that ended without a plan to write, by its status (a solve.SolveStatus)."""
    if status.outcome == "infeasible":
        return InfeasibleError(explanation or f"the plan is {status}")
    if status.outcome == "time_limit":
        return TimeLimitError(f"{status.replace('_', ' ')} reached before HiGHS found a feasible plan; "
                              "nothing written")
    return SolveError(f"the solver failed (status {status}); nothing written")
