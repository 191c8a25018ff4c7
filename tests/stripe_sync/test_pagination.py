"""Lists across pages, invoice lines and subscription items past the embedded 10."""

from __future__ import annotations

import duckdb
import stripe

from ingestion.stripe_emulator import EmulatorServer
from ingestion.stripe_sync import sync_stripe

from .conftest import rows


def _gets(srv: EmulatorServer, path: str) -> int:
    return sum(1 for e in srv.request_log if e.method == "GET" and e.path == path)


def test_pages_through_lists_lines_and_items(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection
) -> None:
    for n in range(120):
        client.v1.customers.create({"email": f"c{n}@x.test", "metadata": {"n": str(n)}})
    owner = client.v1.customers.list({"limit": 1}).data[0]
    inv = client.v1.invoices.create({"customer": owner.id})
    client.v1.invoices.add_lines(
        inv.id, {"lines": [{"amount": 100 + n, "description": f"line {n}"} for n in range(25)]}
    )
    prices = [
        client.v1.prices.create(
            {
                "product_data": {"name": f"P{n}"},
                "currency": "usd",
                "unit_amount": 10 * (n + 1),
                "recurring": {"interval": "month"},
            }
        )
        for n in range(12)
    ]
    sub = client.v1.subscriptions.create(
        {
            "customer": owner.id,
            "items": [{"price": p.id, "quantity": n + 1} for n, p in enumerate(prices)],
        }
    )
    srv.clear_request_log()

    result = sync_stripe(con, client)

    assert _gets(srv, "/v1/customers") == 2  # 100 + 20
    assert _gets(srv, f"/v1/invoices/{inv.id}/lines") == 1  # 25 lines fit one page of 100
    assert _gets(srv, "/v1/subscription_items") == 1
    assert result.counts["customers"].inserted == 120
    assert con.execute(
        "select count(*), count(distinct id) from raw.stripe_customers"
    ).fetchone() == (120, 120)
    got = {r["email"] for r in rows(con, "select email from raw.stripe_customers")}
    assert got == {f"c{n}@x.test" for n in range(120)}

    lines = rows(
        con,
        "select amount, description, line_position from raw.stripe_invoice_lines "
        "where invoice = ? order by line_position",
        [inv.id],
    )
    assert [(r["amount"], r["description"]) for r in lines] == [
        (100 + n, f"line {n}") for n in range(25)
    ]
    assert [r["line_position"] for r in lines] == list(range(25))
    assert con.execute(
        "select lines_total_count, subtotal from raw.stripe_invoices"
    ).fetchone() == (
        25,
        sum(100 + n for n in range(25)),
    )
    items = rows(
        con,
        "select price, quantity from raw.stripe_subscription_items where subscription = ? "
        "order by quantity",
        [sub.id],
    )
    assert [(r["price"], r["quantity"]) for r in items] == [
        (p.id, n + 1) for n, p in enumerate(prices)
    ]


def test_small_pages_of_events(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection
) -> None:
    """More than 100 events since the cursor: paged back to it, applied oldest first."""
    sync_stripe(con, client)
    cus = client.v1.customers.create({"email": "a@x.test"})
    for n in range(130):
        srv.advance_clock(1)
        client.v1.customers.update(cus.id, {"metadata": {"step": str(n)}})
    result = sync_stripe(con, client, event_batch_size=40)
    assert result.events_processed == 131
    row = rows(
        con, "select object_json->>'$.metadata.step' as step, version_no from raw.stripe_customers"
    )
    assert row == [{"step": "129", "version_no": 4}]  # one version per batch of 40 (4 batches)
