"""Answer the seed questions of issue 19 side by side: run every counterfactual pair with the CLI and
write one Markdown table (scenarios/ANSWERS.md) with the figures and the exact commands.

    make questions                  # or: .venv/bin/python scenarios/questions.py [--out DIR]

Each variant is a shipped scenario file plus `--set` overrides, so a pair differs only in what the
question is about. Every figure comes from a result folder's summary.json (`cost_breakdown`:
expected, discounted `money` and `penalties`; `shortfall_by_material`) or stockpile.csv. The
stockpile's own money is SPEC 7.3's `stockpile_money`: the plan's expected money minus that of the
same file with every stockpile target and end value set to 0 (computed here by that second solve).
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
ANSWERS = SCENARIOS / "ANSWERS.md"

CHINA_HREE = ["samarium", "gadolinium", "terbium", "dysprosium", "lutetium", "scandium", "yttrium"]


@dataclass(frozen=True)
class Variant:
    """One run: a shipped file plus overrides, with a short label for the table."""

    label: str
    file: str                      # relative to the repository root (or absolute)
    sets: tuple[str, ...] = ()

    @property
    def slug(self) -> str:
        return f"{Path(self.file).stem}--{self.label}"

    def command(self, out: Path) -> list[str]:
        args = ["optimize", self.file, "--out", str(out / self.slug), "--force", "--quiet"]
        for assignment in self.sets:
            args += ["--set", assignment]
        return args


@dataclass
class Run:
    """What the table needs from one result folder."""

    variant: Variant
    command: str
    money: float                   # expected, discounted ($)
    penalties: float               # expected, discounted ($): risk premium + shortfall + target penalties
    objective: float
    tariffs: float                 # expected, undiscounted ($), inside purchases
    loss: float                    # expected, discounted: money + shortfall penalty (the damage of unmet
                                   # demand), without the target penalty and risk premium, which score the
                                   # stockpile rule itself and would favour the plan without stockpile
    shortfall: dict[str, float] = field(default_factory=dict)
    stock: dict[str, float] = field(default_factory=dict)   # stock by material at the end of 2026-10


def stockpile_materials(file: str) -> list[str]:
    """Ids of the materials of a shipped file that have a stockpile section."""
    from optimizer.pipeline import load_scenario
    return [m.id for m in load_scenario(ROOT / file).materials if m.stockpile is not None]


def without_stockpile(file: str) -> tuple[str, ...]:
    """Overrides that remove every stockpile (no storage at all)."""
    return tuple(f"materials[{m}].stockpile=null" for m in stockpile_materials(file))


def without_goals(file: str) -> tuple[str, ...]:
    """Overrides of SPEC 7.3's stockpile_money: every target and end value 0 (storage still allowed)."""
    return tuple(f"materials[{m}].stockpile.{key}=0" for m in stockpile_materials(file)
                 for key in ("target", "end_value"))


def run(variant: Variant, out: Path) -> Run:
    """Solve one variant with the CLI (exit 0 required) and read its result folder."""
    args = variant.command(out)
    done = subprocess.run([sys.executable, "-m", "optimizer", *args[1:]], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(args)} failed (exit {done.returncode}):\n{done.stderr}")
    return read(variant, out)


