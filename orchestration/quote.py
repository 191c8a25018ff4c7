"""Quotes: price usage events for one subscription period against a catalog, with the warehouse's own SQL.

A quote builds a scratch warehouse (orchestration/scratch.py) holding the catalog, one customer and one
subscription per case, and the case's events loaded through the same intake as landing files; it then
runs the same dbt models as the pipeline up to `int_fees` and reads the case's lines. Many cases are priced
in ONE dbt run (each case is its own customer), which is how tests and pricing experiments price hundreds
of cases cheaply.

The period of a case:
  - `period_start` and `period_end` given: that window; a window shorter than the plan's interval is a
    subscription terminated at `period_end`, so its base fee is prorated by days, as the warehouse does;
  - only `period_start`: one full interval from it (anniversary billing);
  - neither: the calendar period (UTC) holding the earliest event.
The quote prices a steady-state period: the plan's trial days do not apply (a trial is a property of a
customer's first period, not of a price). The customer is in UTC and the plan's currency.

Price versions (``plan_versions.yml`` next to the catalog file, or ``versions=`` with a Catalog): with a
catalog plan code, the period picks the version as the warehouse does (the latest whose effective date is
at or before the period's start, in the case's timezone), so a quote of a period equals its bill; a
version's code (``pro_usd@2026-09``) prices that version whatever the period. The lines' charge ids and
the quote's ``priced_plan`` name the version that priced them. Subscription deals (``overrides.yml``) are
not quoted: a deal belongs to a subscription; write it as a plan of a catalog to quote it.

Events are rewritten to the case's customer (a quote prices one subscription; every event of the file
counts, whatever customer id it names, and a file naming several customers is refused). Events outside the
period, quarantined rows and events that could not be priced are counted in `events`, never dropped silently.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ingestion.accounts import Accounts, Customer, Subscription, parse_timestamp, write_accounts
from ingestion.catalog import Catalog, load_catalog
from ingestion.events.intake import load_event_files
from ingestion.plan_versions import PlanVersion, load_plan_versions, write_priced_catalog
from ingestion.warehouse import ensure_raw_schema, write_run_context

from .scratch import scratch_warehouse


class QuoteError(ValueError):
    """A quote cannot be made as asked (unknown plan, bad period, unreadable usage file...)."""


@dataclass
class QuoteCase:
    """One subscription period to price: a plan, its events (a JSON Lines file or dicts), a period."""

    key: str
    plan_code: str
    usage: Path | list[dict[str, Any]]
    period_start: datetime | str | None = None
    period_end: datetime | str | None = None
    timezone: str = "UTC"  # the customer's: local days for proration, local calendar periods


@dataclass
class QuoteLine:
    fee_type: str  # subscription | charge | spending_minimum
    charge: str | None
    metric: str | None
    charge_model: str | None
    filter: dict[str, list[str]] | None
    group: str | None
    units: Decimal | None
    events_count: int | None
    precise_amount: Decimal
    amount_cents: int
    service_start: datetime
    service_end: datetime

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fee_type": self.fee_type}
        if self.charge is not None:
            out["charge"] = self.charge
        out["metric"] = self.metric
        if self.charge_model is not None:
            out["charge_model"] = self.charge_model
        if self.filter is not None:
            out["filter"] = self.filter
        if self.group:
            out["group"] = self.group
        out["units"] = None if self.units is None else _plain(self.units)
        out["events_count"] = self.events_count
        out["precise_amount"] = _plain(self.precise_amount)
        out["amount_cents"] = self.amount_cents
        out["service_period"] = {"start": _iso(self.service_start), "end": _iso(self.service_end)}
        return out


@dataclass
class Quote:
    key: str
    plan_code: str
    currency: str
    period_start: datetime
    period_end: datetime
    lines: list[QuoteLine] = field(default_factory=list)
    events: dict[str, Any] = field(default_factory=dict)
    priced_plan: str | None = None  # the plan (or price version) that priced the period

    @property
    def total_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan_code,
            "priced_plan": self.priced_plan,
            "currency": self.currency,
            "period": {"start": _iso(self.period_start), "end": _iso(self.period_end)},
            "lines": [line.as_json() for line in self.lines],
            "total_cents": self.total_cents,
            "events": self.events,
        }


def _plain(value: Decimal) -> str:
    """An exact decimal as text, without exponent or trailing zeros ("12.5", "0", "1000000")."""
    return format(value.normalize(), "f")


def _iso(moment: datetime) -> str:
    return moment.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------------------------------------ periods

_MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}


def _add_interval(start: datetime, interval: str) -> datetime:
    if interval == "weekly":
        return start + timedelta(days=7)
    months = start.month - 1 + _MONTHS[interval]
    year, month = start.year + months // 12, months % 12 + 1
    # anniversary on the 31st ends on the last day of a shorter month, as the warehouse's periods do
    import calendar

    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def _local_add_interval(start: datetime, interval: str, timezone: str) -> datetime:
    """`start` (naive UTC) plus one interval counted on the local calendar, as naive UTC."""
    zone = ZoneInfo(timezone)
    local = start.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)
    ahead = _add_interval(local, interval)
    return ahead.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)


def calendar_period(
    moment: datetime, interval: str, timezone: str = "UTC"
) -> tuple[datetime, datetime]:
    """The calendar billing period holding `moment` (naive UTC) in `timezone`, as naive UTC bounds;
    weeks start on Monday."""
    zone = ZoneInfo(timezone)
    day = moment.replace(tzinfo=UTC).astimezone(zone).date()
    if interval == "weekly":
        start = day - timedelta(days=day.weekday())
    elif interval == "monthly":
        start = day.replace(day=1)
    elif interval == "quarterly":
        start = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    else:
        start = date(day.year, 1, 1)
    begin = datetime(start.year, start.month, start.day)
    end = _add_interval(begin, interval)

    def utc(local: datetime) -> datetime:
        return local.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)

    return utc(begin), utc(end)


def _naive_utc(moment: datetime | str | None) -> datetime | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        try:
            return parse_timestamp(moment)
        except ValueError as exc:
            raise QuoteError(f"period: {exc}") from None
    if moment.tzinfo is None:
        raise QuoteError(f"{moment.isoformat()}: give the period with a UTC offset (Z or +hh:mm)")
    return moment.astimezone(UTC).replace(tzinfo=None)


# ------------------------------------------------------------------------------------------ pricing


def _events_of(case: QuoteCase, events_dir: Path, index: int) -> Path:
    """The case's events as one JSON Lines landing file of its own.

    The intake loads a content only once (its ledger is keyed by SHA-256), and two cases may price the
    same usage: each file ends with a whitespace-only line of its own length (the intake skips blank
    lines), so every case's file is distinct."""
    target = events_dir / f"{case.key}.jsonl"
    if isinstance(case.usage, Path | str):
        source = Path(case.usage)
        if not source.is_file():
            raise QuoteError(f"usage file {source} not found")
        if source.suffix not in (".jsonl", ".json", ".ndjson"):
            raise QuoteError(f"usage file {source}: a quote reads JSON Lines (one event per line)")
        body = source.read_bytes()
    else:
        body = "".join(json.dumps(e) + "\n" for e in case.usage).encode()
    if body and not body.endswith(b"\n"):
        body += b"\n"
    target.write_bytes(body + b" " * (index + 1) + b"\n")
    return target


