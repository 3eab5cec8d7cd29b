"""Typer commands: parse arguments, call the pipeline, map errors to exit codes. No math here."""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from typer._click.exceptions import ClickException, NoArgsIsHelpError  # Typer vendors Click
from typer.core import TyperGroup

from optimizer.errors import ExitCode, InfeasibleError, OptimizerError, ScenarioError

if TYPE_CHECKING:
    from rich.console import Console

SUBCOMMANDS_HELP = "Run `optimize SCENARIO.yaml` to solve; the commands below do the rest."


class DefaultRunGroup(TyperGroup):
    """`optimize SCENARIO.yaml ...` is `optimize run SCENARIO.yaml ...` (the default command)."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=DefaultRunGroup,
    add_completion=False,
    no_args_is_help=True,
    help="Plan critical-mineral purchases and stockpiles: `optimize SCENARIO.yaml` validates, builds the LP, "
    "solves it with HiGHS and writes results/<name>/.",
    pretty_exceptions_enable=False,
)

@functools.cache
def stdout() -> Console:
    """Rich console on stdout, made on first use (rich is not imported for a quiet run). Piped or
    redirected output gets 120 columns (rich would use 80) unless COLUMNS says otherwise."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True,
                   width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 120)


@functools.cache
def stderr() -> Console:
    """Rich console on stderr, made on first use."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _version(value: bool) -> None:
    if value:
        from optimizer import __version__
        from optimizer.solve import highs_version

        typer.echo(f"optimize {__version__} (HiGHS {highs_version()})")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = None,
) -> None:
    """Critical-mineral procurement and stockpile optimizer."""


class Stages:
    """Progress of each stage on stderr, only when stderr is a terminal and not --quiet."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty() and stderr().is_terminal
        self.start = time.perf_counter()

    def done(self, stage: str, seconds: float) -> None:
        if self.enabled:
            stderr().print(f"[dim]{stage:<9}{seconds:8.2f} s   (total {time.perf_counter() - self.start:.2f} s)[/dim]")


def _fail(exc: OptimizerError) -> None:
    """Report a domain error without a traceback (plain text, unwrapped) and exit with its code."""
    sys.stderr.write(str(exc).rstrip("\n") + "\n")
    sys.stderr.flush()
    raise typer.Exit(int(exc.exit_code))


@app.command("run")
def run_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (YAML or .xlsx).", show_default=False)],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Result folder (default results/<name>/).")] = None,
    time_limit: Annotated[Optional[float], typer.Option("--time-limit", min=0, help="Solver time limit, seconds.")] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="Solver threads.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary and no progress.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print summary.json to stdout instead of tables.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show HiGHS's own log on stderr.")] = False,
    route: Annotated[str, typer.Option("--route", hidden=True, help="Hand-off route: direct or pyomo.")] = "direct",
    extension: Annotated[Optional[Path], typer.Option("--extension", help="Python file with extend(model, data): "
                                                      "constraints and objective terms of your own, added to the "
                                                      "Pyomo model before the solve (docs/extensions.md).")] = None,
    prices: Annotated[Optional[Path], typer.Option("--prices", help="CSV `source,price` or `source,from,price` "
                                                   "replacing those sources' prices.")] = None,
    sets: Annotated[Optional[list[str]], typer.Option("--set", help="Override a field: PATH=VALUE, e.g. "
                                                      "sources[cn-dy].price=400000 (repeatable).")] = None,
    baseline: Annotated[Optional[Path], typer.Option("--baseline", help="Result folder of the previous plan: "
                                                     "stay as close to its purchases as the gap allows.")] = None,
    stability_gap: Annotated[float, typer.Option("--stability-gap", min=0, help="Relative objective slack "
                                                 "allowed for stability with --baseline.")] = 0.001,
    fmt: Annotated[str, typer.Option("--format", help="Table formats, comma-separated: csv, json, parquet, xlsx "
                                     "(summary.json, scenario.json and run.json are always written).")] = "csv,json",
    report: Annotated[bool, typer.Option("--report", help="Also write report.html and charts/ in the folder.")] = False,
) -> None:
    """Validate, build, solve and write the result folder; print a summary."""
    from optimizer.pipeline import load_scenario, solve
    from optimizer.solve import SolverOptions

    # One solve, then exit: cyclic GC stays off for the whole run. Its garbage is small, while each
    # collection walks the ~0.5M objects pandas, pyarrow and pydantic create (25-50 ms at medium).
    gc.disable()

    stages = Stages(not quiet)
    try:
        formats = _parse_formats(fmt)
        clock = time.perf_counter()
        sc = load_scenario(scenario, sets or (), prices)
        stages.done("validate", time.perf_counter() - clock)
        options = SolverOptions(time_limit=time_limit, threads=threads, verbose=verbose and not quiet)
        solution = solve(sc, options, route="pyomo" if route == "pyomo" else "direct", extension=extension,
                         progress=stages.done, baseline=baseline, stability_gap=stability_gap)
        if not quiet:
            for warning in solution.run.get("warnings", []):
                sys.stderr.write(f"warning: {warning}\n")
        code = _status_code(solution)
        if solution.summary.get("objective") is None:
            raise _no_solution(solution)
        target = out if out is not None else Path("results") / sc.name
        clock = time.perf_counter()
        solution.write(target, formats)
        stages.done("write", time.perf_counter() - clock)
        if report:
            from optimizer.report import write_report

            clock = time.perf_counter()
            write_report(target)
            stages.done("report", time.perf_counter() - clock)
    except KeyboardInterrupt:
        stderr().print("interrupted: previous results left as they were")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except OptimizerError as exc:
        _fail(exc)
        return
    if as_json:
        typer.echo(json.dumps(solution.summary, sort_keys=True, indent=2))
    elif not quiet:
        from optimizer.summary import print_summary

        print_summary(stdout(), solution, target)
        if report:
            stdout().print(f"Report written to {target / 'report.html'}")
    raise typer.Exit(int(code))


