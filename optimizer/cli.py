"""Typer commands: parse arguments, call the stages, print; outcomes become exit codes through the one
table in optimizer.errors (EXIT_CODES). No logic of the tool lives here."""

from __future__ import annotations

import contextlib
import difflib
import errno
import functools
import gc
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from typer.core import TyperGroup

from optimizer.errors import ExitCode, OptimizerError, UsageError, exit_code

if TYPE_CHECKING:
    from rich.console import Console

# Options that take several files the way a shell glob hands them over (SPEC section 5):
# `sweep S.yaml --prices a.csv b.csv` is read as `--prices a.csv --prices b.csv`.
FILE_LIST_OPTIONS = {"sweep": ("--prices",)}
# What a command interrupted by Ctrl-C or SIGTERM adds to its one line on stderr.
STOPPED = {
    "run": "the previous results are as they were",
    "sweep": "the previous results are as they were",
    "simulate": "the previous results are as they were",
    "watch": "stopped watching; the last plan written stays",
}
FORCE_HELP = "Replace --out even when it is not a result folder of optimize (its files are deleted)."


def spread_file_lists(args: Sequence[str], options: Sequence[str]) -> list[str]:
    """Repeat a file-list option before each further file: `--prices a b -q` -> `--prices a --prices b -q`.
    A list ends at the next option or at `--`."""
    out: list[str] = []
    option, taken = None, 0
    for i, arg in enumerate(args):
        if arg == "--":
            out.extend(args[i:])
            break
        if arg.startswith("-"):
            name, eq, _ = arg.partition("=")
            option, taken = (name, 1 if eq else 0) if name in options else (None, 0)
        elif option is not None:
            if taken:
                out.append(option)
            taken += 1
        out.append(arg)
    return out


def _command_hint(word: str, commands: Sequence[str]) -> str | None:
    """`valdate` -> `validate`: a close command name for a word that cannot be a scenario path."""
    if "/" in word or "." in word or os.path.exists(word):
        return None
    match = difflib.get_close_matches(word, commands, n=1, cutoff=0.75)
    return match[0] if match else None


class _Stopped(Exception):
    """Ctrl-C or SIGTERM inside a command, carried past Typer (which would make it a silent exit 130)."""

    def __init__(self, command: str | None):
        super().__init__(command)
        self.command = command


# `\[`: Typer reads help as rich markup, where `[0]` would be taken for a tag and vanish.
SET_HELP = ("Override a field before validation: PATH=VALUE, e.g. risk.aversion=0.5 or sources\\[0].price=400000 "
            "(list items by index or by id; repeatable).")
PRICES_HELP = "CSV `source,price` or `source,from,price` replacing those sources' prices."