def quote_many(
    catalog: Path | Catalog,
    cases: list[QuoteCase],
    *,
    keep_dir: Path | None = None,
    versions: list[PlanVersion] | None = None,
) -> dict[str, Quote]:
    """Price every case in one scratch warehouse and one dbt build; returns quotes by case key.

    ``catalog``: a catalog file (its folder's ``plan_versions.yml`` is read too) or a Catalog (with
    ``versions``, if any)."""
    if not cases:
        return {}
    if len({c.key for c in cases}) != len(cases):
        raise QuoteError("quote case keys must be unique")
    if isinstance(catalog, Catalog):
        cat = catalog
    else:
        cat = load_catalog(Path(catalog))
        if versions is None:
            versions = load_plan_versions(Path(catalog).parent, cat)
    # the steady-state price: no trial (see the module docstring)
    derived = [
        replace(v.derived, plan=v.derived.plan.model_copy(update={"trial_period": 0}))
        for v in versions or []
    ]
    plans = {p.code: p for p in cat.plans} | {d.plan.code: d.plan for d in derived}
    for case in cases:
        try:
            ZoneInfo(case.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise QuoteError(
                f"{case.timezone!r} is not an IANA timezone (e.g. Europe/Paris)"
            ) from None
        if case.plan_code not in plans:
            known = ", ".join(sorted(plans)) or "none"
            raise QuoteError(f"plan {case.plan_code!r} is not in the catalog (plans: {known})")
    priced = cat.model_copy(
        update={"plans": [p.model_copy(update={"trial_period": 0}) for p in cat.plans]}
    )

    with scratch_warehouse(keep_dir) as scratch:
        events_dir = scratch.root / "landing" / "events"
        events_dir.mkdir(parents=True, exist_ok=True)
        for index, case in enumerate(cases):
            _events_of(case, events_dir, index)

        con = scratch.connect()
        try:
            ensure_raw_schema(con)
            now = datetime.now(UTC).replace(tzinfo=None)
            write_priced_catalog(con, priced, derived, now)
            # events first: the default period comes from the earliest event of the case
            far = now + timedelta(days=36600)  # nothing is "in the future" for a quote
            intake = load_event_files(con, events_dir, loaded_at=far, future_margin=timedelta(0))
            loads = {Path(f.file_name).stem: f for f in intake.files}
            periods: dict[str, tuple[datetime, datetime]] = {}
            accounts = Accounts()
            for case in cases:
                load = loads[case.key]
                load_id = getattr(load, "load_id", None)
                customers = [
                    r[0]
                    for r in con.execute(
                        "select distinct customer_id from raw.events where load_id = ?", [load_id]
                    ).fetchall()
                ]
                if len(customers) > 1:
                    raise QuoteError(
                        f"usage for {case.key!r} holds events of {len(customers)} customers "
                        f"({', '.join(sorted(customers)[:5])}); a quote prices one subscription"
                    )
                plan = plans[case.plan_code]
                start, end = _naive_utc(case.period_start), _naive_utc(case.period_end)
                if end is not None and start is None:
                    raise QuoteError("--period-end needs --period-start")
                if start is None:
                    (first,) = con.execute(
                        "select min(event_at) from raw.events where load_id = ?", [load_id]
                    ).fetchone()
                    if first is None:
                        raise QuoteError(
                            f"usage for {case.key!r} has no valid event to place the period: "
                            "give --period-start"
                        )
                    start, end = calendar_period(first, plan.interval, case.timezone)
                full_end = _local_add_interval(start, plan.interval, case.timezone)
                if end is None:
                    end = full_end
                if end <= start:
                    raise QuoteError(f"period end {_iso(end)} is not after its start {_iso(start)}")
                if end > full_end:
                    raise QuoteError(
                        f"period {_iso(start)} .. {_iso(end)} is longer than one {plan.interval} "
                        f"period of plan {plan.code!r} (which ends {_iso(full_end)}); quote one period"
                    )
                periods[case.key] = (start, end)
                customer = f"quote::{case.key}"
                con.execute(
                    "update raw.events set customer_id = ?, subscription_id = null where load_id = ?",
                    [customer, load_id],
                )
                accounts.customers.append(
                    Customer(customer, case.key, plan.amount_currency, case.timezone, "anniversary")
                )
                accounts.subscriptions.append(
                    Subscription(
                        customer, customer, plan.code, start, end if end < full_end else None
                    )
                )
            write_accounts(con, accounts, now)
            clock = max(end for _, end in periods.values())
            write_run_context(
                con,
                billing_clock=clock + timedelta(hours=1),
                grace_period_hours=0,
                future_margin_hours=0,
            )
        finally:
            con.close()

        scratch.build("+int_fees")
        return _read_quotes(scratch, cases, periods, plans, loads)


def _read_quotes(scratch, cases, periods, plans, loads) -> dict[str, Quote]:
    con = scratch.connect()  # dbt-duckdb keeps its in-process connection open: same configuration
    try:
        filters = {
            fid: json.loads(values)
            for fid, values in con.execute(
                "select filter_id, filter_values from staging.stg_catalog__charge_filters"
            ).fetchall()
        }
        quotes: dict[str, Quote] = {}
        for case in cases:
            start, end = periods[case.key]
            customer = f"quote::{case.key}"
            rows = con.execute(
                """
                select fee_type, charge_id, billable_metric_code, charge_model, filter_id, group_key,
                       units, events_count, precise_amount, amount_cents, service_start_at, service_end_at
                from intermediate.int_fees
                where scenario = 'live' and subscription_id = ? and is_invoiceable
                  and service_start_at >= ? and service_end_at <= ?
                order by case fee_type when 'subscription' then 0 when 'charge' then 1 else 2 end,
                         charge_id, filter_id nulls first, group_key
                """,
                [customer, start, end],
            ).fetchall()
            lines = [
                QuoteLine(
                    fee_type=r[0],
                    charge=r[1],
                    metric=r[2],
                    charge_model=r[3],
                    filter=filters.get(r[4]) if r[4] else None,
                    group=r[5] or None,
                    units=r[6],
                    events_count=r[7],
                    precise_amount=r[8],
                    amount_cents=int(r[9]),
                    service_start=r[10],
                    service_end=r[11],
                )
                for r in rows
            ]
            outcomes = _outcomes(con, loads[case.key], customer, start, end)
            priced_by = [
                r[0]
                for r in con.execute(
                    "select distinct plan_code from intermediate.int_billing_periods "
                    "where subscription_id = ? and service_start_at >= ? and service_end_at <= ? "
                    "order by 1",
                    [customer, start, end],
                ).fetchall()
            ]
            quotes[case.key] = Quote(
                key=case.key,
                plan_code=case.plan_code,
                currency=plans[case.plan_code].amount_currency,
                period_start=start,
                period_end=end,
                lines=lines,
                events=outcomes,
                priced_plan=", ".join(priced_by) or None,
            )
        return quotes
    finally:
        con.close()


def _outcomes(con, load, customer: str, start: datetime, end: datetime) -> dict[str, Any]:
    """What became of the case's input rows: priced, outside the period, duplicate..., quarantined."""
    load_id = getattr(load, "load_id", None)
    counts: Counter[str] = Counter()
    for outcome, n in con.execute(
        """
        select
            case
                when a.correction_outcome is not null then a.correction_outcome
                when a.attribution_outcome = 'billed' and a.service_window_id in (
                    select service_window_id from intermediate.int_billing_periods
                    where subscription_id = ? and service_start_at >= ? and service_end_at <= ?)
                    then 'priced'
                when a.attribution_outcome = 'billed' then 'outside_period'
                when a.attribution_outcome = 'no_active_subscription' then 'outside_period'
                else coalesce(a.correction_outcome, a.attribution_outcome)
            end,
            count(*)
        from intermediate.int_usage_events_attributed as a
        where a.load_id = ?
        group by all
        """,
        [customer, start, end, load_id],
    ).fetchall():
        counts[outcome] += n
    (read,) = con.execute("select count(*) from raw.events where load_id = ?", [load_id]).fetchone()
    quarantined = dict(
        con.execute(
            "select reason, count(*) from raw.quarantined_events where load_id = ? group by all",
            [load_id],
        ).fetchall()
    )
    return {
        "rows_read": read + sum(quarantined.values()),
        **dict(sorted(counts.items())),
        "quarantined": dict(sorted(quarantined.items())),
    }


def render_quote(quote: Quote) -> str:
    """The quote as a table a person reads: one row per line, then the total, then the events."""
    from ingestion.warehouse import currency_exponents

    exponent = currency_exponents()[quote.currency]

    def money(cents: int) -> str:
        return f"{Decimal(cents).scaleb(-exponent):,.{exponent}f}"

    rows = []
    for line in quote.lines:
        what = line.charge or "base fee"
        if line.filter:
            what += " [" + ", ".join(f"{k}={'|'.join(v)}" for k, v in line.filter.items()) + "]"
        if line.group:
            what += f" ({line.group})"
        if line.fee_type == "spending_minimum":
            what += " minimum true-up"
        rows.append(
            (
                what,
                line.charge_model or line.fee_type,
                "" if line.units is None else _plain(line.units),
                _plain(line.precise_amount),
                money(line.amount_cents),
            )
        )
    head = ("line", "model", "units", "exact amount", f"amount {quote.currency}")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(5)]
    fmt = "  ".join(f"{{:<{w}}}" if i < 2 else f"{{:>{w}}}" for i, w in enumerate(widths))
    out = [
        f"Quote: plan {quote.plan_code}"
        + (
            f" (priced by {quote.priced_plan})"
            if quote.priced_plan and quote.priced_plan != quote.plan_code
            else ""
        )
        + f", {_iso(quote.period_start)} .. {_iso(quote.period_end)} ({quote.currency})",
        "",
        fmt.format(*head),
        fmt.format(*("-" * w for w in widths)),
        *(fmt.format(*r) for r in rows),
        fmt.format(*("-" * w for w in widths)),
        fmt.format("total", "", "", "", money(quote.total_cents)),
        "",
        "Events: "
        + ", ".join(f"{k} {v}" for k, v in quote.events.items() if k != "quarantined" and v),
    ]
    if quote.events.get("quarantined"):
        out.append(
            "Quarantined: " + ", ".join(f"{k} {v}" for k, v in quote.events["quarantined"].items())
        )
    return "\n".join(out)
