"""Coupons (Lago's shapes): ``DIR/coupons.yml`` (optional) -> ``raw.coupons``, ``raw.applied_coupons``.

::

    coupons:
      - code: welcome50
        coupon_type: fixed_amount      # or percentage
        amount_cents: 5000             # fixed_amount: minor units of amount_currency
        amount_currency: USD
        frequency: once                # once | recurring | forever
      - code: launch
        coupon_type: percentage
        percentage_rate: "20"          # percent, exact
        frequency: recurring
        frequency_duration: 3          # recurring: how many invoices
    applied_coupons:
      - external_customer_id: cus_001
        coupon_code: welcome50
        applied_at: "2026-09-01T00:00:00Z"   # optional: invoices issued from then on (default: all)

Rules (SEMANTICS.md "Invoices", Lago): a coupon discounts an invoice's lines after the true-ups and
before tax; a fixed amount is used up across the invoices that follow (``once``: what one invoice does
not use carries over to the next until the amount is spent; ``recurring``: the full amount on each of the
next ``frequency_duration`` invoices; ``forever``: on every invoice), never below zero; a percentage
applies to each invoice it covers (``once``: the first).

A customer may hold several coupons. They apply to an invoice one after the other, the oldest applied
first (Lago): each percentage on what the previous discounts left, each fixed amount up to what is left,
never below zero (int_fees.sql has the walk). "Oldest" is ``applied_at`` (an entry without one applies from
the first invoice, so it is the oldest), then the order of ``applied_coupons`` in the file; that order is
written as ``applied_order`` (1, 2, ... per customer). The same coupon applied twice to one customer is an
error naming both entries (Lago's ``reusable`` coupons are not supported).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import yaml

from ingestion.accounts import parse_timestamp
from ingestion.catalog import load_yaml, replace_tables, utc_naive
from ingestion.warehouse import currency_exponents

COUPONS_FILE = "coupons.yml"
TYPES = ("fixed_amount", "percentage")
FREQUENCIES = ("once", "recurring", "forever")

COUPON_COLUMNS: dict[str, tuple[str, ...]] = {
    "coupons": (
        "code",
        "coupon_type",
        "amount_cents",
        "amount_currency",
        "percentage_rate",
        "frequency",
        "frequency_duration",
        "loaded_at",
    ),
    "applied_coupons": ("external_customer_id", "coupon_code", "applied_at", "applied_order"),
}


class CouponsError(ValueError):
    """coupons.yml is invalid; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Coupon:
    code: str
    coupon_type: str
    amount_cents: int | None
    amount_currency: str | None
    percentage_rate: Decimal | None
    frequency: str
    frequency_duration: int | None


@dataclass(frozen=True)
class AppliedCoupon:
    external_customer_id: str
    coupon_code: str
    applied_at: datetime | None  # naive UTC; None = from the first invoice
    applied_order: int = 1  # 1, 2, ... among the customer's coupons: the order they apply in


@dataclass
class Coupons:
    coupons: list[Coupon]
    applied: list[AppliedCoupon]


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return None


