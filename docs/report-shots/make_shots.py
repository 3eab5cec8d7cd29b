"""`make report-shots`: solve every shipped scenario with the decision analytics of `--analyze` (so the
report's analytics section shows), write its report and a screenshot of the report in headless
Chromium (the top of the page, half size, 64 colours) to docs/report-shots/<name>.png."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import optimizer
from optimizer.report import write_report

ROOT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 1280, 8000  # tall enough for the decision analytics at the end of the risk section


def main() -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.stderr.write("report-shots needs chromium (Debian: apt-get install -y chromium)\n")
        return 1
    from PIL import Image

    out_dir = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted((ROOT / "scenarios").glob("*.yaml")):
            folder = optimizer.solve(optimizer.load_scenario(path), analyze=True).write(Path(tmp) / path.stem)
            page = write_report(folder)
            raw = Path(tmp) / f"{path.stem}.png"
            subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            "--disable-dev-shm-usage", f"--user-data-dir={tmp}/profile", "--virtual-time-budget=20000",
                            f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={raw}", page.as_uri()],
                           check=True, capture_output=True, timeout=300)
            img = Image.open(raw).convert("RGB").resize((WIDTH // 2, HEIGHT // 2), Image.LANCZOS)
            target = out_dir / f"{path.stem}.png"
            img.quantize(64, dither=Image.Dither.NONE).save(target, optimize=True)
            print(f"{target.relative_to(ROOT)} ({target.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