def _status_code(solution) -> ExitCode:
    status = solution.status
    if status.is_optimal:
        return ExitCode.OPTIMAL
    if status.is_limit:
        return ExitCode.TIME_LIMIT
    if status.is_infeasible:
        return ExitCode.INFEASIBLE
    return ExitCode.FAILURE


def _no_solution(solution) -> OptimizerError:
    if solution.status.is_infeasible:
        return InfeasibleError(solution.explanation or f"the plan is {solution.status}")
    if solution.status.is_limit:
        err = OptimizerError(f"{solution.status.replace('_', ' ')} reached before HiGHS found a feasible plan; "
                             "nothing written")
        err.exit_code = ExitCode.TIME_LIMIT
        return err
    return OptimizerError(f"the solver failed (status {solution.status}); nothing written")


@app.command("validate")
def validate_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (YAML or .xlsx).", show_default=False)],
) -> None:
    """Check a scenario file; list every problem at once (exit 1 if any)."""
    from optimizer.pipeline import load_scenario

    try:
        sc = load_scenario(scenario)
    except ScenarioError as exc:
        _fail(exc)
        return
    from optimizer.checks import scenario_warnings

    for warning in scenario_warnings(sc):
        sys.stderr.write(f"warning: {warning}\n")
    cases = sc.cases
    counts = [(len(sc.materials), "material"), (len(sc.sources), "source"), (len(sc.processors), "processor"),
              (len(cases), "scenario"), (sc.horizon.periods, sc.horizon.period)]
    words = ", ".join(f"{n} {what}{'s' if n != 1 else ''}" for n, what in counts)
    typer.echo(f"{scenario}: valid ({words} from {sc.horizon.start})")


