"""Result folder writer: canonical bytes (sorted rows, fixed number format) written atomically.

A run writes into a hidden temporary folder beside the target and then swaps it in with one
rename (Linux renameat2 RENAME_EXCHANGE when the target exists), so a failed or killed run never
leaves a half-written folder and never destroys the previous results.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.schema import TABLES, TEXT_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

CSV_DIGITS = 10  # significant digits in CSV files
JSON_DIGITS = 12  # significant digits in summary.json (SPEC: at least 10)


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


def json_bytes(data: Any) -> bytes:
    """Canonical JSON: sorted keys, rounded numbers, two-space indent, trailing newline."""
    return (json.dumps(_round(data), sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def round_significant(values: np.ndarray, digits: int = CSV_DIGITS) -> np.ndarray:
    """Round to `digits` significant digits; |x| < 1e-9 becomes 0 (no -0, no solver dust)."""
    x = np.asarray(values, dtype=float)
    out = np.where(np.abs(x) < 1e-9, 0.0, x)
    nz = np.isfinite(out) & (out != 0)
    scale = 10.0 ** (digits - 1 - np.floor(np.log10(np.abs(out[nz]))))
    out[nz] = np.round(out[nz] * scale) / scale
    return out + 0.0


def csv_bytes(df: pd.DataFrame, quoted: bool = False) -> bytes:
    """CSV bytes with the fixed number rule: rounded to CSV_DIGITS significant digits, written in
    shortest form by Arrow's C writer (10 not 10.0; missing values empty), LF line ends, no quoting
    (ids, names and labels cannot contain commas, quotes or line breaks; `quoted` for free text)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    columns = {}
    for col in df.columns:
        if df[col].dtype.kind == "f":
            columns[col] = pa.array(round_significant(df[col].to_numpy(dtype=float)), from_pandas=True)
        elif str(df[col].dtype) == "str":  # pandas' Arrow-backed text: handed over as it is, missing -> null
            columns[col] = pa.array(df[col].array, type=pa.string())
        else:
            columns[col] = pa.array([None if v is None or v != v else str(v) for v in df[col].tolist()],
                                    type=pa.string())
    table = pa.table(columns) if columns else pa.table({c: pa.array([], pa.string()) for c in df.columns})
    out = io.BytesIO()
    style = "needed" if quoted else "none"
    pa_csv.write_csv(table, out, pa_csv.WriteOptions(quoting_style=style, quoting_header="none", null_string=""))
    return out.getvalue()


# --- optional formats: parquet (one file per table) and xlsx (results.xlsx, one sheet per table) ---

FORMATS = ("csv", "json", "parquet", "xlsx")
XLSX_MAX_ROWS = 1_048_575  # one row of an Excel sheet is the header
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _columns(name: str, df: pd.DataFrame) -> dict[str, list]:
    """Column -> values as in the CSV: text as str, numbers rounded to CSV_DIGITS significant digits."""
    out: dict[str, list] = {}
    for col in (TABLES[name].column_names if df.empty else list(df.columns)):
        values = df[col].tolist() if col in df.columns else []
        if col in TEXT_COLUMNS:
            out[col] = ["" if v is None or v != v else str(v) for v in values]
        else:
            rounded = round_significant(np.asarray(values, dtype=float))
            out[col] = [None if v != v else float(v) for v in rounded.tolist()]
    return out


def parquet_bytes(name: str, df: pd.DataFrame) -> bytes:
    """One table as Parquet (typed columns, the CSV's numbers, no index); same bytes for the same table."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        from optimizer.errors import OptimizerError

        raise OptimizerError("--format parquet needs pyarrow: "
                             "pip install 'mineral-stockpile-optimizer[formats]'") from None
    cols = _columns(name, df)
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


def xlsx_bytes(summary: dict, tables: dict[str, pd.DataFrame]) -> bytes:
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
    for name, df in tables.items():
        if len(df) > XLSX_MAX_ROWS:
            from optimizer.errors import OptimizerError

            raise OptimizerError(f"--format xlsx: the {name} table has {len(df)} rows, more than an Excel sheet "
                                 f"holds ({XLSX_MAX_ROWS}); use --format csv or parquet")
        cols = _columns(name, df)
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
    for name, df in solution.tables.items():
        df = df.reindex(columns=TABLES[name].column_names) if df.empty else df
        if "csv" in formats:
            files[f"{name}.csv"] = csv_bytes(df)
        if "parquet" in formats:
            files[f"{name}.parquet"] = parquet_bytes(name, df)
    if "xlsx" in formats:
        files["results.xlsx"] = xlsx_bytes(solution.summary, solution.tables)
    return files


def write_results(solution, target: Path, formats: tuple[str, ...] = ("csv", "json")) -> Path:
    """Write the result folder at `target` atomically; returns `target`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    try:
        for name, data in result_files(solution, formats).items():
            path = tmp / name
            with open(path, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        swap_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def remove_stale_temporaries(target: Path) -> None:
    """Remove temporary folders beside `target` left by runs that were killed (their process is gone)."""
    for path in target.parent.glob(f".{target.name}.*-*-*"):
        parts = path.name[len(target.name) + 2:].split("-")
        if len(parts) < 3 or parts[0] not in ("tmp", "old") or not parts[1].isdigit():
            continue
        if not _alive(int(parts[1])):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def swap_into_place(new: Path, target: Path) -> None:
    """Make `new` appear at `target` in one step; the old folder (if any) is removed afterwards."""
    if not target.exists():
        os.rename(new, target)
        _fsync_dir(target.parent)
        return
    if not target.is_dir():
        raise FileExistsError(f"{target} exists and is not a folder")
    if _rename_exchange(new, target):
        _fsync_dir(target.parent)
        shutil.rmtree(new, ignore_errors=True)  # `new` now holds the previous results
        return
    # Fallback (no renameat2): move the old folder aside, then the new one in.
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-{os.getpid()}-", dir=target.parent))
    os.rmdir(old)
    os.rename(target, old)
    os.rename(new, target)
    _fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _rename_exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with renameat2(RENAME_EXCHANGE); False if unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(str(a)), _AT_FDCWD, os.fsencode(str(b)), _RENAME_EXCHANGE)
    return rc == 0


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