class DefaultRunGroup(TyperGroup):
    """`optimize SCENARIO.yaml ...` is `optimize run SCENARIO.yaml ...` (the default command); file-list
    options take several files; a mistyped command gets a hint."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if not args:
            typer.echo(ctx.get_help())
            ctx.exit(0)
        if args[0] not in self.commands and not args[0].startswith("-"):
            hint = _command_hint(args[0], self.list_commands(ctx))
            if hint:
                ctx.fail(f"no command `{args[0]}`; did you mean `{hint}`?")
            args = ["run", *args]
        if args[0] in FILE_LIST_OPTIONS:
            args = [args[0], *spread_file_lists(args[1:], FILE_LIST_OPTIONS[args[0]])]
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        """Run the command; a domain error (or an OSError on a file it reads) is one message on stderr
        and its exit code (EXIT_CODES), never a traceback."""
        debug = bool(os.environ.get("OPTIMIZE_DEBUG"))
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise _Stopped(ctx.invoked_subcommand) from None
        except OptimizerError as exc:
            if debug and exc.__cause__ is not None:
                raise
            sys.stderr.write(str(exc).rstrip("\n") + "\n")
            raise typer.Exit(int(exc.exit_code)) from None
        except OSError as exc:  # the result folder's own errors are OutputPathError
            if debug or exc.errno == errno.EPIPE:  # a closed pipe (`| head`): Typer exits quietly
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            sys.stderr.write(f"{where}{(exc.strerror or str(exc)).lower()}\n")
            raise typer.Exit(int(ExitCode.BAD_INPUT)) from None


app = typer.Typer(
    cls=DefaultRunGroup,
    add_completion=False,
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


def _warn(warnings: Sequence[str]) -> None:
    for warning in warnings:
        sys.stderr.write(f"warning: {warning}\n")


@app.command("run")
def run_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (YAML or .xlsx).", show_default=False)],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Result folder (default results/<name>/).")] = None,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
    time_limit: Annotated[Optional[float], typer.Option("--time-limit", min=0, help="Solver time limit, seconds.")] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="Solver threads.")] = None,
    mip_gap: Annotated[float, typer.Option("--mip-gap", min=0, help="With min_order, fixed_cost or expansion.unit "
                                           "(a MILP): stop within this relative gap of the best bound.")] = 1e-4,
    relax: Annotated[bool, typer.Option("--relax", help="Solve the linear relaxation instead: orders and modules "
                                        "may be fractional (labelled in summary.json).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary and no progress.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print summary.json to stdout instead of tables.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show HiGHS's own log on stderr.")] = False,
    route: Annotated[str, typer.Option("--route", hidden=True, help="Hand-off route: direct or pyomo.")] = "direct",
    extension: Annotated[Optional[Path], typer.Option("--extension", help="Python file with extend(model, data): "
                                                      "constraints and objective terms of your own, added to the "
                                                      "Pyomo model before the solve (docs/extensions.md).")] = None,
    prices: Annotated[Optional[Path], typer.Option("--prices", help=PRICES_HELP)] = None,
    sets: Annotated[Optional[list[str]], typer.Option("--set", help=SET_HELP)] = None,
    baseline: Annotated[Optional[Path], typer.Option("--baseline", help="Result folder of the previous plan: "
                                                     "stay as close to its purchases as the gap allows.")] = None,
    stability_gap: Annotated[float, typer.Option("--stability-gap", min=0, help="Relative objective slack "
                                                 "allowed for stability with --baseline.")] = 0.001,
    fmt: Annotated[str, typer.Option("--format", help="Table formats, comma-separated: csv, json, parquet, xlsx "
                                     "(summary.json, scenario.json and run.json are always written).")] = "csv,json",
    report: Annotated[bool, typer.Option("--report", help="Also write report.html and charts/ in the folder.")] = False,
    analyze: Annotated[bool, typer.Option("--analyze", help="Also write analysis.json: decide-now decisions, "
                                          "what foresight and hedging are worth, break-even prices and ranges "
                                          "(docs/analytics.md).")] = False,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Processes for --analyze's per-scenario "
                                         "solves.")] = 1,
) -> None:
    """Validate, build, solve and write the result folder; print a summary."""
    from optimizer.destination import check_destination
    from optimizer.errors import no_plan_error
    from optimizer.export import write_results
    from optimizer.pipeline import load_scenario, solve
    from optimizer.solve import SolverOptions

    # One solve, then exit: cyclic GC stays off for the whole run. Its garbage is small, while each
    # collection walks the ~0.5M objects pandas, pyarrow and pydantic create (25-50 ms at medium).
    gc.disable()

    stages = Stages(not quiet)
    formats = parse_formats(fmt)
    clock = time.perf_counter()
    sc = load_scenario(scenario, sets or (), prices)
    # Everything that can be checked is checked before solving: the destination, the baseline, the report.
    dest = check_destination(out if out is not None else Path("results") / sc.name, force=force,
                             inputs=[p for p in (scenario, prices, extension) if p is not None])
    if baseline is not None:
        from optimizer.stability import read_baseline

        read_baseline(baseline)
    if report:
        from optimizer.report import check_report_support

        check_report_support()
    stages.done("validate", time.perf_counter() - clock)
    options = SolverOptions(time_limit=time_limit, threads=threads, verbose=verbose and not quiet, mip_gap=mip_gap,
                            relax=relax)
    solution = solve(sc, options, route="pyomo" if route == "pyomo" else "direct", extension=extension,
                     progress=stages.done, baseline=baseline, stability_gap=stability_gap, analyze=analyze,
                     workers=workers)
    if not quiet:
        _warn(solution.run.get("warnings", []))
    if solution.summary.get("objective") is None:
        raise no_plan_error(solution.status, solution.explanation)
    clock = time.perf_counter()
    target = write_results(solution, dest, formats, report=report)
    stages.done("write", time.perf_counter() - clock)
    if as_json:
        typer.echo(json.dumps(solution.summary, sort_keys=True, indent=2))
    elif not quiet:
        from optimizer.summary import print_summary

        print_summary(stdout(), solution, target)
        if report:
            stdout().print(f"Report written to {target / 'report.html'}")
    raise typer.Exit(int(exit_code(solution.status.outcome)))


@app.command("validate")
def validate_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (YAML or .xlsx).", show_default=False)],
    sets: Annotated[Optional[list[str]], typer.Option("--set", help=SET_HELP)] = None,
    prices: Annotated[Optional[Path], typer.Option("--prices", help=PRICES_HELP)] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors (exit 1 if any).")] = False,
    plausibility: Annotated[bool, typer.Option("--plausibility", help="Also compare the scenario with cited figures: "
                                               "sources above their country's production or exports, min_share "
                                               "limits adding up to more than 100 %, demand far from consumption "
                                               "(warnings; docs/model.md).")] = False,
    reference: Annotated[Optional[Path], typer.Option("--reference", help="Reference table for --plausibility "
                                                      "(default data/production.csv beside SCENARIO).")] = None,
    supply_share: Annotated[Optional[float], typer.Option("--supply-share", min=0, help="--plausibility: flag "
                                                          "sources of one country above this share of its cited "
                                                          "production or exports [default: 1.0].")] = None,
    demand_factor: Annotated[Optional[float], typer.Option("--demand-factor", min=1, help="--plausibility: flag "
                                                           "demand outside [cited / F, cited x F] of consumption "
                                                           "[default: 2.0].")] = None,
) -> None:
    """Check a scenario file (with --set and --prices as a run applies them); list every problem at once
    (exit 1 if any), then every warning (exit 1 under --strict). Nothing is solved."""
    from optimizer.checks import located_warnings, scenario_warnings
    from optimizer.pipeline import load_located

    given = [name for name, value in (("--reference", reference), ("--supply-share", supply_share),
                                      ("--demand-factor", demand_factor)) if value is not None]
    if given and not plausibility:
        raise UsageError(f"{', '.join(given)} only applies with --plausibility")
    sc, smap = load_located(scenario, sets or (), prices)
    warnings = scenario_warnings(sc)
    checked = None
    if plausibility:
        from optimizer import plausibility as plaus

        table = plaus.reference_path(scenario, reference)
        figures = plaus.read_reference(table)
        thresholds = plaus.Thresholds(supply_share=plaus.SUPPLY_SHARE if supply_share is None else supply_share,
                                      demand_factor=plaus.DEMAND_FACTOR if demand_factor is None else demand_factor)
        found = plaus.plausibility_findings(sc, figures, thresholds)
        warnings += located_warnings(sc, found, smap)
        checked = f"plausibility: {len(found)} finding{'s' if len(found) != 1 else ''} against {table}"
    _warn(warnings)
    if strict and warnings:
        raise UsageError(f"{scenario}: {len(warnings)} warning{'s' if len(warnings) != 1 else ''}, "
                         "errors under --strict")
    counts = [(len(sc.materials), "material"), (len(sc.sources), "source"), (len(sc.processors), "processor"),
              (len(sc.cases), "scenario"), (sc.horizon.periods, sc.horizon.period)]
    words = ", ".join(f"{n} {what}{'s' if n != 1 else ''}" for n, what in counts)
    typer.echo(f"{scenario}: valid ({words} from {sc.horizon.start})")
    if checked is not None:
        typer.echo(checked)


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

    typer.echo(f"{scenario} -> {convert_file(scenario, to=to, out=out, force=force)}")


@app.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the scenario file (for editors)."""
    from optimizer.spec import Scenario

    typer.echo(json.dumps(Scenario.model_json_schema(by_alias=True), indent=2, sort_keys=True))


