"""Customers, subscriptions and plan changes: ``DIR/landing/*.csv`` -> ``raw`` (docs/contracts.md).

- ``customers.csv``: ``external_customer_id,name,currency,timezone,billing_time``
  (``name`` may be empty; ``timezone`` empty = ``UTC``, Lago's default; ``billing_time`` empty =
  ``calendar``).
- ``subscriptions.csv``: ``external_subscription_id,external_customer_id,plan_code,started_at,
  ending_at`` (``ending_at`` empty = open).
- ``subscription_changes.csv`` (optional): ``external_subscription_id,plan_code,changed_at``.

Timestamps are ISO-8601 *with* an offset (``Z``, ``+02:00``) and are stored as naive UTC. Columns
outside the contract are ignored with a warning. Values are stripped of surrounding spaces. Every
problem names the file, the line (the header is line 1) and the field; all problems found are
raised together as one ``AccountsError``.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from ingestion.catalog import Catalog, Plan, replace_tables, utc_naive
from ingestion.warehouse import currency_exponents

CUSTOMERS_FILE = "customers.csv"
SUBSCRIPTIONS_FILE = "subscriptions.csv"
CHANGES_FILE = "subscription_changes.csv"
BILLING_TIMES = ("calendar", "anniversary")


class AccountsError(ValueError):
    """The account files are invalid; ``problems`` holds one line per problem."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class AccountsWarning(UserWarning):
    """A column outside the contract, ignored."""


@dataclass(frozen=True)
class Customer:
    external_customer_id: str
    name: str | None
    currency: str
    timezone: str
    billing_time: str


@dataclass(frozen=True)
class Subscription:
    external_subscription_id: str
    external_customer_id: str
    plan_code: str
    started_at: datetime  # naive UTC
    ending_at: datetime | None  # naive UTC; None = open
    # 'file' (landing/subscriptions.csv) or 'stripe' (a Stripe subscription with a catalog plan code, see
    # ingestion/stripe_sync/merge.py: Stripe bills its base fee, Meterhouse only its usage charges)
    source: str = "file"


@dataclass(frozen=True)
class SubscriptionChange:
    external_subscription_id: str
    plan_code: str
    changed_at: datetime  # naive UTC


@dataclass
class Accounts:
    customers: list[Customer] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    subscription_changes: list[SubscriptionChange] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- parsing helpers


