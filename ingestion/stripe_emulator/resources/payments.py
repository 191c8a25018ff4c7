"""Charges, refunds and invoice payments.

Charges are created only by paying an invoice (``POST /v1/invoices/{id}/pay``), as a card
charge on Stripe's ``pm_card_visa`` test card; ``payment_method=pm_card_chargeDeclined`` (or
``pm_card_chargeDeclinedInsufficientFunds``) records a *failed* charge instead. Endpoints:
retrieve, update ``metadata``/``description``, list (``customer``, ``created``), search.

Refunds: ``POST /v1/refunds`` with ``charge`` and optional ``amount`` (default: what is left),
``reason``, ``metadata``. The charge's ``amount_refunded`` grows and ``refunded`` turns true
once fully refunded; more than what is left is a 400 (``amount_too_large``, or
``charge_already_refunded`` when nothing is left). Refunds succeed immediately.
Events: ``refund.created`` and ``charge.refunded``.

Invoice payments (``inpay_``, API versions since 2025-03-31.basil): one per successful
invoice charge, linking ``invoice`` and ``payment.charge``; list with ``invoice=in_...``.

Not emulated: PaymentIntents, balance transactions, disputes, ``POST /v1/charges``.
"""

from __future__ import annotations

from typing import Any

from ..errors import invalid
from ..forms import as_int, optional_str, reject_unknown, require
from .base import Ctx, apply_metadata, filter_created, paginate, render, route, search_page

