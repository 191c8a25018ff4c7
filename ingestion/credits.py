"""Prepaid credits and commitments: ``DIR/credits.yml`` (optional) -> ``raw.credit_grants``,
``raw.credit_commitments``.

::

    grants:                          # one-off credit grants (Metronome "credits", Lago wallets)
      - id: acme_launch              # letters, digits, _ . - (unique in the file)
        external_customer_id: acme
        type: promotional            # paid (bought: deferred revenue) | promotional (given)
        amount: "400.00"             # the currency's major unit, exact, > 0, whole minor units
        currency: USD                # must be the customer's currency
        priority: 1                  # whole number >= 1; 1 is drawn first
        effective_date: 2026-08-15   # the first issue date it pays (customer's timezone)
        expiry_date: 2026-09-15      # optional: it pays invoices issued before this date
        name: Launch promotion       # optional, for people
    commitments:                     # prepaid commitments (Metronome "prepaid commits")
      - id: acme_2026
        external_customer_id: acme
        amount: "350.00"             # prepaid per term
        currency: USD
        priority: 1
        term: monthly                # monthly | quarterly | yearly
        start_date: 2026-08-01
        end_date: 2027-08-01         # a whole number of terms after start_date
        rollover_percent: "50"       # of a term's unused balance that moves to the next term (0..100)
        name: Annual commit          # optional

Rules (README "Billing rules", the drawdown in dbt_project/macros/credits.sql): credits are drawn when
an invoice is issued, after tax, by priority, then the soonest expiry, then the oldest; a commitment is
one paid grant per term (``<id>#<n>``) that pays the invoices issued after the term starts up to and
including the day it ends; what a term leaves unused rolls over by ``rollover_percent`` (rounded down to
the minor unit) and the rest expires, both written to the ledger.

The file is our own: an unknown key, an unknown customer, a currency other than the customer's, an
amount that is not a positive whole number of minor units, an expiry not after the effective date or an
end that is not a whole number of terms is an error naming the entry; every problem is raised together.
YAML numbers are read through their text (``DecimalSafeLoader``), never through a float.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

import duckdb
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    model_validator,
)

from ingestion.catalog import DecimalSafeLoader, decimal_text, replace_tables, utc_naive
from ingestion.warehouse import currency_exponents

CREDITS_FILE = "credits.yml"
TERM_MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}
MAX_AMOUNT = Decimal(10) ** 15  # in the major unit: far beyond any contract, far below BIGINT
MAX_TERMS = 1200  # a commitment of more terms is surely a typo (100 years of monthly terms)
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

CREDIT_COLUMNS: dict[str, tuple[str, ...]] = {
    "credit_grants": (
        "grant_id",
        "external_customer_id",
        "name",
        "grant_type",
        "amount_cents",
        "currency",
        "priority",
        "effective_date",
        "expiry_date",
        "loaded_at",
    ),
    "credit_commitments": (
        "commitment_id",
        "external_customer_id",
        "name",
        "amount_cents",
        "currency",
        "priority",
        "term",
        "start_date",
        "end_date",
        "rollover_percent",
        "loaded_at",
    ),
}


class CreditsError(ValueError):
    """credits.yml is invalid; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class _CreditsLoader(DecimalSafeLoader):
    """Numbers as Decimals from their text; dates kept as their text, so that an impossible date
    (2026-09-31) is a problem naming its entry rather than a YAML crash."""


_CreditsLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node)
)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_CreditsLoader)  # noqa: S506 - a SafeLoader subclass


# --------------------------------------------------------------------------- field types


