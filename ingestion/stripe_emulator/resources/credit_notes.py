"""Credit notes: create against a finalized invoice, retrieve, update, list, lines, void.

Create with ``invoice`` and either ``lines[n]`` (``type=invoice_line_item`` with
``invoice_line_item`` and optional ``amount`` or ``quantity``, or ``type=custom_line_item`` with
``unit_amount``, ``quantity``, ``description``) or a bare ``amount``; plus ``memo``,
``metadata``, ``reason``. The credit note's ``total`` is the sum of its lines (no tax).

How it changes the invoice (a simple version of Stripe's rules):

* **open / uncollectible invoice -> pre-payment credit note**: ``total`` may not exceed the
  invoice's ``amount_remaining``; ``pre_payment_credit_notes_amount`` grows, ``amount_due``
  and ``amount_remaining`` shrink by ``total``. An invoice credited down to zero is marked
  ``paid`` (``invoice.paid``), as Stripe does.
* **paid invoice -> post-payment credit note**: ``total`` may not exceed ``amount_paid`` minus
  earlier post-payment credit; it is split into ``refund_amount`` (refunds the invoice's
  charge, ``re_``), ``credit_amount`` (lowers ``customer.balance``, i.e. credit applied to the
  next invoice) and ``out_of_band_amount``, which must add up to ``total``; when none is given
  everything goes to ``credit_amount``. ``post_payment_credit_notes_amount`` grows;
  ``amount_due``/``amount_remaining`` do not change.
* A line can be credited at most its amount across all issued credit notes.
* **void**: undoes the above (pre-payment credit only while the invoice is still open or
  uncollectible; credit notes that refunded money cannot be voided).

Not emulated: tax, discounts, shipping, ``refunds[]`` pointing at existing refunds, previews.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..errors import invalid
from ..forms import as_decimal, as_dict, as_int, as_list, optional_str, reject_unknown, require
from ..store import Obj, Store
from .base import (
    Ctx,
    apply_metadata,
    embedded_list,
    filter_created,
    paginate,
    render,
    renderer,
    route,
)
from .invoices import _round, invoice_lines, mark_paid, recompute
from .payments import create_refund

_REASONS = {"duplicate", "fraudulent", "order_change", "product_unsatisfactory"}


def _cn_lines(store: Store, cn_id: str) -> list[Obj]:
    return [o for o in store.all("credit_note_line_item") if o["_credit_note"] == cn_id]


@renderer("credit_note")
def _render_credit_note(store: Store, cn: Obj) -> Obj:
    cn["lines"] = embedded_list(
        store,
        "credit_note_line_item",
        _cn_lines(store, cn["id"]),
        f"/v1/credit_notes/{cn['id']}/lines",
    )
    return cn


@renderer("credit_note_line_item")
def _render_cn_line(store: Store, line: Obj) -> Obj:
    line.pop("created", None)  # kept only to order the lines
    return line


def _credited_per_line(store: Store, invoice_id: str) -> dict[str, int]:
    credited: dict[str, int] = {}
    for cn in store.all("credit_note"):
        if cn["invoice"] != invoice_id or cn["status"] != "issued":
            continue
        for line in _cn_lines(store, cn["id"]):
            if line["invoice_line_item"]:
                credited[line["invoice_line_item"]] = (
                    credited.get(line["invoice_line_item"], 0) + line["amount"]
                )
    return credited


def _build_lines(ctx: Ctx, inv: Obj, raw_lines: list[Any]) -> list[Obj]:
    by_id = {line["id"]: line for line in invoice_lines(ctx.store, inv["id"])}
    credited = _credited_per_line(ctx.store, inv["id"])
    out: list[Obj] = []
    for n, raw in enumerate(raw_lines):
        pre = f"lines[{n}]["
        line = as_dict(raw, f"lines[{n}]")
        kind = require(line, "type", pre)
        quantity = (
            as_int(line["quantity"], f"{pre}quantity]", minimum=1)
            if line.get("quantity") not in (None, "")
            else None
        )
        il_id = None
        if kind == "invoice_line_item":
            il_id = require(line, "invoice_line_item", pre)
            target = by_id.get(il_id)
            if target is None:
                raise invalid(
                    f"No such invoice line item on {inv['id']}: '{il_id}'",
                    param=f"{pre}invoice_line_item]",
                    code="resource_missing",
                )
            unit = Decimal(target["pricing"]["unit_amount_decimal"])
            if line.get("amount") not in (None, ""):
                amount = as_int(line["amount"], f"{pre}amount]")
            elif quantity is not None:
                amount = _round(unit * quantity)
            else:
                amount = target["amount"]
                quantity = target["quantity"]
            if credited.get(il_id, 0) + amount > target["amount"]:
                raise invalid(
                    f"The credit note amount for line {il_id} ({amount}) exceeds what is left "
                    f"to credit on it ({target['amount'] - credited.get(il_id, 0)}).",
                    param=f"{pre}amount]",
                )
            credited[il_id] = credited.get(il_id, 0) + amount
            description = optional_str(line, "description") or target["description"]
        elif kind == "custom_line_item":
            quantity = quantity or 1
            if line.get("unit_amount") not in (None, ""):
                unit = Decimal(as_int(line["unit_amount"], f"{pre}unit_amount]", minimum=0))
            else:
                unit = as_decimal(
                    require(line, "unit_amount_decimal", pre), f"{pre}unit_amount_decimal]"
                )
            amount = _round(unit * quantity)
            description = require(line, "description", pre)
        else:
            raise invalid(f"Invalid type: {kind}", param=f"{pre}type]")
        if amount <= 0:
            raise invalid("Credit note line amounts must be positive.", param=f"{pre}amount]")
        out.append(
            {
                "object": "credit_note_line_item",
                "amount": amount,
                "description": description,
                "discount_amount": 0,
                "discount_amounts": [],
                "invoice_line_item": il_id,
                "livemode": False,
                "metadata": apply_metadata({}, line.get("metadata"), f"{pre}metadata]"),
                "pretax_credit_amounts": [],
                "quantity": quantity,
                "tax_rates": [],
                "taxes": [],
                "type": kind,
                "unit_amount": int(unit) if unit == unit.to_integral_value() else None,
                "unit_amount_decimal": str(unit.normalize())
                if unit != unit.to_integral_value()
                else str(int(unit)),
            }
        )
    return out


def _split_post_payment(ctx: Ctx, p: dict[str, Any], total: int) -> tuple[int, int, int]:
    parts = {
        name: as_int(p[name], name, minimum=0) if p.get(name) not in (None, "") else 0
        for name in ("refund_amount", "credit_amount", "out_of_band_amount")
    }
    if not any(p.get(n) not in (None, "") for n in parts):
        parts["credit_amount"] = total
    if sum(parts.values()) != total:
        raise invalid(
            f"refund_amount + credit_amount + out_of_band_amount ({sum(parts.values())}) must "
            f"equal the credit note total ({total}).",
            param="refund_amount",
        )
    return parts["refund_amount"], parts["credit_amount"], parts["out_of_band_amount"]


@route("POST", "/v1/credit_notes")
def create_credit_note(ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    reject_unknown(
        p,
        {
            "invoice",
            "lines",
            "amount",
            "memo",
            "metadata",
            "reason",
            "refund_amount",
            "credit_amount",
            "out_of_band_amount",
            "effective_at",
        },
    )
    inv = recompute(ctx.store, ctx.store.require("invoice", require(p, "invoice"), param="invoice"))
    if inv["status"] not in ("open", "uncollectible", "paid"):
        raise invalid(
            f"Credit notes can only be issued for open, uncollectible or paid invoices; "
            f"{inv['id']} is {inv['status']}.",
            param="invoice",
        )
    lines = _build_lines(ctx, inv, as_list(p["lines"], "lines")) if p.get("lines") else []
    if lines:
        total = sum(line["amount"] for line in lines)
        if p.get("amount") not in (None, "") and as_int(p["amount"], "amount") != total:
            raise invalid(
                f"amount ({p['amount']}) must equal the sum of the lines ({total}).", param="amount"
            )
    else:
        total = as_int(require(p, "amount"), "amount", minimum=1)
    reason = optional_str(p, "reason")
    if reason is not None and reason not in _REASONS:
        raise invalid(f"Invalid reason: {reason}", param="reason")
    post = inv["status"] == "paid"
    before = render(ctx.store, "invoice", inv)
    cn_id = ctx.store.new_id("cn")
    refunds: list[Obj] = []
    refund_amount = credit_amount = out_of_band = 0
    balance_txn = None
    if post:
        left = inv["amount_paid"] - inv["post_payment_credit_notes_amount"]
        if total > left:
            raise invalid(
                f"The credit note total ({total}) exceeds the amount that can still be credited "
                f"on this paid invoice ({left}).",
                param="amount",
            )
        refund_amount, credit_amount, out_of_band = _split_post_payment(ctx, p, total)
        if refund_amount:
            payment = next(
                (
                    ip
                    for ip in ctx.store.all("invoice_payment")
                    if ip["invoice"] == inv["id"] and ip["payment"].get("charge")
                ),
                None,
            )
            if payment is None:
                raise invalid(
                    "This invoice was paid without a charge; nothing can be refunded.",
                    param="refund_amount",
                )
            refund = create_refund(
                ctx, payment["payment"]["charge"], refund_amount, param="refund_amount"
            )
            refunds.append(
                {
                    "amount_refunded": refund_amount,
                    "payment_record_refund": None,
                    "refund": refund["id"],
                    "type": "refund",
                }
            )
        if credit_amount:
            customer = ctx.store.require("customer", inv["customer"])
            cus_before = dict(customer)
            customer["balance"] -= credit_amount
            ctx.store.put("customer", customer)
            ctx.emit("customer.updated", "customer", customer, previous=cus_before)
            balance_txn = ctx.store.new_id("cbtxn")
        inv["post_payment_credit_notes_amount"] += total
    else:
        if total > inv["amount_remaining"]:
            raise invalid(
                f"The credit note total ({total}) exceeds the invoice's amount_remaining "
                f"({inv['amount_remaining']}).",
                param="amount",
            )
        inv["pre_payment_credit_notes_amount"] += total
    number_on_invoice = 1 + sum(
        1 for cn in ctx.store.all("credit_note") if cn["invoice"] == inv["id"]
    )
    now = ctx.now()
    cn: Obj = {
        "id": cn_id,
        "object": "credit_note",
        "amount": total,
        "amount_shipping": 0,
        "created": now,
        "currency": inv["currency"],
        "customer": inv["customer"],
        "customer_account": None,
        "customer_balance_transaction": balance_txn,
        "discount_amount": 0,
        "discount_amounts": [],
        "effective_at": as_int(p["effective_at"], "effective_at") if p.get("effective_at") else now,
        "invoice": inv["id"],
        "livemode": False,
        "memo": optional_str(p, "memo"),
        "metadata": apply_metadata({}, p.get("metadata")),
        "number": f"{inv['number']}-CN-{number_on_invoice:02d}",
        "out_of_band_amount": out_of_band if post else None,
        "pdf": f"https://pay.stripe.com/credit_notes/emulator/{cn_id}/pdf",
        "post_payment_amount": total if post else 0,
        "pre_payment_amount": 0 if post else total,
        "pretax_credit_amounts": [],
        "reason": reason,
        "refunds": refunds,
        "shipping_cost": None,
        "status": "issued",
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "total": total,
        "total_excluding_tax": total,
        "total_taxes": [],
        "type": "post_payment" if post else "pre_payment",
        "voided_at": None,
        "_credit_amount": credit_amount,
    }
    ctx.store.put("credit_note", cn)
    for line in lines:
        line["id"] = ctx.store.new_id("cnli")
        line["_credit_note"] = cn_id
        line["created"] = now
        ctx.store.put("credit_note_line_item", line)
    recompute(ctx.store, inv)
    ctx.store.put("invoice", inv)
    ctx.emit("credit_note.created", "credit_note", cn)
    ctx.emit("invoice.updated", "invoice", inv, previous_rendered=before)
    if not post and inv["amount_remaining"] == 0:
        mark_paid(ctx, inv)
    return render(ctx.store, "credit_note", cn)


@route("GET", "/v1/credit_notes/{id}")
def retrieve_credit_note(ctx: Ctx, id: str) -> dict[str, Any]:
    return render(ctx.store, "credit_note", ctx.store.require("credit_note", id))


@route("POST", "/v1/credit_notes/{id}")
def update_credit_note(ctx: Ctx, id: str) -> dict[str, Any]:
    reject_unknown(ctx.params, {"memo", "metadata"})
    cn = ctx.store.require("credit_note", id)
    before = render(ctx.store, "credit_note", cn)
    if "memo" in ctx.params:
        cn["memo"] = optional_str(ctx.params, "memo")
    cn["metadata"] = apply_metadata(cn["metadata"], ctx.params.get("metadata"))
    ctx.store.put("credit_note", cn)
    ctx.emit("credit_note.updated", "credit_note", cn, previous_rendered=before)
    return render(ctx.store, "credit_note", cn)


@route("POST", "/v1/credit_notes/{id}/void")
def void_credit_note(ctx: Ctx, id: str) -> dict[str, Any]:
    cn = ctx.store.require("credit_note", id)
    if cn["status"] == "void":
        raise invalid(f"Credit note {id} is already void.")
    inv = recompute(ctx.store, ctx.store.require("invoice", cn["invoice"]))
    before = render(ctx.store, "invoice", inv)
    if cn["type"] == "pre_payment":
        if inv["status"] not in ("open", "uncollectible"):
            raise invalid(
                f"This credit note cannot be voided: its invoice is {inv['status']}.",
            )
        inv["pre_payment_credit_notes_amount"] -= cn["total"]
    else:
        if cn["refunds"]:
            raise invalid("A credit note that refunded a payment cannot be voided.")
        if cn["_credit_amount"]:
            customer = ctx.store.require("customer", inv["customer"])
            cus_before = dict(customer)
            customer["balance"] += cn["_credit_amount"]
            ctx.store.put("customer", customer)
            ctx.emit("customer.updated", "customer", customer, previous=cus_before)
        inv["post_payment_credit_notes_amount"] -= cn["total"]
    cn["status"] = "void"
    cn["voided_at"] = ctx.now()
    ctx.store.put("credit_note", cn)
    recompute(ctx.store, inv)
    ctx.store.put("invoice", inv)
    ctx.emit("credit_note.voided", "credit_note", cn)
    ctx.emit("invoice.updated", "invoice", inv, previous_rendered=before)
    return render(ctx.store, "credit_note", cn)


@route("GET", "/v1/credit_notes")
def list_credit_notes(ctx: Ctx) -> dict[str, Any]:
    objs = ctx.store.all("credit_note")
    if ctx.params.get("invoice"):
        objs = [o for o in objs if o["invoice"] == ctx.params["invoice"]]
    if ctx.params.get("customer"):
        objs = [o for o in objs if o["customer"] == ctx.params["customer"]]
    objs = filter_created(objs, ctx.params.get("created"))
    return paginate(ctx, "credit_note", objs, "/v1/credit_notes")


@route("GET", "/v1/credit_notes/{id}/lines")
def list_credit_note_lines(ctx: Ctx, id: str) -> dict[str, Any]:
    ctx.store.require("credit_note", id)
    return paginate(
        ctx,
        "credit_note_line_item",
        _cn_lines(ctx.store, id),
        f"/v1/credit_notes/{id}/lines",
        newest_first=False,
    )
