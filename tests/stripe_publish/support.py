"""Assertions over the emulator's objects and request log, and over the publication ledger."""

from __future__ import annotations

from collections import Counter
from typing import Any

import duckdb

from ingestion.stripe_emulator import EmulatorServer

JAN = "2026-01"
INV_A, INV_J, INV_B, INV_X = "inv_a_20260131", "inv_j_20260131", "inv_b_20260131", "inv_x_20260131"
INV_A_DEC = "inv_a_20251231"
CN_A = "cn_a_1"
TOTALS = {INV_A: 9234, INV_J: 3113, INV_B: 1900, INV_X: 500, INV_A_DEC: 5500}
NONZERO_LINES = {INV_A: 3, INV_J: 2, INV_B: 1, INV_X: 1, INV_A_DEC: 2}


def stripe_invoices(srv: EmulatorServer, mh_invoice_id: str) -> list[dict[str, Any]]:
    """Live Stripe invoices carrying this Meterhouse invoice id."""
    return [
        i
        for i in srv.objects("invoice")
        if i["metadata"].get("meterhouse_invoice_id") == mh_invoice_id
    ]


def invoice_items(srv: EmulatorServer, stripe_invoice_id: str) -> list[dict[str, Any]]:
    return [i for i in srv.objects("invoiceitem") if i["invoice"] == stripe_invoice_id]


def posts(srv: EmulatorServer) -> list[Any]:
    return [e for e in srv.request_log if e.method == "POST"]


def assert_published_once(srv: EmulatorServer, *mh_invoice_ids: str) -> dict[str, dict]:
    """One finalized Stripe invoice per Meterhouse invoice, each line once, totals equal."""
    out = {}
    for mh_id in mh_invoice_ids:
        found = stripe_invoices(srv, mh_id)
        assert len(found) == 1, f"{mh_id}: {len(found)} Stripe invoices"
        inv = found[0]
        assert inv["status"] in ("open", "paid"), f"{mh_id} is {inv['status']}"
        items = invoice_items(srv, inv["id"])
        per_line = Counter(i["metadata"]["meterhouse_invoice_line_id"] for i in items)
        assert all(n == 1 for n in per_line.values()), per_line
        assert len(items) == NONZERO_LINES[mh_id]
        assert inv["total"] == TOTALS[mh_id]
        out[mh_id] = inv
    return out


def ledger_calls(con: duckdb.DuckDBPyConnection, document_id: str) -> list[tuple]:
    return con.execute(
        """select step, line_id, idempotency_key, outcome, http_status, stripe_object_id
        from raw.stripe_publications where document_id = ? order by call_seq""",
        [document_id],
    ).fetchall()


def ledger_state(con: duckdb.DuckDBPyConnection, document_id: str) -> tuple:
    rows = con.execute(
        """select state, stripe_invoice_id, meterhouse_total_cents, stripe_total_cents,
               last_error, stripe_credit_note_id
        from raw.stripe_published_documents where document_id = ?""",
        [document_id],
    ).fetchall()
    return rows[0] if rows else None