def parse_formats(text: str) -> tuple[str, ...]:
    """`csv,parquet` -> ("csv", "parquet"); an unknown format is bad input (exit 1)."""
    from optimizer.export import FORMATS

    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise UsageError(f"--format {text!r}: use a comma-separated list of {', '.join(FORMATS)}")
    return formats


@app.command("diff")
def diff_command(
    old: Annotated[Path, typer.Argument(help="Result folder before.", show_default=False)],
    new: Annotated[Path, typer.Argument(help="Result folder after.", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", "-f", help="md (a pull-request comment), text or json.")] = "md",
    tolerance: Annotated[float, typer.Option("--tolerance", min=0, help="Hide plan changes (quantities, money) of at "
                                             "most this size; every input change is shown.")] = 1e-6,
    fail_on_change: Annotated[bool, typer.Option("--fail-on-change", help="Exit 1 when an input or (beyond the "
                                                 "tolerance) the plan changed.")] = False,
    top: Annotated[int, typer.Option("--top", min=1, help="Rows shown per section (md, text).")] = 10,
) -> None:
    """What changed between two result folders: cost, shortfall, spend by region, purchases, inputs."""
    from optimizer.diff import diff_folders, render

    if fmt not in ("md", "markdown", "text", "json"):
        raise UsageError(f"unknown --format {fmt!r}: use md, text or json")
    result = diff_folders(old, new, tolerance=tolerance)
    typer.echo(render(result, fmt, top=top), nl=False)
    raise typer.Exit(1 if fail_on_change and result.changed else 0)


@app.command("sweep")
def sweep_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (YAML or .xlsx).", show_default=False)],
    prices: Annotated[Optional[list[Path]], typer.Option("--prices", help="Price CSV files, one variant each "
                                                         "(named after the file's stem): `--prices a.csv b.csv`, "
                                                         "`--prices prices/*.csv` or repeated.")] = None,
    prices_dir: Annotated[Optional[Path], typer.Option("--prices-dir", help="Every *.csv in this folder.")] = None,
    set_grid: Annotated[Optional[list[str]], typer.Option("--set-grid", help="PATH=v1,v2,...: one variant per "
                                                          "value (grids combine).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder (default results/<name>-sweep/).")] = None,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Parallel processes.")] = 1,
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="Address of a Dask scheduler, e.g. "
                                                     "tcp://10.0.0.5:8786.")] = None,
    time_limit: Annotated[Optional[float], typer.Option("--time-limit", min=0, help="Per-variant limit, s.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Solve many variants (price files, --set grids); one result folder each plus sweep.csv."""
    from optimizer.pipeline import load_scenario
    from optimizer.sweep import make_variants, prepare_variants, solve_sweep, sweep_destination, sweep_exit_code

    base = load_scenario(scenario)
    variants = make_variants(prices or (), prices_dir, set_grid or ())
    dest = sweep_destination(out if out is not None else Path("results") / f"{base.name}-sweep", variants,
                             force=force, inputs=[scenario])
    prepared = prepare_variants(scenario, variants)
    for p in prepared:
        if p.problem is not None:
            sys.stderr.write(f"variant {p.variant.name}: {p.problem}\n")
    with _progress_bar(len(variants), enabled=not quiet) as tick:
        table = solve_sweep(prepared, dest, workers=workers, scheduler=scheduler, time_limit=time_limit,
                            progress=tick)
    if not quiet:
        failed = int((table["status"] != "optimal").sum())
        stdout().print(table[["variant", "status", "objective", "expected_cost", "cvar", "cash_spend"]].to_string(
            index=False, float_format=lambda v: f"{v:,.2f}", na_rep="-"), markup=False)
        stdout().print(f"{len(table)} variants, {failed} not optimal; table in {dest.path / 'sweep.csv'}",
                       markup=False)
    raise typer.Exit(int(sweep_exit_code(list(table["status"]))))


@app.command("watch")
def watch_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (YAML or .xlsx).", show_default=False)],
    prices: Annotated[Optional[Path], typer.Option("--prices", help="Price CSV to watch as well.")] = None,
    sets: Annotated[Optional[list[str]], typer.Option("--set", help="Override a field: PATH=VALUE.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Result folder (default results/<name>/).")] = None,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.05, help="Seconds between checks.")] = 1.0,
) -> None:
    """Re-solve (warm) whenever the scenario or price file changes; print what changed. Ctrl-C stops."""
    from optimizer.watch import watch

    for update in watch(scenario, prices, sets or (), out, interval, force):
        if update.error is not None:
            sys.stderr.write(str(update.error).rstrip("\n") + "\n(waiting for the next change)\n")
        else:
            stdout().print(f"[{time.strftime('%H:%M:%S')}] {update.status}: objective {update.objective:,.2f} "
                           f"-> {update.folder}/", markup=False)
            if update.diff is not None:
                typer.echo(update.diff)
        sys.stdout.flush()


