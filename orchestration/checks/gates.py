"""The publish gates: the quality checks whose failures hold documents back from Stripe.

`publish_gates` runs the Great Expectations suites (ingestion/quality) on the new event batch, the load
accounting and the invoices mart, reports each as an asset check of the asset it checks (with failing
examples in the check's metadata), and replaces their rows in raw.check_failures. The dbt view
billing.publish_blockers reads those rows live, and `stripe_publication` depends on this asset, so in one run
of the close job the checks see this run's marts and publishing sees this run's checks: dbt_reporting ->
publish_gates -> stripe_publication. A failing check does not stop the run (publishing skips exactly the
customers and months it pins; the others go out), so its result is an ERROR that blocks no asset.
"""

from datetime import UTC, datetime

import dagster as dg

from ingestion.quality.events import (
    EVENT_BATCH_CHECK,
    LOAD_ACCOUNTING_CHECK,
    event_batch_suite,
    load_accounting_suite,
)
from ingestion.quality.invoices import (
    INVOICE_CHECK,
    INVOICE_LINE_CHECK,
    invoice_line_suite,
    invoice_suite,
)
from ingestion.quality.results import QUALITY_DDL, record_reports

from ..resources import Warehouse
from .metadata import check_result

GROUP = "quality"
POOL = "warehouse"
GATE_KEY = dg.AssetKey(["quality", "publish_gates"])

EVENTS = dg.AssetKey(["raw", "events"])
LOAD_ACCOUNTING = dg.AssetKey(["usage", "rpt_load_accounting"])
INVOICES = dg.AssetKey(["billing", "fct_invoices"])
INVOICE_LINES = dg.AssetKey(["billing", "fct_invoice_lines"])
CHECKED = {
    EVENT_BATCH_CHECK: EVENTS,
    LOAD_ACCOUNTING_CHECK: LOAD_ACCOUNTING,
    INVOICE_CHECK: INVOICES,
    INVOICE_LINE_CHECK: INVOICE_LINES,
}
DESCRIPTIONS = {
    EVENT_BATCH_CHECK: (
        "Great Expectations on each new batch of landed events (and loads still failing): raw.events "
        "schema and types, required fields, event_at within [2000-01-01, load time + future margin], "
        "corrections well formed. A failing row holds back its customer's documents issued with that load."
    ),
    LOAD_ACCOUNTING_CHECK: (
        "Great Expectations per new load: rows read = quarantined + outcomes (billed, duplicates, ...), "
        "the ledger's counts equal the rows found, none negative. A load that does not balance holds back "
        "every document issued with it."
    ),
    INVOICE_CHECK: (
        "Great Expectations on billing.fct_invoices: ids, ISO 4217 currencies, statuses, total = the sum of "
        "its lines, lines in the invoice's currency, issued totals not negative. Holds back the customer's "
        "month."
    ),
    INVOICE_LINE_CHECK: (
        "Great Expectations on billing.fct_invoice_lines: ids, ISO 4217 currencies, kinds and fee types, "
        "amounts and units not negative except discounts, fee lines rounded once, service periods in order. "
        "Holds back the customer's month."
    ),
}


@dg.multi_asset(
    name="publish_gates",
    specs=[
        dg.AssetSpec(
            GATE_KEY,
            group_name=GROUP,
            deps=[
                EVENTS,
                dg.AssetKey(["raw", "event_loads"]),
                dg.AssetKey(["raw", "quarantined_events"]),
                dg.AssetKey(["usage", "fct_event_outcomes"]),
                LOAD_ACCOUNTING,
                INVOICES,
                INVOICE_LINES,
            ],
            kinds={"python", "duckdb"},
            description=(
                "Runs the quality checks that gate publishing (their results are asset checks on "
                "raw/events, usage/rpt_load_accounting, billing/fct_invoices and billing/fct_invoice_lines) "
                "and writes what fails to raw.check_failures, which billing.publish_blockers reads: "
                "stripe_publication skips exactly the customers and months they pin."
            ),
        )
    ],
    check_specs=[
        dg.AssetCheckSpec(name, asset=key, description=DESCRIPTIONS[name])
        for name, key in CHECKED.items()
    ],
    pool=POOL,
    # The checks target the assets they check, not this one. Dagster validates check specs against the
    # multi-asset's own keys unless this (hidden, the one dagster-dbt sets for the same reason) is on;
    # tests/quality/test_definitions.py fails if an upgrade stops honouring it.
    allow_arbitrary_check_specs=True,
    # one check can be run from its asset's page; materializing the gate runs (and records) all four
    can_subset=True,
)
def publish_gates(context: dg.AssetExecutionContext, warehouse: Warehouse):
    settings = warehouse.settings()
    gate = GATE_KEY in context.selected_asset_keys
    selected = context.selected_asset_check_keys
    suites = {
        EVENT_BATCH_CHECK: lambda con: event_batch_suite(
            con, future_margin_hours=settings.future_margin_hours
        ),
        LOAD_ACCOUNTING_CHECK: load_accounting_suite,
        INVOICE_CHECK: invoice_suite,
        INVOICE_LINE_CHECK: invoice_line_suite,
    }
    to_run = [name for name in suites if gate or dg.AssetCheckKey(CHECKED[name], name) in selected]
    with warehouse.writing():
        con = warehouse.connect()
        try:
            con.execute(QUALITY_DDL)
            reports = [suites[name](con) for name in to_run]
            record_reports(
                con,
                reports,
                checked_at=datetime.now(UTC).replace(tzinfo=None),
                run_id=context.run.run_id,
            )
        finally:
            con.close()
    blocked = []
    for report in reports:
        (context.log.info if report.passed else context.log.warning)(report.summary())
        for failure in report.failures:
            context.log.warning(f"Holds back {failure.pin.describe()}: {failure.reason}")
            blocked.append(
                {
                    "check": failure.check_name,
                    "customer_id": failure.pin.customer_id,
                    "billing_month": failure.pin.billing_month,
                    "since_load": failure.pin.load_id,
                }
            )
        if dg.AssetCheckKey(CHECKED[report.check_name], report.check_name) in selected:
            yield check_result(report, CHECKED[report.check_name])
    if not gate:
        return
    yield dg.MaterializeResult(
        asset_key=GATE_KEY,
        metadata={
            "checks_failed": dg.MetadataValue.int(sum(not r.passed for r in reports)),
            "blockers": dg.MetadataValue.int(len(blocked)),
            "blocked": dg.MetadataValue.json(blocked),
        },
    )
