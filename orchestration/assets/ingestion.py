"""Python assets that land files into the `raw` schema. Thin wrappers over `ingestion` (plain Python).

Their keys are the dbt sources' keys (["raw", <table>]), so the graph reads raw -> staging -> marts.
"""

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import dagster as dg

from ingestion.accounts import load_accounts, write_accounts
from ingestion.catalog import load_catalog
from ingestion.coupons import load_coupons, write_coupons
from ingestion.credits import load_credits, write_credits
from ingestion.events.intake import load_event_files
from ingestion.overrides import load_derived_plans
from ingestion.plan_versions import write_priced_catalog
from ingestion.scenarios import load_scenarios, price_derived_plans, write_scenarios
from ingestion.stripe_sync.merge import merge_stripe_subscriptions, write_merge_outcomes
from ingestion.taxes import load_taxes, write_taxes
from ingestion.warehouse import ensure_raw_schema

from ..resources import Warehouse

GROUP = "ingestion"
POOL = "warehouse"

CATALOG_TABLES = [
    "billable_metrics",
    "billable_metric_filters",
    "plans",
    "charges",
    "charge_filters",
    "plan_derivations",
]
SCENARIO_TABLES = ["scenarios", "scenario_plans", "scenario_charges", "scenario_charge_filters"]
ACCOUNT_TABLES = [
    "customers",
    "subscriptions",
    "stripe_subscription_merge",
    "subscription_changes",
    "tax_rates",
    "customer_taxes",
    "coupons",
    "applied_coupons",
    "credit_grants",
    "credit_commitments",
]
EVENT_TABLES = ["event_loads", "events", "quarantined_events"]


def _specs(tables: list[str], description: str, deps: list[dg.AssetKey] | None = None):
    return [
        dg.AssetSpec(
            ["raw", t], group_name=GROUP, description=description, deps=deps or [], kinds={"duckdb"}
        )
        for t in tables
    ]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dg.multi_asset(
    name="catalog_files",
    specs=_specs(
        CATALOG_TABLES + SCENARIO_TABLES,
        "The pricing catalog (DIR/catalog.yml, Lago's shapes), its price versions (DIR/plan_versions.yml) "
        "and subscription deals (DIR/overrides.yml) as derived plans, and the pricing scenarios "
        "(DIR/scenarios/*.yml, alternative price books over it), validated and loaded.",
    ),
    pool=POOL,
)
def catalog_files(context: dg.AssetExecutionContext, warehouse: Warehouse):
    catalog = load_catalog(warehouse.path / "catalog.yml")
    derived = load_derived_plans(warehouse.path, catalog)
    scenarios = load_scenarios(warehouse.path, catalog)
    price_derived_plans(scenarios, derived)
    with warehouse.writing():
        con = warehouse.connect()
        try:
            now = _now()
            priced = write_priced_catalog(con, catalog, derived, now)
            write_scenarios(con, scenarios, priced, now)
        finally:
            con.close()
    for warning in getattr(catalog, "warnings", []) or []:
        context.log.warning(warning)
    counts = {
        "billable_metrics": len(catalog.billable_metrics),
        "plans": len(catalog.plans),
        "charges": sum(len(p.charges) for p in catalog.plans),
        "derived_plans": dg.MetadataValue.text(", ".join(d.plan.code for d in derived) or "none"),
        "scenarios": dg.MetadataValue.text(", ".join(s.name for s in scenarios) or "none"),
    }
    for table in CATALOG_TABLES + SCENARIO_TABLES:
        yield dg.MaterializeResult(asset_key=["raw", table], metadata=counts)


