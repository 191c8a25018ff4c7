"""Customers: create, retrieve, update, list, search, delete.

Emulates the 2026-10-28.endive ``customer`` shape with the fields a billing pipeline reads.
``balance`` is the customer credit balance (negative = credit), applied by invoice
finalization and fed by post-payment credit notes. ``invoice_prefix`` is derived from the id
and ``next_invoice_sequence`` numbers the customer's invoices (``ABCD1234-0001``).
A deleted customer retrieves as ``{"id", "object", "deleted": true}`` like Stripe.
Not emulated: payment methods, sources, tax ids, cash balance, test clocks.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..forms import as_int, as_list, optional_str, reject_unknown
from .base import Ctx, apply_metadata, filter_created, paginate, render, route, search_page

_FIELDS = {
    "address",
    "balance",
    "currency",
    "description",
    "email",
    "invoice_prefix",
    "metadata",
    "name",
    "phone",
    "preferred_locales",
    "shipping",
}


def _prefix_for(cus_id: str) -> str:
    return hashlib.sha1(cus_id.encode()).hexdigest()[:8].upper()


def _apply(obj: dict[str, Any], params: dict[str, Any]) -> None:
    for name in ("description", "email", "name", "phone"):
        if name in params:
            obj[name] = optional_str(params, name)
    if "balance" in params:
        obj["balance"] = as_int(params["balance"], "balance")
    if "invoice_prefix" in params:
        obj["invoice_prefix"] = optional_str(params, "invoice_prefix") or _prefix_for(obj["id"])
    if "address" in params:
        obj["address"] = params["address"] or None
    if "shipping" in params:
        obj["shipping"] = params["shipping"] or None
    if "preferred_locales" in params:
        obj["preferred_locales"] = as_list(params["preferred_locales"] or [], "preferred_locales")
    if "currency" in params:
        obj["currency"] = (optional_str(params, "currency") or "").lower() or None
    obj["metadata"] = apply_metadata(obj.get("metadata"), params.get("metadata"))


@route("POST", "/v1/customers")
def create_customer(ctx: Ctx) -> dict[str, Any]:
    reject_unknown(ctx.params, _FIELDS)
    cus_id = ctx.store.new_id("cus")
    obj: dict[str, Any] = {
        "id": cus_id,
        "object": "customer",
        "address": None,
        "balance": 0,
        "business_name": None,
        "created": ctx.now(),
        "currency": None,
        "customer_account": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "individual_name": None,
        "invoice_prefix": _prefix_for(cus_id),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    _apply(obj, ctx.params)
    ctx.store.put("customer", obj)
    ctx.emit("customer.created", "customer", obj)
    return render(ctx.store, "customer", obj)


@route("GET", "/v1/customers/{id}")
def retrieve_customer(ctx: Ctx, id: str) -> dict[str, Any]:
    obj = ctx.store.get("customer", id)
    if obj is None:
        ctx.store.require("customer", id)
    assert obj is not None
    return render(ctx.store, "customer", obj)


@route("POST", "/v1/customers/{id}")
def update_customer(ctx: Ctx, id: str) -> dict[str, Any]:
    reject_unknown(ctx.params, _FIELDS)
    obj = ctx.store.require("customer", id)
    before = dict(obj)
    _apply(obj, ctx.params)
    ctx.store.put("customer", obj)
    ctx.emit("customer.updated", "customer", obj, previous=before)
    return render(ctx.store, "customer", obj)


@route("DELETE", "/v1/customers/{id}")
def delete_customer(ctx: Ctx, id: str) -> dict[str, Any]:
    obj = ctx.store.require("customer", id)
    ctx.emit("customer.deleted", "customer", obj)
    obj["_deleted"] = True
    ctx.store.put("customer", obj)
    return {"id": id, "object": "customer", "deleted": True}


@route("GET", "/v1/customers")
def list_customers(ctx: Ctx) -> dict[str, Any]:
    objs = [o for o in ctx.store.all("customer") if not o.get("_deleted")]
    email = ctx.params.get("email")
    if email:
        objs = [o for o in objs if o.get("email") == email]
    objs = filter_created(objs, ctx.params.get("created"))
    return paginate(ctx, "customer", objs, "/v1/customers")


@route("GET", "/v1/customers/search")
def search_customers(ctx: Ctx) -> dict[str, Any]:
    return search_page(ctx, "customer", ctx.store.all("customer"), "/v1/customers/search")
