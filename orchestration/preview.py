"""Invoice previews: a customer's invoices not issued yet, from the read-only copy or as of a past load.

- Without `as_of`: the lines of the customer's invoices that are not issued (draft: the period is open
  or in its grace period; due: issued by the next run), as the last run left them in the read-only
  snapshot (DIR/warehouse.read.duckdb), including the adjustments pending for the next invoice.
- With `as_of` T (SEMANTICS.md: "using events loaded up to T"): a scratch warehouse gets the snapshot's
  raw tables (the customer's events only), the issued ledger rows whose load cut-off is at or before T,
  and a billing clock of T (or the warehouse's own clock when that is earlier, as in a pinned test
  clock); the pipeline's dbt models, up to `fct_invoice_lines`, run on it with `as_of_loaded_at` = T.
  The live warehouse is never opened, so a preview never waits for a run that writes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from .scratch import scratch_warehouse


class PreviewError(ValueError):
    """The preview cannot be made (no snapshot yet, unknown customer, bad timestamp)."""


LINE_COLUMNS = (
    "invoice_id, invoice_status, issue_date, currency, line_kind, fee_type, charge_id, "
    "billable_metric_code, charge_model, filter_id, group_key, units, events_count, precise_amount, "
    "amount_cents, service_start_at, service_end_at, original_invoice_id"
)


def _snapshot(data_dir: Path) -> Path:
    snapshot = Path(data_dir).resolve() / "warehouse.read.duckdb"
    if not snapshot.exists():
        raise PreviewError(
            f"{snapshot} does not exist yet: run `meterhouse run --data-dir {data_dir}` first"
        )
    return snapshot


def _lines(con, customer_id: str) -> list[tuple]:
    return con.execute(
        f"""
        select {LINE_COLUMNS}
        from billing.fct_invoice_lines
        where customer_id = ? and invoice_status <> 'issued'
        order by issue_date, invoice_id,
                 case when fee_type = 'credit' then 2 when line_kind = 'fee' then 0 else 1 end,
                 case fee_type when 'subscription' then 0 when 'charge' then 1 else 2 end,
                 charge_id, filter_id nulls first, group_key, service_start_at
        """,
        [customer_id],
    ).fetchall()


def preview(data_dir: Path, customer_id: str, as_of: datetime | None = None) -> dict[str, Any]:
    """The customer's invoices not yet issued, as a JSON-ready dict (amounts exact, cents integer)."""
    from ingestion.warehouse import connect

    snapshot = _snapshot(data_dir)
    con = connect(snapshot, read_only=True)
    try:
        known = con.execute(
            "select count(*) from raw.customers where external_customer_id = ?", [customer_id]
        ).fetchone()[0]
        if not known:
            close = [
                r[0]
                for r in con.execute(
                    "select external_customer_id from raw.customers "
                    "order by jaro_winkler_similarity(external_customer_id, ?) desc limit 3",
                    [customer_id],
                ).fetchall()
            ]
            raise PreviewError(
                f"customer {customer_id!r} is not in {snapshot.name}"
                + (f" (closest: {', '.join(close)})" if close else "")
            )
        context = con.execute(
            "select billing_clock, grace_period_hours, future_margin_hours from raw.run_context"
        ).fetchone()
        if as_of is None:
            return _result(customer_id, None, context[0], _lines(con, customer_id))
    finally:
        con.close()

    at = as_of.astimezone(UTC).replace(tzinfo=None) if as_of.tzinfo else as_of
    clock = min(at, context[0]) if context[0] is not None else at
    with scratch_warehouse() as scratch:
        _seed_scratch(scratch, snapshot, customer_id, at, clock, context)
        scratch.build(
            "+fct_invoice_lines",
            exclude="fct_billing_ledger",
            vars_={"as_of_loaded_at": at.isoformat(sep=" ")},
        )
        con = scratch.connect()
        try:
            return _result(customer_id, at, clock, _lines(con, customer_id))
        finally:
            con.close()


