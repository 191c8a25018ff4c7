"""The Dagster code location: `dagster dev -m orchestration.definitions` (or `make ui`).

The data directory comes from MH_DATA_DIR (default: the repo's data/). `build_defs(data_dir)` builds the
same definitions for any directory; the CLI and the tests use it.
"""

from pathlib import Path

import dagster as dg

from .assets.dbt import dbt_core, dbt_issued, dbt_reconciliation, dbt_reporting
from .assets.ingestion import account_files, catalog_files, event_files
from .assets.snapshot import warehouse_snapshot
from .assets.stripe import stripe_objects, stripe_publication
from .checks import ASSET_CHECKS, QUALITY_ASSETS
from .jobs import close_month_job, refresh_usage_job
from .resources import Warehouse, data_dir_from_env, dbt_resource
from .schedules import daily_close_schedule, monthly_close_schedule, refresh_usage_schedule
from .sensors import landing_files_sensor

ASSETS = [
    catalog_files,
    account_files,
    event_files,
    dbt_core,
    dbt_issued,
    dbt_reporting,
    stripe_publication,
    stripe_objects,
    dbt_reconciliation,
    warehouse_snapshot,
    *QUALITY_ASSETS,
]


def build_defs(data_dir: Path) -> dg.Definitions:
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=ASSET_CHECKS,
        jobs=[close_month_job, refresh_usage_job],
        schedules=[refresh_usage_schedule, daily_close_schedule, monthly_close_schedule],
        sensors=[landing_files_sensor],
        resources={
            "warehouse": Warehouse(data_dir=str(Path(data_dir).resolve())),
            "dbt": dbt_resource(),
        },
    )


defs = build_defs(data_dir_from_env())
