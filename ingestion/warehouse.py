"""DuckDB connection and the raw schema that ingestion writes (see docs/contracts.md).

Everything stored is UTC: every connection sets ``TimeZone='UTC'`` so that naive TIMESTAMP columns
and casts to TIMESTAMPTZ agree. Only ``ingestion`` writes the ``raw`` schema; dbt reads it.
"""

from __future__ import annotations

import csv
import fcntl
import os
import shutil
import time
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import duckdb

REPO_ROOT = Path(__file__).resolve().parent.parent
CURRENCIES_CSV = REPO_ROOT / "dbt_project" / "seeds" / "currencies.csv"

RAW_DDL = """
create schema if not exists raw;
create table if not exists raw.event_loads (
    load_id bigint primary key,
    batch_id bigint not null,
    file_name varchar not null,
    file_sha256 varchar not null unique,
    file_format varchar not null,
    file_bytes bigint not null,
    rows_read bigint not null,
    rows_landed bigint not null,
    rows_quarantined bigint not null,
    loaded_at timestamp not null
);
create table if not exists raw.events (
    load_id bigint not null,
    file_name varchar not null,
    row_number bigint not null,
    loaded_at timestamp not null,
    event_id varchar not null,
    customer_id varchar not null,
    subscription_id varchar,
    metric_code varchar not null,
    event_at timestamp not null,
    properties json not null,
    correction_of varchar,
    correction_type varchar,
    payload_hash varchar not null,
    payload varchar not null
);
create table if not exists raw.quarantined_events (
    load_id bigint not null,
    file_name varchar not null,
    row_number bigint not null,
    loaded_at timestamp not null,
    reason varchar not null,
    message varchar not null,
    payload varchar
);
create table if not exists raw.billable_metrics (
    code varchar primary key,
    name varchar,
    aggregation_type varchar not null,
    field_name varchar,
    recurring boolean not null,
    rounding_function varchar,
    rounding_precision integer,
    loaded_at timestamp not null
);
create table if not exists raw.billable_metric_filters (
    billable_metric_code varchar not null,
    key varchar not null,
    "values" json not null
);
create table if not exists raw.plans (
    code varchar primary key,
    name varchar,
    interval varchar not null,
    amount_cents bigint not null,
    amount_currency varchar not null,
    pay_in_advance boolean not null,
    trial_period integer not null,
    loaded_at timestamp not null
);
create table if not exists raw.charges (
    charge_id varchar primary key,
    plan_code varchar not null,
    charge_order integer not null,
    billable_metric_code varchar not null,
    charge_model varchar not null,
    pay_in_advance boolean not null,
    invoiceable boolean not null,
    prorated boolean not null,
    min_amount_cents bigint not null,
    properties json not null,
    invoice_display_name varchar
);
create table if not exists raw.charge_filters (
    charge_id varchar not null,
    filter_id varchar primary key,
    filter_values json not null,
    properties json not null,
    invoice_display_name varchar
);
create table if not exists raw.plan_derivations (
    plan_code varchar primary key,  -- a code of raw.plans (ingestion/plan_versions.py, ingestion/overrides.py)
    base_plan_code varchar not null,  -- its plan in catalog.yml
    price_version varchar,  -- plan_versions.yml version (null = catalog.yml's prices)
    version_effective_from date,
    subscription_id varchar,  -- overrides.yml: the subscription whose deal it is (null = every subscription)
    override_effective_from date,
    source_file varchar not null,
    loaded_at timestamp not null
);
create table if not exists raw.scenarios (
    scenario varchar primary key,
    file_name varchar not null,
    description varchar,
    loaded_at timestamp not null
);
create table if not exists raw.scenario_plans (
    scenario varchar not null,
    live_plan_code varchar not null,
    scenario_plan_code varchar not null,
    amount_cents bigint not null,
    primary key (scenario, live_plan_code)
);
create table if not exists raw.scenario_charges (
    scenario varchar not null,
    live_charge_id varchar not null,
    charge_model varchar not null,
    invoiceable boolean not null,
    min_amount_cents bigint not null,
    properties json not null,
    primary key (scenario, live_charge_id)
);
create table if not exists raw.scenario_charge_filters (
    scenario varchar not null,
    live_filter_id varchar not null,
    properties json not null,
    primary key (scenario, live_filter_id)
);
create table if not exists raw.tax_rates (
    code varchar primary key,
    name varchar,
    rate varchar not null,
    loaded_at timestamp not null
);
create table if not exists raw.customer_taxes (
    external_customer_id varchar primary key,
    tax_code varchar not null
);
create table if not exists raw.coupons (
    code varchar primary key,
    coupon_type varchar not null,
    amount_cents bigint,
    amount_currency varchar,
    percentage_rate varchar,
    frequency varchar not null,
    frequency_duration integer,
    loaded_at timestamp not null
);
create table if not exists raw.applied_coupons (
    external_customer_id varchar not null,
    coupon_code varchar not null,
    applied_at timestamp,
    applied_order integer not null,  -- 1, 2, ... per customer: the order its coupons apply in
    primary key (external_customer_id, coupon_code)
);
create table if not exists raw.credit_grants (
    grant_id varchar primary key,
    external_customer_id varchar not null,
    name varchar,
    grant_type varchar not null,
    amount_cents bigint not null,
    currency varchar not null,
    priority integer not null,
    effective_date date not null,
    expiry_date date,
    loaded_at timestamp not null
);
create table if not exists raw.credit_commitments (
    commitment_id varchar primary key,
    external_customer_id varchar not null,
    name varchar,
    amount_cents bigint not null,
    currency varchar not null,
    priority integer not null,
    term varchar not null,
    start_date date not null,
    end_date date not null,
    rollover_percent varchar not null,
    loaded_at timestamp not null
);
create table if not exists raw.customers (
    external_customer_id varchar primary key,
    name varchar,
    currency varchar not null,
    timezone varchar not null,
    billing_time varchar not null,
    loaded_at timestamp not null
);
create table if not exists raw.subscriptions (
    external_subscription_id varchar primary key,
    external_customer_id varchar not null,
    plan_code varchar not null,
    started_at timestamp not null,
    ending_at timestamp,
    source varchar not null default 'file',  -- file | stripe (ingestion/stripe_sync/merge.py)
    loaded_at timestamp not null
);
create table if not exists raw.run_context (
    billing_clock timestamp not null,
    grace_period_hours integer not null,
    future_margin_hours integer not null,
    close_through_month varchar,
    written_at timestamp not null,
    publish_from varchar  -- meterhouse.yml stripe.publish_from (YYYY-MM; null = every month)
);
create table if not exists raw.subscription_changes (
    external_subscription_id varchar not null,
    plan_code varchar not null,
    changed_at timestamp not null,
    loaded_at timestamp not null
);
"""


