"""The scenario file as Pydantic v2 models (SPEC section 2): what the planner writes.

Every model is strict and frozen and forbids unknown keys. Cross-field rules (ids, references,
series lengths, filters that match nothing, probabilities) live in `checks.py`.
"""

from __future__ import annotations

import math
import re
import reprlib
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
ID_RE = r"^[a-z0-9_-]+$"

REGIONS = ("domestic", "allied", "deep_sea", "china", "other")
Region = Literal["domestic", "allied", "deep_sea", "china", "other"]

#: Default supplier risk score by region (SPEC 4.4).
DEFAULT_RISK = {"domestic": 0.05, "allied": 0.15, "deep_sea": 0.35, "other": 0.5, "china": 0.9}

PERIOD_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def _validate_month(value: Any) -> str:
    if not isinstance(value, str) or not MONTH_RE.match(value):
        raise PydanticCustomError("month", f"expected a month as YYYY-MM (e.g. 2027-01), got {reprlib.repr(value)}")
    return value


Month = Annotated[
    str,
    PlainValidator(_validate_month),
    WithJsonSchema({"type": "string", "pattern": MONTH_RE.pattern, "description": "YYYY-MM"}),
]


def _number(value: Any, what: str = "a number") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PydanticCustomError("number", f"expected {what}, got {reprlib.repr(value)}")  # any depth
    try:
        value = float(value)
    except OverflowError:
        raise PydanticCustomError("finite", f"must be at most {MAX_NUMBER:g}, got a {len(str(value))}-digit "
                                            "integer") from None
    if not math.isfinite(value):
        raise PydanticCustomError("finite", f"must be a finite number, got {value!r}")
    if value > MAX_NUMBER:
        raise PydanticCustomError("finite", f"must be at most {MAX_NUMBER:g}, got {value!r}")
    if value < 0:
        raise PydanticCustomError("nonneg", f"must be >= 0, got {value!r}")
    return float(value)


def _validate_series(value: Any) -> float | tuple[float, ...] | dict[str, float]:
    """SERIES: a constant, a list of one value per period, or a {YYYY-MM: value} step function."""
    if isinstance(value, list):
        if not value:
            raise PydanticCustomError("series", "a series list must not be empty")
        out = []
        for i, item in enumerate(value):
            try:
                out.append(_number(item))
            except PydanticCustomError as exc:
                raise PydanticCustomError("series", f"item {i}: {exc.message()}") from None
        return tuple(out)
    if isinstance(value, dict):
        if not value:
            raise PydanticCustomError("series", "a series mapping must have at least one YYYY-MM key")
        out_map: dict[str, float] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not MONTH_RE.match(key):
                raise PydanticCustomError("series", f"mapping key {key!r} is not a month YYYY-MM")
            try:
                out_map[key] = _number(item)
            except PydanticCustomError as exc:
                raise PydanticCustomError("series", f"key {key}: {exc.message()}") from None
        return dict(sorted(out_map.items()))
    try:
        return _number(value, "a number, a list of numbers or a {YYYY-MM: number} mapping")
    except PydanticCustomError:
        raise


_SERIES_SCHEMA = {
    "description": "A constant, a list of one value per period, or a {YYYY-MM: value} step function",
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "array", "items": {"type": "number", "minimum": 0}, "minItems": 1},
        {
            "type": "object",
            "patternProperties": {MONTH_RE.pattern: {"type": "number", "minimum": 0}},
            "additionalProperties": False,
            "minProperties": 1,
        },
    ],
}

def _dump_series(value: float | tuple[float, ...] | dict[str, float]) -> Any:
    return list(value) if isinstance(value, (tuple, list)) else value


Series = Annotated[
    Any,
    PlainValidator(_validate_series),
    PlainSerializer(_dump_series),
    WithJsonSchema(_SERIES_SCHEMA),
]

#: Largest number accepted anywhere: beyond it the LP cannot be solved accurately (or at all).
MAX_NUMBER = 1e15
#: Longest lead time, in periods (the horizon is at most 10,000 periods).
MAX_LEAD = 10_000

NonNeg = Annotated[float, Field(ge=0, le=MAX_NUMBER, allow_inf_nan=False)]
LeadTime = Annotated[int, Field(ge=0, le=MAX_LEAD)]
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Id = Annotated[str, Field(pattern=ID_RE, min_length=1, max_length=100)]
OneOrMany = str | list[str]


def _is_zero(value: float) -> bool:
    return value == 0


#: A discrete-decision field of SPEC v2 (`min_order`, `fixed_cost`, `expansion.unit`), >= 0, default 0
#: meaning "not asked for". Left out of dumps at 0, so a scenario that does not use discrete decisions
#: dumps, hashes (`scenario_sha256`) and converts exactly as before they existed.
Discrete = Annotated[float, Field(ge=0, le=MAX_NUMBER, allow_inf_nan=False, exclude_if=_is_zero)]


