"""Faults and hard limits: killed or interrupted runs keep the previous results; time limits; warnings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml as pyyaml

from conftest import scenario
from test_cli import EMBARGO, run_cli, write_scenario

# Runs the CLI with a slow write (every fsync sleeps), a slow solve (HiGHS "runs" for a while), or a
# slow import of one module (`slow-import:typer`: while the command line loads), so that a signal
# lands in that stage. Only the test harness is patched, never the code under test.
WRAPPER = """
import os, sys, time
mode = sys.argv[1]
if mode.startswith("slow-import:"):
    slow_module = mode.split(":", 1)[1]
    class SlowImport:
        def find_spec(self, name, path=None, target=None):
            if name == slow_module:
                sys.meta_path.remove(self)
                print("importing", flush=True)
                time.sleep(60)
            return None
    sys.meta_path.insert(0, SlowImport())
elif mode == "slow-write":
    real = os.fsync
    def slow(fd):
        time.sleep(0.4)
        real(fd)
    os.fsync = slow
elif mode == "slow-solve":
    import highspy
    real_wait = highspy.Highs.wait
    def wait(self, timeout=-1.0):
        if not getattr(self, "_announced", False):
            self._announced = True
            sys.stdout.write("solving\\n")  # one write: print's text and newline interleave across workers
            sys.stdout.flush()
        time.sleep(timeout if timeout > 0 else 0.05)
        return (False, None) if not getattr(self, "_cancelled", False) else real_wait(self, timeout)
    real_cancel = highspy.Highs.cancelSolve
    def cancel(self):
        self._cancelled = True
        real_cancel(self)
    highspy.Highs.wait = wait
    highspy.Highs.cancelSolve = cancel
print("ready", flush=True)
sys.argv = ["optimize", *sys.argv[2:]]
from optimizer.entry import main
main()
"""


def start(tmp_path: Path, mode: str, *args: str) -> subprocess.Popen:
    script = tmp_path / "wrapper.py"
    script.write_text(WRAPPER)
    proc = subprocess.Popen([sys.executable, str(script), mode, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def wait_for_temporary(folder: Path) -> None:
    """Until a run has started writing its temporary folder in `folder` (at most a minute)."""
    deadline = time.time() + 60
    while not list(folder.glob(".optimize-tmp-*")) and time.time() < deadline:
        time.sleep(0.02)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def previous_results(tmp_path: Path) -> tuple[Path, Path, dict[str, bytes]]:
    """Solve once to make 'last week's results', and a changed input to re-run over them."""
    out = tmp_path / "out"
    first = write_scenario(tmp_path / "old.yaml", EMBARGO)
    assert run_cli(str(first), "--out", str(out), "-q").returncode == 0
    changed = dict(EMBARGO, sources=[dict(EMBARGO["sources"][0], price=12), EMBARGO["sources"][1]])
    return out, write_scenario(tmp_path / "new.yaml", changed), snapshot(out)


def test_sigkill_while_writing_keeps_previous_results(tmp_path):
    """SIGKILL in the middle of writing: the old folder is intact, nothing half-written in its place,
    and the next run removes the dead run's temporary folder and writes normally."""
    out, new, before = previous_results(tmp_path)
    proc = start(tmp_path, "slow-write", str(new), "--out", str(out), "-q")
    wait_for_temporary(tmp_path)
    time.sleep(0.5)  # some files written, not all
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert snapshot(out) == before
    leftovers = list(tmp_path.glob(".optimize-tmp-*"))
    assert leftovers, "the kill should have landed while writing"
    assert run_cli(str(new), "--out", str(out), "-q").returncode == 0
    assert not list(tmp_path.glob(".optimize-*"))
    assert snapshot(out)["purchases.csv"] != before["purchases.csv"]


def test_ctrl_c_while_writing_exits_130_and_keeps_previous_results(tmp_path):
    """SIGINT while writing: exit 130, old folder intact, temporary folder removed."""
    out, new, before = previous_results(tmp_path)
    proc = start(tmp_path, "slow-write", str(new), "--out", str(out), "-q")
    wait_for_temporary(tmp_path)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert snapshot(out) == before
    assert not list(tmp_path.glob(".optimize-*"))


def test_ctrl_c_while_solving_cancels_and_exits_130(tmp_path):
    """SIGINT while HiGHS runs: the solve is cancelled, exit 130, previous results untouched."""
    out, new, before = previous_results(tmp_path)
    proc = start(tmp_path, "slow-solve", str(new), "--out", str(out), "-q")
    assert proc.stdout.readline().strip() == "solving"  # HiGHS has started: interrupt it now
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert snapshot(out) == before


