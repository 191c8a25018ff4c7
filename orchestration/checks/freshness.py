"""Freshness warnings (ingestion/quality/freshness.py): no events for too long, and customers whose daily
usage drops to zero or changes by an order of magnitude. Severity WARN: they never block publishing.
Thresholds: meterhouse.yml `quality` (ingestion/config.py QualitySettings)."""

from datetime import UTC, datetime

import dagster as dg

from ingestion.quality.freshness import (
    FRESHNESS_CHECK,
    USAGE_CHECK,
    events_freshness,
    usage_changes,
)
from ingestion.quality.results import QUALITY_DDL, record_reports

from ..resources import Warehouse
from .metadata import check_result

POOL = "warehouse"
EVENTS = dg.AssetKey(["raw", "events"])
DAILY_USAGE = dg.AssetKey(["usage", "rpt_daily_usage"])


def _record(context, warehouse: Warehouse, make_report):
    with warehouse.writing():
        con = warehouse.connect()
        try:
            con.execute(QUALITY_DDL)
            report = make_report(con)
            record_reports(
                con,
                [report],
                checked_at=datetime.now(UTC).replace(tzinfo=None),
                run_id=context.op_execution_context.run_id,
            )
        finally:
            con.close()
    (context.log.info if report.passed else context.log.warning)(report.summary())
    return report


@dg.asset_check(
    asset=EVENTS,
    name=FRESHNESS_CHECK,
    description=(
        "Warns when no event has landed for meterhouse.yml quality.events_max_silence_hours (default "
        "24 h): a likely break in the event feed."
    ),
    pool=POOL,
)
def events_freshness_check(
    context: dg.AssetCheckExecutionContext, warehouse: Warehouse
) -> dg.AssetCheckResult:
    limit = warehouse.settings().quality.events_max_silence_hours
    report = _record(
        context,
        warehouse,
        lambda con: events_freshness(
            con, max_silence_hours=limit, now=datetime.now(UTC).replace(tzinfo=None)
        ),
    )
    return check_result(report, EVENTS, dg.AssetCheckSeverity.WARN)


@dg.asset_check(
    asset=DAILY_USAGE,
    name=USAGE_CHECK,
    description=(
        "Warns when a subscription's daily billable events of a metric drop to zero, or change by "
        "quality.usage_change_factor (default 10x) from one day to the next, while the subscription runs "
        "(its first and last days ignored, and days under quality.usage_min_daily_events, default 50): a "
        "likely instrumentation break."
    ),
    pool=POOL,
)
def usage_day_over_day_check(
    context: dg.AssetCheckExecutionContext, warehouse: Warehouse
) -> dg.AssetCheckResult:
    quality = warehouse.settings().quality
    report = _record(
        context,
        warehouse,
        lambda con: usage_changes(
            con,
            change_factor=quality.usage_change_factor,
            min_daily_events=quality.usage_min_daily_events,
        ),
    )
    return check_result(report, DAILY_USAGE, dg.AssetCheckSeverity.WARN)