@app.command("convert")
def convert_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (YAML or .xlsx).", show_default=False)],
    to: Annotated[Optional[str], typer.Option("--to", help="yaml or xlsx (default: the other one, or what "
                                              "--out ends in).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="File to write (default beside SCENARIO).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
) -> None:
    """Write a scenario as a workbook or as YAML (validated first; YAML comments are not kept)."""
    from optimizer.convert import convert_file

    try:
        target = convert_file(scenario, to=to, out=out, force=force)
    except OptimizerError as exc:
        _fail(exc)
        return
    typer.echo(f"{scenario} -> {target}")


@app.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the scenario file (for editors)."""
    from optimizer.spec import Scenario

    typer.echo(json.dumps(Scenario.model_json_schema(by_alias=True), indent=2, sort_keys=True))


def _parse_formats(text: str) -> tuple[str, ...]:
    """`csv,parquet` -> ("csv", "parquet"); an unknown format is bad input (exit 1)."""
    from optimizer.export import FORMATS

    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        err = OptimizerError(f"--format {text!r}: use a comma-separated list of {', '.join(FORMATS)}")
        err.exit_code = ExitCode.BAD_INPUT
        raise err
    return formats


@app.command("diff")
def diff_command(
    old: Annotated[Path, typer.Argument(help="Result folder before.", show_default=False)],
    new: Annotated[Path, typer.Argument(help="Result folder after.", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", "-f", help="md (a pull-request comment), text or json.")] = "md",
    tolerance: Annotated[float, typer.Option("--tolerance", min=0, help="Hide changes of at most this size.")] = 1e-6,
    fail_on_change: Annotated[bool, typer.Option("--fail-on-change", help="Exit 1 when anything changed.")] = False,
    top: Annotated[int, typer.Option("--top", min=1, help="Rows shown per section (md, text).")] = 10,
) -> None:
    """What changed between two result folders: cost, shortfall, spend by region, purchases, inputs."""
    from optimizer.diff import ResultFolderError, diff_folders, render

    try:
        if fmt not in ("md", "markdown", "text", "json"):
            raise ResultFolderError(f"unknown --format {fmt!r}: use md, text or json")
        result = diff_folders(old, new, tolerance=tolerance)
        typer.echo(render(result, fmt, top=top), nl=False)
    except OptimizerError as exc:
        _fail(exc)
        return
    raise typer.Exit(1 if fail_on_change and result.changed else 0)


@app.command("sweep")
def sweep_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (YAML or .xlsx).", show_default=False)],
    prices: Annotated[Optional[list[Path]], typer.Option("--prices", help="Price CSV files: one variant each "
                                                         "(named after the file's stem).")] = None,
    prices_dir: Annotated[Optional[Path], typer.Option("--prices-dir", help="Every *.csv in this folder.")] = None,
    set_grid: Annotated[Optional[list[str]], typer.Option("--set-grid", help="PATH=v1,v2,...: one variant per "
                                                          "value (grids combine).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder (default results/<name>-sweep/).")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Parallel processes.")] = 1,
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="Address of a Dask scheduler, e.g. "
                                                     "tcp://10.0.0.5:8786.")] = None,
    time_limit: Annotated[Optional[float], typer.Option("--time-limit", min=0, help="Per-variant limit, s.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Solve many variants (price files, --set grids); one result folder each plus sweep.csv."""
    from optimizer.pipeline import load_scenario
    from optimizer.sweep import make_variants, run_sweep

    try:
        base = load_scenario(scenario)
        variants = make_variants(prices or (), prices_dir, set_grid or ())
        target = out if out is not None else Path("results") / f"{base.name}-sweep"
        with _progress_bar(len(variants), enabled=not quiet) as tick:
            table = run_sweep(scenario, variants, target, workers=workers, scheduler=scheduler,
                              time_limit=time_limit, progress=tick)
    except KeyboardInterrupt:
        stderr().print("interrupted")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except OptimizerError as exc:
        _fail(exc)
        return
    failed = int((table["status"] != "optimal").sum())
    if not quiet:
        stdout().print(table[["variant", "status", "objective", "expected_cost", "cvar", "cash_spend"]].to_string(
            index=False))
        stdout().print(f"{len(table)} variants, {failed} not optimal; table in {target / 'sweep.csv'}")
    raise typer.Exit(0 if failed == 0 else int(ExitCode.INFEASIBLE))


@app.command("watch")
def watch_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (YAML or .xlsx).", show_default=False)],
    prices: Annotated[Optional[Path], typer.Option("--prices", help="Price CSV to watch as well.")] = None,
    sets: Annotated[Optional[list[str]], typer.Option("--set", help="Override a field: PATH=VALUE.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Result folder (default results/<name>/).")] = None,
    interval: Annotated[float, typer.Option("--interval", min=0.05, help="Seconds between checks.")] = 1.0,
) -> None:
    """Re-solve (warm) whenever the scenario or price file changes; print what changed. Ctrl-C stops."""
    import shutil
    import tempfile

    from optimizer.diff import diff_folders, render
    from optimizer.pipeline import load_scenario
    from optimizer.planner import Planner

    files = [scenario] + ([prices] if prices else [])
    planner = None
    seen = None
    try:
        while True:
            stamp = tuple(f.stat().st_mtime_ns if f.exists() else None for f in files)
            if stamp != seen:
                seen = stamp
                try:
                    sc = load_scenario(scenario, sets or (), prices)
                    if planner is None:
                        planner = Planner(sc)
                    else:
                        planner.update(sc)
                    solution = planner.solve()
                    if solution.summary.get("objective") is None:
                        raise _no_solution(solution)
                    target = out if out is not None else Path("results") / sc.name
                    with tempfile.TemporaryDirectory() as scratch:
                        previous = Path(scratch) / "previous"
                        had = target.is_dir()
                        if had:
                            shutil.copytree(target, previous, dirs_exist_ok=True)
                        solution.write(target)
                        stdout().print(f"[{time.strftime('%H:%M:%S')}] {solution.status}: objective "
                                     f"{solution.objective:,.2f} -> {target}/", markup=False)
                        if had:
                            typer.echo(render(diff_folders(previous, target), "text"))
                except OptimizerError as exc:
                    sys.stderr.write(str(exc).rstrip("\n") + "\n(waiting for the next change)\n")
                sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        stderr().print("stopped watching")
        raise typer.Exit(0) from None


