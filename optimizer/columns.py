"""Arrow columns made from NumPy and read back into NumPy without pandas.

pyarrow imports pandas, when it is installed, the first time `pa.array`, `pa.table` or `to_numpy` is
called (to check whether its argument is a pandas object); that import costs about as much as NumPy
and HiGHS together, most of a planner-sized run. The result tables are made and written through the
functions here, which build arrays from buffers, so `optimize` never loads pandas
(benchmarks/startup.py measures it; tests/test_architecture.py checks it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa


def _validity(valid: np.ndarray) -> pa.Buffer | None:
    """Arrow's validity bitmap (least significant bit first) for a boolean mask; None when all valid."""
    if valid.all():
        return None
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def floats(values: np.ndarray) -> pa.Array:
    """float64 column; NaN becomes a missing value (an empty CSV cell)."""
    x = np.ascontiguousarray(values, dtype=np.float64)
    return pa.Array.from_buffers(pa.float64(), len(x), [_validity(~np.isnan(x)), pa.py_buffer(x)])


def integers(values: np.ndarray) -> pa.Array:
    """int64 column (indices for `take`)."""
    x = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(x), [None, pa.py_buffer(x)])


def strings(values: Sequence[str | None]) -> pa.Array:
    """UTF-8 string column; None is a missing value."""
    encoded = [b"" if v is None else v.encode() for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    valid = np.array([v is not None for v in values], dtype=bool)
    data = pa.py_buffer(b"".join(encoded))
    return pa.StringArray.from_buffers(len(encoded), pa.py_buffer(offsets), data, _validity(valid))


def coded_strings(names: Sequence[str | None], codes: np.ndarray) -> pa.Array:
    """String column whose row i is names[codes[i]]: each distinct name encoded once."""
    return strings(names).take(integers(codes))


def table(columns: dict[str, pa.Array]) -> pa.Table:
    """An Arrow table of the given columns, in order."""
    return pa.Table.from_arrays(list(columns.values()), names=list(columns))


def to_floats(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A float64 column as NumPy (a copy); missing values become NaN."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    n = len(column)
    validity, data = column.buffers()[:2]
    out = np.frombuffer(data, dtype=np.float64, count=n, offset=column.offset * 8).copy() if n else np.zeros(0)
    if validity is not None and column.null_count:
        bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
        out[bits[column.offset: column.offset + n] == 0] = np.nan
    return out
