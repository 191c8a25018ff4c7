"""Invoices, invoice items and invoice lines.

**Invoice items** (``ii_``): ``customer`` (or taken from ``invoice``), and exactly one way to
price them: ``amount`` (the total, may be negative), ``pricing[price]`` with ``quantity``,
``price_data[currency|product|unit_amount(_decimal)]`` or ``unit_amount_decimal``.
``amount = unit_amount_decimal * quantity`` rounded half-up to an integer (Decimal, never
float). An item with ``invoice`` joins that draft; one without is *pending* and only joins a
new invoice created with ``pending_invoice_items_behavior=include`` (the default is
``exclude``, as in current API versions). Items can be updated or deleted while pending or
on a draft.

**Invoices** (``in_``) and their lifecycle:

* ``draft``: created with ``customer``, ``currency`` (default: the customer's, else ``usd``),
  ``auto_advance`` (stored; the emulator never auto-finalizes), ``collection_method``,
  ``days_until_due``, ``description``, ``metadata``. Lines come from invoice items attached to
  it, or from ``POST /v1/invoices/{id}/add_lines`` (which creates such items).
* ``finalize`` -> ``open``: assigns ``number`` (``<customer.invoice_prefix>-0001``), applies
  the customer credit balance (``starting_balance``/``ending_balance``; ``amount_due =
  max(0, total + starting_balance)``), sets ``status_transitions.finalized_at``. An invoice
  with nothing to pay is marked ``paid`` at once, as Stripe does.
* ``pay`` -> ``paid``: drafts are finalized first; creates a succeeded charge (``ch_``) and an
  invoice payment (``inpay_``) for ``amount_remaining``; ``paid_out_of_band=true`` pays without
  a charge; Stripe's decline test tokens give a 402 ``card_error`` (the failed charge and the
  attempt are kept, and the 402 is stored under the idempotency key).
* ``void`` (open/uncollectible -> ``void``), ``mark_uncollectible`` (open -> ``uncollectible``),
  ``DELETE`` (drafts only). Anything else is a 400, e.g. finalizing a paid invoice or adding
  lines to a finalized one (``invoice_not_editable``).

Totals: no tax, discounts or shipping, so ``subtotal == total`` = sum of line amounts;
``amount_remaining = amount_due - amount_paid``; pre-payment credit notes lower
``amount_due`` (see ``credit_notes``). ``lines`` is embedded (first 10, oldest first,
``has_more``, ``total_count``) and paged through ``GET /v1/invoices/{id}/lines``.
Not emulated: subscriptions' automatic invoices, tax, discounts, ``remove_lines``,
``update_lines``, upcoming invoices, revisions, ``send``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ..errors import ApiError, invalid
from ..forms import (
    as_bool,
    as_decimal,
    as_dict,
    as_int,
    as_list,
    optional_str,
    reject_unknown,
    require,
)
from ..store import Obj, Store
from .base import (
    Ctx,
    amount_currency,
    apply_metadata,
    embedded_list,
    filter_created,
    paginate,
    render,
    renderer,
    route,
    search_page,
)
from .payments import DECLINES, create_charge, create_invoice_payment

DAY = 86_400
_ITEM_FIELDS = {
    "amount",
    "currency",
    "customer",
    "description",
    "discountable",
    "invoice",
    "metadata",
    "period",
    "price_data",
    "pricing",
    "quantity",
    "unit_amount_decimal",
    "subscription",
    "tax_behavior",
}
_LINE_FIELDS = {
    "amount",
    "description",
    "discountable",
    "metadata",
    "period",
    "price_data",
    "pricing",
    "quantity",
    "tax_rates",
}


def not_editable(inv: Obj) -> ApiError:
    return invalid(
        f"This invoice is no longer editable: '{inv['id']}' has status {inv['status']}; "
        "only draft invoices can be changed.",
        code="invoice_not_editable",
    )


# --- invoice items ------------------------------------------------------------------------


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _decimal_str(value: Decimal) -> str:
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def price_line(ctx: Ctx, p: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Resolve the amount, quantity, currency and pricing of an item or an added line."""
    ways = [
        k
        for k in ("amount", "pricing", "price_data", "unit_amount_decimal")
        if p.get(k) not in (None, "")
    ]
    if not ways:
        raise invalid(
            "Missing required param: amount (or pricing[price], price_data, unit_amount_decimal).",
            param=f"{prefix}amount",
            code="parameter_missing",
        )
    if len(ways) > 1:
        raise invalid(
            f"You may only specify one of these parameters: {', '.join(ways)}.",
            param=f"{prefix}{ways[1]}",
        )
    quantity = as_int(p.get("quantity", 1), f"{prefix}quantity", minimum=0)
    price_id = product_id = currency = None
    how = ways[0]
    if how == "amount":
        if quantity != 1:
            raise invalid(
                "quantity cannot be combined with amount (amount is the line total); "
                "use unit_amount_decimal or pricing[price].",
                param=f"{prefix}quantity",
            )
        amount = as_int(p["amount"], f"{prefix}amount")
        unit = Decimal(amount)
    elif how == "pricing":
        pricing = as_dict(p["pricing"], f"{prefix}pricing")
        price = ctx.store.require(
            "price", require(pricing, "price", f"{prefix}pricing["), f"{prefix}pricing[price]"
        )
        price_id, product_id, currency = price["id"], price["product"], price["currency"]
        unit = Decimal(price["unit_amount_decimal"])
        amount = _round(unit * quantity)
    elif how == "price_data":
        data = as_dict(p["price_data"], f"{prefix}price_data")
        currency = amount_currency(
            require(data, "currency", f"{prefix}price_data["), f"{prefix}price_data[currency]"
        )
        product_id = ctx.store.require(
            "product",
            require(data, "product", f"{prefix}price_data["),
            f"{prefix}price_data[product]",
        )["id"]
        if data.get("unit_amount") not in (None, ""):
            unit = Decimal(
                as_int(data["unit_amount"], f"{prefix}price_data[unit_amount]", minimum=0)
            )
        else:
            unit = as_decimal(
                require(data, "unit_amount_decimal", f"{prefix}price_data["),
                f"{prefix}price_data[unit_amount_decimal]",
            )
        amount = _round(unit * quantity)
    else:
        unit = as_decimal(p["unit_amount_decimal"], f"{prefix}unit_amount_decimal")
        amount = _round(unit * quantity)
    pricing_out = {
        "price_details": {"price": price_id, "product": product_id}
        if price_id or product_id
        else None,
        "type": "price_details",
        "unit_amount_decimal": _decimal_str(unit),
    }
    return {"amount": amount, "quantity": quantity, "currency": currency, "pricing": pricing_out}