@dg.multi_asset(
    name="account_files",
    specs=_specs(
        ACCOUNT_TABLES,
        "Customers, subscriptions and plan changes (DIR/landing/*.csv), validated against the catalog, "
        "and the customers' tax rates (DIR/taxes.yml), coupons (DIR/coupons.yml) and prepaid credits "
        "(DIR/credits.yml).",
        deps=[dg.AssetKey(["raw", t]) for t in CATALOG_TABLES],
    ),
    pool=POOL,
)
def account_files(context: dg.AssetExecutionContext, warehouse: Warehouse):
    catalog = load_catalog(warehouse.path / "catalog.yml")
    accounts = load_accounts(warehouse.path / "landing", catalog)
    taxes = load_taxes(warehouse.path, [c.external_customer_id for c in accounts.customers])
    coupons = load_coupons(
        warehouse.path, {c.external_customer_id: c.currency for c in accounts.customers}
    )
    credits = load_credits(
        warehouse.path, {c.external_customer_id: c.currency for c in accounts.customers}
    )
    with warehouse.writing():
        con = warehouse.connect()
        try:
            now = _now()
            ensure_raw_schema(con)
            # Stripe subscriptions with a catalog plan code, as of the last Stripe sync
            merged = merge_stripe_subscriptions(con, accounts, catalog)
            write_accounts(con, accounts, now)
            write_merge_outcomes(con, merged, now)
            write_taxes(con, taxes, now)
            write_coupons(con, coupons, now)
            write_credits(con, credits, now)
        finally:
            con.close()
    rejected = Counter(o.reason_code for o in merged if not o.merged)
    for o in merged:
        if not o.merged:
            context.log.warning(
                f"Stripe subscription {o.stripe_subscription_id} is not billed here ({o.reason_code}): {o.reason}"
            )
    counts = {
        "customers": len(accounts.customers),
        "subscriptions": len(accounts.subscriptions),
        "stripe_subscriptions_merged": sum(o.merged for o in merged),
        "stripe_subscriptions_rejected": dg.MetadataValue.json(dict(sorted(rejected.items()))),
        "subscription_changes": len(accounts.subscription_changes),
        "taxed_customers": len(taxes.customer_codes),
        "applied_coupons": len(coupons.applied),
        "credit_grants": len(credits.grants),
        "credit_commitments": len(credits.commitments),
    }
    for table in ACCOUNT_TABLES:
        yield dg.MaterializeResult(asset_key=["raw", table], metadata=counts)


@dg.multi_asset(
    name="event_files",
    specs=_specs(
        EVENT_TABLES,
        "Usage event files dropped in DIR/landing/events (JSONL, JSONL.gz, CSV, Parquet), each loaded once "
        "(ledger keyed by content hash); bad rows quarantined with a reason.",
    ),
    pool=POOL,
)
def event_files(context: dg.AssetExecutionContext, warehouse: Warehouse):
    settings = warehouse.settings()
    events_dir = warehouse.path / "landing" / "events"
    events_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def progress(i: int, n: int, f) -> None:
        # one line per file as it is done: progress an operator can follow on a long load
        if f.status == "loaded":
            context.log.info(
                f"[{i}/{n}] {f.file_name}: {f.rows_read:,} rows read, {f.rows_landed:,} landed, "
                f"{f.rows_quarantined:,} quarantined, in {f.elapsed_seconds:.1f} s"
            )
        else:
            context.log.info(f"[{i}/{n}] {f.file_name}: skipped, same content already loaded")

    with warehouse.writing():
        con = warehouse.connect()
        try:
            result = load_event_files(
                con,
                events_dir,
                future_margin=timedelta(hours=settings.future_margin_hours),
                on_file=progress,
            )
        finally:
            con.close()
    reasons: Counter[str] = Counter()
    for f in result.files:
        reasons.update(f.quarantined_by_reason)
    metadata = {
        "files_loaded": sum(f.status == "loaded" for f in result.files),
        "files_skipped": sum(f.status != "loaded" for f in result.files),
        "rows_read": sum(f.rows_read for f in result.files if f.status == "loaded"),
        "rows_landed": sum(f.rows_landed for f in result.files if f.status == "loaded"),
        "rows_quarantined": sum(f.rows_quarantined for f in result.files if f.status == "loaded"),
        "quarantined_by_reason": dg.MetadataValue.json(dict(sorted(reasons.items()))),
        "run_time_s": round(time.perf_counter() - started, 3),
    }
    for table in EVENT_TABLES:
        yield dg.MaterializeResult(asset_key=["raw", table], metadata=metadata)