def parse_timestamp(text: str) -> datetime:
    """ISO-8601 with an offset -> naive UTC; ``ValueError`` with what to do otherwise."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO-8601 timestamp (e.g. 2026-03-01T00:00:00Z)"
        ) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset; add Z or +hh:mm")
    return moment.astimezone(UTC).replace(tzinfo=None)


def _show(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


class _Reader:
    """Reads the CSV files and collects problems and warnings."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, int, str]] = []  # (file, line, message)
        self.warnings: list[str] = []

    def add(self, file: str, line: int, message: str) -> None:
        where = f"{file} line {line}" if line else file
        self.problems.append((file, line, f"{where}: {message}"))

    def error(self, file: str, line: int, column: str, message: str) -> None:
        self.add(file, line, f"{column}: {message}")

    def sorted_problems(self) -> list[str]:
        """By file (customers, subscriptions, changes), then line; found order within a line."""
        order = (CUSTOMERS_FILE, SUBSCRIPTIONS_FILE, CHANGES_FILE)
        ranked = sorted(self.problems, key=lambda p: (order.index(p[0]), p[1]))
        return [message for _, _, message in ranked]

    def read(
        self, path: Path, required: tuple[str, ...], optional: tuple[str, ...] = ()
    ) -> list[tuple[int, dict[str, str]]]:
        """(line number, {column: stripped value}) for each non-blank data row."""
        name = path.name
        if not path.exists():
            self.add(name, 0, f"file not found in {path.parent}")
            return []
        rows: list[tuple[int, dict[str, str]]] = []
        try:
            with path.open(newline="", encoding="utf-8-sig") as fh:
                reader = csv.reader(fh)
                header = [h.strip() for h in next(reader, [])]
                if not header:
                    expected = ",".join(required + optional)
                    self.add(name, 1, f"empty file; expected the header {expected}")
                    return []
                missing = [c for c in required if c not in header]
                repeated = sorted({h for h in header if header.count(h) > 1})
                if missing:
                    self.add(name, 1, f"missing columns {', '.join(missing)}")
                if repeated:
                    self.add(name, 1, f"repeated columns {', '.join(repeated)}")
                if missing or repeated:
                    return []
                extra = [h for h in header if h not in required + optional]
                if extra:
                    self.warnings.append(
                        f"{name} line 1: columns ignored (not in the contract): {', '.join(extra)}"
                    )
                for values in reader:
                    line = reader.line_num
                    if not any(v.strip() for v in values):
                        continue
                    if len(values) != len(header):
                        self.add(name, line, f"{len(values)} fields, the header has {len(header)}")
                        continue
                    row = {h: v.strip() for h, v in zip(header, values, strict=True)}
                    rows.append((line, {c: row.get(c, "") for c in required + optional}))
        except UnicodeDecodeError as exc:
            self.add(name, 0, f"not UTF-8 text ({exc})")
        except csv.Error as exc:
            self.add(name, reader.line_num, f"not valid CSV ({exc})")
        return rows

    def required(self, file: str, line: int, row: dict[str, str], column: str) -> str | None:
        value = row[column]
        if not value:
            self.error(file, line, column, "required, but empty")
            return None
        return value

    def timestamp(self, file: str, line: int, row: dict[str, str], column: str) -> datetime | None:
        value = row[column]
        if not value:
            return None
        try:
            return parse_timestamp(value)
        except ValueError as exc:
            self.error(file, line, column, str(exc))
            return None


# --------------------------------------------------------------------------- loading


def load_accounts(landing_dir: Path, catalog: Catalog) -> Accounts:
    """Read and validate the account files in ``landing_dir`` against ``catalog``."""
    landing_dir = Path(landing_dir)
    reader = _Reader()
    plans = {plan.code: plan for plan in catalog.plans}

    customers, bad_customers = _customers(reader, landing_dir / CUSTOMERS_FILE)
    subscriptions, bad_subscriptions = _subscriptions(
        reader, landing_dir / SUBSCRIPTIONS_FILE, customers, bad_customers, plans
    )
    changes: list[SubscriptionChange] = []
    if (landing_dir / CHANGES_FILE).exists():
        changes = _changes(
            reader, landing_dir / CHANGES_FILE, customers, subscriptions, bad_subscriptions, plans
        )

    if reader.problems:
        raise AccountsError(reader.sorted_problems())
    for message in reader.warnings:
        warnings.warn(message, AccountsWarning, stacklevel=2)
    return Accounts(
        customers=list(customers.values()),
        subscriptions=list(subscriptions.values()),
        subscription_changes=changes,
        warnings=reader.warnings,
    )


def _customers(reader: _Reader, path: Path) -> tuple[dict[str, Customer], set[str]]:
    file = path.name
    customers: dict[str, Customer] = {}
    first_line: dict[str, int] = {}
    bad: set[str] = set()
    rows = reader.read(
        path, ("external_customer_id", "currency"), ("name", "timezone", "billing_time")
    )
    exponents = currency_exponents()
    for line, row in rows:
        before = len(reader.problems)
        customer_id = reader.required(file, line, row, "external_customer_id")
        if _is_repeat(reader, file, line, "external_customer_id", customer_id, first_line):
            continue
        currency = reader.required(file, line, row, "currency")
        if currency is not None and currency not in exponents:
            hint = f" (did you mean {currency.upper()!r}?)" if currency.upper() in exponents else ""
            reader.error(
                file, line, "currency", f"{currency!r} is not an ISO 4217 currency code{hint}"
            )
        timezone = row["timezone"] or "UTC"
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            reader.error(
                file, line, "timezone", f"{timezone!r} is not an IANA time zone (e.g. Europe/Paris)"
            )
        billing_time = row["billing_time"] or "calendar"
        if billing_time not in BILLING_TIMES:
            reader.error(
                file, line, "billing_time", f"{billing_time!r} is not calendar or anniversary"
            )
        if customer_id is None:
            continue
        first_line[customer_id] = line
        if len(reader.problems) > before:
            bad.add(customer_id)
            continue
        customers[customer_id] = Customer(
            external_customer_id=customer_id,
            name=row["name"] or None,
            currency=currency,
            timezone=timezone,
            billing_time=billing_time,
        )
    return customers, bad