class Strict(BaseModel):
    """Base of every scenario model: strict types, no unknown keys, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        allow_inf_nan=False,
        populate_by_name=True,
        use_attribute_docstrings=True,
    )


class Window(Strict):
    """A from/until pair of months: `from` inclusive, `until` exclusive."""

    from_: Month | None = Field(default=None, alias="from")
    """First month covered (YYYY-MM, inclusive)."""
    until: Month | None = None
    """First month no longer covered (YYYY-MM, exclusive)."""

    @model_validator(mode="after")
    def _until_after_from(self) -> Window:
        if self.from_ is not None and self.until is not None and self.until <= self.from_:
            raise PydanticCustomError("window", f"`until` ({self.until}) must be after `from` ({self.from_})")
        return self


class Horizon(Strict):
    """The planning horizon."""

    start: Month
    """First period's first month, YYYY-MM."""
    periods: int = Field(ge=1, le=10_000)
    """Number of periods."""
    period: Literal["month", "quarter", "year"] = "month"
    """Length of one period."""
    discount_rate: NonNeg = 0.0
    """Annual discount rate (0.03 = 3 %)."""


class Stockpile(Strict):
    """Storage of a material in the stockpile."""

    initial: NonNeg = 0.0
    """Stock at the start of the horizon (units)."""
    capacity: Series | None = None
    """Maximum end-of-period stock (units); omitted = unlimited."""
    holding_cost: Series = 0.0
    """Cost per unit held at the end of a period ($/unit/period)."""
    target: Series = 0.0
    """Minimum end-of-period stock (units); soft unless hard_target."""
    target_penalty: NonNeg | None = None
    """Penalty per unit per period below target ($/unit/period)."""
    hard_target: bool = False
    """True: the target is a hard minimum (the plan may become infeasible)."""
    end_value: NonNeg = 0.0
    """Worth of a unit still held at the end of the horizon ($/unit), credited on the last period's
    stock, discounted (SPEC v2)."""


class Material(Strict):
    """A mineral or feedstock."""

    id: Id
    unit: str = "t"
    """Unit of quantities of this material."""
    description: str | None = None
    demand: Series = 0.0
    """Demand per period (units)."""
    shortfall_penalty: NonNeg | None = None
    """Penalty per unit of unmet demand ($/unit); required when any demand > 0."""
    sale_price: NonNeg = 0.0
    """Revenue per unit of surplus disposed of ($/unit)."""
    arrivals: Series = 0.0
    """Already-contracted receipts per period (units)."""
    stockpile: Stockpile | None = None
    """Omitted: the material cannot be stored (stock fixed at 0)."""


class Expansion(Strict):
    """Capacity that can be built."""

    max: NonNeg
    """Total extra capacity that can be built (units per period)."""
    capex: NonNeg
    """Cost per unit/period of capacity built ($)."""
    lead_time: LeadTime = 0
    """Periods from build to use."""
    unit: Discrete = 0.0
    """Build only in whole modules of this many units/period (0: any amount; at most `max`)."""


class Source(Strict):
    """Somewhere a material can be bought."""

    id: Id
    material: Id
    region: Region
    country: str = Field(pattern=r"^([A-Z]{2}|INTL)$")
    """ISO 3166 alpha-2 code, or INTL for areas beyond national jurisdiction."""
    description: str | None = None
    price: Series
    """Price before tariff ($/unit)."""
    freight: Series = 0.0
    """Freight and handling, not tariffed ($/unit)."""
    capacity: Series | None = None
    """Units per period available to us; omitted = unlimited."""
    lead_time: LeadTime = 0
    """Whole periods from order to arrival."""
    available_from: Month | None = None
    available_until: Month | None = None
    """Exclusive."""
    risk: Share | None = None
    """Supply risk score 0..1; default by region (SPEC 4.4)."""
    min_order: Discrete = 0.0
    """Each order is 0 or at least this many units (0: any amount). Needs a finite supply bound."""
    fixed_cost: Discrete = 0.0
    """$ per period in which an order is placed, delivered or not (0: none). Needs a finite supply bound."""
    expansion: Expansion | None = None

    @model_validator(mode="after")
    def _window(self) -> Source:
        _check_window(self.available_from, self.available_until, "available_until", "available_from")
        return self


class Processor(Strict):
    """A plant that turns one input material into co-products."""

    id: Id
    region: Region
    country: str = Field(pattern=r"^([A-Z]{2}|INTL)$")
    description: str | None = None
    input: Id
    """Material fed in."""
    outputs: dict[str, NonNeg] = Field(min_length=1)
    """Units of each output material per unit of input."""
    capacity: Series | None = None
    """Input units per period; omitted = unlimited."""
    cost: Series = 0.0
    """Processing cost ($/unit of input)."""
    available_from: Month | None = None
    available_until: Month | None = None
    expansion: Expansion | None = None

    @model_validator(mode="after")
    def _window(self) -> Processor:
        _check_window(self.available_from, self.available_until, "available_until", "available_from")
        return self


