"""The read-only copy every reader uses, published after the warehouse is built."""

import dagster as dg

from ingestion.warehouse import publish_snapshot

from ..resources import Warehouse
from .dbt import dbt_reconciliation, dbt_reporting


@dg.asset(
    name="warehouse_snapshot",
    group_name="publishing",
    deps=[*dbt_reporting.keys, *dbt_reconciliation.keys],
    pool="warehouse",
    kinds={"duckdb"},
    description=(
        "DIR/warehouse.read.duckdb: a consistent copy of the warehouse, swapped in atomically after each "
        "successful build. Analysts, notebooks and reports read it while scheduled runs write."
    ),
)
def warehouse_snapshot(warehouse: Warehouse) -> dg.MaterializeResult:
    with warehouse.writing():
        path = publish_snapshot(warehouse.db_path, warehouse.snapshot_path)
    return dg.MaterializeResult(
        metadata={"path": dg.MetadataValue.path(str(path)), "bytes": path.stat().st_size}
    )