def _period(ctx: Ctx, value: Any, prefix: str) -> dict[str, int]:
    now = ctx.now()
    if not value:
        return {"start": now, "end": now}
    period = as_dict(value, f"{prefix}period")
    start = as_int(require(period, "start", f"{prefix}period["), f"{prefix}period[start]")
    end = as_int(require(period, "end", f"{prefix}period["), f"{prefix}period[end]")
    if end < start:
        raise invalid(
            "period[end] must be on or after period[start].", param=f"{prefix}period[end]"
        )
    return {"start": start, "end": end}


def new_item(
    ctx: Ctx, p: dict[str, Any], customer: Obj, invoice: Obj | None, prefix: str = ""
) -> Obj:
    """Create an invoice item (pending when ``invoice`` is None) and emit ``invoiceitem.created``."""
    priced = price_line(ctx, p, prefix)
    currency = priced["currency"]
    if p.get("currency") not in (None, ""):
        given = amount_currency(p["currency"], f"{prefix}currency")
        if currency and given != currency:
            raise invalid(
                "The currency must match the price's currency.", param=f"{prefix}currency"
            )
        currency = given
    if invoice is not None:
        if currency and currency != invoice["currency"]:
            raise invalid(
                f"The currency of the invoice item ({currency}) must match the invoice's "
                f"currency ({invoice['currency']}).",
                param=f"{prefix}currency",
            )
        currency = invoice["currency"]
    currency = currency or customer.get("currency")
    if not currency:
        raise invalid(
            "Missing required param: currency.", param=f"{prefix}currency", code="parameter_missing"
        )
    now = ctx.now()
    item: Obj = {
        "id": ctx.store.new_id("ii"),
        "object": "invoiceitem",
        "amount": priced["amount"],
        "currency": currency,
        "customer": customer["id"],
        "customer_account": None,
        "date": now,
        "created": now,
        "description": optional_str(p, "description"),
        "discountable": as_bool(p.get("discountable", "true"), f"{prefix}discountable"),
        "discounts": [],
        "invoice": invoice["id"] if invoice else None,
        "livemode": False,
        "metadata": apply_metadata({}, p.get("metadata"), f"{prefix}metadata"),
        "net_amount": priced["amount"],
        "parent": None,
        "period": _period(ctx, p.get("period"), prefix),
        "pricing": priced["pricing"],
        "proration": False,
        "proration_details": {"credited_items": None},
        "quantity": priced["quantity"],
        "quantity_decimal": str(priced["quantity"]),
        "tax_rates": [],
        "test_clock": None,
        "_line_id": ctx.store.new_id("il") if invoice else None,
    }
    ctx.store.put("invoiceitem", item)
    ctx.emit("invoiceitem.created", "invoiceitem", item)
    return item


