"""Result folder writer: canonical bytes (sorted rows, fixed number format), written in one atomic
swap by optimizer.destination."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.destination import Destination, check_destination, staged, write_files
from optimizer.schema import TEXT_COLUMNS

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

CSV_DIGITS = 10  # significant digits in CSV files
JSON_DIGITS = 12  # significant digits in summary.json (SPEC: at least 10)
ANALYSIS_DIGITS = 10  # significant digits in analysis.json (SPEC 7)


def _round(value: Any, digits: int = JSON_DIGITS) -> Any:
    """Round floats in nested JSON data to `digits` significant digits (and -0 to 0)."""
    if isinstance(value, dict):
        return {str(k): _round(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_round(v, digits) for v in value]
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return None
        if abs(value) < 1e-9:
            return 0.0
        return float(f"{float(value):.{digits}g}")
    if isinstance(value, np.integer):
        return int(value)
    return value


def json_bytes(data: Any, digits: int = JSON_DIGITS) -> bytes:
    """Canonical JSON: sorted keys, numbers rounded to `digits` significant digits, two-space indent,
    trailing newline."""
    return (json.dumps(_round(data, digits), sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def round_significant(values: np.ndarray, digits: int = CSV_DIGITS) -> np.ndarray:
    """Round to `digits` significant digits; |x| < 1e-9 becomes 0 (no -0, no solver dust)."""
    x = np.asarray(values, dtype=float)
    out = np.where(np.abs(x) < 1e-9, 0.0, x)
    nz = np.isfinite(out) & (out != 0)
    scale = 10.0 ** (digits - 1 - np.floor(np.log10(np.abs(out[nz]))))
    out[nz] = np.round(out[nz] * scale) / scale
    return out + 0.0


def csv_bytes(data: pa.Table | pd.DataFrame, quoted: bool = False) -> bytes:
    """CSV bytes with the fixed number rule: rounded to CSV_DIGITS significant digits, written in
    shortest plain decimal form (10 not 10.0, 15000000000 not 1.5e+10; missing values empty), LF line
    ends, no quoting (ids, names and labels cannot contain commas, quotes or line breaks). `quoted`
    (free text, such as a sweep's messages) quotes the cells that need it. Result tables come as
    Arrow tables (no pandas in a run); a DataFrame is accepted for tables made by other commands."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    from optimizer.columns import to_floats

    if not isinstance(data, pa.Table):
        data = _arrow_of_frame(data)
    columns = {}
    for col, values in zip(data.column_names, data.columns):
        if pa.types.is_floating(values.type):
            columns[col] = _plain_decimal(round_significant(to_floats(values)))
        else:
            columns[col] = values.cast(pa.string())
    names = data.column_names
    table = pa.Table.from_arrays(list(columns.values()), names=names)
    if quoted:
        # Python's writer quotes only cells holding a comma, quote or line break; Arrow's "needed"
        # style would quote every text cell, numbers handed over as text included.
        import csv

        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(table.column_names)
        writer.writerows(zip(*(col.cast(pa.string()).to_pylist() for col in table.columns)))
        return text.getvalue().encode()
    out = io.BytesIO()
    pa_csv.write_csv(table, out, pa_csv.WriteOptions(quoting_style="none", quoting_header="none", null_string=""))
    return out.getvalue()


def _arrow_of_frame(df: pd.DataFrame) -> pa.Table:
    """A DataFrame as an Arrow table for `csv_bytes`: float columns as float64 (NaN missing), pandas'
    Arrow-backed text as it is, anything else as text (None and NaN missing)."""
    import pyarrow as pa

    from optimizer.columns import floats

    columns = {}
    for col in df.columns:
        if df[col].dtype.kind == "f":
            columns[col] = floats(df[col].to_numpy(dtype=float))
        elif str(df[col].dtype) == "str":
            columns[col] = pa.array(df[col].array, type=pa.string())
        else:
            columns[col] = pa.array([None if v is None or v != v else str(v) for v in df[col].tolist()],
                                    type=pa.string())
    return pa.Table.from_arrays(list(columns.values()), names=[str(c) for c in df.columns])


def _plain_decimal(values: np.ndarray):
    """Numbers for Arrow's CSV writer, which prints the shortest form itself (fast) but switches to an
    exponent from 1e10 up and below 1e-6; those few are handed over as positional text of the same
    digits. Only values in a wider band around those limits are looked at as text (usually none)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from optimizer.columns import floats, strings

    array = floats(values)  # NaN -> empty cell
    size = np.abs(values)
    near = np.flatnonzero(np.isfinite(size) & ((size >= 1e9) | ((size > 0) & (size < 1e-5))))
    if not len(near):
        return array
    exponent = near[np.char.find(np.array(pc.cast(array.take(near), pa.string()).to_pylist(), dtype=str), "e") >= 0]
    if not len(exponent):
        return array
    plain = np.array(pc.cast(array, pa.string()).to_pylist(), dtype=object)
    for i in exponent:
        plain[i] = np.format_float_positional(values[i], unique=True, trim="-")
    return strings(plain.tolist())


# --- optional formats: parquet (one file per table) and xlsx (results.xlsx, one sheet per table) ---

FORMATS = ("csv", "json", "parquet", "xlsx")
XLSX_MAX_ROWS = 1_048_575  # one row of an Excel sheet is the header
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _columns(table: pa.Table) -> dict[str, list]:
    """Column -> values as in the CSV: text as str, numbers rounded to CSV_DIGITS significant digits."""
    from optimizer.columns import to_floats

    out: dict[str, list] = {}
    for col, values in zip(table.column_names, table.columns):
        if col in TEXT_COLUMNS:
            out[col] = ["" if v is None else str(v) for v in values.to_pylist()]
        else:
            rounded = round_significant(to_floats(values))
            out[col] = [None if v != v else float(v) for v in rounded.tolist()]
    return out


def parquet_bytes(table: pa.Table) -> bytes:
    """One table as Parquet (typed columns, the CSV's numbers, no index); same bytes for the same table."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        from optimizer.errors import OptimizerError

        raise OptimizerError("--format parquet needs pyarrow: "
                             "pip install 'mineral-stockpile-optimizer[formats]'") from None
    cols = _columns(table)
    table = pa.table({c: pa.array(v, type=pa.string() if c in TEXT_COLUMNS else pa.float64())
                      for c, v in cols.items()})
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    return out.getvalue()


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(data, dict):
        return [row for k in sorted(data) for row in _flatten(data[k], f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(data, (list, tuple)):
        return [(prefix, json.dumps(data))]
    return [(prefix, data)]


def xlsx_bytes(summary: dict, tables: dict[str, pa.Table]) -> bytes:
    """results.xlsx: a `summary` sheet (field, value) and one sheet per table; fixed timestamps."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("summary")
    ws.column_dimensions["A"].width = 40
    ws.column_dimensions["B"].width = 24
    ws.freeze_panes = "A2"
    ws.append(["field", "value"])
    first = ("name", "status", "objective", "expected_cost", "cvar", "cvar_alpha", "cash_spend", "currency")
    rows = _flatten(_round(summary))
    for key, value in sorted(rows, key=lambda kv: first.index(kv[0]) if kv[0] in first else len(first)):
        ws.append([key, value])
    for name, table in tables.items():
        if table.num_rows > XLSX_MAX_ROWS:
            from optimizer.errors import OptimizerError

            raise OptimizerError(f"--format xlsx: the {name} table has {table.num_rows} rows, more than an Excel "
                                 f"sheet holds ({XLSX_MAX_ROWS}); use --format csv or parquet")
        cols = _columns(table)
        ws = wb.create_sheet(name)
        ws.freeze_panes = "A2"
        for i, col in enumerate(cols, start=1):
            ws.column_dimensions[get_column_letter(i)].width = max(12, len(col) + 2)
        ws.append(list(cols))
        for row in zip(*cols.values()):
            ws.append(list(row))
    return workbook_bytes(wb)


def workbook_bytes(wb: Any) -> bytes:
    """An openpyxl workbook as .xlsx bytes, the same bytes for the same content: openpyxl stamps the
    document with the time it was saved and the zip entries with the current time; both are fixed."""
    import re
    import zipfile

    raw = io.BytesIO()
    wb.save(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:)",
                              rb"\g<1>2000-01-01T00:00:00Z\g<3>", data)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME), data, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def result_files(solution, formats: tuple[str, ...] = ("csv", "json")) -> dict[str, bytes]:
    """Every file of the result folder, name -> bytes."""
    files = {
        "summary.json": json_bytes(solution.summary),
        "scenario.json": json_bytes(solution.scenario.model_dump(mode="json", by_alias=True, exclude_none=True)),
        "run.json": json_bytes(solution.run),
    }
    if solution.scenario.disruptions is not None:
        from optimizer.disruptions import generate

        files["tree.json"] = json_bytes(generate(solution.scenario).to_json())
    if solution.analysis is not None:
        files["analysis.json"] = json_bytes(solution.analysis, ANALYSIS_DIGITS)
    for name, table in solution.arrow_tables.items():
        if "csv" in formats:
            files[f"{name}.csv"] = csv_bytes(table)
        if "parquet" in formats:
            files[f"{name}.parquet"] = parquet_bytes(table)
    if "xlsx" in formats:
        files["results.xlsx"] = xlsx_bytes(solution.summary, solution.arrow_tables)
    return files


def write_results(solution, target: str | Path | Destination, formats: tuple[str, ...] = ("csv", "json"),
                  *, report: bool = False, force: bool = False) -> Path:
    """Write the result folder at `target` in one atomic swap (see optimizer.destination), with
    report.html and charts/ when `report`; returns the folder's path as given.

    A target that exists must be a result folder (or empty) unless `force`; a failing report leaves
    the previous folder as it was.
    """
    dest = target if isinstance(target, Destination) else check_destination(target, force=force)
    with staged(dest) as folder:
        write_files(folder, result_files(solution, formats))
        if report:
            write_files(folder, _report_files(folder, dest))
    return dest.path


def _report_files(folder: Path, dest: Destination) -> dict[str, bytes]:
    from optimizer.errors import OptimizerError
    from optimizer.report import report_files

    try:
        return report_files(folder, name=dest.path.name)
    except (OptimizerError, OSError):
        raise
    except Exception as exc:  # a report bug must not cost the user the results: say what happened
        raise OptimizerError(f"the report failed ({type(exc).__name__}: {exc}); nothing was written and "
                             f"{dest.path} is as it was (set OPTIMIZE_DEBUG=1 for a traceback)") from exc
