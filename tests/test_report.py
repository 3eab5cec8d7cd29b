"""`optimize report` and `--format`: a self-contained HTML report with every chart, binding rules, parquet/xlsx.

The report is also rendered in headless Chromium (skipped when `chromium` is not installed): every
chart must decode and the page must not be blank.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml as pyyaml

from conftest import scenario
from optimizer.report import CHARTS

RICH = scenario(
    name="rich",
    horizon={"start": "2026-01", "periods": 6, "period": "quarter"},
    materials=[
        {"id": "dy", "unit": "kg", "demand": 10, "shortfall_penalty": 1000,
         "stockpile": {"initial": 0, "capacity": 15, "holding_cost": 0.1, "target": 5, "target_penalty": 50}},
        {"id": "ni", "unit": "t", "demand": 4, "shortfall_penalty": 500},
        {"id": "nodules", "unit": "t"},
    ],
    sources=[
        {"id": "cn", "material": "dy", "region": "china", "country": "CN", "price": 10, "capacity": 30},
        {"id": "au", "material": "dy", "region": "allied", "country": "AU", "price": 25, "capacity": 8,
         "expansion": {"max": 10, "capex": 20, "lead_time": 1}},
        {"id": "nod", "material": "nodules", "region": "deep_sea", "country": "INTL", "price": 1},
        {"id": "ni-ca", "material": "ni", "region": "allied", "country": "CA", "price": 60},
    ],
    processors=[{"id": "ref", "region": "domestic", "country": "US", "input": "nodules", "outputs": {"ni": 0.5},
                 "capacity": 4, "cost": 2}],
    policies=[{"type": "tariff", "rate": 1.0, "where": {"country": "CN"}}],
    budgets=[{"name": "fy26", "amount": 600, "from": "2026-01", "until": "2027-01"}],
    limits=[{"name": "cap-china", "material": "dy", "where": {"region": "china"}, "max_share": 0.5}],
    scenarios=[
        {"name": "base", "probability": 0.6},
        {"name": "ban", "probability": 0.4, "events": [{"type": "ban", "where": {"region": "china"},
                                                        "from": "2026-07"}]},
    ],
)
TABLES = ("purchases", "stockpile", "processing", "expansion", "prices")


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optimizer", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "COLUMNS": "120"})


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> Path:
    """`optimize rich.yaml --report --format csv,json,parquet,xlsx` once for the module."""
    root = tmp_path_factory.mktemp("report")
    path = root / "rich.yaml"
    path.write_text(pyyaml.safe_dump(RICH, sort_keys=False))
    out = root / "out"
    proc = run_cli(str(path), "--out", str(out), "--report", "--format", "csv,json,parquet,xlsx")
    assert proc.returncode == 0, proc.stderr
    assert f"Report written to {out / 'report.html'}" in proc.stdout
    return out


def test_report_is_self_contained_with_every_chart(result):
    """report.html embeds every chart PNG of charts/ as a data URI; no http(s) link, no script."""
    page = (result / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<script" not in page.lower() and "@import" not in page and "url(" not in page
    imgs = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(imgs) == len(CHARTS)
    for (name, _title), b64 in zip(CHARTS, imgs):
        png = (result / "charts" / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and base64.b64decode(b64) == png, name
    assert sorted(p.name for p in (result / "charts").iterdir()) == sorted(f"{n}.png" for n, _ in CHARTS)


def test_report_headline_tables_and_binding_rules(result):
    """A plain-words headline first; top purchases; the budget, share limit and capacities that bind."""
    page = (result / "report.html").read_text()
    lead = page[page.index('<p class="lead">'):page.index("</p>", page.index('<p class="lead">'))]
    for words in ("costs <b>", "in expectation", "CVaR 95 %", "in cash", "Demand left unmet", "Most purchase money"):
        assert words in lead, words
    assert "<h2>Top purchases</h2>" in page
    rules = page[page.index("<h2>Rules that bind</h2>"):]
    for rule, kind in (("fy26", "budget"), ("cap-china", "share limit"), ("ref", "processor capacity")):
        assert f"<td>{rule}</td><td>{kind}</td>" in rules, rule


def test_report_is_deterministic_and_leaves_other_files_alone(result, tmp_path):
    """Rewriting the report gives the same bytes; the other files equal those of a run without --report."""
    from optimizer.report import write_report

    before = {p.name: p.read_bytes() for p in result.rglob("*") if p.is_file()}
    assert write_report(result) == result / "report.html"
    after = {p.name: p.read_bytes() for p in result.rglob("*") if p.is_file()}
    assert after == before
    import optimizer

    plain = tmp_path / "plain"
    optimizer.solve(RICH).write(plain, ("csv", "json", "parquet", "xlsx"))
    for f in plain.iterdir():
        if f.name != "run.json":
            assert f.read_bytes() == (result / f.name).read_bytes(), f.name


def test_parquet_and_xlsx_read_back_like_the_csv(result):
    """Every table as parquet and as a sheet of results.xlsx (plus a summary sheet) holds the CSV's values."""
    book = pd.read_excel(result / "results.xlsx", sheet_name=None)
    assert list(book) == ["summary", *TABLES]
    summary = dict(zip(book["summary"]["field"], book["summary"]["value"]))
    assert summary["name"] == "rich" and summary["status"] == "optimal"
    for name in TABLES:
        csv = pd.read_csv(result / f"{name}.csv", keep_default_na=False)
        for other in (pd.read_parquet(result / f"{name}.parquet"), book[name]):
            assert list(other.columns) == list(csv.columns), name
            assert len(other) == len(csv), name
            if len(csv):
                pd.testing.assert_frame_equal(other.astype(str).replace("nan", ""),
                                              csv.astype(other.dtypes.to_dict()).astype(str).replace("nan", ""),
                                              check_dtype=False)


