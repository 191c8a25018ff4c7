"""Jobs an operator runs from the UI (or the CLI)."""

import dagster as dg

from .assets.dbt import dbt_issued

_issued = dg.AssetSelection.assets(dbt_issued)

refresh_job = dg.define_asset_job(
    name="refresh_job",
    selection=dg.AssetSelection.all() - _issued,
    description="Load new files, rebuild meters and draft invoices, publish the read-only snapshot.",
)

close_month_job = dg.define_asset_job(
    name="close_month_job",
    selection=dg.AssetSelection.all(),
    description=(
        "Close a billing month and every earlier one: refresh everything, then issue every due invoice "
        "whose billing month (UTC month of its period end) is at most the partition's (append-only; "
        "re-running a closed month issues nothing twice)."
    ),
)
