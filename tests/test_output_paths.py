"""Where results go: only a result folder of optimize is ever replaced, checked before solving, in one
atomic swap (report included), through symlinks, with the user's umask; every path problem is exit 1
naming the path and the reason. Real subprocess runs: these are promises about the file system."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import scenario
from test_cli import EMBARGO, write_scenario

# A hard target above the stock capacity: infeasible. A run that reports a path problem with exit 1
# on it (not 2) has checked the path before solving.
INFEASIBLE = scenario(materials=[{"id": "dy", "demand": 0,
                                  "stockpile": {"capacity": 5, "target": 8, "hard_target": True}}])


def optimize(*args: str, cwd: Path | None = None, env: dict | None = None, preexec_fn=None
             ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optimizer", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "COLUMNS": "120", **(env or {})}, preexec_fn=preexec_fn, timeout=300)


def tree(root: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) under root, by relative path."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".optimize-") or ".tmp-" in p.name)


@pytest.fixture
def work(tmp_path) -> Path:
    """A planner's working folder: scenarios/ with the scenario and a note, and last week's results."""
    root = tmp_path / "work"
    (root / "scenarios").mkdir(parents=True)
    write_scenario(root / "scenarios" / "embargo.yaml", EMBARGO)
    write_scenario(root / "scenarios" / "infeasible.yaml", INFEASIBLE)
    (root / "scenarios" / "notes.txt").write_text("keep me\n")
    assert optimize("scenarios/embargo.yaml", "--out", "plans/embargo", "-q", cwd=root).returncode == 0
    return root


# --- item 1: only a result folder of optimize is replaced ------------------------------------------


@pytest.mark.parametrize("out", ["scenarios", ".", "..", "$PWD", "/", "$HOME"])
def test_out_never_replaces_a_folder_of_the_users_not_even_with_force(work, out):
    """`--out scenarios` (holds the scenario being solved), the current folder, its parent, the root and
    the home folder are refused with exit 1 before solving, with or without --force; nothing changes."""
    home = work / "home"
    home.mkdir()
    (home / "diary.txt").write_text("private\n")
    path = {"$PWD": str(work), "$HOME": str(home)}.get(out, out)
    before = tree(work.parent)
    for force in ((), ("--force",)):
        proc = optimize("scenarios/infeasible.yaml", "--out", path, *force, cwd=work, env={"HOME": str(home)})
        assert proc.returncode == 1, proc.stderr
        assert f"cannot write the result folder {path}: it " in proc.stderr and "Traceback" not in proc.stderr
        assert tree(work.parent) == before


def test_a_folder_that_is_not_a_result_folder_needs_force(work):
    """A folder with other files is refused (exit 1, its files named, --force suggested) before solving;
    --force replaces it by a result folder; a folder holding an input file stays refused."""
    (work / "drafts").mkdir()
    (work / "drafts" / "memo.txt").write_text("draft\n")
    before = tree(work)
    proc = optimize("scenarios/infeasible.yaml", "--out", "drafts", cwd=work)
    assert proc.returncode == 1
    assert "it is not a result folder of optimize (it holds memo.txt)" in proc.stderr and "--force" in proc.stderr
    assert tree(work) == before
    proc = optimize("scenarios/embargo.yaml", "--out", "drafts", "--force", "-q", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert not (work / "drafts" / "memo.txt").exists() and (work / "drafts" / ".optimize-result").is_file()
    assert hidden(work) == []


def test_result_folders_carry_a_marker_and_legacy_ones_are_recognised_conservatively(work):
    """Every result folder holds `.optimize-result` (same bytes every run). A folder of an earlier version
    (no marker) is replaced only when it holds nothing but result files."""
    plans = work / "plans" / "embargo"
    marker = (plans / ".optimize-result").read_bytes()
    (plans / ".optimize-result").unlink()  # as an earlier version left it
    assert optimize("scenarios/embargo.yaml", "--out", str(plans), "-q", cwd=work).returncode == 0
    assert (plans / ".optimize-result").read_bytes() == marker
    (plans / ".optimize-result").unlink()
    (plans / "my-notes.md").write_text("mine\n")
    proc = optimize("scenarios/embargo.yaml", "--out", str(plans), "-q", cwd=work)
    assert proc.returncode == 1 and "my-notes.md" in proc.stderr
    assert (plans / "my-notes.md").read_text() == "mine\n"


def test_an_empty_folder_is_used(work):
    (work / "empty").mkdir()
    assert optimize("scenarios/embargo.yaml", "--out", "empty", "-q", cwd=work).returncode == 0
    assert (work / "empty" / "summary.json").is_file()


def test_sweep_never_replaces_a_folder_of_the_users(work):
    """The sweep folder is replaced as a whole, so it must be a result folder too: a folder whose
    subfolder is named like a price file but holds the user's files is refused, untouched."""
    (work / "a.csv").write_text("source,price\ncn,11\n")
    (work / "sweeps" / "a").mkdir(parents=True)
    (work / "sweeps" / "a" / "keep.txt").write_text("mine\n")
    (work / "sweeps" / "sweep.csv").write_text("variant,status\n")
    before = tree(work)
    proc = optimize("sweep", "scenarios/embargo.yaml", "--prices", "a.csv", "--out", "sweeps", cwd=work)
    assert proc.returncode == 1 and "not a result folder" in proc.stderr
    assert tree(work) == before