def test_unknown_format_and_bad_report_folder_exit_1(tmp_path):
    """--format with an unknown name, and `report` on a folder that is not a result: exit 1, no traceback."""
    path = tmp_path / "s.yaml"
    path.write_text(pyyaml.safe_dump(scenario(), sort_keys=False))
    proc = run_cli(str(path), "--out", str(tmp_path / "o"), "--format", "csv,pdf")
    assert proc.returncode == 1 and "--format" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()
    proc = run_cli("report", str(tmp_path))
    assert proc.returncode == 1 and "summary.json is missing" in proc.stderr and "Traceback" not in proc.stderr


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--hide-scrollbars"]
PROBE = """<script>
addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0).length;
  document.body.setAttribute("data-images", imgs.length + "/" + ok);
});
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(result, tmp_path):
    """Chromium loads the report offline, every <img> decodes, and the screenshot is not blank."""
    # The report has no script; a copy with a probe script reports how many images decoded.
    probe = tmp_path / "probe.html"
    probe.write_text((result / "report.html").read_text().replace("</body>", PROBE + "</body>"))
    base = [CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000"]
    dom = subprocess.run([*base, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'data-images="(\d+)/(\d+)"', dom.stdout)
    assert found, dom.stdout[:500] + dom.stderr[-2000:]
    assert int(found.group(1)) == len(CHARTS) and found.group(2) == found.group(1)

    shot = tmp_path / "report.png"
    proc = subprocess.run([*base, "--window-size=1200,3000", f"--screenshot={shot}", (result / "report.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    from PIL import Image

    img = Image.open(io.BytesIO(shot.read_bytes())).convert("L")
    assert img.size == (1200, 3000)
    hist = img.histogram()
    dark = sum(hist[:128]) / (img.size[0] * img.size[1])
    assert 0.005 < dark < 0.5, dark  # text and charts drawn, not an empty or black page
    assert len([v for v in hist if v]) > 50  # many grey levels: anti-aliased text and charts
