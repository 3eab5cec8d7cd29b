"""Answer the seed questions of issue 19 side by side: run every counterfactual pair with the CLI and
write one Markdown table (scenarios/ANSWERS.md) with the figures and the exact commands.

    make questions                  # or: .venv/bin/python scenarios/questions.py [--out DIR]

Each variant is a shipped scenario file plus `--set` overrides, so a pair differs only in what the
question is about. Every figure comes from a result folder's summary.json (`cost_breakdown`:
expected, discounted `money` and `penalties`; `shortfall_by_material`), stockpile.csv or, for the
shipped plans (run with `--analyze`), analysis.json (SPEC 7, docs/analytics.md): value of hedging,
EVPI, the stockpile's own money (`stockpile_money`: the plan's expected money minus that of the same
file with every stockpile target and end value at 0) and the price ranges of the domestic and seabed
sources.
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
ANALYTICS = "../docs/analytics.md"  # as linked from scenarios/ANSWERS.md
RANGED_REGIONS = ("domestic", "deep_sea")  # the sources the seed questions are about (onshore, seabed)


@dataclass(frozen=True)
class Variant:
    """One run: a shipped file plus overrides, with a short label for the table."""

    label: str
    file: str                      # relative to the repository root (or absolute)
    sets: tuple[str, ...] = ()
    analyze: bool = False          # also write analysis.json (SPEC 7)

    @property
    def slug(self) -> str:
        return f"{Path(self.file).stem}--{self.label}"

    def command(self, out: Path) -> list[str]:
        args = ["optimize", self.file, "--out", str(out / self.slug), "--force", "--quiet"]
        if self.analyze:
            args.append("--analyze")
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
    objective: float               # SPEC 4.3: the expected cost, or with risk aversion its blend with CVaR
    tariffs: float                 # expected, undiscounted ($), inside purchases
    loss: float                    # expected, discounted: money + shortfall penalty (the damage of unmet
                                   # demand), without the target penalty and risk premium, which score the
                                   # stockpile rule itself and would favour the plan without stockpile
    shortfall: dict[str, float] = field(default_factory=dict)
    stock: dict[str, float] = field(default_factory=dict)   # stock by material at the end of 2026-10
    analysis: dict | None = None   # analysis.json of a variant run with --analyze
    expected_cost: float = 0.0     # expected, discounted: money + penalties


def stockpile_materials(file: str) -> list[str]:
    """Ids of the materials of a shipped file that have a stockpile section."""
    from optimizer.pipeline import load_scenario
    return [m.id for m in load_scenario(ROOT / file).materials if m.stockpile is not None]


def without_stockpile(file: str) -> tuple[str, ...]:
    """Overrides that remove every stockpile (no storage at all)."""
    return tuple(f"materials[{m}].stockpile=null" for m in stockpile_materials(file))


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
    analysis = json.loads((folder / "analysis.json").read_text()) if variant.analyze else None
    return Run(variant, shlex.join(args), breakdown["discounted"]["money"], breakdown["discounted"]["penalties"],
               summary["objective"], breakdown["undiscounted"]["tariffs"],
               breakdown["discounted"]["money"] + breakdown["discounted"]["shortfall_penalty"],
               {k: v for k, v in summary["shortfall_by_material"].items() if v > 1e-6}, stock, analysis,
               summary["expected_cost"])


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
    """Every run the answers need, by key. The shipped plans run with --analyze: their analysis.json
    gives the stockpile's own money, value of hedging, EVPI and the price ranges."""
    v = [
        Variant("disrupted", DEEP, analyze=True), Variant("calm", DEEP, ("disruptions=null",)),
        Variant("disrupted-no-nodules", DEEP, ("sources[nori-nodules].capacity=0",)),
        Variant("calm-no-nodules", DEEP, ("disruptions=null", "sources[nori-nodules].capacity=0")),
        Variant("as-enacted", TRUCE, analyze=True), Variant("145-stays", TRUCE, STACK_145),
        Variant("truce-from-april", TRUCE, ("policies[ieepa-reciprocal-125].rate=0.10",)),
        Variant("stockpile", EMBARGO, analyze=True), Variant("no-stockpile", EMBARGO, without_stockpile(EMBARGO)),
        Variant("stockpile", REE, analyze=True), Variant("no-stockpile", REE, without_stockpile(REE)),
        Variant("no-onshore", REE, ONSHORE_OFF),
        Variant("plan", "scenarios/baseline.yaml", analyze=True),
        Variant("plan", "scenarios/budget-squeeze.yaml", analyze=True),
    ]
    return {x.slug: x for x in v}


