"""The Dagster code location: `dagster dev -m orchestration.definitions` (or `make ui`)."""

import dagster as dg

from .assets.dbt import dbt_core, dbt_issued, dbt_reporting
from .assets.ingestion import account_files, catalog_files, event_files
from .assets.snapshot import warehouse_snapshot
from .jobs import close_month_job, refresh_job
from .resources import Warehouse, data_dir_from_env, dbt_resource
from .schedules import daily_refresh_schedule, monthly_close_schedule
from .sensors import landing_files_sensor

defs = dg.Definitions(
    assets=[catalog_files, account_files, event_files, dbt_core, dbt_issued, dbt_reporting, warehouse_snapshot],
    jobs=[refresh_job, close_month_job],
    schedules=[daily_refresh_schedule, monthly_close_schedule],
    sensors=[landing_files_sensor],
    resources={"warehouse": Warehouse(data_dir=str(data_dir_from_env())), "dbt": dbt_resource()},
)