def _seed_scratch(scratch, snapshot: Path, customer_id: str, at: datetime, clock, context) -> None:
    from ingestion.warehouse import write_run_context

    con = scratch.connect()
    try:
        con.execute(f"attach '{snapshot}' as snap (read_only)")
        con.execute("create schema raw")
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() "
                "where database_name = 'snap' and schema_name = 'raw'"
            ).fetchall()
        ]
        for table in tables:
            where = ""
            if table == "events":
                where = "where customer_id = $customer"
            elif table == "quarantined_events":
                where = "where false"
            con.execute(
                f"create table raw.{table} as select * from snap.raw.{table} {where}",
                {"customer": customer_id} if where.startswith("where customer") else {},
            )
        con.execute("create schema billing")
        con.execute(
            "create table billing.fct_billing_ledger as select * from snap.billing.fct_billing_ledger "
            "where customer_id = ? and cutoff_loaded_at <= ?",
            [customer_id, at],
        )
        con.execute("detach snap")
        write_run_context(
            con,
            billing_clock=clock,
            grace_period_hours=context[1],
            future_margin_hours=context[2],
        )
    finally:
        con.close()


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def _result(customer_id: str, as_of: datetime | None, clock, rows: list[tuple]) -> dict[str, Any]:
    invoices: dict[str, dict[str, Any]] = {}
    for r in rows:
        inv = invoices.setdefault(
            r[0],
            {
                "invoice_id": r[0],
                "status": r[1],
                "issue_date": r[2].isoformat(),
                "currency": r[3],
                "total_cents": 0,
                "lines": [],
            },
        )
        inv["total_cents"] += int(r[14])
        inv["lines"].append(
            {
                "line_kind": r[4],
                "fee_type": r[5],
                "charge": r[6],
                "metric": r[7],
                "charge_model": r[8],
                "filter_id": r[9],
                "group": r[10] or None,
                "units": _plain(r[11]),
                "events_count": r[12],
                "precise_amount": _plain(r[13]),
                "amount_cents": int(r[14]),
                "service_period": {"start": r[15].isoformat(), "end": r[16].isoformat()},
                "original_invoice_id": r[17] if r[4] != "fee" else None,
            }
        )
    return {
        "customer_id": customer_id,
        "as_of_loaded_at": None if as_of is None else as_of.isoformat(),
        "billing_clock": None if clock is None else clock.isoformat(),
        "invoices": list(invoices.values()),
    }


def render_preview(result: dict[str, Any]) -> str:
    from ingestion.warehouse import currency_exponents

    head = f"Preview for {result['customer_id']}"
    if result["as_of_loaded_at"]:
        head += f", events loaded up to {result['as_of_loaded_at']}"
    head += f" (billing clock {result['billing_clock']})"
    out = [head]
    if not result["invoices"]:
        out.append("No invoice pending at this billing clock.")
    for inv in result["invoices"]:
        exponent = currency_exponents()[inv["currency"]]

        def money(cents: int, exponent: int = exponent) -> str:
            return f"{Decimal(cents).scaleb(-exponent):,.{exponent}f}"

        out += ["", f"{inv['invoice_id']}  {inv['status']}, issue date {inv['issue_date']}"]
        for line in inv["lines"]:
            what = line["charge"] or "base fee"
            if line["fee_type"] == "credit":  # a prepaid credit drawn after tax: names its grant
                what = f"prepaid credit {(line['group'] or '').removeprefix('grant=')}"
            elif line["line_kind"] != "fee":
                what = f"{line['line_kind']} {what} (for {line['original_invoice_id']})"
            elif line["fee_type"] == "spending_minimum":
                what += " minimum true-up"
            if line["filter_id"]:
                what += f" [{line['filter_id']}]"
            if line["group"]:
                what += f" ({line['group']})"
            period = f"{line['service_period']['start'][:10]}..{line['service_period']['end'][:10]}"
            units = line["units"] or ""
            out.append(f"  {what:<48} {period:<22} {units:>14} {money(line['amount_cents']):>14}")
        out.append(
            f"  {'total ' + inv['currency']:<48} {'':<22} {'':>14} {money(inv['total_cents']):>14}"
        )
    return "\n".join(out)