SHIPPED_PLANS = {  # scenario stem -> the label of its shipped plan (the file as written, with --analyze)
    "baseline": "plan", "budget-squeeze": "plan", "china-embargo": "stockpile",
    "deep-sea-fast-track": "disrupted", "rare-earths-seven": "stockpile", "tariff-truce": "as-enacted",
}


def bn(x: float) -> str:
    return f"${x / 1e9:,.2f}B"


def mn(x: float) -> str:
    """Millions; one or two decimals below $10M and $1M so small amounts do not read as 0."""
    digits = 0 if abs(x) >= 1e7 else 1 if abs(x) >= 1e6 else 2
    return f"${x / 1e6:,.{digits}f}M"


def signed_mn(x: float) -> str:
    """A difference in millions with its sign: +$1.5M, -$58M ($0.00M without a sign)."""
    text = mn(abs(x))
    return text if text == mn(0) else ("-" if x < 0 else "+") + text


def saves(amount: float, what: str = "", compared: str = "", plural: bool = False) -> str:
    """What a measure does to a cost it is meant to lower, `amount` = cost without it - cost with it:
    `saves $X<what> against <compared>`, or for a negative saving `costs $X more<what> than <compared>`
    (`save`, `cost` with `plural`)."""
    verb = ("save" if amount >= 0 else "cost") + ("" if plural else "s")
    if amount >= 0:
        return f"{verb} {mn(amount)}{what}" + (f" against {compared}" if compared else "")
    return f"{verb} {mn(-amount)} more{what}" + (f" than {compared}" if compared else "")


def shortfall_text(r: Run) -> str:
    if not r.shortfall:
        return "none"
    return ", ".join(f"{k} {v:,.0f}" for k, v in sorted(r.shortfall.items(), key=lambda kv: -kv[1]))


def stockpile_verdict(w: Run, wo: Run) -> str:
    """The stockpile's net effect on money + shortfall damage (w: with it, wo: without any storage),
    sign-correct; when it costs more, its two parts (money, shortfall damage), which say why."""
    net = wo.loss - w.loss
    text = f"The stockpile {saves(net, ' of money + shortfall damage', 'holding none')}"
    if net < 0:
        extra_money = w.money - wo.money
        avoided = (wo.loss - wo.money) - (w.loss - w.money)
        money_part = f"adds {mn(extra_money)}" if extra_money >= 0 else f"saves {mn(-extra_money)}"
        text += f": it {money_part} of money and {saves(avoided, ' of shortfall damage')}"
    return text


def hedging_text(a: dict) -> str:
    """Value of hedging and EVPI of an analysis.json in plain words (SPEC 7.2-7.3), sign-correct."""
    futures, ref = len(a["wait_and_see_by_scenario"]), a["reference_scenario"]
    if a["eev"] is None:
        hedge = (f"Planning for `{ref}` alone leaves no feasible plan for the other futures ({a['eev_infeasible']}): "
                 f"hedging is indispensable ([value of hedging]({ANALYTICS}#analysisjson) undefined).")
    else:
        alone = f"planning for `{ref}` alone and committing to its decisions before {a['first_split']}"
        hedge = (f"Planning for all {futures} futures {saves(a['value_of_hedging'], compared=alone)} "
                 f"([value of hedging]({ANALYTICS}#analysisjson) = EEV {bn(a['eev'])} - plan {bn(a['objective'])}).")
    return (f"{hedge} Knowing which future comes before deciding would be worth {mn(a['evpi'])} more "
            f"([EVPI]({ANALYTICS}#analysisjson) = plan - wait-and-see {bn(a['wait_and_see'])}).")