# --- item 2: --out through a symlink -----------------------------------------------------------------


def test_out_symlink_stays_a_symlink_and_its_folder_is_swapped(work, tmp_path):
    """`--out link` where link -> a result folder elsewhere: the link is kept, the folder it points to
    gets the new results, and no temporary is left in either place; a dead run's temporaries beside
    the real folder (this version's and an earlier version's names) are cleaned."""
    real = tmp_path / "store" / "plan"
    real.parent.mkdir()
    shutil.copytree(work / "plans" / "embargo", real)
    link = work / "current"
    link.symlink_to(real)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [real.parent / f".optimize-tmp-{dead.pid}-0badc0de", real.parent / f".plan.tmp-{dead.pid}-x1"]
    for folder in stale:
        folder.mkdir()
        (folder / "summary.json").write_text("{}")
    write_scenario(work / "scenarios" / "cheaper.yaml",
                   dict(EMBARGO, sources=[dict(EMBARGO["sources"][0], price=12), EMBARGO["sources"][1]]))
    before = (real / "purchases.csv").read_bytes()
    assert optimize("scenarios/cheaper.yaml", "--out", "current", "-q", cwd=work).returncode == 0
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert (real / "purchases.csv").read_bytes() != before
    assert hidden(work) == [] and sorted(p.name for p in real.parent.iterdir()) == ["plan"]


def test_out_dangling_symlink_creates_the_folder_it_names(work, tmp_path):
    target = tmp_path / "elsewhere" / "plan"
    (work / "next").symlink_to(target)
    assert optimize("scenarios/embargo.yaml", "--out", "next", "-q", cwd=work).returncode == 0
    assert (work / "next").is_symlink() and (target / "summary.json").is_file()


# --- item 5: --report inside the same swap -----------------------------------------------------------


def test_report_is_written_in_the_same_swap(work):
    """--report: report.html and charts/ are part of the new folder, and the report names the result
    folder (never the temporary one it was drawn from)."""
    pytest.importorskip("matplotlib")
    plans = work / "plans" / "embargo"
    assert optimize("scenarios/embargo.yaml", "--out", str(plans), "--report", "-q", cwd=work).returncode == 0
    page = (plans / "report.html").read_text()
    assert "<code>embargo</code>" in page and ".optimize-tmp" not in page
    assert sorted(p.suffix for p in (plans / "charts").iterdir()) == [".png"] * 6


def test_failing_report_leaves_the_previous_folder_intact(work, monkeypatch):
    """A report that fails: exit 4 with a message saying nothing was written; the previous folder is as
    it was and no temporary is left."""
    from typer.testing import CliRunner

    from optimizer import report
    from optimizer.cli import app

    pytest.importorskip("matplotlib")

    def broken(*args):
        raise ValueError("cannot draw")

    monkeypatch.setattr(report, "render_html", broken)
    monkeypatch.chdir(work)
    plans = work / "plans" / "embargo"
    before = tree(plans)
    result = CliRunner().invoke(app, ["scenarios/embargo.yaml", "--out", str(plans), "--report", "-q"])
    assert result.exit_code == 4
    assert "the report failed (ValueError: cannot draw); nothing was written" in result.output
    assert tree(plans) == before and hidden(plans.parent) == []


# --- item 9: destination problems before solving, in plain words -----------------------------------


