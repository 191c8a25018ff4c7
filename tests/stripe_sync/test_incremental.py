"""Second and later syncs: only what changed gets a new version, the newest version wins."""

from __future__ import annotations

import duckdb
import stripe

from ingestion.stripe_emulator import EmulatorServer
from ingestion.stripe_sync import sync_stripe

from .conftest import one, rows, versions


def _open_invoice(client: stripe.StripeClient, customer: str, amount: int) -> str:
    inv = client.v1.invoices.create({"customer": customer})
    client.v1.invoices.add_lines(inv.id, {"lines": [{"amount": amount, "description": "Usage"}]})
    return client.v1.invoices.finalize_invoice(inv.id).id


def _first_state(client: stripe.StripeClient) -> dict[str, str]:
    """Three customers, an open invoice to pay, one to void, a paid one whose charge is refunded."""
    a = client.v1.customers.create(
        {"email": "a@x.test", "metadata": {"meterhouse_customer_id": "a"}}
    )
    b = client.v1.customers.create({"email": "b@x.test"})
    c = client.v1.customers.create({"email": "c@x.test"})
    to_pay = _open_invoice(client, a.id, 1000)
    to_void = _open_invoice(client, b.id, 2000)
    paid = _open_invoice(client, c.id, 3000)
    client.v1.invoices.pay(paid)
    charge = client.v1.charges.list({"customer": c.id}).data[0].id
    return {
        "a": a.id,
        "b": b.id,
        "c": c.id,
        "to_pay": to_pay,
        "to_void": to_void,
        "paid": paid,
        "charge": charge,
    }


def test_only_changed_and_new_objects_get_new_versions(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection
) -> None:
    ids = _first_state(client)
    first = sync_stripe(con, client)
    before = {
        t: versions(con, t)
        for t in ("customers", "invoices", "invoice_lines", "charges", "refunds")
    }
    assert first.cursor_after is not None

    srv.advance_clock(3600)
    client.v1.invoices.pay(ids["to_pay"])
    client.v1.invoices.void_invoice(ids["to_void"])
    refund = client.v1.refunds.create({"charge": ids["charge"], "amount": 500})
    client.v1.customers.update(ids["b"], {"metadata": {"meterhouse_customer_id": "b"}})
    d = client.v1.customers.create({"email": "d@x.test"})
    draft = client.v1.invoices.create({"customer": d.id})
    client.v1.invoices.add_lines(draft.id, {"lines": [{"amount": 700, "description": "New"}]})

    second = sync_stripe(con, client)
    assert second.mode == "incremental"
    assert second.cursor_before == first.cursor_after
    assert second.cursor_after == client.v1.events.list({"limit": 1}).data[0].id

    def changed(table: str) -> set[str]:
        return {i for i, (_, sync_id) in versions(con, table).items() if sync_id == second.sync_id}

    new_charge = client.v1.charges.list({"customer": ids["a"]}).data[0].id
    assert changed("customers") == {ids["b"], d.id}
    assert changed("invoices") == {ids["to_pay"], ids["to_void"], draft.id}
    assert changed("charges") == {ids["charge"], new_charge}
    assert changed("refunds") == {refund.id}
    assert changed("invoice_lines") == {
        r["id"]
        for r in rows(con, "select id from raw.stripe_invoice_lines where invoice = ?", [draft.id])
    }
    after = {t: versions(con, t) for t in before}
    for table, old in before.items():  # untouched rows keep their version; changed ones +1
        for oid, (version_no, _) in old.items():
            bump = 1 if oid in changed(table) else 0
            assert after[table][oid][0] == version_no + bump, (table, oid)

    invoices = {r["id"]: r for r in rows(con, "select * from raw.stripe_invoices")}
    assert (invoices[ids["to_pay"]]["status"], invoices[ids["to_pay"]]["amount_paid"]) == (
        "paid",
        1000,
    )
    assert invoices[ids["to_void"]]["status"] == "void"
    assert invoices[ids["to_void"]]["voided_at"] is not None
    assert (invoices[draft.id]["status"], invoices[draft.id]["total"]) == ("draft", 700)
    assert one(
        con, "select amount_refunded from raw.stripe_charges where id = ?", [ids["charge"]]
    ) == {"amount_refunded": 500}
    assert one(
        con, "select meterhouse_customer_id from raw.stripe_customers where id = ?", [ids["b"]]
    ) == {"meterhouse_customer_id": "b"}
    for table in ("customers", "invoices", "invoice_lines", "charges", "refunds", "subscriptions"):
        n, distinct = con.execute(
            f"select count(*), count(distinct id) from raw.stripe_{table}"
        ).fetchone()
        assert n == distinct

    # nothing changed since: a third sync writes nothing and keeps the cursor
    third = sync_stripe(con, client)
    assert third.events_processed == 0 and third.upserted == 0
    assert third.cursor_after == second.cursor_after
    assert sum(c.removed for c in third.counts.values()) == 0
    assert con.execute(
        "select count(*) from raw.stripe_customers where sync_id = ?", [third.sync_id]
    ).fetchone() == (0,)
    statuses = [
        r[0] for r in con.execute("select status from raw.stripe_syncs order by sync_id").fetchall()
    ]
    assert statuses == ["succeeded"] * 3