@contextlib.contextmanager
def _progress_bar(total: int, enabled: bool, label: str = "solving variants"):
    """A progress bar with the time remaining on stderr when it is a terminal; yields tick(done, total)."""
    if not (enabled and stderr().is_terminal):
        yield lambda done, total: None
        return
    from rich.progress import Progress

    with Progress(console=stderr(), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done, total: bar.update(task, completed=done, total=total)


@app.command("simulate")
def simulate_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (YAML or .xlsx).", show_default=False)],
    futures: Annotated[int, typer.Option("--futures", "-n", min=1, help="Futures to draw.", show_default=False)],
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the draw (independent of the tree's).")] = 0,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Parallel processes.")] = 1,
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="Address of a Dask scheduler, e.g. "
                                                     "tcp://10.0.0.5:8786.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder (default results/<name>-simulate/).")] = None,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary and no progress.")] = False,
) -> None:
    """Stress-test the plan out of sample: rolling, naive and static policies played in N drawn futures."""
    from optimizer.simulate import simulate_command as simulate
    from optimizer.simulate_output import render_summary

    with _progress_bar(futures, enabled=not quiet, label="playing futures") as tick:
        result, target = simulate(scenario, futures, seed, workers, scheduler, out, progress=tick, force=force)
    if not quiet:
        typer.echo(render_summary(result, target), nl=False)


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

    typer.echo(show_tree(scenario, write_scenarios, as_json), nl=False)


