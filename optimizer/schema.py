"""The result tables, declared once: columns in order, which are text, the sort keys and units.

Results build the tables in this order and sort them on these keys; export writes these columns
(CSV, parquet, xlsx); `diff`, `report` and `--baseline` read folders against them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    text: bool = False
    unit: str = ""
    """Unit of a number column: `unit` (the material's), `$` (the scenario's currency), `$/unit`, `-`."""


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[Column, ...]
    keys: tuple[str, ...]
    """Sort order of the rows; also what identifies a row when two folders are compared."""
    doc: str

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def text_columns(self) -> frozenset[str]:
        return frozenset(c.name for c in self.columns if c.text)


def _text(*names: str) -> tuple[Column, ...]:
    return tuple(Column(n, text=True) for n in names)


TABLES: dict[str, TableSchema] = {t.name: t for t in (
    TableSchema(
        "purchases",
        (*_text("scenario", "period", "source", "material", "region", "country"), Column("quantity", unit="unit"),
         Column("unit_price", unit="$/unit"), Column("tariff_rate", unit="-"), Column("landed_cost", unit="$/unit"),
         Column("spend", unit="$"), Column("arrival_period", text=True)),
        ("scenario", "period", "source"),
        "one row per order: quantity ordered, price before tariff, tariff rate, landed cost, money paid, arrival "
        "(an order a ban on arrival stops: spend 0, no arrival period)",
    ),
    TableSchema(
        "stockpile",
        (*_text("scenario", "period", "material"), Column("level", unit="unit"), Column("target", unit="unit"),
         Column("below_target", unit="unit"), Column("shortfall", unit="unit"), Column("surplus", unit="unit"),
         Column("demand", unit="unit")),
        ("scenario", "period", "material"),
        "end-of-period stock against the target in force (0 where released), unmet demand, disposal, demand",
    ),
    TableSchema(
        "processing",
        (*_text("scenario", "period", "processor", "material", "flow"), Column("quantity", unit="unit"),
         Column("unit_cost", unit="$/unit"), Column("spend", unit="$")),
        ("scenario", "period", "processor", "flow", "material"),
        "input consumed (flow=input) and co-products made (flow=output) by each processor",
    ),
    TableSchema(
        "expansion",
        (*_text("scenario", "period", "kind", "entity"), Column("built", unit="unit/period"),
         Column("capex", unit="$ per unit/period"), Column("spend", unit="$"), Column("usable_from", text=True)),
        ("scenario", "period", "kind", "entity"),
        "capacity built for a source or processor, its cost and the period from which it can be used",
    ),
    TableSchema(
        "prices",
        (*_text("scenario", "period", "material"), Column("shadow_price", unit="$/unit")),
        ("scenario", "period", "material"),
        "value of one more unit of a material in that period and scenario, in that period's money",
    ),
)}

#: Every text column of every table (a column name is text in every table it appears in).
TEXT_COLUMNS = frozenset().union(*(t.text_columns for t in TABLES.values()))