@pytest.mark.parametrize("module, sig, code, line", [
    ("typer", signal.SIGINT, 130, "interrupted"),  # Python is still loading the command line
    ("optimizer.pipeline", signal.SIGINT, 130, "interrupted: the previous results are as they were"),  # run starts
    ("typer", signal.SIGTERM, 143, "terminated"),
])
def test_signal_during_start_up_is_one_line_and_the_conventional_code(tmp_path, module, sig, code, line):
    """Ctrl-C (or SIGTERM) while modules load or the scenario is validated: one line on stderr, no
    traceback, exit 130 (143 for SIGTERM), previous results untouched."""
    out, new, before = previous_results(tmp_path)
    proc = start(tmp_path, f"slow-import:{module}", str(new), "--out", str(out), "-q")
    assert proc.stdout.readline().strip() == "importing"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (code, line + "\n")
    assert snapshot(out) == before


@pytest.mark.parametrize("mode", ["slow-solve", "slow-write"])
def test_sigterm_is_handled_like_ctrl_c(tmp_path, mode):
    """SIGTERM (CI cancel, `docker stop`) while solving or writing: the same clean-up as Ctrl-C (solve
    cancelled, temporary folder removed, previous results kept), one line, exit 143."""
    out, new, before = previous_results(tmp_path)
    proc = start(tmp_path, mode, str(new), "--out", str(out), "-q")
    if mode == "slow-solve":
        assert proc.stdout.readline().strip() == "solving"
    else:
        wait_for_temporary(tmp_path)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (143, "terminated: the previous results are as they were\n")
    assert snapshot(out) == before
    assert not list(tmp_path.glob(".optimize-*"))


def test_ctrl_c_stops_a_sweep_and_its_worker_processes(tmp_path):
    """Ctrl-C while worker processes solve: exit 130 with one line (no traceback from any worker), the
    workers are stopped, the previous sweep folder is as it was and no temporary is left."""
    scenario_file = write_scenario(tmp_path / "s.yaml", EMBARGO)
    prices = []
    for i in range(3):
        prices.append(tmp_path / f"p{i}.csv")
        prices[-1].write_text(f"source,price\ncn,{10 + i}\n")
    out = tmp_path / "sweep"
    assert run_cli("sweep", str(scenario_file), "--prices", *map(str, prices), "--out", str(out), "-q").returncode == 0
    before = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    proc = start(tmp_path, "slow-solve", "sweep", str(scenario_file), "--prices", *map(str, prices[:2]), "--out",
                 str(out), "--workers", "2", "-q")
    assert proc.stdout.readline().strip() == "solving"
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (130, "interrupted: the previous results are as they were\n")
    assert {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not list(tmp_path.glob(".optimize-*"))


def test_time_limit_without_solution_exits_3_and_writes_nothing(tmp_path):
    """A zero time limit stops HiGHS before any plan: exit 3, a message, no folder written."""
    path = write_scenario(tmp_path / "s.yaml", EMBARGO)
    proc = run_cli(str(path), "--out", str(tmp_path / "out"), "--time-limit", "0")
    assert proc.returncode == 3, proc.stderr
    assert "time limit" in proc.stderr and not (tmp_path / "out").exists()


def test_time_limit_with_feasible_point_is_written_as_not_optimal(tmp_path, monkeypatch):
    """When HiGHS stops at the time limit holding a feasible plan, it is written with status time_limit."""
    import optimizer
    from optimizer.solve import SolverSession, SolveStatus

    real = SolverSession._status

    def limited(self):
        status = real(self)
        return SolveStatus.TIME_LIMIT if status == SolveStatus.OPTIMAL else status

    monkeypatch.setattr(SolverSession, "_status", limited)
    sol = optimizer.solve(EMBARGO)
    assert sol.status == "time_limit" and sol.summary["status"] == "time_limit"
    assert not sol.purchases.empty
    sol.write(tmp_path / "out")
    assert '"status": "time_limit"' in (tmp_path / "out" / "summary.json").read_text()


def test_wide_coefficient_range_warns_naming_fields(tmp_path):
    """Prices per kg with a penalty per tonne-scale value: a warning names both fields."""
    data = scenario(materials=[{"id": "dy", "demand": 10, "shortfall_penalty": 5e12,
                                "stockpile": {"holding_cost": 0.001}}])
    proc = run_cli(str(write_scenario(tmp_path / "s.yaml", data)), "--out", str(tmp_path / "o"))
    assert proc.returncode == 0
    assert "warning: objective coefficients span" in proc.stderr
    assert "shortfall penalty of dy" in proc.stderr and "holding cost of dy" in proc.stderr


def test_scenario_name_cannot_escape_the_results_folder():
    """The default output folder comes from the validated name, which cannot contain path separators."""
    import pytest

    from optimizer.checks import validate
    from optimizer.errors import ScenarioError

    for name in ("../evil", "a/b", "..", "/etc"):
        with pytest.raises(ScenarioError):
            validate(scenario(name=name))


def test_yaml_loaded_without_object_construction(tmp_path):
    """A YAML python tag is rejected as bad input (exit 1), never executed."""
    marker = tmp_path / "pwned"
    text = pyyaml.safe_dump(EMBARGO) + f"description: !!python/object/apply:os.system ['touch {marker}']\n"
    path = tmp_path / "s.yaml"
    path.write_text(text)
    proc = run_cli(str(path), "--out", str(tmp_path / "o"))
    assert proc.returncode == 1 and not marker.exists() and "Traceback" not in proc.stderr