def read(variant: Variant, out: Path) -> Run:
    """The figures of a variant's result folder under `out` (written by `run`)."""
    args = variant.command(out)
    folder = ROOT / out / variant.slug  # an absolute `out` stays absolute
    summary = json.loads((folder / "summary.json").read_text())
    breakdown = summary["cost_breakdown"]["expected"]
    stock: dict[str, float] = {}
    with open(folder / "stockpile.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["period"] == "2026-10"]
    for r in rows:  # decide-now periods: every scenario holds the same stock in 2026
        stock[r["material"]] = max(stock.get(r["material"], 0.0), float(r["level"] or 0))
    return Run(variant, shlex.join(args), breakdown["discounted"]["money"], breakdown["discounted"]["penalties"],
               summary["objective"], breakdown["undiscounted"]["tariffs"],
               breakdown["discounted"]["money"] + breakdown["discounted"]["shortfall_penalty"],
               {k: v for k, v in summary["shortfall_by_material"].items() if v > 1e-6}, stock)


# --- the questions -----------------------------------------------------------------------------

DEEP = "scenarios/deep-sea-fast-track.yaml"
REE = "scenarios/rare-earths-seven.yaml"
EMBARGO = "scenarios/china-embargo.yaml"
TRUCE = "scenarios/tariff-truce.yaml"

ONSHORE_OFF = (
    "sources[us-dysprosium-mp].capacity=0", "sources[us-terbium-mp].capacity=0",
    "sources[us-dysprosium-energyfuels].capacity=0", "sources[us-terbium-energyfuels].capacity=0",
    "sources[us-samarium-energyfuels].capacity=0", "sources[us-samarium-mp].expansion=null",
    "sources[us-yttrium-reelement].capacity=0",
)
STACK_145 = (  # the 10 Apr 2025 stack (125 % reciprocal + 20 % fentanyl) on every Chinese mineral to the end
    "policies[ieepa-reciprocal-125].until=2028-01",
    "policies[ieepa-reciprocal-125].where.material=[gallium, antimony, tungsten, graphite, ndpr]",
    "policies[ieepa-reciprocal-10].rate=0", "policies[ieepa-fentanyl-10].until=2028-01",
    "policies[ieepa-fentanyl-20].until=2028-01",
)


def variants() -> dict[str, Variant]:
    """Every run the answers need, by key."""
    v = [
        Variant("disrupted", DEEP), Variant("calm", DEEP, ("disruptions=null",)),
        Variant("disrupted-no-nodules", DEEP, ("sources[nori-nodules].capacity=0",)),
        Variant("calm-no-nodules", DEEP, ("disruptions=null", "sources[nori-nodules].capacity=0")),
        Variant("as-enacted", TRUCE), Variant("145-stays", TRUCE, STACK_145),
        Variant("truce-from-april", TRUCE, ("policies[ieepa-reciprocal-125].rate=0.10",)),
        Variant("stockpile", EMBARGO), Variant("no-stockpile", EMBARGO, without_stockpile(EMBARGO)),
        Variant("no-goals", EMBARGO, without_goals(EMBARGO)),
        Variant("stockpile", REE), Variant("no-stockpile", REE, without_stockpile(REE)),
        Variant("no-goals", REE, without_goals(REE)),
        Variant("no-onshore", REE, ONSHORE_OFF),
    ]
    for name in ("scenarios/baseline.yaml", "scenarios/budget-squeeze.yaml"):
        v += [Variant("plan", name), Variant("no-goals", name, without_goals(name))]
    v += [Variant("no-goals", DEEP, without_goals(DEEP)), Variant("no-goals", TRUCE, without_goals(TRUCE))]
    return {x.slug: x for x in v}


def bn(x: float) -> str:
    return f"${x / 1e9:,.2f}B"


def mn(x: float) -> str:
    return f"${x / 1e6:,.0f}M"


def shortfall_text(r: Run, units: dict[str, str] | None = None) -> str:
    if not r.shortfall:
        return "none"
    return ", ".join(f"{k} {v:,.0f}" for k, v in sorted(r.shortfall.items(), key=lambda kv: -kv[1]))


def answers(runs: dict[str, Run]) -> list[tuple[str, str, str]]:
    """(question, answer with figures, commands) rows of the table."""
    g = runs.__getitem__
    rows = []
    d, c = g("deep-sea-fast-track--disrupted"), g("deep-sea-fast-track--calm")
    dn, cn = g("deep-sea-fast-track--disrupted-no-nodules"), g("deep-sea-fast-track--calm-no-nodules")
    rows.append((
        "Is a stockpile fed by seabed nodules worth it when Ni/Co supply can be cut?",
        f"Under the disruption process (DRC cobalt stop, Indonesian nickel cut, seabed delay) nodules save "
        f"{bn(dn.loss - d.loss)} of money + shortfall damage ({bn(dn.money - d.money)} of it money); in a calm "
        f"world {bn(cn.loss - c.loss)}. The disruptions cost {bn(d.objective - c.objective)} with "
        f"nodules and {bn(dn.objective - cn.objective)} without them. Expected shortfall with nodules: "
        f"{shortfall_text(d)}; without: {shortfall_text(dn)}. With manganese sold only up to a quarter of "
        f"US use, no US refinery is built (tests: lift the cap and one is).",
        [d, c, dn, cn]))
    a, s, t = g("tariff-truce--as-enacted"), g("tariff-truce--145-stays"), g("tariff-truce--truce-from-april")
    rows.append((
        "What would 145 % have cost against the truce (2025-2027)?",
        f"As enacted (Annex II exempts Ga, Sb, W): {bn(a.objective)}, tariffs paid {mn(a.tariffs)}. "
        f"If the 10 Apr 2025 stack (125 % + 20 %) had stayed on every Chinese mineral: {bn(s.objective)} "
        f"(+{bn(s.objective - a.objective)}), tariffs paid {mn(s.tariffs)}: the plan leaves China rather "
        f"than pay. Truce rates from April: {bn(t.objective)} ({mn(t.objective - a.objective)} against as "
        f"enacted: the plan bought its Chinese graphite before April).",
        [a, s, t]))
    for file, label in ((EMBARGO, "the Ga/Ge/Sb/W/REE ban futures of china-embargo"),
                        (REE, "a Chinese stop on the seven rare earths (rare-earths-seven)")):
        stem = Path(file).stem
        w, wo, ng = g(f"{stem}--stockpile"), g(f"{stem}--no-stockpile"), g(f"{stem}--no-goals")
        rows.append((
            f"What does a stockpile save against {label}?",
            f"With stockpiles: money {bn(w.money)}, money + shortfall damage {bn(w.loss)}, shortfall "
            f"{shortfall_text(w)}. Without any storage: money {bn(wo.money)}, money + shortfall damage "
            f"{bn(wo.loss)}, shortfall {shortfall_text(wo)}. The stockpile saves {mn(wo.loss - w.loss)} of money "
            f"+ shortfall damage; its own money (stockpile_money, SPEC 7.3) is {mn(w.money - ng.money)}.",
            [w, wo, ng]))
    w, off = g("rare-earths-seven--stockpile"), g("rare-earths-seven--no-onshore")
    rows.append((
        "What is onshore rare-earth processing worth (MP HRE circuit, Energy Fuels, ReElement, an MP Sm option)?",
        f"With the plants: money {bn(w.money)}, money + shortfall damage {bn(w.loss)}, shortfall "
        f"{shortfall_text(w)}. Without them: money {bn(off.money)}, money + shortfall damage {bn(off.loss)}, "
        f"shortfall {shortfall_text(off)}: the plants are worth {bn(off.loss - w.loss)} of money + shortfall "
        f"damage (almost all of it avoided shortfall: the plants cost about what Chinese oxide does).",
        [w, off]))
    held = ", ".join(f"{m} {w.stock.get(m, 0):,.0f}" for m in ["ndpr", *CHINA_HREE])
    rows.append((
        "What should the US hold of the seven controlled rare earths (and NdPr) before the Nov 2026 cliff?",
        f"Stock at the end of 2026-Q4 (kg oxide; NdPr t): {held}. Plan money {bn(w.money)} over 2026-2035, "
        f"of which the stockpile's own {mn(w.money - g('rare-earths-seven--no-goals').money)}.",
        [w]))
    return [(q, text, "<br>".join(f"`{r.command}`" for r in used)) for q, text, used in rows]


def cost_table(runs: dict[str, Run]) -> list[str]:
    """Per shipped scenario: money, penalties and the stockpile's own money."""
    lines = ["| scenario | expected cost | money | penalties | stockpile's own money |", "|---|---|---|---|---|"]
    for stem, plan in (("baseline", "plan"), ("budget-squeeze", "plan"), ("china-embargo", "stockpile"),
                       ("deep-sea-fast-track", "disrupted"), ("rare-earths-seven", "stockpile"),
                       ("tariff-truce", "as-enacted")):
        r, ng = runs[f"{stem}--{plan}"], runs[f"{stem}--no-goals"]
        lines.append(f"| {stem} | {bn(r.objective)} | {bn(r.money)} | {bn(r.penalties)} | {mn(r.money - ng.money)} |")
    return lines


def write(runs: dict[str, Run], path: Path) -> None:
    out = ["# Answers to the seed questions (issue 19)", "",
           "Written by `make questions` (scenarios/questions.py); do not edit by hand. Costs are expected, "
           "discounted at 3 %/yr, 2026-2035 (tariff-truce: 2025-2027); **money** is what is paid or received, "
           "**penalties** are the risk premium, shortfall and below-target scores (not money). Shortfall is in "
           "each material's unit (kg oxide, t), expected over the scenarios. **Money + shortfall damage** is "
           "money plus the shortfall penalty (A1: 10 x price per unit unmet), leaving out the target penalty and "
           "risk premium that score the stockpile rule itself. The stockpile's own money is SPEC 7.3's `stockpile_money`: the "
           "plan's money minus that of the same file with every target and end value at 0.", "",
           "| question | answer | commands |", "|---|---|---|"]
    for q, text, commands in answers(runs):
        out.append(f"| {q} | {text} | {commands} |")
    out += ["", "## What each shipped plan costs, and the stockpile's part", "", *cost_table(runs), ""]
    path.write_text("\n".join(out))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/questions", help="folder for the result folders")
    parser.add_argument("--answers", default=str(ANSWERS), help="Markdown file to write")
    parser.add_argument("--no-solve", action="store_true", help="rewrite the table from the result folders already in --out")
    args = parser.parse_args(argv)
    out = Path(args.out)
    runs = {}
    for slug, variant in variants().items():
        if args.no_solve:
            runs[slug] = read(variant, out)
            continue
        print(f"solving {slug}", file=sys.stderr)
        runs[slug] = run(variant, out)
    write(runs, Path(args.answers))
    print(f"wrote {args.answers}", file=sys.stderr)


if __name__ == "__main__":
    main()
