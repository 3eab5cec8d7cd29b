"""`optimize diff OLD NEW`: what changed between two result folders, and the input changes behind it.

Pure pandas on the files of the result folders (no solver): headline deltas from summary.json,
purchases aggregated per scenario, material and source, sources that appeared or vanished,
stockpile trajectories that moved, row counts of every table that changed, and a recursive diff
of the two validated scenarios (scenario.json) with list items named by their `id` or `name`.
Renderers: Markdown (a pull-request comment), plain text and JSON.
"""

from __future__ import annotations

import errno
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer.errors import BadInputError
from optimizer.schema import TABLES, TEXT_COLUMNS
DEFAULT_TOLERANCE = 1e-6
DEFAULT_TOP = 10
MAX_LINES = 60
MAIN_METRICS = ("objective", "expected_cost", "money", "penalties", "cvar", "cash_spend")
#: Headline rows read from summary.json's cost_breakdown (expected, discounted): what of the expected
#: cost is money and what is penalty (SPEC 6).
SPLIT_LABELS = {"money": "of which money (paid - received)", "penalties": "of which penalties (not money)"}


class ResultFolderError(BadInputError):
    """A folder given to `diff` or `report` is not a readable result folder (bad input, exit 1)."""


# --- reading a result folder -----------------------------------------------------------------


@dataclass
class ResultFolder:
    """The deterministic content of one result folder."""

    path: Path
    summary: dict
    tables: dict[str, pd.DataFrame]
    scenario: dict | None
    missing: list[str] = field(default_factory=list)
    analysis: dict | None = None
    """analysis.json (`optimize --analyze`), when the folder has one."""

    @property
    def label(self) -> str:
        return self.path.name or str(self.path)

    @property
    def currency(self) -> str:
        return str(self.summary.get("currency") or "USD")

    def units(self) -> dict[str, str]:
        """Unit of every material (from scenario.json; empty when it is missing)."""
        if not self.scenario:
            return {}
        return {m.get("id"): m.get("unit", "t") for m in self.scenario.get("materials", []) if isinstance(m, dict)}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultFolderError(f"cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ResultFolderError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}): truncated or edited?") from None
    except RecursionError:
        raise ResultFolderError(f"{path}: nested too deeply to be a file `optimize` wrote") from None


