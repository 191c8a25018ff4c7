"""dbt models as Dagster assets, in three blocks around the partitioned issuing step.

core       staging -> intermediate -> meters -> current invoice lines (unpartitioned)
issued     fct_billing_ledger: the append-only record of issued documents, partitioned by billing month
reporting  models that read what was issued (invoices, event outcomes, load accounting)
reconciliation  Stripe staging and the reconciliation marts (tag stripe), after publishing and the sync
"""

import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from ..partitions import billing_month_partitions, month_label
from ..project import dbt_project
from ..resources import Warehouse

ISSUED = "fct_billing_ledger"
# Stripe staging and reconciliation read what publishing and the Stripe sync wrote: a block of their own
STRIPE = "tag:stripe"
POOL = "warehouse"


class MeterhouseTranslator(DagsterDbtTranslator):
    """dbt sources share the raw assets' keys; groups follow the dbt folders."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props["resource_type"] == "seed":
            return "reference"
        if len(fqn) > 2 and fqn[1] == "marts":
            return fqn[2]  # usage, billing
        if len(fqn) > 1:
            return fqn[1]  # staging, intermediate
        return None


translator = MeterhouseTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def _build(
    context, dbt: DbtCliResource, warehouse: Warehouse, close_through_month: str | None = None
):
    """`dbt build` of this block. Its settings go in raw.run_context, not --vars: changing vars makes dbt
    re-parse the whole project on every invocation."""
    warehouse.dbt_env()
    materialized = []
    with warehouse.writing():
        warehouse.write_run_context(close_through_month=close_through_month)
        # dbt unit tests check SQL logic on fixed inputs, not the data: the suite runs them
        # (tests/test_dbt_unit_tests.py); production builds skip them, as dbt recommends
        invocation = dbt.cli(["build", "--exclude-resource-type", "unit_test"], context=context)
        try:
            for event in invocation.stream():
                # check results go out as they come; materializations wait for their row counts
                if isinstance(event, dg.Output | dg.AssetMaterialization):
                    materialized.append(event)
                else:
                    yield event
        finally:
            # Never leave dbt writing once this step stops (an error while reading its events, a
            # cancelled run): the lock is released on the way out, so dbt must be gone first.
            _stop(invocation.process)
            _prune_invocation_dirs(dbt_project.project_dir / "target")
        counts = _row_counts(warehouse, [e.metadata.get("unique_id") for e in materialized])
    for event in materialized:
        uid = event.metadata.get("unique_id")
        uid = getattr(uid, "value", uid)
        yield (
            event.with_metadata({**event.metadata, **counts.get(uid, {})})
            if uid in counts
            else event
        )


def _manifest_relations() -> dict[str, tuple[str, str, str]]:
    """unique_id -> (schema, table, materialization) of every model and seed."""
    manifest = json.loads(dbt_project.manifest_path.read_text())
    return {
        uid: (node["schema"], node.get("alias") or node["name"], node["config"]["materialized"])
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "seed")
    }


# figures an operator reads on a model's materialization, beyond its row count
FIGURES = {
    # every event row ends in exactly one place: the whole history's accounting, per outcome
    "rpt_load_accounting": """
        select
            sum(rows_read) as rows_read,
            sum(quarantined_rows) as rows_quarantined,
            sum(landed_rows) as rows_landed,
            sum(duplicate_rows) as rows_duplicate,
            sum(billed_rows) as rows_billed,
            count(*) filter (where not is_balanced) as unbalanced_loads
        from {relation}
    """,
}


def _row_counts(warehouse: Warehouse, unique_ids: list) -> dict[str, dict]:
    """`dagster/row_count` for each stored table a block built (views are not scanned: counting one runs
    its query). Read after dbt has exited, under the writer lock the block holds."""
    relations = _manifest_relations()
    wanted = {}
    for uid in unique_ids:
        uid = getattr(uid, "value", uid)
        if uid in relations and relations[uid][2] != "view":
            wanted[uid] = relations[uid]
    if not wanted:
        return {}
    con = warehouse.connect()
    try:
        counts = {}
        for uid, (schema, table, _) in wanted.items():
            try:
                (n,) = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()
            except duckdb.Error:
                continue  # not there (a failed model): no count rather than a wrong one
            counts[uid] = {"dagster/row_count": dg.MetadataValue.int(n)}
            if table in FIGURES:
                cur = con.execute(FIGURES[table].format(relation=f'"{schema}"."{table}"'))
                names = [d[0] for d in cur.description]
                counts[uid] |= {k: int(v or 0) for k, v in zip(names, cur.fetchone(), strict=True)}
        return counts
    finally:
        con.close()


KEEP_INVOCATION_DIRS = 30


def _prune_invocation_dirs(target: Path, keep: int = KEEP_INVOCATION_DIRS) -> None:
    """dagster-dbt gives every invocation its own target folder; keep the newest few (logs, run results)."""
    dirs = sorted(
        (d for d in target.glob("dbt_*-*") if d.is_dir()),
        key=lambda d: d.stat().st_mtime,
        reverse=True,
    )
    for old in dirs[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def _stop(process: subprocess.Popen, grace_s: float = 30.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    exclude=f"{ISSUED}+ {STRIPE}",
    dagster_dbt_translator=translator,
    name="dbt_core",
    pool=POOL,
)
def dbt_core(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
    yield from _build(context, dbt, warehouse)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=ISSUED,
    dagster_dbt_translator=translator,
    partitions_def=billing_month_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    name="dbt_issued",
    pool=POOL,
)
def dbt_issued(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
    """Close the run's billing month and every month before it: issue each invoice that is due.

    A range (a backfill) runs as one dbt call that closes through its last month.
    """
    keys = context.partition_key_range
    yield from _build(context, dbt, warehouse, close_through_month=month_label(keys.end))


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=f"{ISSUED}+",
    exclude=f"{ISSUED} {STRIPE}",
    dagster_dbt_translator=translator,
    name="dbt_reporting",
    pool=POOL,
)
def dbt_reporting(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
    yield from _build(context, dbt, warehouse)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=STRIPE,
    dagster_dbt_translator=translator,
    name="dbt_reconciliation",
    pool=POOL,
)
def dbt_reconciliation(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse
):
    """Stripe's objects as read back after publishing, and the usage-versus-invoice reconciliation."""
    yield from _build(context, dbt, warehouse)