def _is_repeat(
    reader: _Reader, file: str, line: int, field: str, value: str | None, first_line: dict[str, int]
) -> bool:
    """Whether the id was already on an earlier line (an error naming that line)."""
    if value is None or value not in first_line:
        return False
    reader.error(file, line, field, f"duplicate {value!r} (first on line {first_line[value]})")
    return True


def _known_plan(
    reader: _Reader, file: str, line: int, row: dict[str, str], plans: dict[str, Plan]
) -> tuple[str | None, Plan | None]:
    """The row's plan_code and its plan, or an error naming the code when the catalog has no such plan."""
    plan_code = reader.required(file, line, row, "plan_code")
    plan = plans.get(plan_code) if plan_code else None
    if plan_code and plan is None:
        reader.error(file, line, "plan_code", f"unknown plan {plan_code!r} (not in catalog.yml)")
    return plan_code, plan


def _subscriptions(
    reader: _Reader,
    path: Path,
    customers: dict[str, Customer],
    bad_customers: set[str],
    plans: dict[str, Any],
) -> tuple[dict[str, Subscription], set[str]]:
    file = path.name
    subscriptions: dict[str, Subscription] = {}
    first_line: dict[str, int] = {}
    bad: set[str] = set()
    rows = reader.read(
        path,
        ("external_subscription_id", "external_customer_id", "plan_code", "started_at"),
        ("ending_at",),
    )
    for line, row in rows:
        before = len(reader.problems)
        subscription_id = reader.required(file, line, row, "external_subscription_id")
        if _is_repeat(reader, file, line, "external_subscription_id", subscription_id, first_line):
            continue
        customer_id = reader.required(file, line, row, "external_customer_id")
        customer = customers.get(customer_id) if customer_id else None
        if customer_id and customer is None and customer_id not in bad_customers:
            reader.error(
                file,
                line,
                "external_customer_id",
                f"unknown customer {customer_id!r} (not in customers.csv)",
            )
        plan_code, plan = _known_plan(reader, file, line, row, plans)
        if plan is not None and customer is not None and plan.amount_currency != customer.currency:
            reader.error(
                file,
                line,
                "plan_code",
                f"plan {plan_code!r} is in {plan.amount_currency} but customer {customer_id!r} pays "
                f"in {customer.currency}; a customer is only put on plans in the customer's currency",
            )
        started_at = reader.timestamp(file, line, row, "started_at")
        if started_at is None and row["started_at"] == "":
            reader.error(file, line, "started_at", "required, but empty")
        ending_at = reader.timestamp(file, line, row, "ending_at")
        if started_at is not None and ending_at is not None and ending_at <= started_at:
            reader.error(
                file,
                line,
                "ending_at",
                f"{row['ending_at']} is not after started_at {row['started_at']}",
            )
        if subscription_id is None:
            continue
        first_line[subscription_id] = line
        if len(reader.problems) > before or None in (customer, plan, started_at):
            bad.add(subscription_id)
            continue
        subscriptions[subscription_id] = Subscription(
            external_subscription_id=subscription_id,
            external_customer_id=customer_id,
            plan_code=plan_code,
            started_at=started_at,
            ending_at=ending_at,
        )
    return subscriptions, bad


