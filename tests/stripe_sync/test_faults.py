"""A Stripe error mid-sync leaves the tables consistent and the cursor where it was."""

from __future__ import annotations

import duckdb
import pytest
import stripe

from ingestion.stripe_emulator import EmulatorServer, client_for
from ingestion.stripe_sync import StripeSyncError, sync_stripe

from .conftest import one, rows


def _state(con: duckdb.DuckDBPyConnection) -> list[dict]:
    return rows(con, "select cursor_event_id, cursor_event_created from raw.stripe_sync_state")


def test_fault_during_first_full_list(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection
) -> None:
    cus = client.v1.customers.create({"email": "a@x.test"})
    inv = client.v1.invoices.create({"customer": cus.id})
    client.v1.invoices.add_lines(inv.id, {"lines": [{"amount": 100, "description": "x"}]})
    srv.inject_fault("500_before", path="/v1/invoices", method="GET")

    with pytest.raises(StripeSyncError) as caught:
        sync_stripe(con, client)
    message = str(caught.value)
    assert "listing invoices" in message and "APIError" in message
    assert "run the sync again" in message
    assert caught.value.cursor is None
    assert _state(con) == []  # no cursor: the next run lists everything again
    assert con.execute("select count(*) from raw.stripe_customers").fetchone() == (1,)
    assert con.execute("select count(*) from raw.stripe_invoices").fetchone() == (0,)
    failed = one(con, "select status, error, finished_at from raw.stripe_syncs")
    assert failed["status"] == "failed" and failed["error"] == message

    rerun = sync_stripe(con, client)
    assert rerun.mode == "full"
    assert rerun.counts["customers"].unchanged == 1 and rerun.counts["customers"].upserted == 0
    assert rerun.counts["invoices"].inserted == 1 and rerun.counts["invoice_lines"].inserted == 1
    assert _state(con)[0]["cursor_event_id"] == client.v1.events.list({"limit": 1}).data[0].id


def test_fault_while_refreshing_invoice_lines_keeps_the_whole_batch_out(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection
) -> None:
    cus = client.v1.customers.create({"email": "a@x.test"})
    inv = client.v1.invoices.create({"customer": cus.id})
    client.v1.invoices.add_lines(
        inv.id, {"lines": [{"amount": n + 1, "description": f"l{n}"} for n in range(25)]}
    )
    sync_stripe(con, client)
    cursor = _state(con)
    srv.advance_clock(60)
    client.v1.customers.update(cus.id, {"metadata": {"meterhouse_customer_id": "acme"}})
    client.v1.invoices.pay(inv.id)
    srv.inject_fault("500_before", path=f"/v1/invoices/{inv.id}/lines", method="GET")

    with pytest.raises(StripeSyncError) as caught:
        sync_stripe(con, client)
    assert f"listing the lines of invoice {inv.id}" in str(caught.value)
    assert caught.value.cursor == cursor[0]["cursor_event_id"]
    assert _state(con) == cursor  # the cursor did not move
    # the customer event of the same batch was not stored either
    assert one(con, "select meterhouse_customer_id, version_no from raw.stripe_customers") == {
        "meterhouse_customer_id": None,
        "version_no": 1,
    }
    assert one(con, "select status from raw.stripe_invoices") == {"status": "draft"}

    rerun = sync_stripe(con, client)
    assert rerun.cursor_before == cursor[0]["cursor_event_id"]
    assert one(con, "select meterhouse_customer_id from raw.stripe_customers") == {
        "meterhouse_customer_id": "acme"
    }
    assert one(con, "select status, amount_paid from raw.stripe_invoices") == {
        "status": "paid",
        "amount_paid": sum(range(1, 26)),
    }
    assert con.execute("select count(*) from raw.stripe_invoice_lines").fetchone() == (25,)
    statuses = [
        r[0] for r in con.execute("select status from raw.stripe_syncs order by sync_id").fetchall()
    ]
    assert statuses == ["succeeded", "failed", "succeeded"]


def test_fault_while_listing_events_and_during_relist(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection
) -> None:
    cus = client.v1.customers.create({"email": "a@x.test"})
    sync_stripe(con, client)
    client.v1.customers.update(cus.id, {"name": "Ada"})
    before = _state(con)

    srv.inject_fault("429", path="/v1/events", method="GET")
    with pytest.raises(StripeSyncError, match="rate-limited") as caught:
        sync_stripe(con, client)
    assert isinstance(caught.value.__cause__, stripe.RateLimitError)
    assert _state(con) == before

    # events stored and cursor moved; then the re-list fails: the events stay stored
    srv.inject_fault("500_before", path="/v1/invoices", method="GET")
    with pytest.raises(StripeSyncError, match="listing invoices"):
        sync_stripe(con, client)
    assert _state(con) != before
    assert one(con, "select name from raw.stripe_customers") == {"name": "Ada"}
    assert sync_stripe(con, client).upserted == 0


def test_sdk_retries_absorb_a_transient_fault(
    srv: EmulatorServer, con: duckdb.DuckDBPyConnection
) -> None:
    retrying = client_for(srv.url, max_network_retries=2, retry_delay=0.01)
    retrying.v1.customers.create({"email": "a@x.test"})
    srv.inject_fault("500_before", path="/v1/customers", method="GET")
    assert sync_stripe(con, retrying).counts["customers"].inserted == 1