DECLINES = {
    "pm_card_chargeDeclined": ("generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
}


def create_charge(
    ctx: Ctx,
    *,
    customer: str,
    amount: int,
    currency: str,
    description: str | None,
    payment_method: str,
) -> dict[str, Any]:
    """A card charge; failed when ``payment_method`` is one of Stripe's decline test tokens."""
    decline = DECLINES.get(payment_method)
    succeeded = decline is None
    now = ctx.now()
    charge: dict[str, Any] = {
        "id": ctx.store.new_id("ch"),
        "object": "charge",
        "amount": amount,
        "amount_captured": amount if succeeded else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": ctx.store.new_id("txn") if succeeded else None,
        "billing_details": {
            "address": None,
            "email": None,
            "name": None,
            "phone": None,
            "tax_id": None,
        },
        "calculated_statement_descriptor": "METERHOUSE",
        "captured": succeeded,
        "created": now,
        "currency": currency,
        "customer": customer,
        "description": description,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None if succeeded else "card_declined",
        "failure_message": None if succeeded else decline[1],  # type: ignore[index]
        "fraud_details": {},
        "livemode": False,
        "metadata": {},
        "on_behalf_of": None,
        "outcome": {
            "network_status": "approved_by_network" if succeeded else "declined_by_network",
            "reason": None if succeeded else decline[0],  # type: ignore[index]
            "risk_level": "normal",
            "seller_message": "Payment complete."
            if succeeded
            else "The bank did not return any further details with this decline.",
            "type": "authorized" if succeeded else "issuer_declined",
        },
        "paid": succeeded,
        "payment_intent": None,
        "payment_method": payment_method,
        "payment_method_details": {
            "card": {
                "brand": "visa",
                "country": "US",
                "exp_month": 12,
                "exp_year": 2034,
                "funding": "credit",
                "last4": "0002" if not succeeded else "4242",
            },
            "type": "card",
        },
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded" if succeeded else "failed",
        "transfer_data": None,
        "transfer_group": None,
    }
    ctx.store.put("charge", charge)
    ctx.emit("charge.succeeded" if succeeded else "charge.failed", "charge", charge)
    return charge


def create_invoice_payment(
    ctx: Ctx, invoice: dict[str, Any], charge: dict[str, Any] | None, amount: int
) -> dict[str, Any]:
    now = ctx.now()
    obj = {
        "id": ctx.store.new_id("inpay"),
        "object": "invoice_payment",
        "amount_paid": amount,
        "amount_requested": amount,
        "created": now,
        "currency": invoice["currency"],
        "invoice": invoice["id"],
        "is_default": True,
        "livemode": False,
        "payment": {"charge": charge["id"], "type": "charge"}
        if charge
        else {"type": "out_of_band"},
        "status": "paid",
        "status_transitions": {"canceled_at": None, "paid_at": now},
    }
    ctx.store.put("invoice_payment", obj)
    return obj


def create_refund(
    ctx: Ctx,
    charge_id: Any,
    amount: int | None,
    *,
    reason: str | None = None,
    metadata: Any = None,
    param: str = "charge",
) -> dict[str, Any]:
    """Refund (part of) a charge; shared by ``POST /v1/refunds`` and credit notes."""
    charge = ctx.store.require("charge", charge_id, param=param)
    if charge["status"] != "succeeded":
        raise invalid(
            f"Charge {charge['id']} has not succeeded and cannot be refunded.", param=param
        )
    left = charge["amount"] - charge["amount_refunded"]
    if left <= 0:
        raise invalid(
            f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
        )
    amount = left if amount is None else amount
    if amount <= 0:
        raise invalid("Refund amount must be positive.", param="amount")
    if amount > left:
        raise invalid(
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
            param="amount",
            code="amount_too_large",
        )
    if reason not in (None, "duplicate", "fraudulent", "requested_by_customer"):
        raise invalid(f"Invalid reason: {reason}", param="reason")
    refund = {
        "id": ctx.store.new_id("re"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": ctx.store.new_id("txn"),
        "charge": charge["id"],
        "created": ctx.now(),
        "currency": charge["currency"],
        "destination_details": {
            "card": {
                "reference_status": "pending",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        },
        "metadata": apply_metadata({}, metadata),
        "payment_intent": charge["payment_intent"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
    ctx.store.put("refund", refund)
    before = dict(charge)
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    ctx.store.put("charge", charge)
    ctx.emit("refund.created", "refund", refund)
    ctx.emit("charge.refunded", "charge", charge, previous=before)
    return refund


# --- charges ------------------------------------------------------------------------------


@route("GET", "/v1/charges/{id}")
def retrieve_charge(ctx: Ctx, id: str) -> dict[str, Any]:
    return render(ctx.store, "charge", ctx.store.require("charge", id))


@route("POST", "/v1/charges/{id}")
def update_charge(ctx: Ctx, id: str) -> dict[str, Any]:
    reject_unknown(ctx.params, {"metadata", "description"})
    charge = ctx.store.require("charge", id)
    before = dict(charge)
    if "description" in ctx.params:
        charge["description"] = optional_str(ctx.params, "description")
    charge["metadata"] = apply_metadata(charge["metadata"], ctx.params.get("metadata"))
    ctx.store.put("charge", charge)
    ctx.emit("charge.updated", "charge", charge, previous=before)
    return render(ctx.store, "charge", charge)


@route("GET", "/v1/charges")
def list_charges(ctx: Ctx) -> dict[str, Any]:
    objs = ctx.store.all("charge")
    if ctx.params.get("customer"):
        objs = [o for o in objs if o["customer"] == ctx.params["customer"]]
    objs = filter_created(objs, ctx.params.get("created"))
    return paginate(ctx, "charge", objs, "/v1/charges")


@route("GET", "/v1/charges/search")
def search_charges(ctx: Ctx) -> dict[str, Any]:
    return search_page(ctx, "charge", ctx.store.all("charge"), "/v1/charges/search")


# --- refunds ------------------------------------------------------------------------------


@route("POST", "/v1/refunds")
def post_refund(ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    reject_unknown(p, {"charge", "amount", "reason", "metadata", "payment_intent"})
    if p.get("payment_intent"):
        raise invalid(
            "The emulator does not support PaymentIntents; pass charge.", param="payment_intent"
        )
    amount = as_int(p["amount"], "amount") if p.get("amount") not in (None, "") else None
    refund = create_refund(
        ctx,
        require(p, "charge"),
        amount,
        reason=optional_str(p, "reason"),
        metadata=p.get("metadata"),
    )
    return render(ctx.store, "refund", refund)


@route("GET", "/v1/refunds/{id}")
def retrieve_refund(ctx: Ctx, id: str) -> dict[str, Any]:
    return render(ctx.store, "refund", ctx.store.require("refund", id))


@route("POST", "/v1/refunds/{id}")
def update_refund(ctx: Ctx, id: str) -> dict[str, Any]:
    reject_unknown(ctx.params, {"metadata"})
    refund = ctx.store.require("refund", id)
    before = dict(refund)
    refund["metadata"] = apply_metadata(refund["metadata"], ctx.params.get("metadata"))
    ctx.store.put("refund", refund)
    ctx.emit("refund.updated", "refund", refund, previous=before)
    return render(ctx.store, "refund", refund)


@route("GET", "/v1/refunds")
def list_refunds(ctx: Ctx) -> dict[str, Any]:
    objs = ctx.store.all("refund")
    if ctx.params.get("charge"):
        objs = [o for o in objs if o["charge"] == ctx.params["charge"]]
    objs = filter_created(objs, ctx.params.get("created"))
    return paginate(ctx, "refund", objs, "/v1/refunds")


# --- invoice payments ---------------------------------------------------------------------


@route("GET", "/v1/invoice_payments")
def list_invoice_payments(ctx: Ctx) -> dict[str, Any]:
    objs = ctx.store.all("invoice_payment")
    if ctx.params.get("invoice"):
        objs = [o for o in objs if o["invoice"] == ctx.params["invoice"]]
    return paginate(ctx, "invoice_payment", objs, "/v1/invoice_payments")


@route("GET", "/v1/invoice_payments/{id}")
def retrieve_invoice_payment(ctx: Ctx, id: str) -> dict[str, Any]:
    return render(ctx.store, "invoice_payment", ctx.store.require("invoice_payment", id))