def test_replayed_older_events_never_overwrite_newer_versions(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection
) -> None:
    cus = client.v1.customers.create({"email": "a@x.test"})
    inv = client.v1.invoices.create({"customer": cus.id})
    client.v1.invoices.add_lines(inv.id, {"lines": [{"amount": 900, "description": "x"}]})
    sync_stripe(con, client)
    cursor_after_first = one(
        con, "select cursor_event_id, cursor_event_created from raw.stripe_sync_state"
    )

    srv.advance_clock(60)
    client.v1.invoices.finalize_invoice(inv.id)  # open ...
    srv.advance_clock(60)
    client.v1.invoices.pay(inv.id)  # ... then paid
    # one event per batch: the 'finalized' (open) version is stored, then replaced by 'paid'
    second = sync_stripe(con, client, event_batch_size=1)
    stored = one(con, "select status, version_no, stripe_updated_seq from raw.stripe_invoices")
    assert stored["status"] == "paid"
    assert second.counts["invoices"].updated == 2

    # rewind the cursor: the same events come again, the older 'open' version among them
    con.execute(
        "update raw.stripe_sync_state set cursor_event_id = ?, cursor_event_created = ?",
        [cursor_after_first["cursor_event_id"], cursor_after_first["cursor_event_created"]],
    )
    replay = sync_stripe(con, client, event_batch_size=1, relist_open=False)
    assert replay.events_processed == second.events_processed
    assert replay.upserted == 0
    assert replay.counts["invoices"].stale >= 1  # the open version is older than the stored one
    assert (
        one(con, "select status, version_no, stripe_updated_seq from raw.stripe_invoices") == stored
    )


def test_deleted_customer_is_kept_and_flagged(
    client: stripe.StripeClient, con: duckdb.DuckDBPyConnection
) -> None:
    keep = client.v1.customers.create({"email": "keep@x.test"})
    gone = client.v1.customers.create({"email": "gone@x.test"})
    sync_stripe(con, client)
    client.v1.customers.delete(gone.id)
    sync_stripe(con, client)
    got = {
        r["id"]: r
        for r in rows(con, "select id, deleted, email, version_no from raw.stripe_customers")
    }
    assert got[gone.id] == {"id": gone.id, "deleted": True, "email": "gone@x.test", "version_no": 2}
    assert got[keep.id]["deleted"] is False and got[keep.id]["version_no"] == 1


def test_relist_repairs_what_events_missed(
    client: stripe.StripeClient, con: duckdb.DuckDBPyConnection
) -> None:
    """An open invoice changed while its events were skipped (cursor moved past them by hand)."""
    cus = client.v1.customers.create({"email": "a@x.test"})
    inv_id = _open_invoice(client, cus.id, 1500)
    sync_stripe(con, client)
    client.v1.invoices.pay(inv_id)
    newest = client.v1.events.list({"limit": 1}).data[0]
    con.execute(
        "update raw.stripe_sync_state set cursor_event_id = ?, cursor_event_created = ?",
        [newest.id, newest.created],
    )
    result = sync_stripe(con, client)
    assert result.events_processed == 0
    assert result.relisted
    assert one(con, "select status, amount_paid, version_source from raw.stripe_invoices") == {
        "status": "paid",
        "amount_paid": 1500,
        "version_source": "relist",
    }
    # the new charge is not found by the re-list (it only re-reads what it knows): events do that
    assert con.execute("select count(*) from raw.stripe_charges").fetchone() == (0,)