def _changes(
    reader: _Reader,
    path: Path,
    customers: dict[str, Customer],
    subscriptions: dict[str, Subscription],
    bad_subscriptions: set[str],
    plans: dict[str, Any],
) -> list[SubscriptionChange]:
    file = path.name
    rows = reader.read(path, ("external_subscription_id", "plan_code", "changed_at"))
    parsed: list[tuple[int, SubscriptionChange]] = []
    for line, row in rows:
        before = len(reader.problems)
        subscription_id = reader.required(file, line, row, "external_subscription_id")
        subscription = subscriptions.get(subscription_id) if subscription_id else None
        if subscription_id and subscription is None and subscription_id not in bad_subscriptions:
            reader.error(
                file,
                line,
                "external_subscription_id",
                f"unknown subscription {subscription_id!r} (not in subscriptions.csv)",
            )
        plan_code, plan = _known_plan(reader, file, line, row, plans)
        changed_at = reader.timestamp(file, line, row, "changed_at")
        if changed_at is None and row["changed_at"] == "":
            reader.error(file, line, "changed_at", "required, but empty")
        if subscription is None or changed_at is None:
            continue
        customer = customers[subscription.external_customer_id]
        if plan is not None and plan.amount_currency != customer.currency:
            reader.error(
                file,
                line,
                "plan_code",
                f"plan {plan_code!r} is in {plan.amount_currency} but customer "
                f"{customer.external_customer_id!r} pays in {customer.currency}; a customer is only "
                "put on plans in the customer's currency",
            )
        ends = subscription.ending_at
        if changed_at <= subscription.started_at or (ends is not None and changed_at >= ends):
            life = f"started {_show(subscription.started_at)}, " + (
                f"ends {_show(ends)}" if ends is not None else "open"
            )
            reader.error(
                file,
                line,
                "changed_at",
                f"{row['changed_at']} is outside the life of subscription {subscription_id!r} ({life})",
            )
        if len(reader.problems) == before:
            parsed.append((line, SubscriptionChange(subscription_id, plan_code, changed_at)))

    # In time order per subscription: each change must move to another plan than the one in force.
    by_time = sorted(
        parsed, key=lambda item: (item[1].external_subscription_id, item[1].changed_at)
    )
    previous: dict[str, tuple[int, SubscriptionChange]] = {}
    for line, change in by_time:
        sid = change.external_subscription_id
        before = previous.get(sid)
        if before is not None and before[1].changed_at == change.changed_at:
            reader.error(
                file,
                line,
                "changed_at",
                f"subscription {sid!r} already changes plan at {_show(change.changed_at)} (line {before[0]})",
            )
            continue
        current = before[1].plan_code if before is not None else subscriptions[sid].plan_code
        if change.plan_code == current:
            reader.error(
                file,
                line,
                "plan_code",
                f"subscription {sid!r} is already on plan {current!r} at {_show(change.changed_at)}",
            )
        previous[sid] = (line, change)
    return [change for _, change in parsed]


# --------------------------------------------------------------------------- writing

ACCOUNTS_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": (
        "external_customer_id",
        "name",
        "currency",
        "timezone",
        "billing_time",
        "loaded_at",
    ),
    "subscriptions": (
        "external_subscription_id",
        "external_customer_id",
        "plan_code",
        "started_at",
        "ending_at",
        "source",
        "loaded_at",
    ),
    "subscription_changes": ("external_subscription_id", "plan_code", "changed_at", "loaded_at"),
}


def write_accounts(con: duckdb.DuckDBPyConnection, accounts: Accounts, loaded_at: datetime) -> None:
    """Replace raw.customers, raw.subscriptions and raw.subscription_changes, in one transaction.
    ``loaded_at`` aware, or naive UTC."""
    at = utc_naive(loaded_at)
    rows = {
        "customers": [
            (c.external_customer_id, c.name, c.currency, c.timezone, c.billing_time, at)
            for c in accounts.customers
        ],
        "subscriptions": [
            (
                s.external_subscription_id,
                s.external_customer_id,
                s.plan_code,
                s.started_at,
                s.ending_at,
                s.source,
                at,
            )
            for s in accounts.subscriptions
        ],
        "subscription_changes": [
            (c.external_subscription_id, c.plan_code, c.changed_at, at)
            for c in accounts.subscription_changes
        ],
    }
    replace_tables(con, ACCOUNTS_COLUMNS, rows)