def _check_window(start: str | None, end: str | None, end_name: str, start_name: str) -> None:
    if start is not None and end is not None and end <= start:
        raise PydanticCustomError("window", f"`{end_name}` ({end}) must be after `{start_name}` ({start})")


class Filter(Strict):
    """Which entities a rule or limit applies to: every key given must match; empty matches all."""

    source: OneOrMany | None = None
    processor: OneOrMany | None = None
    material: OneOrMany | None = None
    region: Region | list[Region] | None = None
    country: OneOrMany | None = None

    def values(self, key: str) -> tuple[str, ...] | None:
        """The listed values of `key`, or None when the key is not given."""
        value = getattr(self, key)
        if value is None:
            return None
        return (value,) if isinstance(value, str) else tuple(value)


RuleType = Literal["tariff", "ban", "capacity", "price", "demand", "release"]


class Rule(Window):
    """A policy or scenario event: tariff, ban, capacity, price, demand or release rule."""

    type: RuleType
    name: str | None = None
    where: Filter = Filter()
    rate: NonNeg | None = None
    """Tariff rate as a fraction (1.45 = 145 %); tariff rules only."""
    multiplier: NonNeg | None = None
    """Scale factor; capacity, price and demand rules only."""
    on: Literal["order", "arrival"] | None = None
    """Ban rules only: `order` (omitted) bans orders placed in covered periods; `arrival` stops
    deliveries arriving in covered periods (orders are placed but never delivered nor paid)."""

    @property
    def stops_arrivals(self) -> bool:
        """A ban `on: arrival` (SPEC v2)."""
        return self.type == "ban" and self.on == "arrival"

    @model_validator(mode="after")
    def _parameters(self) -> Rule:
        if self.on is not None and self.type != "ban":
            raise PydanticCustomError("rule", f"`on` applies to ban rules only, not to a {self.type} rule")
        if self.type == "tariff":
            if self.rate is None:
                raise PydanticCustomError("rule", "a tariff rule needs `rate`")
            if self.multiplier is not None:
                raise PydanticCustomError("rule", "a tariff rule takes `rate`, not `multiplier`")
        elif self.type in ("ban", "release"):
            if self.rate is not None or self.multiplier is not None:
                raise PydanticCustomError("rule", f"a {self.type} rule takes neither `rate` nor `multiplier`")
        else:
            if self.multiplier is None:
                raise PydanticCustomError("rule", f"a {self.type} rule needs `multiplier`")
            if self.rate is not None:
                raise PydanticCustomError("rule", f"a {self.type} rule takes `multiplier`, not `rate`")
        return self


class Effect(Rule):
    """A rule an event puts in force while it lasts (any rule type, without `from`/`until`)."""

    @model_validator(mode="after")
    def _no_window(self) -> Effect:
        if self.from_ is not None or self.until is not None:
            raise PydanticCustomError("effect", "an effect holds while its event lasts: remove `from`/`until` "
                                                "(use the event's `earliest` for the first possible start)")
        return self


#: Largest number of stages an event may last (a century of quarters).
MAX_DURATION = 400


def _validate_duration(value: Any) -> int | dict[int, float]:
    """A whole number of stages >= 1, or a {stages: probability} mapping whose probabilities sum to 1."""
    def stages(item: Any) -> int:
        if isinstance(item, str) and item.strip().isdigit():
            item = int(item)
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= MAX_DURATION:
            raise PydanticCustomError("duration", f"a duration is a whole number of stages from 1 to "
                                                  f"{MAX_DURATION}, got {item!r}")
        return item

    if not isinstance(value, dict):
        return stages(value)
    if not value:
        raise PydanticCustomError("duration", "a duration mapping needs at least one {stages: probability}")
    out: dict[int, float] = {}
    for key, prob in value.items():
        d = stages(key)
        if d in out:
            raise PydanticCustomError("duration", f"{d} stages listed twice")
        if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 <= prob <= 1:
            raise PydanticCustomError("duration", f"the probability of {d} stages must be a number in [0, 1], "
                                                  f"got {prob!r}")
        out[d] = float(prob)
    total = sum(out.values())
    if abs(total - 1.0) > 1e-6:
        raise PydanticCustomError("duration", f"duration probabilities sum to {total:.9g}, not 1")
    return dict(sorted(out.items()))


