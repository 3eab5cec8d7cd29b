"""Faults and hard limits: killed or interrupted runs keep the previous results; time limits; warnings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml as pyyaml

from conftest import scenario
from test_cli import EMBARGO, run_cli, write_scenario

# Runs the CLI with a slow write (every fsync sleeps), or a slow solve (HiGHS "runs" for a while),
# so that a signal lands in that stage. Only the test harness is patched, never the code under test.
WRAPPER = """
import os, sys, time
import highspy
mode = sys.argv[1]
if mode == "slow-write":
    real = os.fsync
    def slow(fd):
        time.sleep(0.4)
        real(fd)
    os.fsync = slow
elif mode == "slow-solve":
    real_wait = highspy.Highs.wait
    def wait(self, timeout=-1.0):
        if not getattr(self, "_announced", False):
            self._announced = True
            print("solving", flush=True)
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
from optimizer.cli import main
main()
"""


def start(tmp_path: Path, mode: str, *args: str) -> subprocess.Popen:
    script = tmp_path / "wrapper.py"
    script.write_text(WRAPPER)
    proc = subprocess.Popen([sys.executable, str(script), mode, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


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
    deadline = time.time() + 60
    while not list(tmp_path.glob(".out.tmp-*")) and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)  # some files written, not all
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert snapshot(out) == before
    leftovers = list(tmp_path.glob(".out.tmp-*"))
    assert leftovers, "the kill should have landed while writing"
    assert run_cli(str(new), "--out", str(out), "-q").returncode == 0
    assert not list(tmp_path.glob(".out.*"))
    assert snapshot(out)["purchases.csv"] != before["purchases.csv"]


def test_ctrl_c_while_writing_exits_130_and_keeps_previous_results(tmp_path):
    """SIGINT while writing: exit 130, old folder intact, temporary folder removed."""
    out, new, before = previous_results(tmp_path)
    proc = start(tmp_path, "slow-write", str(new), "--out", str(out), "-q")
    deadline = time.time() + 60
    while not list(tmp_path.glob(".out.tmp-*")) and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert snapshot(out) == before
    assert not list(tmp_path.glob(".out.*"))


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
