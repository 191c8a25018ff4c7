"""The invoice lifecycle, lines, search and the invalid transitions, through the SDK."""

from __future__ import annotations

import pytest
import stripe

from ingestion.stripe_emulator import EmulatorServer


@pytest.fixture
def unit_price(client: stripe.StripeClient) -> stripe.Price:
    return client.v1.prices.create(
        {"product_data": {"name": "Seat"}, "currency": "usd", "unit_amount": 250}
    )


def _draft_2000(
    client: stripe.StripeClient, customer: stripe.Customer, unit_price: stripe.Price
) -> stripe.Invoice:
    """A draft worth 1500 + 3 x 250 - 250 = 2000 cents."""
    inv = client.v1.invoices.create(
        {"customer": customer.id, "currency": "usd", "metadata": {"period": "2024-01"}}
    )
    inv = client.v1.invoices.add_lines(
        inv.id,
        {
            "lines": [
                {"amount": 1500, "description": "Platform fee", "metadata": {"k": "a"}},
                {"pricing": {"price": unit_price.id}, "quantity": 3, "description": "Seats"},
            ]
        },
    )
    client.v1.invoice_items.create(
        {"customer": customer.id, "invoice": inv.id, "amount": -250, "description": "Discount"}
    )
    return client.v1.invoices.retrieve(inv.id)


def test_lifecycle_draft_finalize_pay(
    srv: EmulatorServer,
    client: stripe.StripeClient,
    customer: stripe.Customer,
    unit_price: stripe.Price,
) -> None:
    inv = _draft_2000(client, customer, unit_price)
    assert inv.id.startswith("in_")
    assert inv.status == "draft"
    assert inv.number is None
    assert (inv.subtotal, inv.total, inv.amount_due, inv.amount_remaining) == (
        2000,
        2000,
        2000,
        2000,
    )
    assert inv.lines.total_count == 3
    assert [line.amount for line in inv.lines.data] == [1500, 750, -250]
    seats = inv.lines.data[1]
    assert seats.id.startswith("il_")
    assert seats.quantity == 3
    assert seats.pricing.price_details.price == unit_price.id
    assert seats.parent.type == "invoice_item_details"
    assert inv.lines.data[0].metadata.to_dict() == {"k": "a"}

    fin = client.v1.invoices.finalize_invoice(inv.id)
    assert fin.status == "open"
    assert fin.number == f"{customer.invoice_prefix}-0001"
    assert fin.status_transitions.finalized_at == srv.now()
    assert (fin.amount_due, fin.amount_paid, fin.amount_remaining) == (2000, 0, 2000)
    assert fin.starting_balance == 0 and fin.ending_balance == 0

    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.invoices.add_lines(inv.id, {"lines": [{"amount": 1}]})
    assert err.value.http_status == 400
    assert err.value.code == "invoice_not_editable"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoice_items.create({"customer": customer.id, "invoice": inv.id, "amount": 5})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.finalize_invoice(inv.id)

    paid = client.v1.invoices.pay(inv.id)
    assert paid.status == "paid"
    assert (paid.amount_due, paid.amount_paid, paid.amount_remaining) == (2000, 2000, 0)
    assert paid.status_transitions.paid_at is not None
    charges = client.v1.charges.list({"customer": customer.id})
    assert len(charges.data) == 1
    charge = charges.data[0]
    assert charge.id.startswith("ch_")
    assert (charge.amount, charge.status, charge.paid, charge.currency) == (
        2000,
        "succeeded",
        True,
        "usd",
    )
    payments = client.v1.invoice_payments.list({"invoice": inv.id})
    assert [p.payment.charge for p in payments] == [charge.id]
    assert client.v1.charges.retrieve(charge.id).amount_refunded == 0

    for action in (
        client.v1.invoices.finalize_invoice,
        client.v1.invoices.pay,
        client.v1.invoices.void_invoice,
        client.v1.invoices.mark_uncollectible,
        client.v1.invoices.delete,
    ):
        with pytest.raises(stripe.InvalidRequestError) as err:
            action(inv.id)
        assert err.value.http_status == 400

    # metadata stays editable after finalization; other fields do not
    upd = client.v1.invoices.update(inv.id, {"metadata": {"synced": "yes"}})
    assert upd.metadata.to_dict() == {"period": "2024-01", "synced": "yes"}
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.update(inv.id, {"days_until_due": 5})

    second = client.v1.invoices.create({"customer": customer.id})
    client.v1.invoice_items.create({"customer": customer.id, "invoice": second.id, "amount": 10})
    assert (
        client.v1.invoices.finalize_invoice(second.id).number == f"{customer.invoice_prefix}-0002"
    )