def load_coupons(data_dir: Path, customers: dict[str, str]) -> Coupons:
    """Read ``DIR/coupons.yml`` (absent: no coupon); ``customers`` maps customer id -> currency.
    Every problem is raised together."""
    path = Path(data_dir) / COUPONS_FILE
    if not path.exists():
        return Coupons([], [])
    label = COUPONS_FILE
    try:
        raw = load_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise CouponsError([f"{label}: not valid YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise CouponsError([f"{label}: expected a mapping with coupons and applied_coupons"])
    problems: list[str] = []
    for key in raw:
        if key not in ("coupons", "applied_coupons"):
            problems.append(f"{label}: {key}: unknown key (expected coupons, applied_coupons)")
    coupons: dict[str, Coupon] = {}
    for i, entry in enumerate(raw.get("coupons") or []):
        where = f"{label}: coupons[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a mapping")
            continue
        code = entry.get("code")
        if isinstance(code, str):
            where += f" (code {code!r})"
        known = {"code", "name", "coupon_type", "amount_cents", "amount_currency", "percentage_rate",
                 "frequency", "frequency_duration", "expiration", "expiration_at", "reusable"}  # fmt: skip
        extra = set(entry) - known
        if extra:
            problems.append(f"{where}: unknown key(s) {', '.join(sorted(map(str, extra)))}")
        if not isinstance(code, str) or not code:
            problems.append(f"{where}: code is required")
            continue
        if code in coupons:
            problems.append(f"{where}: duplicate code")
        ctype, frequency = entry.get("coupon_type"), entry.get("frequency", "once")
        if ctype not in TYPES:
            problems.append(
                f"{where}: coupon_type must be one of {', '.join(TYPES)} (got {ctype!r})"
            )
            continue
        if frequency not in FREQUENCIES:
            problems.append(
                f"{where}: frequency must be one of {', '.join(FREQUENCIES)} (got {frequency!r})"
            )
            continue
        duration = _int(entry.get("frequency_duration"))
        if frequency == "recurring" and (duration is None or duration < 1):
            problems.append(
                f"{where}: a recurring coupon needs frequency_duration, a number of invoices >= 1"
            )
            continue
        amount, currency, rate = None, None, None
        if ctype == "fixed_amount":
            amount, currency = _int(entry.get("amount_cents")), entry.get("amount_currency")
            if amount is None or amount <= 0:
                problems.append(f"{where}: amount_cents must be a whole number of minor units > 0")
                continue
            if currency not in currency_exponents():
                problems.append(f"{where}: amount_currency {currency!r} is not an ISO 4217 code")
                continue
        else:
            value = entry.get("percentage_rate")
            rate = (
                Decimal(str(value))
                if isinstance(value, int | Decimal | str) and not isinstance(value, bool)
                else None
            )
            if rate is None or not Decimal(0) < rate <= Decimal(100):
                problems.append(
                    f"{where}: percentage_rate must be a percentage above 0, at most 100"
                )
                continue
        for lago_only in ("expiration", "expiration_at", "reusable"):
            if entry.get(lago_only) not in (None, False, "no_expiration"):
                problems.append(f"{where}: {lago_only} is not supported; remove it")
        coupons[code] = Coupon(code, ctype, amount, currency, rate, frequency,
                               duration if frequency == "recurring" else None)  # fmt: skip
    applied: list[AppliedCoupon] = []
    seen: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(raw.get("applied_coupons") or []):
        where = f"{label}: applied_coupons[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected external_customer_id, coupon_code (and applied_at)")
            continue
        extra = set(entry) - {"external_customer_id", "coupon_code", "applied_at"}
        if extra:
            problems.append(f"{where}: unknown key(s) {', '.join(sorted(map(str, extra)))}")
        customer, code = str(entry.get("external_customer_id")), entry.get("coupon_code")
        if customer not in customers:
            problems.append(f"{where}: customer {customer!r} is not in landing/customers.csv")
            continue
        if code not in coupons:
            problems.append(f"{where}: coupon {code!r} is not defined under coupons")
            continue
        coupon = coupons[code]
        if coupon.amount_currency and coupon.amount_currency != customers[customer]:
            problems.append(
                f"{where}: coupon {code!r} is in {coupon.amount_currency}, customer {customer!r} is billed in "
                f"{customers[customer]}"
            )
        if (customer, code) in seen:
            problems.append(
                f"{where}: coupon {code!r} is already applied to customer {customer!r} "
                f"(applied_coupons[{seen[customer, code]}]); a coupon applies once per customer"
            )
            continue
        seen[customer, code] = i
        at = entry.get("applied_at")
        try:
            applied_at = parse_timestamp(str(at)) if at is not None else None
        except ValueError as exc:
            problems.append(f"{where}: applied_at: {exc}")
            continue
        applied.append(AppliedCoupon(customer, code, applied_at))
    if problems:
        raise CouponsError(problems)
    return Coupons(list(coupons.values()), _ordered(applied))


def _ordered(applied: list[AppliedCoupon]) -> list[AppliedCoupon]:
    """Number each customer's coupons in the order they apply: the oldest ``applied_at`` first (none =
    from the first invoice, the oldest), then file order (the sort is stable)."""
    ranked = sorted(applied, key=lambda a: (a.applied_at is not None, a.applied_at or datetime.min))
    counts: dict[str, int] = {}
    order: dict[tuple[str, str], int] = {}  # (customer, coupon) is unique (checked above)
    for entry in ranked:
        counts[entry.external_customer_id] = counts.get(entry.external_customer_id, 0) + 1
        order[entry.external_customer_id, entry.coupon_code] = counts[entry.external_customer_id]
    return [replace(a, applied_order=order[a.external_customer_id, a.coupon_code]) for a in applied]


def write_coupons(con: duckdb.DuckDBPyConnection, coupons: Coupons, loaded_at: datetime) -> None:
    """Replace raw.coupons and raw.applied_coupons, in one transaction."""
    at = utc_naive(loaded_at)
    rows = {
        "coupons": [
            (
                c.code,
                c.coupon_type,
                c.amount_cents,
                c.amount_currency,
                None if c.percentage_rate is None else format(c.percentage_rate.normalize(), "f"),
                c.frequency,
                c.frequency_duration,
                at,
            )
            for c in coupons.coupons
        ],
        "applied_coupons": [
            (a.external_customer_id, a.coupon_code, a.applied_at, a.applied_order)
            for a in coupons.applied
        ],
    }
    replace_tables(con, COUPON_COLUMNS, rows)
