"""Scenario workbooks: an Excel file read into the same dict as a YAML file, and written from one.

The layout comes from the schema (`optimizer.fields`), not from lists of field names:
- `general`: one row per field of the top level and of its sections (`horizon.start`, `risk.alpha`);
- one sheet per list of sections (`materials`, `sources`, ..., the `rules` of policies and scenario
  events), one row per item and one column per field, nested fields dotted (`stockpile.initial`,
  `where.region`, `outputs.nickel`); a list inside an item (a scenario's events) is a sheet whose
  rows name their item in a column (`scenario`);
- `series`: a SERIES given per period or as steps, one row per series, one column per month;
- `README` and sheets or columns whose name starts with `#` are notes and are not read.
docs/excel.md describes it for planners. Positions of problems are cells (`sources!D7`).
"""

from optimizer.excel.layout import GENERAL, README, SERIES, Layout, LayoutError, layout_of
from optimizer.excel.read import read_workbook
from optimizer.excel.write import workbook_bytes

__all__ = ["GENERAL", "README", "SERIES", "Layout", "LayoutError", "layout_of", "read_workbook", "workbook_bytes"]
