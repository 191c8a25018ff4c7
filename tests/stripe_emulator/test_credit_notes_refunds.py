"""Credit notes (pre- and post-payment) and refunds, with amounts worked out by hand."""

from __future__ import annotations

import pytest
import stripe


def _open_invoice(client: stripe.StripeClient, customer: stripe.Customer) -> stripe.Invoice:
    """Open invoice: line A 1500 + line B 3 x 250 = 2250."""
    price = client.v1.prices.create(
        {"product_data": {"name": "Seat"}, "currency": "usd", "unit_amount": 250}
    )
    inv = client.v1.invoices.create({"customer": customer.id})
    client.v1.invoices.add_lines(
        inv.id,
        {
            "lines": [
                {"amount": 1500, "description": "Platform"},
                {"pricing": {"price": price.id}, "quantity": 3, "description": "Seats"},
            ]
        },
    )
    return client.v1.invoices.finalize_invoice(inv.id)


def test_pre_and_post_payment_credit_notes(
    client: stripe.StripeClient, customer: stripe.Customer
) -> None:
    inv = _open_invoice(client, customer)
    line_a, line_b = inv.lines.data
    assert inv.amount_due == 2250

    cn1 = client.v1.credit_notes.create(
        {
            "invoice": inv.id,
            "lines": [{"type": "invoice_line_item", "invoice_line_item": line_a.id, "amount": 500}],
            "memo": "Outage",
            "metadata": {"ticket": "T-1"},
            "reason": "product_unsatisfactory",
        }
    )
    assert cn1.id.startswith("cn_")
    assert (cn1.total, cn1.type, cn1.pre_payment_amount, cn1.status) == (
        500,
        "pre_payment",
        500,
        "issued",
    )
    assert cn1.number == f"{inv.number}-CN-01"
    assert cn1.memo == "Outage" and cn1.metadata.to_dict() == {"ticket": "T-1"}
    assert cn1.lines.data[0].invoice_line_item == line_a.id

    after1 = client.v1.invoices.retrieve(inv.id)
    assert (after1.total, after1.pre_payment_credit_notes_amount) == (2250, 500)
    assert (after1.amount_due, after1.amount_remaining) == (1750, 1750)

    cn2 = client.v1.credit_notes.create(
        {
            "invoice": inv.id,
            "lines": [{"type": "invoice_line_item", "invoice_line_item": line_b.id, "quantity": 1}],
        }
    )
    assert cn2.total == 250  # one of the three 250 seats
    assert cn2.number == f"{inv.number}-CN-02"
    assert client.v1.invoices.retrieve(inv.id).amount_remaining == 1500

    with pytest.raises(stripe.InvalidRequestError):  # 1000 of line A is left to credit
        client.v1.credit_notes.create(
            {
                "invoice": inv.id,
                "lines": [
                    {"type": "invoice_line_item", "invoice_line_item": line_a.id, "amount": 1001}
                ],
            }
        )

    voided = client.v1.credit_notes.void_credit_note(cn1.id)
    assert voided.status == "void" and voided.voided_at is not None
    assert client.v1.invoices.retrieve(inv.id).amount_remaining == 2000
    assert [c.id for c in client.v1.credit_notes.list({"invoice": inv.id})] == [cn2.id, cn1.id]

    paid = client.v1.invoices.pay(inv.id)
    assert (paid.amount_paid, paid.amount_remaining) == (2000, 0)
    charge = client.v1.charges.list({"customer": customer.id}).data[0]
    assert charge.amount == 2000

    refunding = client.v1.credit_notes.create(
        {"invoice": inv.id, "amount": 600, "refund_amount": 600, "memo": "refund"}
    )
    assert (refunding.type, refunding.post_payment_amount, refunding.pre_payment_amount) == (
        "post_payment",
        600,
        0,
    )
    refund_id = refunding.refunds[0].refund
    refund = client.v1.refunds.retrieve(refund_id)
    assert (refund.amount, refund.charge, refund.status) == (600, charge.id, "succeeded")
    charge = client.v1.charges.retrieve(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (600, False)

    crediting = client.v1.credit_notes.create(
        {"invoice": inv.id, "amount": 400, "credit_amount": 400}
    )
    assert crediting.customer_balance_transaction is not None
    assert client.v1.customers.retrieve(customer.id).balance == -400

    after = client.v1.invoices.retrieve(inv.id)
    assert (after.post_payment_credit_notes_amount, after.amount_paid, after.status) == (
        1000,
        2000,
        "paid",
    )

    with pytest.raises(stripe.InvalidRequestError):  # 600 + 0 != 700
        client.v1.credit_notes.create({"invoice": inv.id, "amount": 700, "refund_amount": 600})
    with pytest.raises(stripe.InvalidRequestError):  # only 2000 - 1000 = 1000 left
        client.v1.credit_notes.create({"invoice": inv.id, "amount": 1001, "credit_amount": 1001})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.credit_notes.void_credit_note(refunding.id)

    client.v1.credit_notes.void_credit_note(crediting.id)
    assert client.v1.customers.retrieve(customer.id).balance == 0
    assert client.v1.invoices.retrieve(inv.id).post_payment_credit_notes_amount == 600

    lines = client.v1.credit_notes.line_items.list(cn2.id)
    assert [(ln.type, ln.amount, ln.quantity) for ln in lines] == [("invoice_line_item", 250, 1)]


def test_full_pre_payment_credit_marks_paid(
    client: stripe.StripeClient, customer: stripe.Customer
) -> None:
    inv = client.v1.invoices.create({"customer": customer.id})
    client.v1.invoices.add_lines(inv.id, {"lines": [{"amount": 300}]})
    client.v1.invoices.finalize_invoice(inv.id)
    cn = client.v1.credit_notes.create(
        {
            "invoice": inv.id,
            "lines": [
                {
                    "type": "custom_line_item",
                    "unit_amount": 100,
                    "quantity": 3,
                    "description": "waiver",
                }
            ],
        }
    )
    assert cn.total == 300
    after = client.v1.invoices.retrieve(inv.id)
    assert (after.status, after.amount_due, after.amount_paid, after.amount_remaining) == (
        "paid",
        0,
        0,
        0,
    )

    draft = client.v1.invoices.create({"customer": customer.id})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.credit_notes.create({"invoice": draft.id, "amount": 1})


def test_refunds(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    inv = client.v1.invoices.create({"customer": customer.id})
    client.v1.invoices.add_lines(inv.id, {"lines": [{"amount": 1000}]})
    client.v1.invoices.pay(inv.id)
    charge = client.v1.charges.list({"customer": customer.id}).data[0]

    first = client.v1.refunds.create(
        {"charge": charge.id, "amount": 300, "metadata": {"why": "sla"}}
    )
    assert first.id.startswith("re_")
    assert (first.amount, first.currency, first.metadata.to_dict()) == (300, "usd", {"why": "sla"})
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.refunds.create({"charge": charge.id, "amount": 701})
    assert err.value.code == "amount_too_large"

    rest = client.v1.refunds.create({"charge": charge.id})  # what is left: 700
    assert rest.amount == 700
    charge = client.v1.charges.retrieve(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (1000, True)
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.refunds.create({"charge": charge.id, "amount": 1})
    assert err.value.code == "charge_already_refunded"

    assert [r.id for r in client.v1.refunds.list({"charge": charge.id})] == [rest.id, first.id]
    assert client.v1.invoices.retrieve(inv.id).status == "paid"  # refunds leave the invoice alone
