"""Stripe: publish the issued invoices and credit notes, then read Stripe's objects back.

Both assets are thin wrappers over plain Python (`ingestion.stripe_publish`, `ingestion.stripe_sync`). They do
nothing, and say so, while Stripe is not configured: `meterhouse.yml` `stripe.api_key_env` names the
environment variable that holds the key (STRIPE_API_KEY by default) and `stripe.api_base` the address (unset =
Stripe itself; the demo and the tests point it at the local emulator).
"""

from datetime import UTC, datetime

import dagster as dg

from ingestion.stripe_publish import publish_month
from ingestion.stripe_sync import TABLES, sync_stripe, unmapped_customers

from ..checks.gates import GATE_KEY
from ..partitions import billing_month_partitions, month_label
from ..resources import Warehouse

GROUP = "stripe"
POOL = "warehouse"
PUBLISHED_KEY = dg.AssetKey(["stripe", "stripe_published_documents"])
SYNC_KEYS = [dg.AssetKey(["stripe", f"stripe_{table}"]) for table in TABLES]
ISSUED_MARTS = [
    dg.AssetKey(["billing", name])
    for name in (
        "fct_issued_invoices",
        "fct_issued_invoice_lines",
        "fct_credit_notes",
        "publish_blockers",
    )
]


def months_to_publish(con, through: str, first: str | None = None) -> list[str]:
    """Every billing month from `first` (meterhouse.yml stripe.publish_from; None = the first) up to
    `through` with an issued document (publishing is idempotent: a month already published sends
    nothing)."""
    first = first or "0000-00"
    rows = con.execute(
        """
        select billing_month from billing.fct_issued_invoices where billing_month between ? and ?
        union
        select billing_month from billing.fct_credit_notes where billing_month between ? and ?
        order by 1
        """,
        [first, through, first, through],
    ).fetchall()
    return [r[0] for r in rows]


@dg.asset(
    key=PUBLISHED_KEY,
    group_name=GROUP,
    deps=[*ISSUED_MARTS, GATE_KEY],  # the quality gates run first (orchestration/checks/gates.py)
    partitions_def=billing_month_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=POOL,
    kinds={"stripe", "duckdb"},
    description=(
        "Publishes the issued invoices and credit notes of the partition's billing month and every earlier "
        "month to Stripe, exactly once (ledger + lookup by metadata + idempotency keys), skipping the "
        "customers and months listed in billing.publish_blockers (after the publish gates' quality checks "
        "of this run). Every call is logged in "
        "raw.stripe_publications; one row per document in raw.stripe_published_documents."
    ),
)
def stripe_publication(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> dg.MaterializeResult:
    client = warehouse.stripe_client()
    if client is None:
        context.log.info(warehouse.stripe_not_configured())
        return dg.MaterializeResult(metadata={"stripe": "not configured"})
    through = month_label(context.partition_key_range.end)
    settings = warehouse.settings().stripe
    totals: dict[str, int] = {}
    problems: list[str] = []
    blocked: list[dict[str, str | None]] = []  # which check stopped each document, and why
    with warehouse.writing():
        con = warehouse.connect()
        try:
            budget = settings.publish_batch_size
            for month in months_to_publish(con, through, settings.publish_from):
                report = publish_month(
                    con,
                    client,
                    month,
                    now=datetime.now(UTC).replace(tzinfo=None),
                    days_until_due=settings.days_until_due,
                    max_new=budget,
                )
                if budget is not None:
                    budget = max(
                        budget
                        - sum(n for o, n in report.counts.items() if o in ("published", "resumed")),
                        0,
                    )
                for outcome, n in report.counts.items():
                    totals[outcome] = totals.get(outcome, 0) + n
                blocked += [
                    {
                        "document_id": d.document_id,
                        "customer_id": d.customer_id,
                        "billing_month": month,
                        "check_name": d.check_name,
                        "reason": d.reason,
                    }
                    for d in report.documents
                    if d.outcome == "blocked"
                ]
                text = report.render()
                if not report.ok:
                    problems.append(text)
                    context.log.error(f"Publishing {month}:\n{text}")
                else:
                    context.log.info(f"Publishing {month}:\n{text}")
        finally:
            con.close()
    if problems:
        raise dg.Failure(
            description="Some documents could not be published; the others were. Fix what each error "
            "says and run again: publishing resumes where it stopped and never sends a document twice.",
            metadata={"outcomes": dg.MetadataValue.json(totals)},
        )
    return dg.MaterializeResult(
        metadata={
            "through_month": through,
            **{k: v for k, v in totals.items()},
            **({"blocked_documents": dg.MetadataValue.json(blocked)} if blocked else {}),
        }
    )


@dg.multi_asset(
    name="stripe_objects",
    specs=[
        dg.AssetSpec(
            key,
            group_name=GROUP,
            deps=[PUBLISHED_KEY],
            kinds={"stripe", "duckdb"},
            description="Stripe objects (full JSON and typed columns), newest version by id "
            "(ingestion/stripe_sync).",
        )
        for key in SYNC_KEYS
    ],
    pool=POOL,
)
def stripe_objects(context: dg.AssetExecutionContext, warehouse: Warehouse):
    client = warehouse.stripe_client()
    if client is None:
        context.log.info(warehouse.stripe_not_configured())
        for key in SYNC_KEYS:
            yield dg.MaterializeResult(asset_key=key, metadata={"stripe": "not configured"})
        return
    with warehouse.writing():
        con = warehouse.connect()
        try:
            result = sync_stripe(con, client)
            known = {
                r[0]
                for r in con.execute("select external_customer_id from raw.customers").fetchall()
            }
            mapping = unmapped_customers(con, known)
        finally:
            con.close()
    unmatched = {k: n for k, n in mapping["counts"].items() if k != "mapped" and n}
    if unmatched:
        context.log.warning(
            "Stripe and Meterhouse customers that do not match (metadata meterhouse_customer_id): "
            + ", ".join(f"{k} {n}" for k, n in unmatched.items())
            + "; see the stripe_customers materialization for the list"
        )
    summary = result.to_dict()
    context.log.info(
        f"Stripe sync {summary.get('mode')}: {summary.get('events_processed')} events, cursor "
        f"{summary.get('cursor_before')} -> {summary.get('cursor_after')}"
    )
    counts = summary.get("counts", {})
    for table, key in zip(TABLES, SYNC_KEYS, strict=True):
        metadata = {
            "mode": summary.get("mode"),
            "counts": dg.MetadataValue.json(counts.get(table, {})),
            "events_processed": summary.get("events_processed"),
        }
        if table == "customers":
            # unmapped on both sides: Stripe customers without (or with an unknown) meterhouse_customer_id,
            # ids claimed twice, and Meterhouse customers no Stripe customer carries
            metadata["mapping"] = dg.MetadataValue.json(mapping)
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)
