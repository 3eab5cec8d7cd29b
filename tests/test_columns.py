"""optimizer.columns: Arrow columns built from buffers hold exactly what pyarrow's own constructors
would (which the tests may use: pandas is allowed here)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from optimizer import columns

FLOATS = st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), max_size=40)
NAMES = st.lists(st.one_of(st.none(), st.text(max_size=6)), min_size=1, max_size=12)


@given(FLOATS)
def test_floats_round_trip_with_nan_as_missing(values):
    x = np.array(values, dtype=float)
    array = columns.floats(x)
    assert array.equals(pa.array(x, from_pandas=True))
    back = columns.to_floats(pa.chunked_array([array]))
    assert np.array_equal(back, x, equal_nan=True)


@given(FLOATS, st.integers(0, 40), st.integers(0, 40))
def test_to_floats_of_a_slice(values, start, length):
    """A sliced column (non-zero offset into its buffers) reads back as the slice."""
    x = np.array(values, dtype=float)
    array = columns.floats(x).slice(start, length)
    assert np.array_equal(columns.to_floats(array), x[start: start + length], equal_nan=True)


@given(NAMES, st.data())
def test_coded_strings_are_the_names_taken_by_code(names, data):
    codes = data.draw(st.lists(st.integers(0, len(names) - 1), max_size=30))
    array = columns.coded_strings(names, np.array(codes, dtype=np.int64))
    assert array.equals(pa.array([names[c] for c in codes], pa.string()))


def test_table_keeps_column_order():
    t = columns.table({"b": columns.strings(["x"]), "a": columns.floats(np.array([1.5]))})
    assert t.column_names == ["b", "a"] and t.to_pylist() == [{"b": "x", "a": 1.5}]