@contextlib.contextmanager
def _progress_bar(total: int, enabled: bool):
    """A progress bar on stderr when it is a terminal; yields tick(done, total)."""
    if not (enabled and stderr().is_terminal):
        yield lambda done, total: None
        return
    from rich.progress import Progress

    with Progress(console=stderr(), transient=True) as bar:
        task = bar.add_task("solving variants", total=total)
        yield lambda done, total: bar.update(task, completed=done)


@app.command("tree")
def tree_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file with a `disruptions` section.",
                                             show_default=False)],
    write_scenarios: Annotated[Optional[Path], typer.Option("--write-scenarios", help="Write the same scenario "
                                                            "with the generated `scenarios:` list to FILE.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the tree as JSON (tree.json of a result folder).")
                       ] = False,
) -> None:
    """Print the scenario tree a `disruptions` section generates: scenarios, probabilities, events, branching."""
    from optimizer.disruptions import tree_command as show_tree

    try:
        typer.echo(show_tree(scenario, write_scenarios, as_json), nl=False)
    except OptimizerError as exc:
        _fail(exc)


@app.command("report")
def report_command(
    folder: Annotated[Path, typer.Argument(help="Result folder written by `optimize`.", show_default=False)],
) -> None:
    """Write FOLDER/report.html (self-contained, opens offline) and the charts in FOLDER/charts/."""
    from optimizer.report import write_report

    try:
        path = write_report(folder)
    except OptimizerError as exc:
        _fail(exc)
        return
    typer.echo(f"Report written to {path}")


def _exit(code: int) -> None:
    """Exit at once once output is flushed: results are already fsynced and renamed into place, and
    tearing down a large model's objects costs up to half a second (benchmarks/README.md)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code))


def main() -> None:
    """Console entry point: no traceback for domain errors; internal errors exit 4."""
    try:
        code = app(standalone_mode=False)
        _exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        _exit(exc.exit_code)
    except typer.Abort:
        stderr().print("interrupted")
        sys.exit(int(ExitCode.INTERRUPTED))
    except NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(0)
    except ClickException as exc:  # usage errors: unknown option, missing argument
        exc.show()
        sys.exit(int(ExitCode.BAD_INPUT))
    except KeyboardInterrupt:
        stderr().print("interrupted")
        sys.exit(int(ExitCode.INTERRUPTED))
    except OptimizerError as exc:
        sys.stderr.write(str(exc).rstrip("\n") + "\n")
        sys.exit(int(exc.exit_code))
    except Exception as exc:  # noqa: BLE001 - last resort: no traceback for users
        if os.environ.get("OPTIMIZE_DEBUG"):
            raise
        sys.stderr.write(f"internal error: {type(exc).__name__}: {exc} (set OPTIMIZE_DEBUG=1 for a traceback)\n")
        sys.exit(int(ExitCode.FAILURE))


if __name__ == "__main__":
    main()