def price(value: float, unit: str) -> str:
    return f"${value:,.0f}/{unit}" if abs(value) >= 100 else f"${value:,.2f}/{unit}"


def range_text(r: dict) -> str:
    """One source's price range of analysis.json (`ranges.sources.<id>`) in plain words: where an
    unused source enters the plan, or over which prices the plan stays as it is."""
    unit = r["unit"]
    if r["period"] is None:
        return "cannot be ordered within the horizon"
    if not r["used"]:
        if r["f_lo"] > 0:
            return f"enters the plan below {price(r['price_lo'], unit)}"
        return "stays out of the plan even at a price of 0"
    if r["f_hi"] is not None and abs(r["f_hi"] - 1) < 1e-9 and abs(r["f_lo"] - 1) < 1e-9:
        return "the plan changes with any move of its price"
    if r["f_hi"] is None:
        if r["f_lo"] == 0:
            return "stays in the plan at any price"
        return f"the plan holds from {price(r['price_lo'], unit)} up: it stays in the plan at any higher price"
    low = "at any price" if r["f_lo"] == 0 else f"from {price(r['price_lo'], unit)}"
    return f"the plan holds {low} up to {price(r['price_hi'], unit)}"


def today_price(r: dict) -> str:
    """Today's price of a ranged source in its period, from the range and its factors."""
    for value, factor in ((r["price_lo"], r["f_lo"]), (r["price_hi"], r["f_hi"])):
        if value is not None and factor:
            return price(value / factor, r["unit"])
    return "-"


def ranged_sources(stem: str) -> list[str]:
    """Ids of the domestic and seabed sources of a shipped file, in file order."""
    from optimizer.pipeline import load_scenario
    return [s.id for s in load_scenario(SCENARIOS / f"{stem}.yaml").sources if s.region in RANGED_REGIONS]


