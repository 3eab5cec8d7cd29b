"""Result tables are ordered and grouped on integer codes (optimizer.results.CodedTable); that must
give exactly what sorting and grouping the text would."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.results import CodedTable, _weighted_totals, dataframe

NAMES = st.lists(st.text(alphabet="abAB-_09é", min_size=1, max_size=4), min_size=1, max_size=6, unique=True)


@st.composite
def tables(draw):
    first, second = draw(NAMES), draw(NAMES)
    rows = draw(st.integers(0, 30))
    a = np.array(draw(st.lists(st.integers(0, len(first) - 1), min_size=rows, max_size=rows)), dtype=np.int64)
    b = np.array(draw(st.lists(st.integers(0, len(second) - 1), min_size=rows, max_size=rows)), dtype=np.int64)
    value = np.array(draw(st.lists(st.floats(-1e6, 1e6), min_size=rows, max_size=rows)), dtype=float)
    return CodedTable({"a": a, "b": b, "value": value}, {"a": first, "b": second})


@settings(max_examples=200, deadline=None)
@given(tables())
def test_ordering_on_codes_equals_sorting_the_text(table):
    """Rows ordered by (a, b) on codes come out as pandas' stable sort of the text columns."""
    expected = dataframe(table.arrow()).sort_values(["a", "b"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(dataframe(table.ordered_by(["a", "b"]).arrow()), expected)


@settings(max_examples=200, deadline=None)
@given(tables())
def test_totals_on_codes_equal_a_groupby_of_the_text(table):
    """Totals by name cover exactly the names that occur, in name order, with pandas' sums."""
    frame = dataframe(table.arrow())
    expected = {str(k): float(v) for k, v in sorted(frame.groupby("a")["value"].sum().items())}
    got = _weighted_totals(table.names["a"], table.columns["a"], table.columns["value"])
    assert list(got) == list(expected)
    assert np.allclose(list(got.values()), list(expected.values()), rtol=1e-12, atol=1e-6)


def test_text_columns_are_pandas_strings_and_missing_labels_stay_missing():
    """Text is pandas' default string dtype; a code pointing at None (a period past the horizon) is missing."""
    table = CodedTable({"period": np.array([1, 0, 2])}, {"period": ["2026-01", "2026-02", None]})
    frame = dataframe(table.ordered_by(["period"]).arrow())
    assert frame["period"].dtype == pd.Series(["x"]).dtype
    assert frame["period"].tolist()[:2] == ["2026-01", "2026-02"] and pd.isna(frame["period"].iloc[2])
