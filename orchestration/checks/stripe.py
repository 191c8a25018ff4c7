"""Great Expectations on the raw Stripe tables, after each sync (ingestion/quality/stripe.py).

One asset check per table, on the table's asset (stripe/stripe_<table>). What fails goes to
raw.check_failures and holds back the next publishing run for the customer and month it belongs to (the
close job publishes before it reads Stripe back, so it cannot be the same run's).
"""

from datetime import UTC, datetime

import dagster as dg

from ingestion.quality.results import QUALITY_DDL, record_reports
from ingestion.quality.stripe import STRIPE_TABLES, stripe_suite

from ..resources import Warehouse
from .metadata import check_result

POOL = "warehouse"
KEYS = {t.check_name: dg.AssetKey(["stripe", f"stripe_{t.key}"]) for t in STRIPE_TABLES}


def _description(table) -> str:
    what = ["ids present and unique"]
    if table.required:
        what.append(f"{', '.join(table.required)} present")
    if table.currency:
        what.append("currency ISO 4217")
    if table.non_negative:
        what.append(f"{', '.join(table.non_negative)} not negative")
    hold = (
        "holds back the customer's next publication"
        if table.blocks
        else "reported only (publishing never uses it)"
    )
    return f"Great Expectations on raw.stripe_{table.key}: {'; '.join(what)}; {hold}."


@dg.multi_asset_check(
    name="stripe_raw_checks",
    specs=[
        dg.AssetCheckSpec(t.check_name, asset=KEYS[t.check_name], description=_description(t))
        for t in STRIPE_TABLES
    ],
    pool=POOL,
)
def stripe_raw_checks(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
    with warehouse.writing():
        con = warehouse.connect()
        try:
            con.execute(QUALITY_DDL)
            reports = [stripe_suite(con, table) for table in STRIPE_TABLES]
            record_reports(
                con,
                reports,
                checked_at=datetime.now(UTC).replace(tzinfo=None),
                run_id=context.op_execution_context.run_id,
            )
        finally:
            con.close()
    for report in reports:
        (context.log.info if report.passed else context.log.warning)(report.summary())
        yield check_result(report, KEYS[report.check_name])