Duration = Annotated[
    Any,
    PlainValidator(_validate_duration),
    PlainSerializer(lambda value: value if isinstance(value, int) else dict(value)),
    WithJsonSchema({
        "description": "Stages the event lasts: a whole number, or {stages: probability} summing to 1",
        "anyOf": [
            {"type": "integer", "minimum": 1, "maximum": MAX_DURATION},
            {"type": "object", "patternProperties": {r"^[1-9][0-9]*$": {"type": "number", "minimum": 0,
                                                                         "maximum": 1}},
             "additionalProperties": False, "minProperties": 1},
        ],
    }),
]


class Event(Strict):
    """A disruption that may start at a stage start and lasts a drawn number of stages (SPEC 8)."""

    name: Id
    """Names the event in scenario names (`cn-ban@2028x2`)."""
    description: str | None = None
    annual_probability: Share
    """Chance per year that the event starts while inactive."""
    duration: Duration
    """Stages it lasts: a whole number, or {stages: probability} summing to 1."""
    earliest: Month | None = None
    """No start before this month (YYYY-MM); omitted: from stage 1."""
    repeat: bool = False
    """False: at most once per path. True: it may start again at any stage start after it has ended."""
    effects: list[Effect] = Field(min_length=1)
    """Rules in force while the event lasts."""

    @property
    def durations(self) -> dict[int, float]:
        """{stages: probability}, also for a fixed duration."""
        return {self.duration: 1.0} if isinstance(self.duration, int) else dict(self.duration)


class Disruptions(Strict):
    """Disruption processes that generate the scenario tree (SPEC 8); replaces `scenarios`."""

    stage: Literal["year", "quarter"] = "year"
    """Branching points: every year (or quarter) from horizon.start."""
    max_scenarios: int = Field(default=64, ge=1, le=100_000)
    """All scenarios if there are at most this many; otherwise this many paths are sampled."""
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    """Seed of the sampling: same seed, same tree."""
    events: list[Event] = Field(min_length=1)


class Budget(Window):
    """Cash limit on purchases, processing and capex in the covered periods (undiscounted)."""

    name: str = Field(min_length=1)
    amount: NonNeg
    """Maximum spend ($) per scenario over the covered periods."""


class Limit(Window):
    """Share limit: matching sources' share of a material's purchases."""

    name: str = Field(min_length=1)
    material: Id
    where: Filter = Filter()
    max_share: Share | None = None
    min_share: Share | None = None
    over: Literal["period", "horizon"] = "period"
    """`period`: in each period; `horizon`: summed over the covered periods."""

    @model_validator(mode="after")
    def _some_share(self) -> Limit:
        if self.max_share is None and self.min_share is None:
            raise PydanticCustomError("limit", "a limit needs `max_share`, `min_share` or both")
        return self


class Risk(Strict):
    """Risk preferences."""

    aversion: Share = 0.0
    """Weight lambda of CVaR in the objective (0 = expected cost only)."""
    alpha: float = Field(default=0.95, gt=0, lt=1, allow_inf_nan=False)
    """CVaR level."""
    premium: NonNeg = 0.0
    """Risk premium rho: purchases cost landed * (1 + rho * risk) in the objective."""


class Case(Strict):
    """One disruption scenario: the policies plus its own events."""

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\n\r,\"]+$")
    """No commas, quotes or line breaks: scenario names are written unquoted in CSV files."""
    probability: Share
    description: str | None = None
    events: list[Rule] = []


class Scenario(Strict):
    """A procurement and stockpile planning problem."""

    name: str = Field(pattern=ID_RE, max_length=100)
    """Also the default output folder name."""
    description: str | None = None
    home_country: str | None = Field(default=None, pattern=r"^([A-Z]{2}|INTL)$")
    """Sources from this country are never tariffed (omitted: sources of region `domestic` are never
    tariffed)."""
    currency: str = "USD"
    horizon: Horizon
    materials: list[Material] = Field(min_length=1)
    sources: list[Source] = []
    processors: list[Processor] = []
    policies: list[Rule] = []
    budgets: list[Budget] = []
    limits: list[Limit] = []
    risk: Risk = Risk()
    scenarios: list[Case] | None = None
    """Omitted: one scenario `base` with probability 1 (or those `disruptions` generate)."""
    disruptions: Disruptions | None = None
    """Hazards and durations that generate the scenarios (SPEC 8); not together with `scenarios`."""

    @field_validator("scenarios")
    @classmethod
    def _not_empty(cls, value: list[Case] | None) -> list[Case] | None:
        if value is not None and not value:
            raise PydanticCustomError("scenarios", "list at least one scenario, or omit `scenarios`")
        return value

    @property
    def cases(self) -> list[Case]:
        """The scenarios: as listed, generated from `disruptions`, or the single `base` scenario."""
        if self.disruptions is not None and not self.scenarios:
            from optimizer.disruptions import generate  # generation resolves rules: a later stage

            return list(generate(self).cases)
        return list(self.scenarios) if self.scenarios else [Case(name="base", probability=1.0)]