def connect(path: str | Path, *, memory_limit: str | None = None, read_only: bool = False):
    """Open the warehouse with the session settings every writer and reader must share."""
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("set TimeZone = 'UTC'")
    # Only statically linked extensions (json, parquet, icu) are used; never try to download one.
    con.execute("set autoinstall_known_extensions = false")
    if memory_limit:
        con.execute(f"set memory_limit = '{memory_limit}'")
    return con


# Columns added after a table was first created: a warehouse from an older version gets them here.
RAW_MIGRATIONS = """
alter table raw.plans add column if not exists minimum_commitment_cents bigint;
alter table raw.scenario_plans add column if not exists minimum_commitment_cents bigint;
alter table raw.subscriptions add column if not exists source varchar default 'file';
alter table raw.run_context add column if not exists publish_from varchar;
"""


def _drop_one_coupon_table(con: duckdb.DuckDBPyConnection) -> None:
    """raw.applied_coupons was keyed by customer (one coupon each) before customers could hold several.
    Its rows are rewritten from DIR/coupons.yml by every account load, so an old table (no
    applied_order) is dropped and created again with the new key."""
    (old,) = con.execute(
        "select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = 'raw' and table_name = 'applied_coupons' and not exists ("
        "select 1 from duckdb_columns() where database_name = current_database() "
        "and schema_name = 'raw' and table_name = 'applied_coupons' and column_name = 'applied_order')"
    ).fetchone()
    if old:
        con.execute("drop table raw.applied_coupons")


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Every raw table, including the Stripe ones (empty when Stripe is not configured), so the dbt
    models over them always build."""
    from ingestion.quality.results import QUALITY_DDL
    from ingestion.stripe_publish.ledger import PUBLISH_DDL
    from ingestion.stripe_sync.merge import MERGE_DDL
    from ingestion.stripe_sync.tables import STRIPE_RAW_DDL

    _drop_one_coupon_table(con)
    con.execute(RAW_DDL)
    con.execute(RAW_MIGRATIONS)
    con.execute(STRIPE_RAW_DDL)
    con.execute(PUBLISH_DDL)
    con.execute(MERGE_DDL)
    con.execute(QUALITY_DDL)


@cache
def currency_exponents() -> dict[str, int]:
    """ISO 4217 minor-unit exponents, from the dbt seed (one list for SQL and Python)."""
    with CURRENCIES_CSV.open(newline="") as fh:
        return {row["currency"]: int(row["minor_unit_exponent"]) for row in csv.DictReader(fh)}


@contextmanager
def writer_lock(data_dir: str | Path, *, timeout_s: float = 3600.0, poll_s: float = 0.5):
    """Hold the single-writer lock of a data directory while writing its warehouse.

    DuckDB allows one writing process per file, and any other process holding the file makes dbt fail.
    Every step that writes (ingestion, dbt, the read-only snapshot) takes this lock, so runs started by
    the CLI, a sensor, a schedule or a backfill queue behind each other instead of colliding. Readers
    never take it: they read the snapshot (``warehouse.read.duckdb``). Do not nest it in one process.
    """
    path = Path(data_dir) / ".warehouse.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    with path.open("a+") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"another process has been writing {path.parent} for over {timeout_s:.0f} s; "
                        "wait for its run to finish (see the Dagster UI) and try again"
                    ) from None
                time.sleep(poll_s)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_run_context(
    con: duckdb.DuckDBPyConnection,
    *,
    billing_clock,
    grace_period_hours: int,
    future_margin_hours: int,
    close_through_month: str | None = None,
    publish_from: str | None = None,
) -> None:
    """The settings of the dbt build about to run, as data (one row) rather than dbt --vars.

    dbt re-parses the whole project whenever its vars change; reading the clock, the grace period and the
    month being closed from this table keeps partial parsing (seconds per invocation) and records what the
    last build used.
    """
    ensure_raw_schema(con)
    con.execute("begin")
    con.execute("delete from raw.run_context")
    con.execute(
        "insert into raw.run_context (billing_clock, grace_period_hours, future_margin_hours, "
        "close_through_month, written_at, publish_from) values (?, ?, ?, ?, now()::timestamp, ?)",
        [billing_clock, grace_period_hours, future_margin_hours, close_through_month, publish_from],
    )
    con.execute("commit")


def publish_snapshot(db_path: str | Path, snapshot_path: str | Path) -> Path:
    """Copy the warehouse to a read-only snapshot, swapped in atomically (call under writer_lock).

    Readers that have the old snapshot open keep reading it (the old file lives on until they close it);
    readers that open it afterwards see the new one. DuckDB shares one database instance per path within a
    process, so a process that keeps a connection open sees the old snapshot on new connections too until
    it closes them all (a notebook should reconnect). The copy is checkpointed first so it has no WAL.
    """
    db_path, snapshot_path = Path(db_path), Path(snapshot_path)
    con = connect(db_path)
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    tmp = snapshot_path.with_name(f".{snapshot_path.name}.tmp")
    shutil.copyfile(db_path, tmp)
    os.replace(tmp, snapshot_path)
    return snapshot_path