def answers(runs: dict[str, Run]) -> list[tuple[str, str, str]]:
    """(question, answer with figures, commands) rows of the table."""
    g = runs.__getitem__
    rows = []
    d, c = g("deep-sea-fast-track--disrupted"), g("deep-sea-fast-track--calm")
    dn, cn = g("deep-sea-fast-track--disrupted-no-nodules"), g("deep-sea-fast-track--calm-no-nodules")
    nodules = d.analysis["ranges"]["sources"]["nori-nodules"]
    rows.append((
        "Is a stockpile fed by seabed nodules worth it when Ni/Co supply can be cut?",
        f"Under the disruption process (DRC cobalt stop, Indonesian nickel cut, seabed delay) nodules "
        f"{saves(dn.loss - d.loss, ' of money + shortfall damage', plural=True)} (money alone: they "
        f"{saves(dn.money - d.money, plural=True)}); in a calm world they {saves(cn.loss - c.loss, plural=True)}. The disruptions cost {bn(d.objective - c.objective)} with "
        f"nodules and {bn(dn.objective - cn.objective)} without them. Expected shortfall with nodules: "
        f"{shortfall_text(d)}; without: {shortfall_text(dn)}. With manganese sold only up to a quarter of "
        f"US use, no US refinery is built (tests: lift the cap and one is). Nodule price (collection and "
        f"shipping, today {today_price(nodules)} in {nodules['period']}): {range_text(nodules)}, with the "
        f"refinery decision as it is (ranges of {d.analysis['ranges']['of']}).",
        [d, c, dn, cn]))
    a, s, t = g("tariff-truce--as-enacted"), g("tariff-truce--145-stays"), g("tariff-truce--truce-from-april")
    rows.append((
        "What would 145 % have cost against the truce (2025-2027)?",
        f"As enacted (Annex II exempts Ga, Sb, W): {bn(a.objective)}, tariffs paid {mn(a.tariffs)}. "
        f"If the 10 Apr 2025 stack (125 % + 20 %) had stayed on every Chinese mineral: {bn(s.objective)} "
        f"({signed_mn(s.objective - a.objective)}), tariffs paid {mn(s.tariffs)}: the plan leaves China rather "
        f"than pay. Truce rates from April: {bn(t.objective)} ({signed_mn(t.objective - a.objective)} against as "
        f"enacted: the plan bought its Chinese graphite before April).",
        [a, s, t]))
    for file, label in ((EMBARGO, "the Ga/Ge/Sb/W/REE ban futures of china-embargo"),
                        (REE, "a Chinese stop on the seven rare earths (rare-earths-seven)")):
        stem = Path(file).stem
        w, wo = g(f"{stem}--stockpile"), g(f"{stem}--no-stockpile")
        rows.append((
            f"What does a stockpile save against {label}?",
            f"With stockpiles: money {bn(w.money)}, money + shortfall damage {bn(w.loss)}, shortfall "
            f"{shortfall_text(w)}. Without any storage: money {bn(wo.money)}, money + shortfall damage "
            f"{bn(wo.loss)}, shortfall {shortfall_text(wo)}. {stockpile_verdict(w, wo)}; its own money "
            f"(stockpile_money, SPEC 7.3) is {mn(w.analysis['stockpile_money'])}.",
            [w, wo]))
    w, off = g("rare-earths-seven--stockpile"), g("rare-earths-seven--no-onshore")
    ree = w.analysis["ranges"]["sources"]
    plants = "; ".join(f"`{sid}` (today {today_price(ree[sid])} in {ree[sid]['period']}): {range_text(ree[sid])}"
                       for sid in ("us-ndpr-mp", "us-samarium-mp", "us-samarium-energyfuels", "us-yttrium-reelement"))
    rows.append((
        "What is onshore rare-earth processing worth (MP HRE circuit, Energy Fuels, ReElement, an MP Sm option)?",
        f"With the plants: money {bn(w.money)}, money + shortfall damage {bn(w.loss)}, shortfall "
        f"{shortfall_text(w)}. Without them: money {bn(off.money)}, money + shortfall damage {bn(off.loss)}, "
        f"shortfall {shortfall_text(off)}: the plants {saves(off.loss - w.loss, ' of money + shortfall damage', plural=True)} "
        f"(almost all of it avoided shortfall: the plants cost about what Chinese oxide does). "
        f"Break-even prices ([ranges]({ANALYTICS}#analysisjson), every period's price scaled alike): {plants}. "
        f"Every domestic source is in the price-range table below.",
        [w, off]))
    held = ", ".join(f"{m} {w.stock.get(m, 0):,.0f}" for m in ["ndpr", *CHINA_HREE])
    rows.append((
        "What should the US hold of the seven controlled rare earths (and NdPr) before the Nov 2026 cliff?",
        f"Stock at the end of 2026-Q4 (kg oxide; NdPr t): {held}. Plan money {bn(w.money)} over 2026-2035, "
        f"of which the stockpile's own {mn(w.analysis['stockpile_money'])}.",
        [w]))
    for stem, plan in SHIPPED_PLANS.items():
        r = g(f"{stem}--{plan}")
        if r.analysis["first_split"] is None:
            continue  # one future: nothing to hedge, nothing to foresee
        rows.append((
            f"What does planning for the uncertain futures of {stem} save, and what would foresight be worth?",
            hedging_text(r.analysis), [r]))
    return [(q, text, "<br>".join(f"`{r.command}`" for r in used)) for q, text, used in rows]