def test_void_and_uncollectible(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    def open_invoice(amount: int) -> stripe.Invoice:
        inv = client.v1.invoices.create({"customer": customer.id})
        client.v1.invoices.add_lines(inv.id, {"lines": [{"amount": amount}]})
        return client.v1.invoices.finalize_invoice(inv.id)

    voided = client.v1.invoices.void_invoice(open_invoice(700).id)
    assert voided.status == "void"
    assert voided.status_transitions.voided_at is not None
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.pay(voided.id)

    bad = client.v1.invoices.mark_uncollectible(open_invoice(800).id)
    assert bad.status == "uncollectible"
    assert bad.status_transitions.marked_uncollectible_at is not None
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.mark_uncollectible(bad.id)
    assert client.v1.invoices.void_invoice(bad.id).status == "void"

    late = client.v1.invoices.mark_uncollectible(open_invoice(900).id)
    assert client.v1.invoices.pay(late.id).status == "paid"  # uncollectible can still be paid

    draft = client.v1.invoices.create({"customer": customer.id})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.void_invoice(draft.id)
    assert client.v1.invoices.delete(draft.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.invoices.retrieve(draft.id)
    assert err.value.http_status == 404

    assert [i.status for i in client.v1.invoices.list({"customer": customer.id})] == [
        "paid",
        "void",
        "void",
    ]
    assert len(client.v1.invoices.list({"customer": customer.id, "status": "void"}).data) == 2


def test_empty_invoice_is_paid_on_finalize(
    client: stripe.StripeClient, customer: stripe.Customer
) -> None:
    inv = client.v1.invoices.finalize_invoice(
        client.v1.invoices.create({"customer": customer.id}).id
    )
    assert (inv.status, inv.total, inv.amount_due) == ("paid", 0, 0)
    assert client.v1.charges.list({"customer": customer.id}).data == []


def test_pay_draft_finalizes_and_out_of_band(
    client: stripe.StripeClient, customer: stripe.Customer
) -> None:
    inv = client.v1.invoices.create({"customer": customer.id})
    client.v1.invoices.add_lines(inv.id, {"lines": [{"amount": 1234}]})
    paid = client.v1.invoices.pay(inv.id, {"paid_out_of_band": True})
    assert paid.status == "paid"
    assert paid.number is not None
    assert paid.amount_paid == 1234
    assert client.v1.charges.list({"customer": customer.id}).data == []


def test_customer_credit_balance_applies_on_finalize(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create({"balance": -500})
    inv = client.v1.invoices.create({"customer": cus.id})
    client.v1.invoices.add_lines(inv.id, {"lines": [{"amount": 2000}]})
    fin = client.v1.invoices.finalize_invoice(inv.id)
    assert (fin.total, fin.starting_balance, fin.amount_due, fin.ending_balance) == (
        2000,
        -500,
        1500,
        0,
    )
    assert client.v1.customers.retrieve(cus.id).balance == 0
    assert client.v1.invoices.pay(inv.id).amount_paid == 1500


def test_card_decline_is_402_and_kept(
    client: stripe.StripeClient, customer: stripe.Customer
) -> None:
    inv = client.v1.invoices.create({"customer": customer.id})
    client.v1.invoices.add_lines(inv.id, {"lines": [{"amount": 999}]})
    with pytest.raises(stripe.CardError) as err:
        client.v1.invoices.pay(inv.id, {"payment_method": "pm_card_chargeDeclined"})
    assert err.value.http_status == 402
    assert err.value.code == "card_declined"
    again = client.v1.invoices.retrieve(inv.id)
    assert (again.status, again.attempt_count, again.attempted) == ("open", 1, True)
    failed = client.v1.charges.list({"customer": customer.id}).data
    assert [(c.status, c.amount, c.failure_code) for c in failed] == [
        ("failed", 999, "card_declined")
    ]
    assert client.v1.invoices.pay(inv.id).status == "paid"


def test_send_invoice_due_date(
    srv: EmulatorServer, client: stripe.StripeClient, customer: stripe.Customer
) -> None:
    inv = client.v1.invoices.create(
        {"customer": customer.id, "collection_method": "send_invoice", "days_until_due": 30}
    )
    client.v1.invoices.add_lines(inv.id, {"lines": [{"amount": 100}]})
    fin = client.v1.invoices.finalize_invoice(inv.id)
    assert fin.due_date == srv.now() + 30 * 86400
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.invoices.create({"customer": customer.id, "collection_method": "send_invoice"})
    assert err.value.code == "parameter_missing"


def test_lines_are_paged(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    inv = client.v1.invoices.create({"customer": customer.id})
    inv = client.v1.invoices.add_lines(
        inv.id, {"lines": [{"amount": 100 + n, "description": f"line {n}"} for n in range(25)]}
    )
    assert inv.total == 2800  # 25 x 100 + (0 + 1 + ... + 24)
    assert len(inv.lines.data) == 10
    assert inv.lines.has_more is True
    assert inv.lines.total_count == 25
    assert inv.lines.url == f"/v1/invoices/{inv.id}/lines"

    first = client.v1.invoices.line_items.list(inv.id, {"limit": 10})
    assert [line.description for line in first] == [f"line {n}" for n in range(10)]
    second = client.v1.invoices.line_items.list(
        inv.id, {"limit": 10, "starting_after": first.data[-1].id}
    )
    assert [line.amount for line in second] == [100 + n for n in range(10, 20)]
    every = list(client.v1.invoices.line_items.list(inv.id, {"limit": 7}).auto_paging_iter())
    assert [line.description for line in every] == [f"line {n}" for n in range(25)]
    assert len({line.id for line in every}) == 25


def test_pending_items_join_only_when_included(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create({})
    item = client.v1.invoice_items.create({"customer": cus.id, "amount": 400, "currency": "usd"})
    excluded = client.v1.invoices.create({"customer": cus.id})
    assert excluded.lines.total_count == 0
    included = client.v1.invoices.create(
        {"customer": cus.id, "pending_invoice_items_behavior": "include"}
    )
    assert [line.parent.invoice_item_details.invoice_item for line in included.lines] == [item.id]
    assert included.total == 400
    assert client.v1.invoice_items.retrieve(item.id).invoice == included.id
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoice_items.create(
            {"customer": cus.id, "invoice": included.id, "amount": 1, "currency": "eur"}
        )


def test_search_by_metadata_customer_status(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create({})
    made = []
    for n in range(4):
        inv = client.v1.invoices.create(
            {"customer": cus.id, "metadata": {"run_id": "search-run-7", "n": str(n)}}
        )
        made.append(inv.id)
    client.v1.invoices.finalize_invoice(made[1])
    client.v1.invoices.add_lines(made[2], {"lines": [{"amount": 50}]})
    client.v1.invoices.finalize_invoice(made[2])
    client.v1.invoices.create({"customer": cus.id, "metadata": {"run_id": "other"}})

    found = client.v1.invoices.search({"query": "metadata['run_id']:'search-run-7'"})
    assert found.object == "search_result"
    assert [i.id for i in found] == made[::-1]
    assert found.has_more is False and found.next_page is None

    opened = client.v1.invoices.search(
        {"query": f"metadata['run_id']:'search-run-7' AND customer:'{cus.id}' AND status:'open'"}
    )
    assert [i.id for i in opened] == [made[2]]  # made[1] had nothing due: paid on finalize

    paged = client.v1.invoices.search({"query": 'metadata["run_id"]:"search-run-7"', "limit": 1})
    assert paged.has_more is True and paged.next_page
    assert [i.id for i in paged.auto_paging_iter()] == made[::-1]

    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.search({"query": "status:'open' OR status:'paid'"})

    someone = client.v1.customers.create({"email": "searchme@example.com"})
    hits = client.v1.customers.search({"query": "email:'searchme@example.com' AND created>0"})
    assert [c.id for c in hits] == [someone.id]
