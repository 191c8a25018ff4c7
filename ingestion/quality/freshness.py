"""Freshness: warnings, never blockers. An instrumentation break shows as silence (no events at all) or as a
customer's usage falling to zero or changing by an order of magnitude from one day to the next; both are
worth a look before they become a wrong invoice, and neither is wrong by itself.

``events_freshness``: the newest load that landed at least one event is older than
``quality.events_max_silence_hours`` (meterhouse.yml) at ``now`` (load times are wall-clock UTC).

``usage_changes``: the rows of ``usage.rpt_daily_usage`` (a dbt model: billable events per subscription x
metric x local day while the subscription runs, first and last days left out, with the day before) where
the day has no events after a day with at least ``usage_min_daily_events``, or one day has at least
``usage_change_factor`` times the other and at least ``usage_min_daily_events``.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from .gx_suite import plain
from .results import CheckReport, RuleOutcome

FRESHNESS_CHECK = "events_freshness"
USAGE_CHECK = "usage_day_over_day"
EVENTS_ASSET = "raw/events"
DAILY_USAGE_ASSET = "usage/rpt_daily_usage"
EXAMPLES = 10


def events_freshness(
    con: duckdb.DuckDBPyConnection, *, max_silence_hours: int, now: datetime
) -> CheckReport:
    """``now``: naive UTC (the wall clock in the pipeline; tests pass their own)."""
    rows = con.execute(
        """select max(loaded_at), count(*), max(load_id) filter (where rows_landed > 0)
        from raw.event_loads where rows_landed > 0"""
    ).fetchall()
    last, loads, last_load = rows[0]
    if last is None:
        silence_hours = None
        ok = False
        observed = "no event has landed yet"
    else:
        silence_hours = (now - last).total_seconds() / 3600
        ok = silence_hours <= max_silence_hours
        observed = (
            f"newest events landed at {last.isoformat(sep=' ')} UTC (load {last_load}), "
            f"{_hours(silence_hours)} before {now.isoformat(sep=' ', timespec='seconds')} UTC"
        )
    outcome = RuleOutcome(
        rule=f"events landed within the last {max_silence_hours} h",
        expectation="max(raw.event_loads.loaded_at) >= now - events_max_silence_hours",
        success=ok,
        frame="raw.event_loads",
        element_count=int(loads or 0),
        unexpected_count=0 if ok else 1,
        observed=observed,
    )
    return CheckReport(
        check_name=FRESHNESS_CHECK,
        asset_key=EVENTS_ASSET,
        rows_checked=int(loads or 0),
        outcomes=[outcome],
        scope=observed,
        blocks_publishing=False,
    )


def _hours(hours: float) -> str:
    return f"{hours:.1f} h" if abs(hours) < 72 else f"{hours / 24:.1f} days"


USAGE_SQL = """
select
    customer_id, subscription_id, metric_code, usage_date, previous_events_count, events_count,
    case
        when events_count = 0 then 'drop_to_zero'
        when events_count > previous_events_count then 'jump_up'
        else 'jump_down'
    end as change
from {relation}
where greatest(events_count, previous_events_count) >= $min_events
  and (
      events_count = 0
      or events_count >= $factor * previous_events_count
      or previous_events_count >= $factor * events_count
  )
order by greatest(events_count, previous_events_count) desc, customer_id, metric_code, usage_date
"""


def usage_changes(
    con: duckdb.DuckDBPyConnection,
    *,
    change_factor: int,
    min_daily_events: int,
    relation: str = "usage.rpt_daily_usage",
) -> CheckReport:
    """``relation``: the table with rpt_daily_usage's columns to read (tests pass one with planted rows)."""
    days = con.execute(f"select count(*) from {relation}").fetchall()[0][0]
    cursor = con.execute(
        USAGE_SQL.format(relation=relation),
        {"min_events": min_daily_events, "factor": change_factor},
    )
    columns = [d[0] for d in cursor.description]
    found = [dict(zip(columns, (plain(v) for v in row), strict=True)) for row in cursor.fetchall()]
    kinds: dict[str, int] = {}
    for row in found:
        kinds[row["change"]] = kinds.get(row["change"], 0) + 1
    outcome = RuleOutcome(
        rule=(
            f"no customer's daily events of a metric drop to zero or change {change_factor}x "
            f"(days with {min_daily_events}+ events)"
        ),
        expectation="usage.rpt_daily_usage day over day",
        success=not found,
        frame="usage.rpt_daily_usage",
        element_count=int(days),
        unexpected_count=len(found),
        observed=", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or None,
        examples=found[:EXAMPLES],
    )
    customers = len({r["customer_id"] for r in found})
    return CheckReport(
        check_name=USAGE_CHECK,
        asset_key=DAILY_USAGE_ASSET,
        rows_checked=int(days),
        outcomes=[outcome],
        scope=f"{days} subscription-metric-days; {len(found)} changes for {customers} customers",
        blocks_publishing=False,
    )