def cost_table(runs: dict[str, Run]) -> list[str]:
    """Per shipped scenario: money, penalties, the stockpile's own money, value of hedging and EVPI."""
    lines = ["| scenario | objective | expected cost | money | penalties | stockpile's own money | value of hedging | EVPI |",
             "|---|---|---|---|---|---|---|---|"]
    for stem, plan in SHIPPED_PLANS.items():
        r = runs[f"{stem}--{plan}"]
        a = r.analysis
        split = a["first_split"] is not None
        hedging = "-" if not split else "infeasible without" if a["eev"] is None else mn(a["value_of_hedging"])
        evpi = mn(a["evpi"]) if split else "-"
        lines.append(f"| {stem} | {bn(r.objective)} | {bn(r.expected_cost)} | {bn(r.money)} | {bn(r.penalties)} | "
                     f"{mn(a['stockpile_money'])} | {hedging} | {evpi} |")
    return lines


def range_table(runs: dict[str, Run]) -> list[str]:
    """Per shipped plan: the price range of each domestic and seabed source (analysis.json)."""
    lines = ["| scenario | source | in the plan | first period | price today | price range |", "|---|---|---|---|---|---|"]
    for stem, plan in SHIPPED_PLANS.items():
        ranges = runs[f"{stem}--{plan}"].analysis["ranges"]["sources"]
        for sid in ranged_sources(stem):
            r = ranges[sid]
            lines.append(f"| {stem} | `{sid}` | {'yes' if r['used'] else 'no'} | {r['period'] or '-'} | "
                         f"{today_price(r)} | {range_text(r)} |")
    return lines


def write(runs: dict[str, Run], path: Path) -> None:
    out = ["# Answers to the seed questions (issue 19)", "",
           "Written by `make questions` (scenarios/questions.py); do not edit by hand. Costs are expected, "
           "discounted at 3 %/yr, 2026-2035 (tariff-truce: 2025-2027); **money** is what is paid or received, "
           "**penalties** are the risk premium, shortfall and below-target scores (not money). Shortfall is in "
           "each material's unit (kg oxide, t), expected over the scenarios. **Money + shortfall damage** is "
           "money plus the shortfall penalty (A1: 10 x price per unit unmet), leaving out the target penalty and "
           "risk premium that score the stockpile rule itself. The stockpile's own money, value of hedging, "
           f"EVPI and price ranges come from `optimize --analyze` (analysis.json; definitions in [docs/analytics.md]"
           f"({ANALYTICS})): the stockpile's own money is SPEC 7.3's `stockpile_money`, the plan's money minus that "
           "of the same file with every target and end value at 0.", "",
           "| question | answer | commands |", "|---|---|---|"]
    for q, text, commands in answers(runs):
        out.append(f"| {q} | {text} | {commands} |")
    out += ["", "## What each shipped plan costs, and the stockpile's part", "",
            "Objective: what the plan minimises, the expected cost (money + penalties) or, with risk aversion, "
            "its blend with the CVaR of the worst futures (SPEC 4.3); value of hedging and EVPI are in its terms. "
            "Value of hedging: what planning for every future saves against planning for the reference future "
            "alone (EEV - objective); EVPI: what knowing the future before deciding would save (objective - "
            "wait-and-see); `-` for a file with one future. Commands: the shipped plans' rows above, or "
            "`optimize scenarios/<file>.yaml --analyze`.", "", *cost_table(runs), "",
            "## Break-even and entry prices of the domestic and seabed sources", "",
            f"From each shipped plan's analysis.json (`ranges.sources`, [docs/analytics.md]({ANALYTICS}#analysisjson)): "
            "the price in the first period the plan orders from the source (for an unused source, the first in "
            "which it can be ordered), with every period's price scaled alike. An unused source enters the plan "
            "below its entry price; for a used one, the plan stays as it is within the range (beyond it the plan "
            "changes, not necessarily by dropping the source). For deep-sea-fast-track, a plan with discrete "
            "builds, the ranges are those of the LP with every order and module fixed at its value in the plan.",
            "", *range_table(runs), ""]
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