@pytest.mark.parametrize("out, reason", [
    ("scenarios/notes.txt", "it exists and is not a folder"),
    ("scenarios/notes.txt/plan", "scenarios/notes.txt is a file, not a folder"),
    ("x" * 300, "the name is longer than the file system allows (300 bytes)"),
])
def test_unusable_destination_is_exit_1_before_solving(work, out, reason):
    """The infeasible scenario would exit 2 if it were solved: exit 1 proves the check came first."""
    before = tree(work)
    proc = optimize("scenarios/infeasible.yaml", "--out", out, cwd=work)
    assert proc.returncode == 1, proc.stderr
    assert reason in proc.stderr and f"cannot write the result folder {out}" in proc.stderr
    assert tree(work) == before


def test_a_long_legal_name_stays_legal(work):
    """A 250-byte name is legal: the temporary folder's name is short, so it is written."""
    assert optimize("scenarios/embargo.yaml", "--out", "p" * 250, "-q", cwd=work).returncode == 0
    assert (work / ("p" * 250) / "summary.json").is_file() and hidden(work) == []


@pytest.mark.skipif(not os.path.ismount("/dev/shm"), reason="no mount point to try")
def test_mount_point_is_refused_before_solving(work):
    proc = optimize("scenarios/infeasible.yaml", "--out", "/dev/shm", cwd=work)
    assert proc.returncode == 1 and "it is a mount point" in proc.stderr


def test_folder_without_write_permission_is_refused_before_solving(work):
    """A parent folder we may not write in (chmod as a user; immutable as root, who may write anywhere)."""
    locked = work / "locked"
    locked.mkdir()
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not available")
        undo = ["chattr", "-i", str(locked)]
    else:
        locked.chmod(0o555)
        undo = ["chmod", "755", str(locked)]
    try:
        proc = optimize("scenarios/infeasible.yaml", "--out", "locked/plan", cwd=work)
    finally:
        subprocess.run(undo, check=True)
    assert proc.returncode == 1, proc.stderr
    assert "cannot write the result folder locked/plan: permission denied" in proc.stderr
    assert list(locked.iterdir()) == []


def _file_size_limit() -> None:
    """In the child: files may not grow past 256 bytes (as on a full disk), and going past is an error
    (EFBIG), not the signal that would kill the process."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (256, 256))


def test_write_error_after_the_solve_is_exit_1_and_keeps_the_previous_folder(work):
    """An OSError while writing (here: file too large, as with a full disk) is exit 1 naming the folder
    and the reason, never "internal error"; the previous results stay, no temporary is left."""
    plans = work / "plans" / "embargo"
    before = tree(plans)
    proc = optimize("scenarios/embargo.yaml", "--out", str(plans), "-q", cwd=work, preexec_fn=_file_size_limit)
    assert proc.returncode == 1, proc.stderr
    assert f"cannot write the result folder {plans}: file too large" in proc.stderr
    assert "internal error" not in proc.stderr and "previous results" in proc.stderr
    assert tree(plans) == before and hidden(plans.parent) == []


# --- item 19: umask, parquet-only baseline -------------------------------------------------------


@pytest.mark.parametrize("umask, folder_mode, file_mode", [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)])
def test_result_folders_follow_the_umask(work, umask, folder_mode, file_mode):
    (work / "a.csv").write_text("source,price\ncn,11\n")
    for args in (("scenarios/embargo.yaml", "--out", "u"), ("sweep", "scenarios/embargo.yaml", "--prices", "a.csv",
                                                           "--out", "s")):
        proc = optimize(*args, "-q", cwd=work, preexec_fn=lambda: os.umask(umask))
        assert proc.returncode == 0, proc.stderr
    for folder in (work / "u", work / "s", work / "s" / "a"):
        assert folder.stat().st_mode & 0o777 == folder_mode, folder
        assert (folder / ".optimize-result").stat().st_mode & 0o777 == file_mode
    assert (work / "u" / "purchases.csv").stat().st_mode & 0o777 == file_mode


def test_baseline_accepts_a_parquet_only_result_folder(work):
    """--baseline reads a result folder like `optimize diff` does: Parquet tables work as CSV ones do."""
    pytest.importorskip("pyarrow")
    assert optimize("scenarios/embargo.yaml", "--out", "pq", "--format", "parquet", "-q", cwd=work).returncode == 0
    assert not list((work / "pq").glob("*.csv"))
    proc = optimize("scenarios/embargo.yaml", "--out", "next", "--baseline", "pq", "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["stability"]["baseline"] == "pq"


def test_bad_baseline_is_exit_1_before_solving(work):
    proc = optimize("scenarios/infeasible.yaml", "--out", "next", "--baseline", "scenarios", cwd=work)
    assert proc.returncode == 1 and "--baseline" in proc.stderr and "summary.json is missing" in proc.stderr
