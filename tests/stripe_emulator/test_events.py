"""Events are emitted on every create, update and state change, in order."""

from __future__ import annotations

import pytest
import stripe

from ingestion.stripe_emulator import EmulatorServer


def test_event_stream(srv: EmulatorServer, client: stripe.StripeClient) -> None:
    start = srv.advance_clock(100_000)
    cus = client.v1.customers.create({"name": "Old"})
    client.v1.customers.update(cus.id, {"name": "New", "metadata": {"a": "1"}})
    inv = client.v1.invoices.create({"customer": cus.id})
    client.v1.invoices.add_lines(inv.id, {"lines": [{"amount": 1000}]})
    client.v1.invoices.finalize_invoice(inv.id)
    client.v1.invoices.pay(inv.id)
    charge = client.v1.charges.list({"customer": cus.id}).data[0]
    client.v1.refunds.create({"charge": charge.id, "amount": 100})
    client.v1.credit_notes.create({"invoice": inv.id, "amount": 50, "credit_amount": 50})
    second = client.v1.invoices.create({"customer": cus.id})
    client.v1.invoices.add_lines(second.id, {"lines": [{"amount": 70}]})
    client.v1.invoices.finalize_invoice(second.id)
    client.v1.invoices.void_invoice(second.id)
    third = client.v1.invoices.create({"customer": cus.id})
    client.v1.invoices.add_lines(third.id, {"lines": [{"amount": 80}]})
    client.v1.invoices.finalize_invoice(third.id)
    client.v1.invoices.mark_uncollectible(third.id)
    client.v1.invoices.update(third.id, {"metadata": {"dunning": "stopped"}})

    page = client.v1.events.list({"created": {"gte": start}, "limit": 100})
    events = list(reversed(page.data))  # chronological
    assert [e.type for e in events] == [
        "customer.created",
        "customer.updated",
        "invoice.created",
        "invoiceitem.created",
        "invoice.updated",
        "invoice.finalized",
        "charge.succeeded",
        "invoice.paid",
        "invoice.payment_succeeded",
        "refund.created",
        "charge.refunded",
        "customer.updated",
        "credit_note.created",
        "invoice.updated",
        "invoice.created",
        "invoiceitem.created",
        "invoice.updated",
        "customer.updated",  # the 50 credit is applied to the next invoice
        "invoice.finalized",
        "invoice.voided",
        "invoice.created",
        "invoiceitem.created",
        "invoice.updated",
        "invoice.finalized",
        "invoice.marked_uncollectible",
        "invoice.updated",
    ]
    assert all(e.id.startswith("evt_") and e.object == "event" for e in events)
    assert all(e.created == start for e in events)  # frozen clock; order from the sequence
    assert all(e.api_version == stripe.api_version for e in events)
    assert all(e.request.idempotency_key for e in events)  # the SDK keys every POST

    updated = events[1]
    assert updated.data.object.name == "New"
    assert updated.data.previous_attributes.to_dict() == {"name": "Old", "metadata": {"a": None}}
    by_type = {e.type: e for e in events}
    assert by_type["invoice.finalized"].data.object.status == "open"
    assert by_type["invoice.paid"].data.object.status == "paid"
    assert by_type["invoice.paid"].data.object.amount_paid == 1000
    assert by_type["charge.refunded"].data.object.amount_refunded == 100
    assert by_type["charge.refunded"].data.previous_attributes.amount_refunded == 0
    assert by_type["credit_note.created"].data.object.total == 50

    second_finalized = [e for e in events if e.type == "invoice.finalized"][1].data.object
    assert (
        second_finalized.total,
        second_finalized.starting_balance,
        second_finalized.amount_due,
    ) == (
        70,
        -50,
        20,
    )

    fetched = client.v1.events.retrieve(updated.id)
    assert fetched.type == "customer.updated"

    only = client.v1.events.list({"created": {"gte": start}, "type": "invoice.*", "limit": 100})
    assert {e.type.split(".")[0] for e in only} == {"invoice"}
    assert (
        len(only.data) == 15
    )  # 3 created, 5 updated, 3 finalized, paid, payment_succeeded, voided, uncollectible
    two = client.v1.events.list(
        {"created": {"gte": start}, "types": ["invoice.voided", "invoice.marked_uncollectible"]}
    )
    assert [e.type for e in two] == ["invoice.marked_uncollectible", "invoice.voided"]


def test_replays_and_failures_emit_nothing(
    srv: EmulatorServer, client: stripe.StripeClient
) -> None:
    start = srv.advance_clock(100_000)
    client.v1.customers.create({"name": "once"}, {"idempotency_key": "evt-replay"})
    client.v1.customers.create({"name": "once"}, {"idempotency_key": "evt-replay"})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.create({"customer": "cus_missing"})
    assert [e.type for e in client.v1.events.list({"created": {"gte": start}})] == [
        "customer.created"
    ]
