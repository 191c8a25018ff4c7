"""Cursor pagination, auto-paging and ``created`` filters, as Stripe lists behave."""

from __future__ import annotations

import pytest
import stripe

from ingestion.stripe_emulator import EmulatorServer


def test_pagination_newest_first(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    ids = [
        client.v1.invoice_items.create({"customer": customer.id, "amount": n, "currency": "usd"}).id
        for n in range(1, 26)
    ]  # all in the same frozen second: the sequence number orders them
    newest_first = ids[::-1]

    page1 = client.v1.invoice_items.list({"customer": customer.id})
    assert page1.object == "list"
    assert page1.url == "/v1/invoiceitems"
    assert [i.id for i in page1.data] == newest_first[:10]  # default limit 10
    assert page1.has_more is True

    page2 = client.v1.invoice_items.list(
        {"customer": customer.id, "limit": 10, "starting_after": page1.data[-1].id}
    )
    assert [i.id for i in page2.data] == newest_first[10:20]
    page3 = client.v1.invoice_items.list(
        {"customer": customer.id, "limit": 10, "starting_after": page2.data[-1].id}
    )
    assert [i.id for i in page3.data] == newest_first[20:]
    assert page3.has_more is False

    back = client.v1.invoice_items.list(
        {"customer": customer.id, "limit": 10, "ending_before": page3.data[0].id}
    )
    assert [i.id for i in back.data] == newest_first[10:20]
    assert back.has_more is True

    every = [
        i.id
        for i in client.v1.invoice_items.list(
            {"customer": customer.id, "limit": 10}
        ).auto_paging_iter()
    ]
    assert every == newest_first

    amounts = [
        i.amount for i in client.v1.invoice_items.list({"customer": customer.id, "limit": 100})
    ]
    assert amounts == list(range(25, 0, -1))


def test_limit_bounds(client: stripe.StripeClient) -> None:
    for bad in (0, 101):
        with pytest.raises(stripe.InvalidRequestError) as err:
            client.v1.customers.list({"limit": bad})
        assert err.value.param == "limit"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.list({"starting_after": "cus_nope"})


def test_created_filters(srv: EmulatorServer, client: stripe.StripeClient) -> None:
    start = srv.advance_clock(10_000)  # a fresh window no other test's objects fall in
    made = {}
    for step in range(5):  # created = start, start+60, ..., start+240
        made[start + 60 * step] = client.v1.customers.create({"name": f"c{step}"}).id
        srv.advance_clock(60)

    def names(created: object) -> list[str]:
        page = client.v1.customers.list({"created": created, "limit": 100})  # type: ignore[typeddict-item]
        return [c.name for c in page]

    assert names({"gte": start}) == ["c4", "c3", "c2", "c1", "c0"]
    assert names({"gt": start + 60, "lte": start + 180}) == ["c3", "c2"]
    assert names({"gte": start, "lt": start + 120}) == ["c1", "c0"]
    assert names(start + 240) == ["c4"]

    got = client.v1.customers.retrieve(made[start + 120])
    assert got.created == start + 120

    # events carry the same clock and filter the same way
    evts = client.v1.events.list({"created": {"gte": start + 180}, "type": "customer.created"})
    assert [e.data.object.name for e in evts] == ["c4", "c3"]
