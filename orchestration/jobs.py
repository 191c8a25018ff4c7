"""The jobs an operator runs from the UI (or the CLI), and that the schedules and the sensor start.

refresh_usage_job  every 15 minutes: load new files, rebuild meters and the current-period drafts (previews),
                   publish the snapshot. Issues nothing, publishes nothing to Stripe.
close_month_job    the full build with every check: load, rate, issue what is due through the partition's
                   billing month, publish to Stripe, sync Stripe back, reconcile, snapshot. The daily
                   schedule runs it for the current month, the monthly close for the month just ended.
"""

import dagster as dg

from .assets.dbt import dbt_core, dbt_reporting
from .assets.ingestion import account_files, catalog_files, event_files
from .assets.snapshot import warehouse_snapshot

close_month_job = dg.define_asset_job(
    name="close_month_job",
    selection=dg.AssetSelection.all(),
    description=(
        "Load new files, rebuild meters and invoices, and close a billing month and every earlier one: issue "
        "every due invoice whose billing month (UTC month of its period end) is at most the partition's "
        "(append-only; re-running a closed month issues nothing twice). Then publish to Stripe what is issued "
        "and not blocked, read Stripe back, reconcile, and publish the read-only snapshot. Every asset check "
        "(dbt tests, data quality suites) runs with its asset."
    ),
)

refresh_usage_job = dg.define_asset_job(
    name="refresh_usage_job",
    selection=dg.AssetSelection.assets(
        catalog_files, account_files, event_files, dbt_core, dbt_reporting, warehouse_snapshot
    ),
    description=(
        "Load new event and account files, rebuild meters and the current period's draft invoices (what "
        "`meterhouse preview` and the marts show), and publish the read-only snapshot. Issues nothing and "
        "sends nothing to Stripe: that is the close."
    ),
)