def _exact(value: Any) -> Decimal:
    """A YAML number (already a Decimal from its text) or a numeric string; never a float."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, float):
        raise ValueError('must be an exact decimal (write it as text, e.g. "12.50"), not a float')
    if isinstance(value, int | Decimal):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal number") from None
    else:
        raise ValueError(f"must be a number, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return result


def _priority(value: Any) -> int:
    shown = decimal_text(value) if isinstance(value, Decimal) else repr(value)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | Decimal)
        or value != int(value)
        or value < 1
    ):
        raise ValueError(f"must be a whole number >= 1 (1 is drawn first), got {shown}")
    return int(value)


def _date(value: Any) -> date:
    """A calendar date: YAML's unquoted 2026-09-01 or the text "2026-09-01" (no time of day)."""
    if isinstance(value, datetime):
        raise ValueError(
            f"must be a date YYYY-MM-DD without a time of day, got {value.isoformat()}"
        )
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"must be a date YYYY-MM-DD, got {value!r}")


def _id(value: Any) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise ValueError(f"must be letters, digits, _ . - (at most 64), got {value!r}")
    return value


Exact = Annotated[Decimal, BeforeValidator(_exact)]
Priority = Annotated[int, BeforeValidator(_priority)]
Day = Annotated[date, BeforeValidator(_date)]
Id = Annotated[str, BeforeValidator(_id)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Id
    external_customer_id: Annotated[StrictStr, Field(min_length=1)]
    name: StrictStr | None = None
    amount: Exact
    currency: Annotated[StrictStr, Field(min_length=3, max_length=3)]
    priority: Priority

    @model_validator(mode="after")
    def _amount(self):
        if self.amount <= 0:
            raise ValueError(f"amount must be above 0, got {decimal_text(self.amount)}")
        if self.amount >= MAX_AMOUNT:
            raise ValueError(f"amount {decimal_text(self.amount)} is too large (at most 10^15)")
        exponent = currency_exponents().get(self.currency)
        if exponent is None:
            raise ValueError(f"currency {self.currency!r} is not an ISO 4217 code")
        if self.amount != self.amount.quantize(Decimal(1).scaleb(-exponent)):
            raise ValueError(
                f"amount {decimal_text(self.amount)} is not a whole number of {self.currency} minor "
                f"units ({exponent} decimals)"
            )
        return self

    def amount_cents(self) -> int:
        return int(self.amount.scaleb(currency_exponents()[self.currency]))


class GrantEntry(_Entry):
    type: Literal["paid", "promotional"]
    effective_date: Day
    expiry_date: Day | None = None

    @model_validator(mode="after")
    def _dates(self):
        if self.expiry_date is not None and self.expiry_date <= self.effective_date:
            raise ValueError(
                f"expiry_date {self.expiry_date} must be after effective_date {self.effective_date}"
            )
        return self


class CommitmentEntry(_Entry):
    term: Literal["monthly", "quarterly", "yearly"]
    start_date: Day
    end_date: Day
    rollover_percent: Exact

    @model_validator(mode="after")
    def _terms(self):
        if not Decimal(0) <= self.rollover_percent <= Decimal(100):
            raise ValueError(
                f"rollover_percent must be from 0 to 100, got {decimal_text(self.rollover_percent)}"
            )
        if self.end_date <= self.start_date:
            raise ValueError(f"end_date {self.end_date} must be after start_date {self.start_date}")
        if self.terms_count() is None:
            months = TERM_MONTHS[self.term]
            raise ValueError(
                f"end_date {self.end_date} is not a whole number of {self.term} terms after start_date "
                f"{self.start_date} (e.g. {add_months(self.start_date, months)})"
            )
        return self

    def terms_count(self) -> int | None:
        months = TERM_MONTHS[self.term]
        for n in range(1, MAX_TERMS + 1):
            end = add_months(self.start_date, n * months)
            if end == self.end_date:
                return n
            if end > self.end_date:
                return None
        return None


def add_months(day: date, months: int) -> date:
    """``day`` plus whole months, clamped to the month's last day (as DuckDB's date + interval)."""
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class Grant:
    grant_id: str
    external_customer_id: str
    name: str | None
    grant_type: str
    amount_cents: int
    currency: str
    priority: int
    effective_date: date
    expiry_date: date | None


@dataclass(frozen=True)
class Commitment:
    commitment_id: str
    external_customer_id: str
    name: str | None
    amount_cents: int  # per term
    currency: str
    priority: int
    term: str
    start_date: date
    end_date: date
    rollover_percent: Decimal


@dataclass
class Credits:
    grants: list[Grant]
    commitments: list[Commitment]


def _message(err: Any) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    kind, message = err["type"], err["msg"].removeprefix("Value error, ")
    if kind == "missing":
        message = "required key is missing"
    elif kind == "extra_forbidden":
        message = "unknown key"
    elif kind in ("literal_error", "string_too_short", "string_too_long", "string_type"):
        message = f"{message} (got {err['input']!r})"
    return f"{loc}: {message}" if loc else message


def load_credits(data_dir: Path, customers: dict[str, str]) -> Credits:
    """Read ``DIR/credits.yml`` (absent: no credit); ``customers`` maps customer id -> currency.
    Every problem is raised together, each naming its entry."""
    path = Path(data_dir) / CREDITS_FILE
    if not path.exists():
        return Credits([], [])
    label = CREDITS_FILE
    try:
        raw = _load_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise CreditsError([f"{label}: not valid YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise CreditsError([f"{label}: expected a mapping with grants and commitments"])
    problems: list[str] = []
    for key in raw:
        if key not in ("grants", "commitments"):
            problems.append(f"{label}: {key}: unknown key (expected grants, commitments)")
    seen: dict[str, str] = {}
    grants: list[Grant] = []
    commitments: list[Commitment] = []
    for list_name, model in (("grants", GrantEntry), ("commitments", CommitmentEntry)):
        entries = raw.get(list_name) or []
        if not isinstance(entries, list):
            problems.append(f"{label}: {list_name} must be a list")
            continue
        for i, entry in enumerate(entries):
            where = f"{label}: {list_name}[{i}]"
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                where += f" (id {entry['id']!r})"
            if not isinstance(entry, dict):
                problems.append(f"{where}: expected a mapping")
                continue
            try:
                item = model.model_validate(entry)
            except ValidationError as exc:
                problems.extend(f"{where}: {_message(err)}" for err in exc.errors())
                continue
            if item.id in seen:
                problems.append(f"{where}: id {item.id!r} is already used by {seen[item.id]}")
                continue
            seen[item.id] = f"{list_name}[{i}]"
            customer = item.external_customer_id
            if customer not in customers:
                problems.append(f"{where}: customer {customer!r} is not in landing/customers.csv")
                continue
            if item.currency != customers[customer]:
                problems.append(
                    f"{where}: the grant is in {item.currency}, customer {customer!r} is billed in "
                    f"{customers[customer]} (credits are never converted)"
                )
                continue
            if isinstance(item, GrantEntry):
                grants.append(
                    Grant(item.id, customer, item.name, item.type, item.amount_cents(),
                          item.currency, item.priority, item.effective_date, item.expiry_date)
                )  # fmt: skip
            else:
                commitments.append(
                    Commitment(item.id, customer, item.name, item.amount_cents(), item.currency,
                               item.priority, item.term, item.start_date, item.end_date,
                               item.rollover_percent)
                )  # fmt: skip
    if problems:
        raise CreditsError(problems)
    return Credits(grants, commitments)


def write_credits(con: duckdb.DuckDBPyConnection, credits: Credits, loaded_at: datetime) -> None:
    """Replace raw.credit_grants and raw.credit_commitments, in one transaction."""
    at = utc_naive(loaded_at)
    rows = {
        "credit_grants": [
            (
                g.grant_id,
                g.external_customer_id,
                g.name,
                g.grant_type,
                g.amount_cents,
                g.currency,
                g.priority,
                g.effective_date,
                g.expiry_date,
                at,
            )
            for g in credits.grants
        ],
        "credit_commitments": [
            (
                c.commitment_id,
                c.external_customer_id,
                c.name,
                c.amount_cents,
                c.currency,
                c.priority,
                c.term,
                c.start_date,
                c.end_date,
                decimal_text(c.rollover_percent.normalize()),
                at,
            )
            for c in credits.commitments
        ],
    }
    replace_tables(con, CREDIT_COLUMNS, rows)
