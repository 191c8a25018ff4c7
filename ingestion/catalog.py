"""The pricing catalog (``DIR/catalog.yml``) in Lago's shapes: load, validate, write to ``raw``.

``catalog.yml`` has two top-level keys, ``billable_metrics`` and ``plans`` (each plan with its
``charges``), spelled as in Lago's plan and billable-metric API (docs/contracts.md; billing rules
in SEMANTICS.md).

Numbers: YAML int and float scalars become ``Decimal`` from their text (``DecimalSafeLoader``),
never through a float; amounts may also be written as strings, as Lago's API does (``"0.00042"``).
In the raw tables every number inside a ``properties`` JSON is a *string* holding its exact decimal
text (``"0.00042"``, ``"12.50"``, ``"1000"``), the same rule as event properties.

Keys. Catalog files are strict about the keys they know (SEMANTICS.md). For each object:

- keys Meterhouse models are validated;
- ``KNOWN_LAGO_KEYS[kind]``: keys of Lago's shape that do not change what Meterhouse bills (ids,
  timestamps, counters, taxes and usage thresholds that are not configured here, display-only
  options). They are dropped with a ``CatalogWarning`` (also listed in ``Catalog.warnings``);
- ``UNSUPPORTED_LAGO_KEYS[kind]``: Lago keys that *would* change what is billed and that Meterhouse
  does not implement (minimum commitment, pricing units, metric expressions...). Empty (null, false,
  ``[]``, ``{}``, ``""``), as Lago exports them when unused, they are dropped with a warning;
  set, they are an error, so an imported plan never prices differently without anyone noticing;
- any other key is an error: a misspelt key must not silently change a price.

Lago's deprecated ``grouped_by`` property is read as ``pricing_group_keys`` (with a warning).
Lago's ``__ALL_FILTER_VALUES__`` in a charge filter stands for every value of that metric filter
and is expanded here, so downstream models only see plain value lists.

Errors name the file, the entry and the path, e.g. ``catalog.yml: plans[2] (code 'growth_eur') ->
charges[1] (billable_metric_code 'api_calls') -> properties.graduated_ranges[1]: from_value 12 does
not follow to_value 10 (expected 10 or 11)`` (indexes from 0, as in the YAML list). All problems
found are raised together as one ``CatalogError``.
"""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

import duckdb
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    StrictBool,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from ingestion.warehouse import currency_exponents, ensure_raw_schema

CATALOG_FILE = "catalog.yml"

AggregationType = Literal[
    "count_agg", "sum_agg", "max_agg", "unique_count_agg", "latest_agg", "weighted_sum_agg"
]
ChargeModel = Literal[
    "standard", "graduated", "volume", "package", "percentage", "graduated_percentage"
]
Interval = Literal["weekly", "monthly", "quarterly", "yearly"]
RoundingFunction = Literal["round", "ceil", "floor"]

RECURRING_AGGREGATIONS = frozenset({"sum_agg", "unique_count_agg", "weighted_sum_agg"})
# Lago (Charge#validate_prorated, pay in arrears): a prorated charge needs a recurring metric other
# than weighted_sum (which already prorates) and one of these models.
PRORATED_CHARGE_MODELS = frozenset({"standard", "graduated", "volume"})
# Lago's marker for "every value of this metric filter" in a charge filter.
ALL_FILTER_VALUES = "__ALL_FILTER_VALUES__"

# Keys of Lago's shapes that Meterhouse does not use and that do not change what it bills.
KNOWN_LAGO_KEYS: dict[str, frozenset[str]] = {
    "catalog": frozenset(),
    "billable_metric": frozenset(
        {
            "lago_id",
            "organization_id",
            "created_at",
            "updated_at",
            "weighted_interval",  # Lago only has "seconds", which is what we compute
            "active_subscriptions_count",
            "draft_invoices_count",
            "plans_count",
        }
    ),
    "billable_metric_filter": frozenset({"lago_id"}),
    "plan": frozenset(
        {
            "lago_id",
            "organization_id",
            "parent_id",
            "created_at",
            "updated_at",
            "customers_count",
            "active_subscriptions_count",
            "draft_invoices_count",
            "pending_deletion",
            "taxes",
            "tax_codes",
            "usage_thresholds",
            "entitlements",
            "metadata",
            "cascade_updates",
        }
    ),
    "charge": frozenset(
        {
            "lago_id",
            "lago_billable_metric_id",
            "billable_metric_id",
            "lago_parent_id",
            "parent_id",
            "code",
            "created_at",
            "updated_at",
            "taxes",
            "tax_codes",
            "regroup_paid_fees",
            "group_by_wallet",
            "accepts_target_wallet",
        }
    ),
    "charge_filter": frozenset({"lago_id", "charge_code"}),
    "properties": frozenset({"presentation_group_keys", "custom_properties"}),
}

# Keys of Lago's shapes that change what is billed and that Meterhouse does not implement:
# accepted (and dropped with a warning) only when empty.
UNSUPPORTED_LAGO_KEYS: dict[str, frozenset[str]] = {
    "catalog": frozenset(),
    "billable_metric": frozenset({"expression", "custom_aggregator"}),
    "billable_metric_filter": frozenset(),
    "plan": frozenset(
        {
            "bill_charges_monthly",
            "bill_fixed_charges_monthly",
            "fixed_charges",
        }
    ),
    "charge": frozenset({"applied_pricing_unit"}),
    "charge_filter": frozenset(),
    "properties": frozenset(),
}

