"""The job an operator runs from the UI (or the CLI), and the schedules and the sensor start."""

import dagster as dg

close_month_job = dg.define_asset_job(
    name="close_month_job",
    selection=dg.AssetSelection.all(),
    description=(
        "Load new files, rebuild meters and invoices, and close a billing month and every earlier one: issue "
        "every due invoice whose billing month (UTC month of its period end) is at most the partition's "
        "(append-only; re-running a closed month issues nothing twice). Then publish the read-only snapshot."
    ),
)
