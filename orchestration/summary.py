"""The run summary a person reads after `meterhouse run` (and its JSON twin). Reads the snapshot only."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from ingestion.warehouse import connect, currency_exponents


def _rows(con, sql: str) -> list[dict]:
    cur = con.execute(sql)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def _major(cents: int, currency: str) -> str:
    exp = currency_exponents()[currency]
    return f"{(Decimal(cents).scaleb(-exp)):.{exp}f}"


def collect(data_dir: Path) -> dict:
    data_dir = Path(data_dir).resolve()
    snapshot = data_dir / "warehouse.read.duckdb"
    con = connect(snapshot, read_only=True)
    try:
        loads = _rows(
            con,
            """
            select
                count(*) as files,
                coalesce(sum(rows_read), 0) as rows_read,
                coalesce(sum(landed_rows), 0) as rows_landed,
                coalesce(sum(quarantined_rows), 0) as rows_quarantined,
                coalesce(sum(duplicate_rows), 0) as duplicates,
                coalesce(sum(conflict_rows), 0) as conflicts,
                coalesce(sum(billed_rows), 0) + coalesce(sum(late_adjusted_rows), 0) as billed,
                bool_and(is_balanced) as all_balanced
            from usage.rpt_load_accounting
            """,
        )[0]
        quarantine = {
            r["quarantine_reason"]: r["n"]
            for r in _rows(
                con,
                "select quarantine_reason, count(*) as n from staging.stg_events__quarantined_events "
                "group by 1 order by 1",
            )
        }
        outcomes = {
            r["outcome"]: r["n"]
            for r in _rows(
                con,
                "select outcome, count(*) as n from usage.fct_event_outcomes group by 1 order by 1",
            )
        }
        months = _rows(
            con,
            """
            with meters as (
                select strftime(period_end_at, '%Y-%m') as billing_month, count(*) as meters,
                       sum(events_count) as metered_events
                from usage.fct_usage_meters group by 1
            ),
            invoices as (
                select billing_month, currency, count(*) as invoices,
                       count(*) filter (where invoice_status = 'issued') as issued,
                       sum(total_amount_cents) as total_amount_cents
                from billing.fct_invoices group by 1, 2
            )
            select i.*, coalesce(m.meters, 0) as meters, coalesce(m.metered_events, 0) as metered_events
            from invoices as i left join meters as m using (billing_month)
            order by billing_month, currency
            """,
        )
        top = _rows(
            con,
            """
            -- ranked within each currency: amounts in different currencies are never compared or summed
            select * from (
                select customer_id, currency, sum(total_amount_cents) as total_amount_cents,
                       count(*) as invoices,
                       row_number() over (partition by currency
                                          order by sum(total_amount_cents) desc, customer_id) as rank
                from billing.fct_invoices where invoice_status = 'issued'
                group by 1, 2
            )
            where rank <= 3
            order by currency, rank
            """,
        )
        stripe = dict(
            con.execute(
                "select state, count(*) from raw.stripe_published_documents group by 1 order by 1"
            ).fetchall()
        )
        reconciliation = dict(
            con.execute(
                "select reason_code, count(*) from reconciliation.fct_reconciliation group by 1 order by 1"
            ).fetchall()
        )
        from ingestion.stripe_sync import unmapped_customers

        known = {
            r[0] for r in con.execute("select external_customer_id from raw.customers").fetchall()
        }
        mapping = unmapped_customers(con, known)["counts"]
        subscriptions = dict(
            con.execute(
                "select coalesce(reason_code, 'merged'), count(*) from raw.stripe_subscription_merge "
                "group by 1 order by 1"
            ).fetchall()
        )
    finally:
        con.close()
    for m in months:
        m["total"] = _major(int(m["total_amount_cents"]), m["currency"])
    for t in top:
        t["total"] = _major(int(t["total_amount_cents"]), t["currency"])
    return {
        "data_dir": str(data_dir),
        "warehouse": str(data_dir / "warehouse.duckdb"),
        "snapshot": str(snapshot),
        "events": {**loads, "quarantined_by_reason": quarantine, "outcomes": outcomes},
        "billing_months": months,
        "top_customers": top,
        "stripe": {
            "documents_by_state": stripe,
            "reconciliation_by_reason": reconciliation,
            "subscriptions_by_merge_outcome": subscriptions,
            "customer_mapping": mapping,
        },
    }


def render(summary: dict) -> str:
    e = summary["events"]
    out = [
        "Meterhouse run summary",
        "",
        f"Event files loaded: {e['files']}",
        f"Rows read:          {e['rows_read']:>12,}",
        f"  loaded:           {e['rows_landed']:>12,}",
        f"  quarantined:      {e['rows_quarantined']:>12,}",
    ]
    for reason, n in e["quarantined_by_reason"].items():
        out.append(f"    {reason:<24}{n:>8,}")
    out += [
        f"Duplicates:         {e['duplicates']:>12,}",
        f"Conflicts:          {e['conflicts']:>12,}",
        f"Billed events:      {e['billed']:>12,}",
        "Outcomes of loaded events: " + ", ".join(f"{k} {v:,}" for k, v in e["outcomes"].items()),
        f"Every row accounted for: {'yes' if e['all_balanced'] else 'NO - see usage.rpt_load_accounting'}",
        "",
        "Billing month  currency  invoices  issued   meters  metered events            total",
    ]
    for m in summary["billing_months"]:
        out.append(
            f"{m['billing_month']:<15}{m['currency']:<10}{m['invoices']:>8,}{m['issued']:>8,}"
            f"{m['meters']:>9,}{m['metered_events']:>16,}{m['total']:>17}"
        )
    out += [
        "",
        "Top customers per currency (issued invoices)",
        "customer                currency  invoices            total",
    ]
    for t in summary["top_customers"]:
        out.append(f"{t['customer_id']:<24}{t['currency']:<10}{t['invoices']:>8,}{t['total']:>17}")
    stripe = summary.get("stripe") or {}
    docs = stripe.get("documents_by_state") or {}
    out += [
        "",
        "Stripe: "
        + (
            ", ".join(f"{state} {n:,}" for state, n in docs.items()) + " documents"
            if docs
            else "nothing published (not configured, or stripe.publish_from is later)"
        ),
    ]
    recon = stripe.get("reconciliation_by_reason") or {}
    if recon:
        out.append(
            "Reconciliation (customer-months): " + ", ".join(f"{k} {v:,}" for k, v in recon.items())
        )
    mapping = stripe.get("customer_mapping") or {}
    if (
        docs
        or mapping.get("mapped")
        or mapping.get("stripe_without_key")
        or mapping.get("stripe_unknown_id")
    ):
        out.append(
            f"Stripe customers: {mapping.get('mapped', 0):,} mapped, "
            f"{mapping.get('stripe_without_key', 0):,} without meterhouse_customer_id, "
            f"{mapping.get('stripe_unknown_id', 0):,} naming an unknown customer, "
            f"{mapping.get('stripe_duplicate_id', 0):,} ids claimed twice; "
            f"{mapping.get('known_without_stripe', 0):,} Meterhouse customers not in Stripe"
        )
    merge = stripe.get("subscriptions_by_merge_outcome") or {}
    if merge:
        out.append(
            "Stripe subscriptions with a plan code (billed here for usage only): "
            + ", ".join(f"{k} {v:,}" for k, v in merge.items())
            + (
                ""
                if set(merge) == {"merged"}
                else "; see raw.stripe_subscription_merge for what to fix"
            )
        )
    out += [
        "",
        f"Warehouse (writer):   {summary['warehouse']}",
        f"Read-only snapshot:   {summary['snapshot']}",
        f'Query it:             .venv/bin/meterhouse query --data-dir {summary["data_dir"]} "select ..."',
        f"                      or duckdb.connect('{summary['snapshot']}', read_only=True) in Python",
    ]
    return "\n".join(out)