# The key whose value names an entry of a list in error messages: plans[2] (code 'growth_eur').
_LABEL_KEYS = {
    "billable_metrics": ("code",),
    "plans": ("code",),
    "charges": ("id", "billable_metric_code"),
    "filters": ("key",),
    "plan_versions": ("plan_code", "version"),  # plan_versions.yml
    "overrides": ("subscription_id", "plan_code"),  # overrides.yml
}


class CatalogError(ValueError):
    """catalog.yml is invalid; ``problems`` holds one line per problem (file, entry, path)."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class CatalogWarning(UserWarning):
    """A key of Lago's shapes that Meterhouse ignores."""


# --------------------------------------------------------------------------- YAML, exactly


class DecimalSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` where int and float scalars become ``Decimal`` from their text.

    ``0.1`` is ``Decimal('0.1')`` (never 0.1000000000000000055...), ``12.50`` keeps its two
    places, ``1_000`` is ``Decimal('1000')``. Hex, octal, binary and sexagesimal numbers, ``.inf``
    and ``.nan`` are errors, and so is a key repeated in one mapping (YAML would keep the last).
    """

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                    key_node, yaml.ScalarNode
                ):
                    continue
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key_node.value!r}",
                        key_node.start_mark,
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_DECIMAL_INT = re.compile(r"[-+]?[0-9]+")


def _construct_decimal_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal:
    text = loader.construct_scalar(node).replace("_", "")
    if not _DECIMAL_INT.fullmatch(text):
        raise yaml.constructor.ConstructorError(
            None, None, f"number {node.value!r}: write numbers in decimal", node.start_mark
        )
    return Decimal(text)


def _construct_decimal_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal:
    text = loader.construct_scalar(node).replace("_", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise yaml.constructor.ConstructorError(
            None, None, f"number {node.value!r} is not a finite decimal number", node.start_mark
        )
    return value


DecimalSafeLoader.add_constructor("tag:yaml.org,2002:int", _construct_decimal_int)
DecimalSafeLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal_float)


def load_yaml(text: str) -> Any:
    """Parse YAML text with ``DecimalSafeLoader``."""
    return yaml.load(text, Loader=DecimalSafeLoader)  # noqa: S506 - a SafeLoader subclass


def decimal_text(value: Decimal) -> str:
    """The exact decimal text of ``value``, never in exponent notation (``1E-7`` -> ``0.0000001``)."""
    return format(value, "f")


# --------------------------------------------------------------------------- field types


def _problem(message: str) -> PydanticCustomError:
    return PydanticCustomError("catalog", "{message}", {"message": message})


def _as_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise _problem("must be a number, not a boolean")
    if isinstance(value, float):
        raise _problem(
            "must be an exact decimal (Decimal, int or numeric string), not a float: "
            "a float cannot hold most prices exactly"
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise _problem(f"{value!r} is not a decimal number") from None
    else:
        raise _problem(f"must be a number, got {type(value).__name__}")
    if not result.is_finite():
        raise _problem(f"{value!r} is not a finite number")
    if result.is_zero() and result.is_signed():
        result = result.copy_abs()
    return result


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise _problem(f"must be >= 0, got {decimal_text(value)}")
    return value


def _as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise _problem("must be a whole number, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    shown = decimal_text(value) if isinstance(value, Decimal) else repr(value)
    raise _problem(f"must be a whole number, got {shown}")


def _as_filter_value(value: Any) -> str:
    if isinstance(value, bool):
        raise _problem(
            "filter values are strings: quote it (YAML reads yes/no/true/false as booleans)"
        )
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value:
        return value
    raise _problem(f"filter values are non-empty strings, got {value!r}")


Amount = Annotated[Decimal, BeforeValidator(_as_decimal), AfterValidator(_non_negative)]
WholeNumber = Annotated[int, BeforeValidator(_as_int)]
NonNegativeInt = Annotated[int, BeforeValidator(_as_int), Field(ge=0)]
PositiveInt = Annotated[int, BeforeValidator(_as_int), Field(gt=0)]
Code = Annotated[StrictStr, Field(min_length=1)]
FilterValue = Annotated[str, BeforeValidator(_as_filter_value)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _fail(title: str, problems: Iterable[tuple[tuple[str | int, ...], str]]) -> None:
    """Raise one ValidationError holding every (loc, message); pydantic prefixes outer locs."""
    details = [
        InitErrorDetails(type=_problem(message), loc=loc, input=None) for loc, message in problems
    ]
    if details:
        raise ValidationError.from_exception_data(title, details)


def _reraise(errors: list[Any], prefix: tuple[str | int, ...]) -> list[InitErrorDetails]:
    """Errors of a nested validation, moved under ``prefix`` (kept as custom errors)."""
    return [
        InitErrorDetails(
            type=PydanticCustomError(err["type"], "{message}", {"message": err["msg"]}),
            loc=prefix + tuple(err["loc"]),
            input=err.get("input"),
        )
        for err in errors
    ]


# --------------------------------------------------------------------------- charge properties


class _Properties(_Model):
    """Properties common to every charge model (Lago ``pricing_group_keys``)."""

    pricing_group_keys: list[Code] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The properties as a plain dict: unset optional keys left out, group keys last."""
        data = {k: v for k, v in self.model_dump().items() if v is not None}
        keys = data.pop("pricing_group_keys", None)
        if keys is not None:
            data["pricing_group_keys"] = keys
        return data


class StandardProperties(_Properties):
    amount: Amount


class GraduatedRange(_Model):
    from_value: Amount
    to_value: Amount | None = None
    per_unit_amount: Amount
    flat_amount: Amount


class GraduatedPercentageRange(_Model):
    from_value: Amount
    to_value: Amount | None = None
    rate: Amount
    flat_amount: Amount


def _range_problems(
    ranges: Sequence[GraduatedRange | GraduatedPercentageRange], field: str, *, classic_only: bool
) -> list[tuple[tuple[str | int, ...], str]]:
    """SEMANTICS.md range rules: first starts at 0 or 1; each from_value is the previous to_value
    (adjacent) or to_value + 1 (classic; the only form when ``classic_only``); to >= from; only the
    last range is open and it must be."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    last = len(ranges) - 1
    for i, rng in enumerate(ranges):
        loc: tuple[str | int, ...] = (field, i)
        start = rng.from_value
        if i == 0:
            if start not in (0, 1):
                problems.append(
                    (loc, f"the first range must start at 0 or 1, not {decimal_text(start)}")
                )
        elif (prev_end := ranges[i - 1].to_value) is not None:
            expected = [prev_end + 1] if classic_only else [prev_end, prev_end + 1]
            if start not in expected:
                kind = "leaves a gap after" if start > expected[-1] else "overlaps"
                shown = " or ".join(decimal_text(e) for e in expected)
                rule = (
                    f"; {field} are classic: each starts at the previous to_value + 1"
                    if classic_only
                    else ""
                )
                problems.append(
                    (
                        loc,
                        f"from_value {decimal_text(start)} does not follow to_value "
                        f"{decimal_text(prev_end)} (expected {shown}{rule}): it {kind} the "
                        "previous range",
                    )
                )
        if rng.to_value is None:
            if i != last:
                problems.append(
                    (
                        loc,
                        "only the last range may be open (to_value: null); give this one a to_value",
                    )
                )
        else:
            if rng.to_value < start:
                problems.append(
                    (
                        loc,
                        f"to_value {decimal_text(rng.to_value)} is below from_value "
                        f"{decimal_text(start)}",
                    )
                )
            if i == last:
                problems.append(
                    (
                        loc,
                        f"the last range must be open (to_value: null) so that every quantity is "
                        f"priced; it ends at {decimal_text(rng.to_value)}",
                    )
                )
    return problems


class GraduatedProperties(_Properties):
    graduated_ranges: list[GraduatedRange] = Field(min_length=1)

    @model_validator(mode="after")
    def _ranges(self) -> GraduatedProperties:
        _fail(
            "graduated",
            _range_problems(self.graduated_ranges, "graduated_ranges", classic_only=False),
        )
        return self


class VolumeProperties(_Properties):
    volume_ranges: list[GraduatedRange] = Field(min_length=1)

    @model_validator(mode="after")
    def _ranges(self) -> VolumeProperties:
        _fail("volume", _range_problems(self.volume_ranges, "volume_ranges", classic_only=True))
        return self


class PackageProperties(_Properties):
    amount: Amount
    package_size: PositiveInt
    free_units: NonNegativeInt


class PercentageProperties(_Properties):
    rate: Amount
    fixed_amount: Amount | None = None
    free_units_per_events: PositiveInt | None = None
    free_units_per_total_aggregation: Amount | None = None
    per_transaction_min_amount: Amount | None = None
    per_transaction_max_amount: Amount | None = None

    @model_validator(mode="after")
    def _min_max(self) -> PercentageProperties:
        low, high = self.per_transaction_min_amount, self.per_transaction_max_amount
        if low is not None and high is not None and high < low:
            _fail(
                "percentage",
                [
                    (
                        ("per_transaction_max_amount",),
                        f"per_transaction_max_amount {decimal_text(high)} is below "
                        f"per_transaction_min_amount {decimal_text(low)}",
                    )
                ],
            )
        return self


class GraduatedPercentageProperties(_Properties):
    graduated_percentage_ranges: list[GraduatedPercentageRange] = Field(min_length=1)

    @model_validator(mode="after")
    def _ranges(self) -> GraduatedPercentageProperties:
        # Classic only: SEMANTICS.md prices graduated_percentage with the classic +1 walk always,
        # so adjacent boundaries would count a unit twice (Lago validates them the same way).
        problems = _range_problems(
            self.graduated_percentage_ranges, "graduated_percentage_ranges", classic_only=True
        )
        _fail("graduated_percentage", problems)
        return self


PROPERTIES_MODELS: dict[str, type[_Properties]] = {
    "standard": StandardProperties,
    "graduated": GraduatedProperties,
    "volume": VolumeProperties,
    "package": PackageProperties,
    "percentage": PercentageProperties,
    "graduated_percentage": GraduatedPercentageProperties,
}


def validate_properties(
    charge_model: str, properties: Any, prefix: tuple[str | int, ...] = ()
) -> tuple[dict[str, Any] | None, list[InitErrorDetails]]:
    """Validate ``properties`` for ``charge_model``; (plain dict with Decimals, errors)."""
    model = PROPERTIES_MODELS[charge_model]
    try:
        return model.model_validate(properties).as_dict(), []
    except ValidationError as exc:
        errors = exc.errors()
    known = ", ".join(sorted(model.model_fields, key=lambda name: name == "pricing_group_keys"))
    for err in errors:
        if err["type"] == "extra_forbidden":
            err["msg"] = f"not a property of the {charge_model} charge model (its keys: {known})"
        elif err["type"] == "missing":
            err["msg"] = f"required by the {charge_model} charge model"
    return None, _reraise(errors, prefix)


# --------------------------------------------------------------------------- billable metrics


class MetricFilter(_Model):
    """A billable metric filter (Lago): a property ``key`` and the ``values`` it may take."""

    key: Code
    values: list[FilterValue] = Field(min_length=1)

    @field_validator("values")
    @classmethod
    def _unique_values(cls, values: list[str]) -> list[str]:
        repeated = sorted(v for v, n in Counter(values).items() if n > 1)
        if repeated:
            raise _problem(f"repeated values {repeated}")
        return values


class BillableMetric(_Model):
    code: Code
    name: StrictStr | None = None
    description: StrictStr | None = None
    aggregation_type: AggregationType
    field_name: Code | None = None
    recurring: StrictBool = False
    rounding_function: RoundingFunction | None = None
    rounding_precision: WholeNumber | None = None
    filters: list[MetricFilter] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rules(self) -> BillableMetric:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        agg = self.aggregation_type
        if agg == "count_agg" and self.field_name is not None:
            problems.append((("field_name",), "count_agg counts events and takes no field_name"))
        if agg != "count_agg" and self.field_name is None:
            problems.append((("field_name",), f"required for {agg}"))
        if self.recurring and agg not in RECURRING_AGGREGATIONS:
            problems.append(
                (
                    ("recurring",),
                    f"only sum_agg, unique_count_agg and weighted_sum_agg can be recurring, not {agg}",
                )
            )
        if self.rounding_function is not None and self.rounding_precision is None:
            problems.append((("rounding_precision",), "required with rounding_function"))
        if self.rounding_function is None and self.rounding_precision is not None:
            problems.append((("rounding_precision",), "only allowed with rounding_function"))
        seen: dict[str, int] = {}
        for i, flt in enumerate(self.filters):
            if flt.key in seen:
                problems.append(
                    (
                        ("filters", i, "key"),
                        f"duplicate filter key {flt.key!r} (also filters[{seen[flt.key]}])",
                    )
                )
            seen.setdefault(flt.key, i)
        _fail("BillableMetric", problems)
        return self

    def filter_values(self) -> dict[str, list[str]]:
        return {flt.key: flt.values for flt in self.filters}


# --------------------------------------------------------------------------- plans and charges


class ChargeFilter(_Model):
    """A charge filter (Lago): events whose properties match ``values`` get these ``properties``.

    ``properties`` is validated by the charge's model (same rules as the charge's own) and holds a
    plain dict afterwards (Decimal amounts, ints for package sizes)."""

    values: dict[Code, list[FilterValue]] = Field(min_length=1)
    properties: dict[str, Any] = Field(default_factory=dict)
    invoice_display_name: StrictStr | None = None

    @field_validator("values")
    @classmethod
    def _non_empty_values(cls, values: dict[str, list[str]]) -> dict[str, list[str]]:
        empty = [key for key, vals in values.items() if not vals]
        if empty:
            raise _problem(f"no values for {', '.join(map(repr, empty))}: list at least one")
        return values


class Charge(_Model):
    """A charge (Lago): how a plan prices one billable metric.

    ``properties`` holds, after validation, a plain dict for the charge model (Decimal amounts)."""

    id: Code | None = None
    billable_metric_code: Code
    charge_model: ChargeModel
    pay_in_advance: StrictBool = False
    invoiceable: StrictBool = True
    prorated: StrictBool = False
    min_amount_cents: NonNegativeInt = 0
    invoice_display_name: StrictStr | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    filters: list[ChargeFilter] = Field(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _rules(cls, data: Any, handler: ModelWrapValidatorHandler[Charge]) -> Charge:
        try:
            charge = handler(data)
        except ValidationError as exc:
            # Still check the properties, so one run reports a bad field and bad ranges together.
            details = _reraise(exc.errors(), ()) + _raw_properties_errors(data)
            raise ValidationError.from_exception_data("Charge", details) from None
        charge._check()
        return charge

    def _check(self) -> None:
        details: list[InitErrorDetails] = []
        props, errors = validate_properties(self.charge_model, self.properties, ("properties",))
        details += errors
        filter_props: list[dict[str, Any] | None] = []
        for i, flt in enumerate(self.filters):
            normalized, errors = validate_properties(
                self.charge_model, flt.properties, ("filters", i, "properties")
            )
            filter_props.append(normalized)
            details += errors
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if self.pay_in_advance:
            problems.append(
                (
                    ("pay_in_advance",),
                    "charges paid in advance (instant per-event fees) are not supported; "
                    "pay_in_advance applies to the plan's base fee",
                )
            )
        if self.prorated and self.charge_model not in PRORATED_CHARGE_MODELS:
            problems.append(
                (
                    ("prorated",),
                    f"a {self.charge_model} charge cannot be prorated (only standard, graduated, volume)",
                )
            )
        seen: dict[tuple[tuple[str, tuple[str, ...]], ...], int] = {}
        for i, flt in enumerate(self.filters):
            key = tuple(sorted((k, tuple(sorted(v))) for k, v in flt.values.items()))
            if key in seen:
                problems.append((("filters", i, "values"), f"same values as filters[{seen[key]}]"))
            seen.setdefault(key, i)
        details += [InitErrorDetails(type=_problem(m), loc=loc, input=None) for loc, m in problems]
        if details:
            raise ValidationError.from_exception_data("Charge", details)
        self.properties = props or {}
        for flt, normalized in zip(self.filters, filter_props, strict=True):
            flt.properties = normalized or {}


def _raw_properties_errors(data: Any) -> list[InitErrorDetails]:
    """Property errors of a charge that failed elsewhere (when its charge_model is valid)."""
    if not isinstance(data, dict) or data.get("charge_model") not in PROPERTIES_MODELS:
        return []
    model = data["charge_model"]
    found: list[InitErrorDetails] = []
    if isinstance(data.get("properties"), dict):
        found += validate_properties(model, data["properties"], ("properties",))[1]
    filters = data.get("filters")
    for i, flt in enumerate(filters if isinstance(filters, list) else []):
        if isinstance(flt, dict) and isinstance(flt.get("properties"), dict):
            found += validate_properties(model, flt["properties"], ("filters", i, "properties"))[1]
    return found


class MinimumCommitment(_Model):
    """Lago's plan minimum commitment: when a billing period's fees (base fee, charges, spending
    minimums) come to less than ``amount_cents`` (prorated by the days served), a true-up fee bills the
    shortfall."""

    amount_cents: NonNegativeInt
    invoice_display_name: StrictStr | None = None


class Plan(_Model):
    code: Code
    name: StrictStr | None = None
    description: StrictStr | None = None
    interval: Interval
    amount_cents: NonNegativeInt
    amount_currency: StrictStr
    pay_in_advance: StrictBool = False
    trial_period: NonNegativeInt = 0
    invoice_display_name: StrictStr | None = None
    minimum_commitment: MinimumCommitment | None = None
    charges: list[Charge] = Field(default_factory=list)

    @field_validator("amount_currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in currency_exponents():
            hint = (
                f" (did you mean {value.upper()!r}?)"
                if value.upper() in currency_exponents()
                else ""
            )
            raise _problem(f"{value!r} is not an ISO 4217 currency code{hint}")
        return value

    def charge_ids(self) -> list[str]:
        """Each charge's id: its ``id``, else ``<plan>.<metric>`` (+ ``.<n>``, n from 1 among the
        plan's charges on that metric, when the plan has several charges on one metric)."""
        per_metric = Counter(c.billable_metric_code for c in self.charges)
        seen: Counter[str] = Counter()
        ids = []
        for charge in self.charges:
            metric = charge.billable_metric_code
            seen[metric] += 1
            if charge.id is not None:
                ids.append(charge.id)
            elif per_metric[metric] > 1:
                ids.append(f"{self.code}.{metric}.{seen[metric]}")
            else:
                ids.append(f"{self.code}.{metric}")
        return ids


def _cross_problems(
    metrics: Sequence[tuple[int, BillableMetric]],
    plans: Sequence[tuple[int, Plan]],
    unchecked_metric_codes: frozenset[str] = frozenset(),
) -> list[tuple[tuple[str | int, ...], str]]:
    """Checks across entries; resolves ``__ALL_FILTER_VALUES__`` in charge filters (in place).

    ``unchecked_metric_codes``: codes of metrics that failed their own validation, so that their
    charges are not also reported as pointing to an unknown metric."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    by_code: dict[str, tuple[int, BillableMetric]] = {}
    for i, metric in metrics:
        if metric.code in by_code:
            problems.append(
                (
                    ("billable_metrics", i, "code"),
                    f"duplicate code (also billable_metrics[{by_code[metric.code][0]}])",
                )
            )
        else:
            by_code[metric.code] = (i, metric)
    plan_seen: dict[str, int] = {}
    charge_seen: dict[str, str] = {}
    for i, plan in plans:
        if plan.code in plan_seen:
            problems.append(
                (("plans", i, "code"), f"duplicate code (also plans[{plan_seen[plan.code]}])")
            )
        plan_seen.setdefault(plan.code, i)
        for j, (charge, charge_id) in enumerate(zip(plan.charges, plan.charge_ids(), strict=True)):
            loc: tuple[str | int, ...] = ("plans", i, "charges", j)
            if charge_id in charge_seen:
                where = loc + ("id",) if charge.id is not None else loc
                problems.append(
                    (where, f"duplicate charge id {charge_id!r} (also {charge_seen[charge_id]})")
                )
            charge_seen.setdefault(charge_id, f"plans[{i}] -> charges[{j}]")
            code = charge.billable_metric_code
            if code not in by_code:
                if code not in unchecked_metric_codes:
                    known = ", ".join(sorted(by_code)) or "none"
                    problems.append(
                        (
                            loc + ("billable_metric_code",),
                            f"unknown billable metric {code!r} (known: {known})",
                        )
                    )
                continue
            metric = by_code[code][1]
            if charge.charge_model == "percentage" and (
                metric.aggregation_type not in ("sum_agg", "count_agg") or metric.recurring
            ):
                problems.append(
                    (
                        loc + ("charge_model",),
                        "a percentage charge prices the running total of its events, so it needs a "
                        f"non-recurring sum_agg or count_agg metric; {code!r} is a "
                        f"{'recurring ' if metric.recurring else ''}{metric.aggregation_type}",
                    )
                )
            if charge.prorated and (
                not metric.recurring or metric.aggregation_type == "weighted_sum_agg"
            ):
                problems.append(
                    (
                        loc + ("prorated",),
                        f"only charges on recurring sum_agg or unique_count_agg metrics can be prorated; "
                        f"{code!r} is a {'recurring' if metric.recurring else 'non-recurring'} "
                        f"{metric.aggregation_type}",
                    )
                )
            metric_filters = metric.filter_values()
            for k, flt in enumerate(charge.filters):
                for key, values in flt.values.items():
                    where = loc + ("filters", k, "values", key)
                    if key not in metric_filters:
                        known = ", ".join(sorted(metric_filters)) or "none"
                        problems.append(
                            (
                                where,
                                f"{key!r} is not a filter of billable metric {code!r} (its filters: {known})",
                            )
                        )
                        continue
                    allowed = metric_filters[key]
                    if ALL_FILTER_VALUES in values:
                        flt.values[key] = list(allowed)
                        continue
                    unknown = [v for v in values if v not in allowed]
                    if unknown:
                        problems.append(
                            (
                                where,
                                f"values {unknown} are not among billable metric {code!r} filter "
                                f"{key!r} values {allowed}",
                            )
                        )
    return problems


class Catalog(_Model):
    billable_metrics: list[BillableMetric] = Field(default_factory=list)
    plans: list[Plan] = Field(default_factory=list)
    _warnings: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _cross_checks(self) -> Catalog:
        _fail(
            "Catalog",
            _cross_problems(list(enumerate(self.billable_metrics)), list(enumerate(self.plans))),
        )
        return self

    @property
    def warnings(self) -> list[str]:
        """Lago keys dropped while loading (also issued as ``CatalogWarning``)."""
        return self._warnings

    def metric(self, code: str) -> BillableMetric:
        return next(m for m in self.billable_metrics if m.code == code)

    def plan(self, code: str) -> Plan:
        return next(p for p in self.plans if p.code == code)


# --------------------------------------------------------------------------- loading


def _is_empty(value: Any) -> bool:
    return value is None or value is False or value == "" or value == [] or value == {}


class _Loader:
    """Walks the raw YAML: drops Lago keys, validates each entry, formats every problem."""

    def __init__(self, file_label: str, root: dict[str, Any]):
        self.file = file_label
        self.root = root
        self.problems: list[str] = []
        self.warnings: list[str] = []

    # ----- paths and messages
    def path(self, loc: Sequence[str | int]) -> str:
        """``plans[2] (code 'growth_eur') -> charges[1] (...) -> properties.graduated_ranges[1]``."""
        segments: list[str] = []
        tokens: list[str] = []
        node: Any = self.root
        i = 0
        while i < len(loc):
            part = loc[i]
            if isinstance(part, int):  # an index not after a key: attach to the previous token
                tokens.append(f"[{part}]")
                node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
                i += 1
                continue
            node = node.get(part) if isinstance(node, dict) else None
            token = str(part)
            if i + 1 < len(loc) and isinstance(loc[i + 1], int):
                index = loc[i + 1]
                node = node[index] if isinstance(node, list) and 0 <= index < len(node) else None
                token += f"[{index}]"
                i += 2
                label = self._label(str(part), node)
                if label:
                    tokens.append(f"{token} {label}")
                    segments.append(".".join(tokens))
                    tokens = []
                    continue
            else:
                i += 1
            tokens.append(token)
        if tokens:
            segments.append(".".join(tokens))
        return " -> ".join(segments)

    @staticmethod
    def _label(list_name: str, node: Any) -> str:
        if not isinstance(node, dict):
            return ""
        parts = [
            f"{key} '{node[key]}'"
            for key in _LABEL_KEYS.get(list_name, ())
            if isinstance(node.get(key), str)
        ]
        return f"({', '.join(parts)})" if parts else ""

    def line(self, loc: Sequence[str | int], message: str) -> str:
        path = self.path(loc)
        return f"{self.file}: {path}: {message}" if path else f"{self.file}: {message}"

    def add_errors(self, exc: ValidationError, prefix: tuple[str | int, ...]) -> None:
        for err in exc.errors():
            self.problems.append(self.line(prefix + tuple(err["loc"]), _message(err)))

    # ----- Lago keys
    def drop_lago_keys(self, obj: Any, kind: str, loc: tuple[str | int, ...]) -> None:
        if not isinstance(obj, dict):
            return
        for key in list(obj):
            if key in KNOWN_LAGO_KEYS[kind]:
                del obj[key]
                self.warnings.append(
                    self.line(loc + (key,), "Lago key ignored (Meterhouse does not use it)")
                )
            elif key in UNSUPPORTED_LAGO_KEYS[kind]:
                value = obj.pop(key)
                if _is_empty(value):
                    self.warnings.append(self.line(loc + (key,), "empty Lago key ignored"))
                else:
                    self.problems.append(
                        self.line(
                            loc + (key,),
                            "Lago's key is not supported by Meterhouse (it would change what is "
                            "billed); remove it",
                        )
                    )
        if kind == "properties" and "grouped_by" in obj:
            grouped_by = obj.pop("grouped_by")
            if "pricing_group_keys" not in obj:
                obj["pricing_group_keys"] = grouped_by
                note = "Lago's deprecated grouped_by read as pricing_group_keys"
            else:
                note = "Lago's deprecated grouped_by ignored (pricing_group_keys is set)"
            self.warnings.append(self.line(loc + ("grouped_by",), note))

    def drop_all_lago_keys(self, metrics: list[Any], plans: list[Any]) -> None:
        for i, metric in enumerate(metrics):
            loc: tuple[str | int, ...] = ("billable_metrics", i)
            self.drop_lago_keys(metric, "billable_metric", loc)
            for j, flt in enumerate(_list_at(metric, "filters")):
                self.drop_lago_keys(flt, "billable_metric_filter", loc + ("filters", j))
        for i, plan in enumerate(plans):
            loc = ("plans", i)
            self.drop_lago_keys(plan, "plan", loc)
            for j, charge in enumerate(_list_at(plan, "charges")):
                charge_loc = loc + ("charges", j)
                self.drop_lago_keys(charge, "charge", charge_loc)
                self.drop_lago_keys(
                    _dict_at(charge, "properties"), "properties", charge_loc + ("properties",)
                )
                for k, flt in enumerate(_list_at(charge, "filters")):
                    flt_loc = charge_loc + ("filters", k)
                    self.drop_lago_keys(flt, "charge_filter", flt_loc)
                    self.drop_lago_keys(
                        _dict_at(flt, "properties"), "properties", flt_loc + ("properties",)
                    )


def _list_at(obj: Any, key: str) -> list[Any]:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, list) else []


def _dict_at(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else None


def _message(err: Any) -> str:
    kind, message = err["type"], err["msg"]
    if kind == "missing" and message == "Field required":
        return "required key is missing"
    if kind == "extra_forbidden" and message == "Extra inputs are not permitted":
        return "unknown key (neither a Meterhouse key nor a known key of Lago's shape; check the spelling)"
    if kind in ("missing", "extra_forbidden", "catalog"):
        return message
    message = message.removeprefix("Value error, ")
    value = err.get("input")
    if kind != "value_error" and (value is None or isinstance(value, (str, int, Decimal, bool))):
        shown = decimal_text(value) if isinstance(value, Decimal) else repr(value)
        message += f" (got {shown})"
    return message


def load_catalog(path: Path) -> Catalog:
    """Read and validate ``catalog.yml``; raise ``CatalogError`` listing every problem found."""
    path = Path(path)
    label = path.name
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError([f"{label}: file not found ({path})"]) from None
    except UnicodeDecodeError as exc:
        raise CatalogError([f"{label}: not UTF-8 text ({exc})"]) from exc
    except yaml.YAMLError as exc:
        raise CatalogError([f"{label}: not valid YAML: {exc}"]) from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise CatalogError([f"{label}: expected a mapping with billable_metrics and plans"])

    return _validated(label, raw)


def _validated(
    label: str,
    raw: dict[str, Any],
    *,
    base_metrics: list[BillableMetric] | None = None,
    extra_keys: tuple[str, ...] = (),
) -> Catalog:
    """Validate a catalog mapping. With ``base_metrics`` (a scenario file: plans over the live
    metrics) the mapping holds plans only, priced over those metrics; ``extra_keys`` are top-level
    keys the caller reads itself."""
    loader = _Loader(label, raw)
    own = ("plans",) if base_metrics is not None else ("billable_metrics", "plans")
    for key in raw:
        if key in extra_keys:
            continue
        if key == "billable_metrics" and base_metrics is not None:
            loader.problems.append(
                loader.line(
                    (key,),
                    "a scenario prices the live catalog's billable metrics; remove billable_metrics",
                )
            )
        elif key not in own:
            expected = ", ".join(own + extra_keys)
            loader.problems.append(
                loader.line((str(key),), f"unknown top-level key (expected {expected})")
            )
    lists: dict[str, list[Any]] = {}
    for key in ("billable_metrics", "plans"):
        value = raw.get(key) if key in own else []
        if value is None:
            value = []
        if not isinstance(value, list):
            loader.problems.append(loader.line((key,), "must be a list"))
            value = []
        lists[key] = value
    loader.drop_all_lago_keys(lists["billable_metrics"], lists["plans"])

    metrics: list[tuple[int, BillableMetric]] = list(enumerate(base_metrics or []))
    unchecked: set[str] = set()
    for i, entry in enumerate(lists["billable_metrics"]):
        try:
            metrics.append((i, BillableMetric.model_validate(entry)))
        except ValidationError as exc:
            loader.add_errors(exc, ("billable_metrics", i))
            if isinstance(entry, dict) and isinstance(entry.get("code"), str):
                unchecked.add(entry["code"])
    plans: list[tuple[int, Plan]] = []
    for i, entry in enumerate(lists["plans"]):
        try:
            plans.append((i, Plan.model_validate(entry)))
        except ValidationError as exc:
            loader.add_errors(exc, ("plans", i))
    unchecked -= {m.code for _, m in metrics}
    for loc, message in _cross_problems(metrics, plans, frozenset(unchecked)):
        if base_metrics is not None and loc and loc[0] == "billable_metrics":
            continue  # the live metrics were checked with the live catalog
        loader.problems.append(loader.line(loc, message))

    if loader.problems:
        raise CatalogError(loader.problems)
    catalog = Catalog(billable_metrics=[m for _, m in metrics], plans=[p for _, p in plans])
    catalog._warnings = loader.warnings
    for message in loader.warnings:
        warnings.warn(message, CatalogWarning, stacklevel=2)
    return catalog


# --------------------------------------------------------------------------- writing


def _jsonable(value: Any) -> Any:
    """Every number as a string of its exact decimal text; lists and dicts kept."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def to_json(value: Any) -> str:
    """JSON text for a raw JSON column (numbers as exact decimal strings)."""
    return json.dumps(_jsonable(value), ensure_ascii=False)


def utc_naive(moment: datetime) -> datetime:
    """A naive UTC datetime for a TIMESTAMP column; a naive input is taken as UTC already."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def catalog_rows(catalog: Catalog, loaded_at: datetime) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of each raw catalog table, in the column order of ``CATALOG_COLUMNS``."""
    at = utc_naive(loaded_at)
    rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in CATALOG_COLUMNS}
    for m in catalog.billable_metrics:
        rows["billable_metrics"].append(
            (
                m.code,
                m.name,
                m.aggregation_type,
                m.field_name,
                m.recurring,
                m.rounding_function,
                m.rounding_precision,
                at,
            )
        )
        for flt in m.filters:
            rows["billable_metric_filters"].append((m.code, flt.key, to_json(flt.values)))
    for p in catalog.plans:
        rows["plans"].append(
            (
                p.code,
                p.name,
                p.interval,
                p.amount_cents,
                p.amount_currency,
                p.pay_in_advance,
                p.trial_period,
                at,
                None if p.minimum_commitment is None else p.minimum_commitment.amount_cents,
            )
        )
        for order, (c, charge_id) in enumerate(
            zip(p.charges, p.charge_ids(), strict=True), start=1
        ):
            rows["charges"].append(
                (
                    charge_id,
                    p.code,
                    order,
                    c.billable_metric_code,
                    c.charge_model,
                    c.pay_in_advance,
                    c.invoiceable,
                    c.prorated,
                    c.min_amount_cents,
                    to_json(c.properties),
                    c.invoice_display_name,
                )
            )
            for n, flt in enumerate(c.filters, start=1):
                rows["charge_filters"].append(
                    (
                        charge_id,
                        f"{charge_id}#{n}",
                        to_json(flt.values),
                        to_json(flt.properties),
                        flt.invoice_display_name,
                    )
                )
    return rows


CATALOG_COLUMNS: dict[str, tuple[str, ...]] = {
    "billable_metrics": (
        "code",
        "name",
        "aggregation_type",
        "field_name",
        "recurring",
        "rounding_function",
        "rounding_precision",
        "loaded_at",
    ),
    "billable_metric_filters": ("billable_metric_code", "key", "values"),
    "plans": (
        "code",
        "name",
        "interval",
        "amount_cents",
        "amount_currency",
        "pay_in_advance",
        "trial_period",
        "loaded_at",
        "minimum_commitment_cents",
    ),
    "charges": (
        "charge_id",
        "plan_code",
        "charge_order",
        "billable_metric_code",
        "charge_model",
        "pay_in_advance",
        "invoiceable",
        "prorated",
        "min_amount_cents",
        "properties",
        "invoice_display_name",
    ),
    "charge_filters": (
        "charge_id",
        "filter_id",
        "filter_values",
        "properties",
        "invoice_display_name",
    ),
}


def replace_tables(
    con: duckdb.DuckDBPyConnection,
    columns: dict[str, tuple[str, ...]],
    rows: dict[str, list[tuple[Any, ...]]],
) -> None:
    """Replace the contents of ``raw.<table>`` for every table, in one transaction."""
    ensure_raw_schema(con)
    con.begin()
    try:
        for table, cols in columns.items():
            con.execute(f"delete from raw.{table}")
            if rows[table]:
                names = ", ".join(f'"{c}"' for c in cols)
                marks = ", ".join("?" for _ in cols)
                con.executemany(f"insert into raw.{table} ({names}) values ({marks})", rows[table])
        con.commit()
    except BaseException:
        con.rollback()
        raise


def write_catalog(con: duckdb.DuckDBPyConnection, catalog: Catalog, loaded_at: datetime) -> None:
    """Replace raw.billable_metrics, raw.billable_metric_filters, raw.plans, raw.charges and
    raw.charge_filters with ``catalog``, in one transaction. ``loaded_at`` aware, or naive UTC."""
    replace_tables(con, CATALOG_COLUMNS, catalog_rows(catalog, loaded_at))