@app.command("frontier")
def frontier_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (YAML or .xlsx).", show_default=False)],
    points: Annotated[int, typer.Option("--points", min=2, help="Risk aversions from 0 to 1, evenly spaced.")] = 11,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder (default results/<name>-frontier/).")] = None,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
    sets: Annotated[Optional[list[str]], typer.Option("--set", help="Override a field: PATH=VALUE.")] = None,
    time_limit: Annotated[Optional[float], typer.Option("--time-limit", min=0, help="Per-solve limit, s.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """The cost-risk frontier: frontier.csv and frontier.png, the plan at risk aversion 0 to 1."""
    from optimizer.destination import check_destination
    from optimizer.frontier import frontier, write_frontier
    from optimizer.pipeline import load_scenario
    from optimizer.solve import SolverOptions

    sc = load_scenario(scenario, sets or ())
    dest = check_destination(out if out is not None else Path("results") / f"{sc.name}-frontier", force=force,
                             inputs=[scenario])
    table = frontier(sc, points, SolverOptions(time_limit=time_limit))
    written = write_frontier(table, sc, dest)
    if not quiet:
        stdout().print(table.to_string(index=False))
        note = "" if "frontier.png" in written else " (no chart: it needs matplotlib, the report extra)"
        stdout().print(f"Frontier written to {dest.path}/{note}")


@app.command("evaluate")
def evaluate_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (YAML or .xlsx).", show_default=False)],
    plan: Annotated[Path, typer.Option("--plan", help="Result folder of the committed plan.", show_default=False)],
    through: Annotated[Optional[str], typer.Option("--through", help="YYYY-MM: fix the decisions of every period "
                                                   "before it (default: the decide-now periods).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder (default results/<name>-evaluate/).")] = None,
    force: Annotated[bool, typer.Option("--force", help=FORCE_HELP)] = False,
    sets: Annotated[Optional[list[str]], typer.Option("--set", help="Override a field: PATH=VALUE.")] = None,
    prices: Annotated[Optional[Path], typer.Option("--prices", help="Price CSV replacing those sources' prices.")] = None,
    time_limit: Annotated[Optional[float], typer.Option("--time-limit", min=0, help="Solver time limit, s.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print summary.json to stdout instead of tables.")] = False,
) -> None:
    """A committed plan re-optimised around: its decisions before --through fixed, the rest free;
    summary.json adds `regret` (its objective minus the free optimum's)."""
    from optimizer.analytics import evaluate
    from optimizer.destination import check_destination
    from optimizer.errors import no_plan_error
    from optimizer.export import write_results
    from optimizer.pipeline import load_scenario
    from optimizer.solve import SolverOptions

    sc = load_scenario(scenario, sets or (), prices)
    dest = check_destination(out if out is not None else Path("results") / f"{sc.name}-evaluate", force=force,
                             inputs=[p for p in (scenario, prices, plan) if p is not None])
    solution = evaluate(sc, plan, through, SolverOptions(time_limit=time_limit))
    if solution.summary.get("objective") is None:
        raise no_plan_error(solution.status, solution.explanation)
    target = write_results(solution, dest)
    if as_json:
        typer.echo(json.dumps(solution.summary, sort_keys=True, indent=2))
    elif not quiet:
        from optimizer.summary import print_summary

        print_summary(stdout(), solution, target)
    raise typer.Exit(int(exit_code(solution.status.outcome)))


@app.command("report")
def report_command(
    folder: Annotated[Path, typer.Argument(help="Result folder written by `optimize`.", show_default=False)],
) -> None:
    """Write FOLDER/report.html (self-contained, opens offline) and the charts in FOLDER/charts/."""
    from optimizer.report import write_report

    typer.echo(f"Report written to {write_report(folder)}")


def run(args: Sequence[str]) -> int:
    """Run the command line on `args` and return the exit code: every failure a user can cause is one
    message and its code (EXIT_CODES), never a traceback; anything unexpected is exit 4."""
    from optimizer.entry import stopped

    try:
        code = app(args=list(args), prog_name="optimize", standalone_mode=False)
    except _Stopped as exc:
        return stopped(STOPPED.get(exc.command or ""))
    except typer.Abort:  # Click's own interrupt (at a prompt)
        return stopped()
    except typer.TyperException as exc:  # Click's usage errors: unknown option, missing argument, bad value
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            sys.stderr.write(f"Error: {exc.format_message()}\n")
        return int(ExitCode.BAD_INPUT)
    except Exception as exc:  # noqa: BLE001 - last resort: no traceback for users
        if os.environ.get("OPTIMIZE_DEBUG"):
            raise
        sys.stderr.write(f"internal error: {type(exc).__name__}: {exc} (set OPTIMIZE_DEBUG=1 for a traceback)\n")
        return int(ExitCode.FAILURE)
    if code == ExitCode.INTERRUPTED:  # Typer's exit for a signal that landed while it parsed arguments
        return stopped()
    return code if isinstance(code, int) else 0