@renderer("invoiceitem")
def _render_item(store: Store, obj: Obj) -> Obj:
    obj.pop("created", None)  # invoice items expose ``date``, not ``created``
    return obj


def line_from_item(item: Obj) -> Obj:
    """The ``line_item`` an invoice item becomes on its invoice."""
    return {
        "id": item["_line_id"],
        "object": "line_item",
        "amount": item["amount"],
        "currency": item["currency"],
        "description": item["description"],
        "discount_amounts": [],
        "discountable": item["discountable"],
        "discounts": [],
        "invoice": item["invoice"],
        "livemode": False,
        "metadata": dict(item["metadata"]),
        "parent": {
            "invoice_item_details": {
                "invoice_item": item["id"],
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": None,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        },
        "period": dict(item["period"]),
        "pretax_credit_amounts": [],
        "pricing": item["pricing"],
        "quantity": item["quantity"],
        "quantity_decimal": item["quantity_decimal"],
        "subscription": None,
        "subtotal": item["amount"],
        "taxes": [],
        "_seq": item["_seq"],
    }


def invoice_items(store: Store, invoice_id: str) -> list[Obj]:
    return [i for i in store.find("invoiceitem", "invoice", invoice_id) if not i.get("_deleted")]


def invoice_lines(store: Store, invoice_id: str) -> list[Obj]:
    return [line_from_item(i) for i in invoice_items(store, invoice_id)]


def _item_editable(ctx: Ctx, item: Obj) -> None:
    if item["invoice"]:
        inv = ctx.store.require("invoice", item["invoice"])
        if inv["status"] != "draft":
            raise not_editable(inv)


@route("POST", "/v1/invoiceitems")
def create_invoice_item(ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    reject_unknown(p, _ITEM_FIELDS)
    invoice = None
    if p.get("invoice"):
        invoice = ctx.store.require("invoice", p["invoice"], param="invoice")
        if invoice["status"] != "draft":
            raise not_editable(invoice)
    if p.get("customer"):
        customer = ctx.store.require("customer", p["customer"], param="customer")
        if invoice and invoice["customer"] != customer["id"]:
            raise invalid("The invoice belongs to another customer.", param="invoice")
    elif invoice:
        customer = ctx.store.require("customer", invoice["customer"], param="invoice")
    else:
        raise invalid(
            "Missing required param: customer.", param="customer", code="parameter_missing"
        )
    item = new_item(ctx, p, customer, invoice)
    return render(ctx.store, "invoiceitem", item)


@route("GET", "/v1/invoiceitems/{id}")
def retrieve_invoice_item(ctx: Ctx, id: str) -> dict[str, Any]:
    obj = ctx.store.require("invoiceitem", id)  # deleted ones are gone (404)
    return render(ctx.store, "invoiceitem", obj)


@route("POST", "/v1/invoiceitems/{id}")
def update_invoice_item(ctx: Ctx, id: str) -> dict[str, Any]:
    p = ctx.params
    reject_unknown(p, _ITEM_FIELDS - {"customer", "invoice", "currency", "subscription"})
    item = ctx.store.require("invoiceitem", id)
    _item_editable(ctx, item)
    before = dict(item)
    if any(
        p.get(k) not in (None, "")
        for k in ("amount", "pricing", "price_data", "unit_amount_decimal")
    ):
        priced = price_line(ctx, p)
        if priced["currency"] and priced["currency"] != item["currency"]:
            raise invalid("An invoice item's currency cannot change.", param="pricing")
        item.update(
            amount=priced["amount"],
            net_amount=priced["amount"],
            quantity=priced["quantity"],
            quantity_decimal=str(priced["quantity"]),
            pricing=priced["pricing"],
        )
    elif "quantity" in p:
        quantity = as_int(p["quantity"], "quantity", minimum=0)
        unit = Decimal(item["pricing"]["unit_amount_decimal"])
        if item["pricing"]["price_details"] is None and quantity != 1:
            raise invalid("quantity cannot change on an item priced by amount.", param="quantity")
        item.update(
            quantity=quantity, quantity_decimal=str(quantity), amount=_round(unit * quantity)
        )
        item["net_amount"] = item["amount"]
    if "description" in p:
        item["description"] = optional_str(p, "description")
    if "discountable" in p:
        item["discountable"] = as_bool(p["discountable"], "discountable")
    if "period" in p:
        item["period"] = _period(ctx, p["period"], "")
    item["metadata"] = apply_metadata(item["metadata"], p.get("metadata"))
    ctx.store.put("invoiceitem", item)
    ctx.emit("invoiceitem.updated", "invoiceitem", item, previous=before)
    return render(ctx.store, "invoiceitem", item)


@route("DELETE", "/v1/invoiceitems/{id}")
def delete_invoice_item(ctx: Ctx, id: str) -> dict[str, Any]:
    item = ctx.store.require("invoiceitem", id)
    _item_editable(ctx, item)
    ctx.emit("invoiceitem.deleted", "invoiceitem", item)
    item["_deleted"] = True
    ctx.store.put("invoiceitem", item)
    return {"id": id, "object": "invoiceitem", "deleted": True}


@route("GET", "/v1/invoiceitems")
def list_invoice_items(ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    objs = [o for o in ctx.store.all("invoiceitem") if not o.get("_deleted")]
    if p.get("customer"):
        objs = [o for o in objs if o["customer"] == p["customer"]]
    if p.get("invoice"):
        objs = [o for o in objs if o["invoice"] == p["invoice"]]
    if p.get("pending") not in (None, ""):
        pending = as_bool(p["pending"], "pending")
        objs = [o for o in objs if (o["invoice"] is None) == pending]
    objs = filter_created(objs, p.get("created"))
    return paginate(ctx, "invoiceitem", objs, "/v1/invoiceitems")


# --- invoices -----------------------------------------------------------------------------


def recompute(store: Store, inv: Obj) -> Obj:
    """Refresh the derived amounts of an invoice from its lines and payments."""
    subtotal = sum(i["amount"] for i in invoice_items(store, inv["id"]))
    inv["subtotal"] = inv["subtotal_excluding_tax"] = subtotal
    inv["total"] = inv["total_excluding_tax"] = subtotal
    if inv["status"] == "draft":
        inv["amount_due"] = max(0, subtotal)
    else:
        inv["amount_due"] = inv["_base_due"] - inv["pre_payment_credit_notes_amount"]
    inv["amount_remaining"] = max(0, inv["amount_due"] - inv["amount_paid"])
    return inv


@renderer("invoice")
def _render_invoice(store: Store, inv: Obj) -> Obj:
    recompute(store, inv)
    inv["lines"] = embedded_list(
        store, "line_item", invoice_lines(store, inv["id"]), f"/v1/invoices/{inv['id']}/lines"
    )
    return inv


def _invoice_or_404(ctx: Ctx, inv_id: str) -> Obj:
    return recompute(ctx.store, ctx.store.require("invoice", inv_id))


@route("POST", "/v1/invoices")
def create_invoice(ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    reject_unknown(
        p,
        {
            "customer",
            "auto_advance",
            "collection_method",
            "currency",
            "days_until_due",
            "due_date",
            "description",
            "footer",
            "metadata",
            "pending_invoice_items_behavior",
            "statement_descriptor",
            "subscription",
        },
    )
    customer = ctx.store.require("customer", require(p, "customer"), param="customer")
    currency = (
        amount_currency(p["currency"]) if p.get("currency") else (customer.get("currency") or "usd")
    )
    collection_method = p.get("collection_method") or "charge_automatically"
    if collection_method not in ("charge_automatically", "send_invoice"):
        raise invalid(f"Invalid collection_method: {collection_method}", param="collection_method")
    days_until_due = (
        as_int(p["days_until_due"], "days_until_due", minimum=0)
        if p.get("days_until_due")
        else None
    )
    due_date = as_int(p["due_date"], "due_date") if p.get("due_date") else None
    if collection_method == "send_invoice" and days_until_due is None and due_date is None:
        raise invalid(
            "Missing required param: days_until_due (or due_date) for send_invoice invoices.",
            param="days_until_due",
            code="parameter_missing",
        )
    if collection_method == "charge_automatically" and (
        days_until_due is not None or due_date is not None
    ):
        raise invalid(
            "days_until_due and due_date only apply to send_invoice invoices.",
            param="days_until_due",
        )
    behavior = p.get("pending_invoice_items_behavior") or "exclude"
    if behavior not in ("include", "exclude"):
        raise invalid(
            f"Invalid pending_invoice_items_behavior: {behavior}",
            param="pending_invoice_items_behavior",
        )
    parent = None
    if p.get("subscription"):
        sub = ctx.store.require("subscription", p["subscription"], param="subscription")
        parent = {
            "quote_details": None,
            "subscription_details": {
                "metadata": sub["metadata"],
                "subscription": sub["id"],
                "subscription_proration_date": None,
            },
            "type": "subscription_details",
        }
    now = ctx.now()
    inv: Obj = {
        "id": ctx.store.new_id("in"),
        "object": "invoice",
        "account_country": "US",
        "account_name": "Meterhouse (Stripe emulator)",
        "account_tax_ids": None,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_paid_off_stripe": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": as_bool(p.get("auto_advance", "false"), "auto_advance"),
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": "subscription" if parent else "manual",
        "collection_method": collection_method,
        "confirmation_secret": None,
        "created": now,
        "currency": currency,
        "custom_fields": None,
        "customer": customer["id"],
        "customer_account": None,
        "customer_address": customer.get("address"),
        "customer_email": customer.get("email"),
        "customer_name": customer.get("name"),
        "customer_phone": customer.get("phone"),
        "customer_shipping": customer.get("shipping"),
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": optional_str(p, "description"),
        "discounts": [],
        "due_date": due_date,
        "effective_at": None,
        "ending_balance": None,
        "footer": optional_str(p, "footer"),
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "livemode": False,
        "metadata": apply_metadata({}, p.get("metadata")),
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": parent,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": now,
        "period_start": now,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": optional_str(p, "statement_descriptor"),
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "test_clock": None,
        "threshold_reason": None,
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
        "_days_until_due": days_until_due,
        "_base_due": 0,
    }
    ctx.store.put("invoice", inv)
    if behavior == "include":
        for item in ctx.store.all("invoiceitem"):
            if (
                item["customer"] == customer["id"]
                and item["invoice"] is None
                and not item.get("_deleted")
                and item["currency"] == currency
            ):
                attached = ctx.store.require("invoiceitem", item["id"])
                attached["invoice"] = inv["id"]
                attached["_line_id"] = ctx.store.new_id("il")
                ctx.store.put("invoiceitem", attached)
    ctx.emit("invoice.created", "invoice", inv)
    return render(ctx.store, "invoice", inv)


@route("GET", "/v1/invoices/{id}")
def retrieve_invoice(ctx: Ctx, id: str) -> dict[str, Any]:
    obj = ctx.store.require("invoice", id)  # deleted ones are gone (404)
    return render(ctx.store, "invoice", obj)


_ALWAYS_EDITABLE = {"metadata", "description", "footer", "auto_advance", "statement_descriptor"}


@route("POST", "/v1/invoices/{id}")
def update_invoice(ctx: Ctx, id: str) -> dict[str, Any]:
    p = ctx.params
    reject_unknown(
        p, _ALWAYS_EDITABLE | {"collection_method", "days_until_due", "due_date", "currency"}
    )
    inv = _invoice_or_404(ctx, id)
    if inv["status"] != "draft" and set(p) - _ALWAYS_EDITABLE - {"expand"}:
        raise not_editable(inv)
    if inv["status"] == "void" and set(p) - {"metadata", "expand"}:
        raise not_editable(inv)
    before = dict(inv)
    for name in ("description", "footer", "statement_descriptor"):
        if name in p:
            inv[name] = optional_str(p, name)
    if "auto_advance" in p:
        inv["auto_advance"] = as_bool(p["auto_advance"], "auto_advance")
    if "collection_method" in p:
        inv["collection_method"] = p["collection_method"]
    if "days_until_due" in p:
        inv["_days_until_due"] = as_int(p["days_until_due"], "days_until_due", minimum=0)
    if "due_date" in p:
        inv["due_date"] = as_int(p["due_date"], "due_date")
    if "currency" in p:
        if invoice_items(ctx.store, id):
            raise invalid("The currency of an invoice with lines cannot change.", param="currency")
        inv["currency"] = amount_currency(p["currency"])
    inv["metadata"] = apply_metadata(inv["metadata"], p.get("metadata"))
    ctx.store.put("invoice", inv)
    ctx.emit("invoice.updated", "invoice", inv, previous=before)
    return render(ctx.store, "invoice", inv)


@route("DELETE", "/v1/invoices/{id}")
def delete_invoice(ctx: Ctx, id: str) -> dict[str, Any]:
    inv = _invoice_or_404(ctx, id)
    if inv["status"] != "draft":
        raise invalid(
            "You can only delete draft invoices. Void an open invoice instead.",
            code="invoice_not_editable",
        )
    ctx.emit("invoice.deleted", "invoice", inv)
    for item in invoice_items(ctx.store, id):
        gone = ctx.store.require("invoiceitem", item["id"])
        gone["_deleted"] = True
        ctx.store.put("invoiceitem", gone)
    inv["_deleted"] = True
    ctx.store.put("invoice", inv)
    return {"id": id, "object": "invoice", "deleted": True}


@route("POST", "/v1/invoices/{id}/add_lines")
def add_lines(ctx: Ctx, id: str) -> dict[str, Any]:
    p = ctx.params
    reject_unknown(p, {"lines", "invoice_metadata"})
    inv = _invoice_or_404(ctx, id)
    if inv["status"] != "draft":
        raise not_editable(inv)
    before = render(ctx.store, "invoice", inv)
    customer = ctx.store.require("customer", inv["customer"])
    lines = as_list(require(p, "lines"), "lines")
    for n, raw in enumerate(lines):
        line = as_dict(raw, f"lines[{n}]")
        reject_unknown(line, _LINE_FIELDS)
        new_item(ctx, line, customer, inv, prefix=f"lines[{n}][")
    if "invoice_metadata" in p:
        inv["metadata"] = apply_metadata(inv["metadata"], p["invoice_metadata"], "invoice_metadata")
    ctx.store.put("invoice", inv)
    ctx.emit("invoice.updated", "invoice", inv, previous_rendered=before)
    return render(ctx.store, "invoice", inv)


@route("GET", "/v1/invoices/{id}/lines")
def list_lines(ctx: Ctx, id: str) -> dict[str, Any]:
    ctx.store.require("invoice", id)
    return paginate(
        ctx,
        "line_item",
        invoice_lines(ctx.store, id),
        f"/v1/invoices/{id}/lines",
        newest_first=False,
    )


def finalize(ctx: Ctx, inv: Obj) -> Obj:
    """draft -> open (or paid when nothing is due); number, balance, transitions, events."""
    if inv["status"] != "draft":
        raise invalid(
            f"This invoice is already finalized, you can't re-finalize a non-draft invoice "
            f"(status: {inv['status']}).",
        )
    customer = ctx.store.require("customer", inv["customer"])
    now = ctx.now()
    recompute(ctx.store, inv)
    total = inv["total"]
    starting = int(customer["balance"])
    base_due = max(0, total + starting)
    ending = starting + total - base_due
    inv.update(
        number=f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}",
        status="open",
        starting_balance=starting,
        ending_balance=ending,
        effective_at=now,
        customer_email=customer.get("email"),
        customer_name=customer.get("name"),
        hosted_invoice_url=f"https://invoice.stripe.com/i/emulator/{inv['id']}",
        invoice_pdf=f"https://pay.stripe.com/invoice/emulator/{inv['id']}/pdf",
        _base_due=base_due,
    )
    inv["status_transitions"]["finalized_at"] = now
    if inv["collection_method"] == "send_invoice" and inv["due_date"] is None:
        inv["due_date"] = now + DAY * int(inv["_days_until_due"] or 0)
    customer_before = dict(customer)
    customer["next_invoice_sequence"] += 1
    customer["balance"] = ending
    ctx.store.put("customer", customer)
    if ending != starting:
        ctx.emit("customer.updated", "customer", customer, previous=customer_before)
    recompute(ctx.store, inv)
    ctx.store.put("invoice", inv)
    ctx.emit("invoice.finalized", "invoice", inv)
    if inv["amount_remaining"] == 0:
        mark_paid(ctx, inv)
    return inv


def mark_paid(ctx: Ctx, inv: Obj) -> None:
    now = ctx.now()
    inv["status"] = "paid"
    inv["status_transitions"]["paid_at"] = now
    recompute(ctx.store, inv)
    ctx.store.put("invoice", inv)
    ctx.emit("invoice.paid", "invoice", inv)
    ctx.emit("invoice.payment_succeeded", "invoice", inv)


@route("POST", "/v1/invoices/{id}/finalize")
def finalize_invoice(ctx: Ctx, id: str) -> dict[str, Any]:
    reject_unknown(ctx.params, {"auto_advance"})
    inv = _invoice_or_404(ctx, id)
    if "auto_advance" in ctx.params:
        inv["auto_advance"] = as_bool(ctx.params["auto_advance"], "auto_advance")
    finalize(ctx, inv)
    return render(ctx.store, "invoice", inv)


@route("POST", "/v1/invoices/{id}/pay")
def pay_invoice(ctx: Ctx, id: str) -> dict[str, Any]:
    p = ctx.params
    reject_unknown(
        p, {"paid_out_of_band", "payment_method", "forgive", "off_session", "source", "mandate"}
    )
    inv = _invoice_or_404(ctx, id)
    if inv["status"] == "paid":
        raise invalid("Invoice is already paid.")
    if inv["status"] == "void":
        raise invalid("You cannot pay a voided invoice.")
    out_of_band = as_bool(p.get("paid_out_of_band", "false"), "paid_out_of_band")
    payment_method = optional_str(p, "payment_method") or "pm_card_visa"
    if inv["status"] == "draft":
        finalize(ctx, inv)
        if inv["status"] == "paid":
            return render(ctx.store, "invoice", inv)
    amount = inv["amount_remaining"]
    charge = None
    if not out_of_band:
        charge = create_charge(
            ctx,
            customer=inv["customer"],
            amount=amount,
            currency=inv["currency"],
            description=f"Payment for Invoice {inv['number']}",
            payment_method=payment_method,
        )
        inv["attempt_count"] += 1
        inv["attempted"] = True
        if charge["status"] == "failed":
            ctx.store.put("invoice", inv)
            ctx.emit("invoice.payment_failed", "invoice", inv)
            decline_code, message = DECLINES[payment_method]
            raise ApiError(
                402,
                message,
                type="card_error",
                code="card_declined",
                extra={"decline_code": decline_code, "charge": charge["id"]},
                commit=True,
            )
    else:
        inv["amount_paid_off_stripe"] += amount
    create_invoice_payment(ctx, inv, charge, amount)
    inv["amount_paid"] += amount
    ctx.store.put("invoice", inv)
    mark_paid(ctx, inv)
    return render(ctx.store, "invoice", inv)


@route("POST", "/v1/invoices/{id}/void")
def void_invoice(ctx: Ctx, id: str) -> dict[str, Any]:
    inv = _invoice_or_404(ctx, id)
    if inv["status"] not in ("open", "uncollectible"):
        raise invalid(
            f"You can only void open or uncollectible invoices; this one is {inv['status']}."
        )
    inv["status"] = "void"
    inv["status_transitions"]["voided_at"] = ctx.now()
    ctx.store.put("invoice", inv)
    ctx.emit("invoice.voided", "invoice", inv)
    return render(ctx.store, "invoice", inv)


@route("POST", "/v1/invoices/{id}/mark_uncollectible")
def mark_uncollectible(ctx: Ctx, id: str) -> dict[str, Any]:
    inv = _invoice_or_404(ctx, id)
    if inv["status"] != "open":
        raise invalid(
            f"You can only mark open invoices as uncollectible; this one is {inv['status']}."
        )
    inv["status"] = "uncollectible"
    inv["status_transitions"]["marked_uncollectible_at"] = ctx.now()
    ctx.store.put("invoice", inv)
    ctx.emit("invoice.marked_uncollectible", "invoice", inv)
    return render(ctx.store, "invoice", inv)


@route("GET", "/v1/invoices")
def list_invoices(ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    objs = [o for o in ctx.store.all("invoice") if not o.get("_deleted")]
    if p.get("customer"):
        objs = [o for o in objs if o["customer"] == p["customer"]]
    if p.get("status"):
        if p["status"] not in ("draft", "open", "paid", "uncollectible", "void"):
            raise invalid(f"Invalid status: {p['status']}", param="status")
        objs = [o for o in objs if o["status"] == p["status"]]
    if p.get("collection_method"):
        objs = [o for o in objs if o["collection_method"] == p["collection_method"]]
    if p.get("subscription"):
        objs = [
            o
            for o in objs
            if (o.get("parent") or {}).get("subscription_details", {}).get("subscription")
            == p["subscription"]
        ]
    objs = filter_created(objs, p.get("created"))
    return paginate(ctx, "invoice", objs, "/v1/invoices")


@route("GET", "/v1/invoices/search")
def search_invoices(ctx: Ctx) -> dict[str, Any]:
    return search_page(ctx, "invoice", ctx.store.all("invoice"), "/v1/invoices/search")