def _typed(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Text columns as str, every other column as float (also for an empty table)."""
    df = df.reindex(columns=list(dict.fromkeys([*TABLES[name].column_names, *df.columns])))
    out = {}
    for col in df.columns:
        if col in TEXT_COLUMNS:
            out[col] = df[col].astype(object).where(df[col].notna(), "").astype(str)
        else:
            out[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    return pd.DataFrame(out, index=range(len(df)))


def read_table(folder: Path, name: str) -> pd.DataFrame | None:
    """One result table from `name`.csv (or `name`.parquet); None when the folder has neither.

    A table that is not as `optimize` writes it (a hand-edited header, a truncated file, a short or
    long row, a non-number) is an error naming the file and line: compared as it is, it would show
    rows removed or changed that never were."""
    csv, parquet = folder / f"{name}.csv", folder / f"{name}.parquet"
    try:
        if csv.is_file():
            data = csv.read_bytes()
            _check_csv_shape(csv, name, data)
            # keep_default_na=False: a country code "NA" (Namibia) is text, not a missing value.
            raw = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
            first_line = 2
        elif parquet.is_file():
            raw = pd.read_parquet(parquet)
            _check_columns(parquet, name, [str(c) for c in raw.columns])
            first_line = None
        else:
            return None
    except (OSError, ValueError, ImportError) as exc:
        raise ResultFolderError(f"cannot read {name} table of {folder}: {exc}") from None
    for col in raw.columns:
        if col not in TEXT_COLUMNS:
            values = pd.to_numeric(raw[col].replace("", None), errors="coerce")
            bad = values.isna() & raw[col].notna() & (raw[col].astype(str) != "")
            if bad.any():
                row = int(bad.to_numpy().argmax())
                where = f"{csv}:{row + first_line}" if first_line else f"{parquet} (row {row + 1})"
                raise ResultFolderError(f"{where}: column {col} has a non-number {raw[col].iloc[row]!r}")
    return _typed(raw, name)


def _check_columns(path: Path, name: str, columns: list[str]) -> None:
    """The columns `optimize` writes in table `name`, each once, and no other."""
    expected = TABLES[name].column_names
    missing = [c for c in expected if c not in columns]
    unknown = [c for c in columns if c not in expected or columns.count(c) > 1]
    if missing or unknown:
        what = "; ".join(part for part in (f"no column {', '.join(missing)}" if missing else "",
                                           f"unknown column {', '.join(dict.fromkeys(unknown))}" if unknown else "")
                         if part)
        where = f"{path}:1" if path.suffix == ".csv" else str(path)
        raise ResultFolderError(f"{where}: {what} (the header of the {name} table is `{','.join(expected)}`; "
                                "was it edited?)")


def _check_csv_shape(path: Path, name: str, data: bytes) -> None:
    """Header as written, every line with as many values, and a final line break (else: truncated)."""
    if not data.strip():
        raise ResultFolderError(f"{path} is empty (not even a header line): truncated?")
    header = data[: data.find(b"\n")] if b"\n" in data else data
    _check_columns(path, name, header.decode("utf-8", "replace").rstrip("\r").split(","))
    if not data.endswith(b"\n"):
        last = data.count(b"\n") + 1
        raise ResultFolderError(f"{path}:{last}: the file ends in the middle of a line: truncated?")
    # values per line, counted on the bytes (the tables hold no quoted text, so every comma separates)
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == ord("\n"))
    commas = np.cumsum(buf == ord(","))[ends]
    values = np.diff(commas, prepend=0) + 1
    wrong = np.flatnonzero(values != len(TABLES[name].column_names))
    if len(wrong):
        line = int(wrong[0]) + 1
        start = int(ends[line - 2]) + 1 if line > 1 else 0
        if int(ends[line - 1]) - start <= 1:  # `\n` or `\r\n` alone
            raise ResultFolderError(f"{path}:{line}: an empty line (the tables have none): was it edited?")
        raise ResultFolderError(f"{path}:{line}: expected {len(TABLES[name].column_names)} values, got "
                                f"{int(values[line - 1])}: a short or long row (truncated or edited?)")


def load_folder(path: str | Path) -> ResultFolder:
    """Read a result folder written by `optimize`; raise ResultFolderError when it is not one."""
    path = Path(path)
    try:
        path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ResultFolderError(f"{path} is a symlink loop (too many levels of symbolic links)") from None
        raise ResultFolderError(f"{path}: no such folder") from None
    if not path.is_dir():
        raise ResultFolderError(f"{path} is not a folder (expected a result folder written by `optimize`)")
    summary_path = path / "summary.json"
    if not summary_path.is_file():
        raise ResultFolderError(f"{path} is not a result folder: summary.json is missing "
                                "(write one with `optimize SCENARIO.yaml --out DIR`)")
    summary = _read_json(summary_path)
    if not isinstance(summary, dict) or "status" not in summary:
        raise ResultFolderError(f"{summary_path} is not a result summary (no `status`)")
    scenario = None
    if (path / "scenario.json").is_file():
        scenario = _read_json(path / "scenario.json")
        if not isinstance(scenario, dict):
            raise ResultFolderError(f"{path / 'scenario.json'} is not a scenario (not a JSON object)")
    tables: dict[str, pd.DataFrame] = {}
    missing = []
    for name in TABLES:
        df = read_table(path, name)
        if df is None:
            missing.append(name)
            df = _typed(pd.DataFrame(), name)
        tables[name] = df
    analysis = None
    if (path / "analysis.json").is_file():
        analysis = _read_json(path / "analysis.json")
        if not isinstance(analysis, dict):
            raise ResultFolderError(f"{path / 'analysis.json'} is not decision analytics (not a JSON object)")
    return ResultFolder(path, summary, tables, scenario, missing, analysis)


# --- the diff ----------------------------------------------------------------------------------


@dataclass
class Diff:
    """Everything that changed between two result folders (lists of plain dicts, JSON-ready)."""

    old: str
    new: str
    tolerance: float
    currency: str
    status: dict
    headline: list[dict]
    purchases: list[dict]
    sources: list[dict]
    stockpile: list[dict]
    tables: dict[str, dict]
    inputs: list[dict]
    """Every change of the validated scenario, however small (the tolerance is for plan quantities)."""
    notes: list[str]

    @property
    def changed(self) -> bool:
        """True when any input changed, or any plan figure by more than the tolerance."""
        return bool(
            self.status["old"] != self.status["new"]
            or any(row["changed"] for row in self.headline)
            or self.purchases or self.sources or self.stockpile
            or any(sum(t.values()) for t in self.tables.values())
            or self.inputs
        )

    def to_dict(self) -> dict:
        out = asdict(self)
        out["changed"] = self.changed
        return out


def _num(value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return 0.0
    return x if math.isfinite(x) else 0.0


def _delta_row(metric: str, kind: str, old: Any, new: Any, tol: float, always: bool = False,
               label: str | None = None) -> dict | None:
    o, n = _num(old), _num(new)
    delta = n - o
    changed = abs(delta) > tol and not (always and (old is None or new is None))
    if not (changed or always):
        return None
    return {
        "metric": metric,
        "label": label or metric.replace("_", " "),
        "kind": kind,
        "old": None if old is None else o,
        "new": None if new is None else n,
        "delta": delta,
        "relative": (delta / abs(o)) if o != 0 else None,
        "changed": changed,
    }


def headline(old: ResultFolder, new: ResultFolder, tol: float) -> list[dict]:
    """Objective, expected cost, CVaR, cash spend (always), then changed scenario costs, shortfall and spend."""
    so, sn = old.summary, new.summary
    alpha = sn.get("cvar_alpha", so.get("cvar_alpha"))
    cvar_label = f"CVaR {_num(alpha):.0%}".replace("%", " %") if alpha is not None else "CVaR"
    rows = [_delta_row(key, "money", _metric(so, key), _metric(sn, key), tol, always=True,
                       label=cvar_label if key == "cvar" else SPLIT_LABELS.get(key))
            for key in MAIN_METRICS]
    scen_o, scen_n = so.get("scenarios") or {}, sn.get("scenarios") or {}
    names = list(dict.fromkeys([*scen_o, *scen_n]))
    if len(names) > 1:
        for name in names:
            rows.append(_delta_row(f"cost of scenario {name}", "money", (scen_o.get(name) or {}).get("cost"),
                                   (scen_n.get(name) or {}).get("cost"), tol))
    units = old.units() | new.units()
    short_o, short_n = so.get("shortfall_by_material") or {}, sn.get("shortfall_by_material") or {}
    for m in sorted(set(short_o) | set(short_n)):
        unit = units.get(m)
        rows.append(_delta_row(f"shortfall {m}" + (f" ({unit})" if unit else ""), "quantity",
                               short_o.get(m, 0.0), short_n.get(m, 0.0), tol))
    spend_o, spend_n = so.get("spend_by_region") or {}, sn.get("spend_by_region") or {}
    for r in sorted(set(spend_o) | set(spend_n)):
        rows.append(_delta_row(f"spend {r}", "money", spend_o.get(r, 0.0), spend_n.get(r, 0.0), tol))
    return [r for r in rows if r is not None]


def _metric(summary: dict, key: str) -> Any:
    """A headline figure of summary.json; None when the folder has none (written before it existed)."""
    if key in SPLIT_LABELS:
        return ((summary.get("cost_breakdown") or {}).get("expected") or {}).get("discounted", {}).get(key)
    return summary.get(key)


def _aggregate_purchases(df: pd.DataFrame) -> pd.DataFrame:
    keys = ["scenario", "material", "source"]
    if df.empty:
        return pd.DataFrame({**{k: pd.Series(dtype=str) for k in keys}, "region": pd.Series(dtype=str),
                             "quantity": pd.Series(dtype=float), "spend": pd.Series(dtype=float)})
    agg = df.groupby(keys, sort=True).agg(region=("region", "first"), quantity=("quantity", "sum"),
                                          spend=("spend", "sum"))
    return agg.reset_index()


def purchase_changes(old: pd.DataFrame, new: pd.DataFrame, tol: float) -> list[dict]:
    """Quantity and spend per scenario, material and source that changed, largest spend change first."""
    keys = ["scenario", "material", "source"]
    m = pd.merge(_aggregate_purchases(old), _aggregate_purchases(new), on=keys, how="outer",
                 suffixes=("_old", "_new"), sort=True)
    if m.empty:
        return []
    for col in ("quantity_old", "quantity_new", "spend_old", "spend_new"):
        m[col] = m[col].astype(float).fillna(0.0)
    m["region"] = m["region_new"].where(m["region_new"].notna(), m["region_old"]).astype(str)
    m["quantity_delta"] = m["quantity_new"] - m["quantity_old"]
    m["spend_delta"] = m["spend_new"] - m["spend_old"]
    m = m[(m["quantity_delta"].abs() > tol) | (m["spend_delta"].abs() > tol)]
    m = m.assign(_s=-m["spend_delta"].abs(), _q=-m["quantity_delta"].abs())
    m = m.sort_values(["_s", "_q", "material", "source", "scenario"], kind="stable")
    cols = ["material", "source", "region", "scenario", "quantity_old", "quantity_new", "quantity_delta",
            "spend_old", "spend_new", "spend_delta"]
    return _records(m[cols])


def source_changes(old: pd.DataFrame, new: pd.DataFrame, tol: float) -> list[dict]:
    """Sources bought in scenarios where they were not before (appeared) or no longer are (vanished).

    Largest spend (old or new, over all scenarios) first."""
    def used(df: pd.DataFrame) -> dict[str, set[str]]:
        if df.empty:
            return {}
        q = df.groupby(["source", "scenario"])["quantity"].sum()
        out: dict[str, set[str]] = {}
        for (src, scen), v in q.items():
            if abs(v) > tol:
                out.setdefault(str(src), set()).add(str(scen))
        return out

    info = {}
    for df in (old, new):
        for row in df[["source", "material", "region"]].drop_duplicates().itertuples(index=False):
            info[row.source] = (row.material, row.region)
    uo, un = used(old), used(new)
    spend: dict[str, float] = {}
    for df in (old, new):
        for src, v in df.groupby("source")["spend"].sum().items() if not df.empty else ():
            spend[str(src)] = max(spend.get(str(src), 0.0), abs(float(v)))
    rows = []
    for src in sorted(set(uo) | set(un), key=lambda x: (-spend.get(x, 0.0), x)):  # largest spend first
        appeared = sorted(un.get(src, set()) - uo.get(src, set()))
        vanished = sorted(uo.get(src, set()) - un.get(src, set()))
        if not appeared and not vanished:
            continue
        material, region = info.get(src, ("", ""))
        rows.append({
            "source": src, "material": material, "region": region,
            "status": "new" if src not in uo else "gone" if src not in un else "moved",
            "appeared_in": appeared, "vanished_in": vanished,
        })
    return rows


def stockpile_changes(old: pd.DataFrame, new: pd.DataFrame, tol: float) -> list[dict]:
    """Largest absolute change of the stock level per scenario and material (where it exceeds tol)."""
    keys = ["scenario", "period", "material"]
    m = pd.merge(old[[*keys, "level"]], new[[*keys, "level"]], on=keys, how="outer", suffixes=("_old", "_new"),
                 sort=True)
    if m.empty:
        return []
    m["level_old"] = m["level_old"].astype(float).fillna(0.0)
    m["level_new"] = m["level_new"].astype(float).fillna(0.0)
    m["change"] = m["level_new"] - m["level_old"]
    m["abs"] = m["change"].abs()
    m = m[m["abs"] > tol]
    if m.empty:
        return []
    m = m.sort_values(["scenario", "material", "abs", "period"], ascending=[True, True, False, True], kind="stable")
    top = m.groupby(["scenario", "material"], sort=True).head(1)
    periods = m.groupby(["scenario", "material"], sort=True).size().rename("periods_changed").reset_index()
    top = top.merge(periods, on=["scenario", "material"])
    top = top.sort_values(["abs", "material", "scenario"], ascending=[False, True, True], kind="stable")
    top = top.rename(columns={"change": "max_change"})
    return _records(top[["material", "scenario", "max_change", "period", "level_old", "level_new",
                         "periods_changed"]])


def table_changes(old: ResultFolder, new: ResultFolder, tol: float) -> dict[str, dict]:
    """Rows added, removed and changed (any number beyond tol) in every result table."""
    out = {}
    for name in TABLES:
        a, b = old.tables[name], new.tables[name]
        keys = list(TABLES[name].keys)
        values = [c for c in a.columns if c not in keys and c in b.columns]
        m = pd.merge(a.assign(_in_old=True), b.assign(_in_new=True), on=keys, how="outer",
                     suffixes=("_old", "_new"))
        in_old = m["_in_old"].astype("boolean").fillna(False).astype(bool)
        in_new = m["_in_new"].astype("boolean").fillna(False).astype(bool)
        both = m[in_old & in_new]
        changed = pd.Series(False, index=both.index)
        for col in values:
            o, n = both[f"{col}_old"], both[f"{col}_new"]
            if col in TEXT_COLUMNS:
                changed |= o.astype(str) != n.astype(str)
            else:
                diff = (n.astype(float) - o.astype(float)).abs()
                changed |= (diff > tol) | (o.isna() != n.isna())
        out[name] = {"added": int((in_new & ~in_old).sum()), "removed": int((in_old & ~in_new).sum()),
                     "changed": int(changed.sum())}
    return out


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in rec.items()}
            for rec in df.to_dict(orient="records")]


# --- input changes: a recursive diff of the two validated scenarios ---------------------------


def _keyed(items: list) -> dict[str, Any] | None:
    """Items by `id` (or `name`) when every item has a distinct one; else None (match by index)."""
    out: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict):
            return None
        key = item.get("id", item.get("name"))
        if not isinstance(key, str) or key in out:
            return None
        out[key] = item
    return out


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _scalar_list(x: Any) -> bool:
    return isinstance(x, list) and all(not isinstance(v, (dict, list)) for v in x)


def input_changes(old: Any, new: Any, path: str = "") -> list[dict]:
    """Changed paths between two JSON values, e.g. `sources[cn-dy].price` (ids instead of list indexes).

    Every change counts, however small: `--tolerance` is about plan quantities, and a rate, share or
    probability that moved by 0.01 is a change of the scenario (issue 11)."""
    out: list[dict] = []
    _walk(old, new, path, out)
    return out


def _walk(old: Any, new: Any, path: str, out: list[dict]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old:
                out.append({"path": sub, "change": "added", "old": None, "new": new[key]})
            elif key not in new:
                out.append({"path": sub, "change": "removed", "old": old[key], "new": None})
            else:
                _walk(old[key], new[key], sub, out)
        return
    if isinstance(old, list) and isinstance(new, list):
        ko, kn = _keyed(old), _keyed(new)
        if ko is not None and kn is not None and (ko or kn):
            for key in list(dict.fromkeys([*ko, *kn])):
                sub = f"{path}[{key}]"
                if key not in ko:
                    out.append({"path": sub, "change": "added", "old": None, "new": kn[key]})
                elif key not in kn:
                    out.append({"path": sub, "change": "removed", "old": ko[key], "new": None})
                else:
                    _walk(ko[key], kn[key], sub, out)
            return
        if _scalar_list(old) and _scalar_list(new) and len(old) == len(new):
            inner: list[dict] = []
            for i, (a, b) in enumerate(zip(old, new)):
                _walk(a, b, f"{path}[{i}]", inner)
            if len(inner) > 3:  # a series changed in many periods: one line with the whole value
                out.append({"path": path, "change": "changed", "old": old, "new": new})
            else:
                out.extend(inner)
            return
        if _scalar_list(old) and _scalar_list(new):
            out.append({"path": path, "change": "changed", "old": old, "new": new})
            return
        for i in range(max(len(old), len(new))):
            sub = f"{path}[{i}]"
            if i >= len(old):
                out.append({"path": sub, "change": "added", "old": None, "new": new[i]})
            elif i >= len(new):
                out.append({"path": sub, "change": "removed", "old": old[i], "new": None})
            else:
                _walk(old[i], new[i], sub, out)
        return
    if _is_number(old) and _is_number(new):
        if float(new) != float(old):
            out.append({"path": path, "change": "changed", "old": old, "new": new})
        return
    if old != new:
        out.append({"path": path, "change": "changed", "old": old, "new": new})


def diff_folders(old: ResultFolder | str | Path, new: ResultFolder | str | Path,
                 tolerance: float = DEFAULT_TOLERANCE) -> Diff:
    """Compare two result folders (paths or loaded folders)."""
    if not isinstance(old, ResultFolder):
        old = load_folder(old)
    if not isinstance(new, ResultFolder):
        new = load_folder(new)
    tol = float(tolerance)
    for folder in (old, new):
        if folder.scenario is None:  # never claim the inputs are the same without seeing both
            raise ResultFolderError(f"{folder.path / 'scenario.json'} is missing: the input changes cannot be "
                                    "told (every folder `optimize` writes has one)")
    notes = []
    for name in TABLES:
        lacking = [f.path for f in (old, new) if name in f.missing]
        if len(lacking) == 1:  # compared with an empty table, every row would show as added or removed
            raise ResultFolderError(f"{lacking[0]} has no {name} table ({name}.csv or {name}.parquet) and the other "
                                    "folder has one: truncated or written with another --format?")
        if lacking:
            notes.append(f"neither folder has a {name} table (not compared)")
    return Diff(
        old=old.label,
        new=new.label,
        tolerance=tol,
        currency=new.currency,
        status={"old": old.summary.get("status"), "new": new.summary.get("status")},
        headline=headline(old, new, tol),
        purchases=purchase_changes(old.tables["purchases"], new.tables["purchases"], tol),
        sources=source_changes(old.tables["purchases"], new.tables["purchases"], tol),
        stockpile=stockpile_changes(old.tables["stockpile"], new.tables["stockpile"], tol),
        tables=table_changes(old, new, tol),
        inputs=input_changes(old.scenario, new.scenario),
        notes=notes,
    )


# --- rendering ---------------------------------------------------------------------------------


def fmt_amount(x: float | None) -> str:
    """255130000 -> `255.13 M`; 830 -> `830.00`; None -> `-`."""
    if x is None:
        return "-"
    for scale, suffix in ((1e9, " bn"), (1e6, " M")):
        if abs(x) >= scale:
            return f"{x / scale:,.2f}{suffix}"
    text = f"{x:,.2f}"
    return "0.00" if text in ("-0.00", "0.00") else text


def fmt_signed(x: float) -> str:
    """A change with its sign: `+500.00`, `-69.15 M`, `0`."""
    return "0" if x == 0 else ("+" if x > 0 else "-") + fmt_amount(abs(x))


def fmt_delta(x: float, rel: float | None, old: float | None, new: float | None = 0.0) -> str:
    if new is None:
        return "removed"
    if old is None:
        return "added"
    text = fmt_signed(x)
    if x and rel is not None:
        text += f" ({rel:+.1%})".replace("%", " %")
    elif x and old == 0:
        text += " (was 0)"
    return text


def fmt_value(v: Any, limit: int = 90) -> str:
    """A scenario value, compact: integers without `.0`, structures as sorted compact JSON."""
    if isinstance(v, bool) or v is None:
        text = json.dumps(v)
    elif isinstance(v, float):
        text = str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.10g}"
    elif isinstance(v, (int, str)):
        text = str(v)
    else:
        text = json.dumps(_compact(v), sort_keys=True, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _compact(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return int(v)
    if isinstance(v, dict):
        return {k: _compact(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_compact(x) for x in v]
    return v


def describe_input(change: dict, arrow: str = "->", code: bool = False) -> tuple[str, str]:
    """(path, what happened) of one input change; `code`: structures in Markdown backticks."""
    def show(v: Any) -> str:
        text = fmt_value(v)
        return f"`{text}`" if code and isinstance(v, (dict, list)) and "`" not in text else text

    if change["change"] == "added":
        return change["path"], f"added {show(change['new'])}"
    if change["change"] == "removed":
        return change["path"], f"removed (was {show(change['old'])})"
    return change["path"], f"{show(change['old'])} {arrow} {show(change['new'])}"


def _source_words(row: dict) -> str:
    parts = []
    if row["appeared_in"]:
        parts.append("now bought in " + ", ".join(row["appeared_in"]))
    if row["vanished_in"]:
        parts.append("no longer bought in " + ", ".join(row["vanished_in"]))
    return "; ".join(parts)


def _tables_line(tables: dict[str, dict]) -> str:
    parts = []
    for name, t in tables.items():
        if not sum(t.values()):
            continue
        bits = [f"{t['changed']} changed"] if t["changed"] else []
        bits += [f"{t['added']} added"] if t["added"] else []
        bits += [f"{t['removed']} removed"] if t["removed"] else []
        parts.append(f"{name} {', '.join(bits)}")
    return "; ".join(parts)


def _more(n_total: int, n_shown: int, what: str) -> str | None:
    return f"... and {n_total - n_shown} more {what} (`--format json` lists all)" if n_total > n_shown else None


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def _headline_rows(rows: list[dict], extra: int) -> tuple[list[dict], int]:
    """The four main figures plus at most `extra` other rows (largest relative change first); omitted count."""
    main = [r for r in rows if r["metric"] in MAIN_METRICS]
    rest = [r for r in rows if r["metric"] not in MAIN_METRICS]
    if len(rest) <= extra:
        return main + rest, 0

    def size(r: dict) -> tuple[float, float]:
        rel = r["relative"]
        return (-(math.inf if rel is None else abs(rel)), -abs(r["delta"]))

    keep = {id(r) for r in sorted(rest, key=size)[:extra]}
    return main + [r for r in rest if id(r) in keep], len(rest) - extra


def render_markdown(d: Diff, top: int = DEFAULT_TOP, max_lines: int = MAX_LINES) -> str:
    """A pull-request comment: a headline table, then the inputs, purchases, sources and stockpiles.

    Each section shows at most `top` rows; when the comment would be longer than `max_lines`, fewer.
    """
    for n in range(max(top, 1), 0, -1):
        text = _markdown(d, n)
        if text.count("\n") <= max_lines:
            return text
    return text


def _markdown(d: Diff, top: int) -> str:
    cur = d.currency
    lines = [f"### Plan diff: `{d.old}` → `{d.new}`", ""]
    if not d.changed:
        main = {r["metric"]: r for r in d.headline}
        obj = main.get("objective", {}).get("new")
        lines.append(f"**No change**: the same inputs, and no plan figure moved by more than {d.tolerance:g} "
                     f"(status {d.status['new']}, objective {fmt_amount(obj)} {cur}).")
        lines += [f"_{n}_" for n in d.notes]
        return "\n".join(lines) + "\n"
    if d.status["old"] != d.status["new"]:
        lines += [f"**Status changed: {d.status['old']} → {d.status['new']}**", ""]
    lines += [f"| {cur} unless stated | {_md_cell(d.old)} | {_md_cell(d.new)} | change |",
              "| --- | ---: | ---: | ---: |"]
    rows, hidden = _headline_rows(d.headline, 2 * top)
    for r in rows:
        lines.append(f"| {_md_cell(r['label'])} | {fmt_amount(r['old'])} | {fmt_amount(r['new'])} | "
                     f"{fmt_delta(r['delta'], r['relative'], r['old'], r['new'])} |")
    if hidden:
        lines.append(f"| ... and {hidden} smaller changes (`--format json`) | | | |")
    if d.inputs:
        lines += ["", f"#### Input changes ({len(d.inputs)})", ""]
        shown = d.inputs[: max(top, 1)]
        for ch in shown:
            path, what = describe_input(ch, "→", code=True)
            lines.append(f"- `{path}`: {_md_cell(what)}")
        if more := _more(len(d.inputs), len(shown), "input changes"):
            lines.append(f"- {more}")
    else:
        lines += ["", "Inputs are identical: the change comes from the solver or the code, not the scenario."]
    if d.purchases:
        lines += ["", f"#### Purchases that changed most ({len(d.purchases)} material/source/scenario totals)", "",
                  f"| material | source | scenario | quantity | spend ({cur}) | change |",
                  "| --- | --- | --- | ---: | ---: | ---: |"]
        shown = d.purchases[:top]
        for r in shown:
            lines.append(
                f"| {r['material']} | {r['source']} ({r['region']}) | {_md_cell(r['scenario'])} | "
                f"{fmt_amount(r['quantity_old'])} → {fmt_amount(r['quantity_new'])} | "
                f"{fmt_amount(r['spend_old'])} → {fmt_amount(r['spend_new'])} | "
                f"{fmt_signed(r['spend_delta'])} |")
        if more := _more(len(d.purchases), len(shown), "rows"):
            lines.append(f"\n{more}")
    if d.sources:
        lines += ["", "#### Sources that appeared or vanished", ""]
        shown = d.sources[:top]
        for r in shown:
            lines.append(f"- `{r['source']}` ({r['material']}, {r['region']}): {_source_words(r)}")
        if more := _more(len(d.sources), len(shown), "sources"):
            lines.append(f"- {more}")
    if d.stockpile:
        lines += ["", "#### Stockpile trajectories that moved", "",
                  "| material | scenario | largest change | in period | level | periods changed |",
                  "| --- | --- | ---: | --- | ---: | ---: |"]
        shown = d.stockpile[: max(top // 2, 1)]
        for r in shown:
            lines.append(f"| {r['material']} | {_md_cell(r['scenario'])} | {fmt_signed(r['max_change'])} | "
                         f"{r['period']} | {fmt_amount(r['level_old'])} → {fmt_amount(r['level_new'])} | "
                         f"{r['periods_changed']} |")
        if more := _more(len(d.stockpile), len(shown), "rows"):
            lines.append(f"\n{more}")
    footer = []
    if tables := _tables_line(d.tables):
        footer.append(f"Rows: {tables}.")
    footer += [f"_{n}_" for n in d.notes]
    footer.append(f"Plan changes of at most {d.tolerance:g} are hidden; every input change is shown.")
    lines += ["", " ".join(footer)]
    return "\n".join(lines) + "\n"


def _text_table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return [line(header).rstrip(), line(["-" * w for w in widths]), *(line(r).rstrip() for r in rows)]


def render_text(d: Diff, top: int = DEFAULT_TOP) -> str:
    """Plain text for a terminal: the same sections as the Markdown, as aligned columns."""
    cur = d.currency
    lines = [f"Plan diff: {d.old} -> {d.new}"]
    if not d.changed:
        obj = next((r["new"] for r in d.headline if r["metric"] == "objective"), None)
        lines.append(f"No change: the same inputs, and no plan figure moved by more than {d.tolerance:g} "
                     f"(status {d.status['new']}, objective {fmt_amount(obj)} {cur}).")
        return "\n".join(lines) + "\n"
    if d.status["old"] != d.status["new"]:
        lines.append(f"Status changed: {d.status['old']} -> {d.status['new']}")
    lines.append("")
    lines += _text_table([f"{cur} unless stated", d.old, d.new, "change"],
                         [[r["label"], fmt_amount(r["old"]), fmt_amount(r["new"]),
                           fmt_delta(r["delta"], r["relative"], r["old"], r["new"])] for r in d.headline], {1, 2, 3})
    if d.inputs:
        lines += ["", f"Input changes ({len(d.inputs)}):"]
        for ch in d.inputs[: max(top, 1)]:
            path, what = describe_input(ch)
            lines.append(f"  {path}: {what}")
        if more := _more(len(d.inputs), min(len(d.inputs), max(top, 1)), "input changes"):
            lines.append(f"  {more.replace('`', '')}")
    else:
        lines += ["", "Inputs are identical."]
    if d.purchases:
        lines += ["", "Purchases that changed most:"]
        lines += _text_table(
            ["material", "source", "scenario", "quantity old", "new", f"spend old ({cur})", "new", "change"],
            [[r["material"], r["source"], r["scenario"], fmt_amount(r["quantity_old"]), fmt_amount(r["quantity_new"]),
              fmt_amount(r["spend_old"]), fmt_amount(r["spend_new"]), fmt_signed(r["spend_delta"])]
             for r in d.purchases[:top]], {3, 4, 5, 6, 7})
        if more := _more(len(d.purchases), min(len(d.purchases), top), "rows"):
            lines.append(more.replace("`", ""))
    if d.sources:
        lines += ["", "Sources that appeared or vanished:"]
        lines += [f"  {r['source']} ({r['material']}, {r['region']}): {_source_words(r)}" for r in d.sources[:top]]
    if d.stockpile:
        lines += ["", "Stockpile trajectories that moved:"]
        lines += _text_table(["material", "scenario", "largest change", "period", "level old", "new"],
                             [[r["material"], r["scenario"], fmt_signed(r["max_change"]), r["period"],
                               fmt_amount(r["level_old"]), fmt_amount(r["level_new"])]
                              for r in d.stockpile[:top]], {2, 4, 5})
    if tables := _tables_line(d.tables):
        lines += ["", f"Rows: {tables}."]
    lines += [f"Note: {n}" for n in d.notes]
    return "\n".join(lines) + "\n"


def render_json(d: Diff) -> str:
    """Everything, unabridged: sorted keys, two-space indent."""
    return json.dumps(d.to_dict(), sort_keys=True, indent=2, ensure_ascii=False, default=str) + "\n"


def render(d: Diff, fmt: str = "md", top: int = DEFAULT_TOP) -> str:
    """Render in `md` (Markdown), `text` or `json`."""
    if fmt in ("md", "markdown"):
        return render_markdown(d, top)
    if fmt == "text":
        return render_text(d, top)
    if fmt == "json":
        return render_json(d)
    raise ResultFolderError(f"unknown diff format {fmt!r}: use md, text or json")
