"""Subscriptions and subscription items.

Create with ``customer`` and ``items[n][price|quantity|metadata]`` (recurring prices of one
currency); the subscription starts ``active`` at the emulator's "now" and each item carries
``current_period_start`` / ``current_period_end`` (on items, as in API versions since
2025-03-31.basil) computed from the price's interval, months clamped to the month's end.
Update ``metadata``, ``description``, ``cancel_at_period_end``, ``collection_method``,
``days_until_due``. Cancel (``DELETE``) sets ``status=canceled``, ``canceled_at`` and
``ended_at``. List filters ``customer``, ``price``, ``status`` (default: every status except
``canceled``, ``all`` for everything) and ``created``; ``GET /v1/subscription_items``.

Simplified: no first invoice, payment or trial is created (``latest_invoice`` stays null and
the status never leaves ``active`` by itself), periods do not roll over as the clock moves,
no proration, schedules or pauses.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import invalid
from ..forms import as_bool, as_dict, as_int, as_list, optional_str, reject_unknown, require
from .base import (
    Ctx,
    apply_metadata,
    embedded_list,
    filter_created,
    paginate,
    render,
    renderer,
    route,
    search_page,
)

_STATUSES = {
    "active",
    "past_due",
    "unpaid",
    "canceled",
    "incomplete",
    "incomplete_expired",
    "trialing",
    "paused",
}


def add_interval(start: int, interval: str, count: int) -> int:
    """``start`` plus ``count`` intervals, in UTC; month ends clamp (Jan 31 + 1 month = Feb 28)."""
    dt = datetime.fromtimestamp(start, tz=UTC)
    if interval == "day":
        return int((dt + timedelta(days=count)).timestamp())
    if interval == "week":
        return int((dt + timedelta(weeks=count)).timestamp())
    months = count * (12 if interval == "year" else 1)
    month_index = dt.month - 1 + months
    year, month = dt.year + month_index // 12, month_index % 12 + 1
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return int(dt.replace(year=year, month=month, day=day).timestamp())


def _plan_from_price(price: dict[str, Any]) -> dict[str, Any]:
    rec = price.get("recurring") or {}
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": price["billing_scheme"],
        "created": price["created"],
        "currency": price["currency"],
        "interval": rec.get("interval"),
        "interval_count": rec.get("interval_count"),
        "livemode": False,
        "metadata": price["metadata"],
        "meter": rec.get("meter"),
        "nickname": price["nickname"],
        "product": price["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": rec.get("usage_type"),
    }


@renderer("subscription_item")
def _render_item(store: Any, obj: dict[str, Any]) -> dict[str, Any]:
    price = store.get("price", obj["price"])
    obj["price"] = render(store, "price", price)
    obj["plan"] = _plan_from_price(obj["price"])
    return obj


@renderer("subscription")
def _render_subscription(store: Any, obj: dict[str, Any]) -> dict[str, Any]:
    items = [store.get("subscription_item", i) for i in obj.pop("_items")]
    obj["items"] = embedded_list(
        store, "subscription_item", items, f"/v1/subscription_items?subscription={obj['id']}"
    )
    return obj


@route("POST", "/v1/subscriptions")
def create_subscription(ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    reject_unknown(
        p,
        {
            "customer",
            "items",
            "metadata",
            "collection_method",
            "days_until_due",
            "description",
            "cancel_at_period_end",
            "currency",
        },
    )
    customer = ctx.store.require("customer", require(p, "customer"), param="customer")
    raw_items = as_list(require(p, "items"), "items")
    now = ctx.now()
    sub_id = ctx.store.new_id("sub")
    currency = None
    item_ids = []
    for n, raw in enumerate(raw_items):
        item = as_dict(raw, f"items[{n}]")
        price = ctx.store.require(
            "price", require(item, "price", f"items[{n}]["), f"items[{n}][price]"
        )
        if price["type"] != "recurring":
            raise invalid(
                "The price specified is set to `type=one_time` but this field only accepts "
                "prices with `type=recurring`.",
                param=f"items[{n}][price]",
            )
        if currency and price["currency"] != currency:
            raise invalid(
                "All prices on a subscription must have the same currency.", param="items"
            )
        currency = price["currency"]
        rec = price["recurring"]
        si = {
            "id": ctx.store.new_id("si"),
            "object": "subscription_item",
            "billing_thresholds": None,
            "created": now,
            "current_period_end": add_interval(now, rec["interval"], rec["interval_count"]),
            "current_period_start": now,
            "discounts": [],
            "metadata": apply_metadata({}, item.get("metadata"), f"items[{n}][metadata]"),
            "price": price["id"],
            "quantity": as_int(item.get("quantity", 1), f"items[{n}][quantity]", minimum=0),
            "subscription": sub_id,
            "tax_rates": [],
        }
        ctx.store.put("subscription_item", si)
        item_ids.append(si["id"])
    collection_method = p.get("collection_method") or "charge_automatically"
    if collection_method not in ("charge_automatically", "send_invoice"):
        raise invalid(f"Invalid collection_method: {collection_method}", param="collection_method")
    obj: dict[str, Any] = {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": now,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "flexible", "updated_at": None},
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": as_bool(
            p.get("cancel_at_period_end", "false"), "cancel_at_period_end"
        ),
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": collection_method,
        "created": now,
        "currency": currency,
        "customer": customer["id"],
        "days_until_due": as_int(p["days_until_due"], "days_until_due")
        if p.get("days_until_due")
        else None,
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": optional_str(p, "description"),
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "latest_invoice": None,
        "livemode": False,
        "metadata": apply_metadata({}, p.get("metadata")),
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": now,
        "status": "active",
        "test_clock": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
        "_items": item_ids,
    }
    ctx.store.put("subscription", obj)
    ctx.emit("customer.subscription.created", "subscription", obj)
    return render(ctx.store, "subscription", obj)


@route("GET", "/v1/subscriptions/{id}")
def retrieve_subscription(ctx: Ctx, id: str) -> dict[str, Any]:
    return render(ctx.store, "subscription", ctx.store.require("subscription", id))


@route("POST", "/v1/subscriptions/{id}")
def update_subscription(ctx: Ctx, id: str) -> dict[str, Any]:
    p = ctx.params
    reject_unknown(
        p,
        {"metadata", "description", "cancel_at_period_end", "collection_method", "days_until_due"},
    )
    obj = ctx.store.require("subscription", id)
    if obj["status"] == "canceled" and set(p) - {"metadata", "expand"}:
        raise invalid(
            "A canceled subscription can only update its cancellation_details and metadata."
        )
    before = dict(obj)
    if "description" in p:
        obj["description"] = optional_str(p, "description")
    if "cancel_at_period_end" in p:
        obj["cancel_at_period_end"] = as_bool(p["cancel_at_period_end"], "cancel_at_period_end")
    if "collection_method" in p:
        obj["collection_method"] = p["collection_method"]
    if "days_until_due" in p:
        obj["days_until_due"] = as_int(p["days_until_due"], "days_until_due")
    obj["metadata"] = apply_metadata(obj.get("metadata"), p.get("metadata"))
    ctx.store.put("subscription", obj)
    ctx.emit("customer.subscription.updated", "subscription", obj, previous=before)
    return render(ctx.store, "subscription", obj)


@route("DELETE", "/v1/subscriptions/{id}")
def cancel_subscription(ctx: Ctx, id: str) -> dict[str, Any]:
    obj = ctx.store.require("subscription", id)
    if obj["status"] == "canceled":
        raise invalid(
            f"This subscription is already canceled: '{id}'", code="resource_missing", param="id"
        )
    now = ctx.now()
    obj.update(
        status="canceled",
        canceled_at=now,
        ended_at=now,
        cancellation_details={
            "comment": None,
            "feedback": None,
            "reason": "cancellation_requested",
        },
    )
    ctx.store.put("subscription", obj)
    ctx.emit("customer.subscription.deleted", "subscription", obj)
    return render(ctx.store, "subscription", obj)


@route("GET", "/v1/subscriptions")
def list_subscriptions(ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    objs = ctx.store.all("subscription")
    status = p.get("status")
    if status and status != "all":
        if status not in _STATUSES and status != "ended":
            raise invalid(f"Invalid status: {status}", param="status")
        wanted = {"canceled", "incomplete_expired"} if status == "ended" else {status}
        objs = [o for o in objs if o["status"] in wanted]
    elif not status:
        objs = [o for o in objs if o["status"] != "canceled"]
    if p.get("customer"):
        objs = [o for o in objs if o["customer"] == p["customer"]]
    if p.get("price"):
        objs = [
            o
            for o in objs
            if any(
                ctx.store.get("subscription_item", i)["price"] == p["price"] for i in o["_items"]
            )  # type: ignore[index]
        ]
    objs = filter_created(objs, p.get("created"))
    return paginate(ctx, "subscription", objs, "/v1/subscriptions")


@route("GET", "/v1/subscriptions/search")
def search_subscriptions(ctx: Ctx) -> dict[str, Any]:
    return search_page(
        ctx, "subscription", ctx.store.all("subscription"), "/v1/subscriptions/search"
    )


@route("GET", "/v1/subscription_items")
def list_subscription_items(ctx: Ctx) -> dict[str, Any]:
    sub = ctx.store.require("subscription", require(ctx.params, "subscription"), "subscription")
    objs = [ctx.store.get("subscription_item", i) for i in sub["_items"]]
    return paginate(ctx, "subscription_item", [o for o in objs if o], "/v1/subscription_items")


@route("GET", "/v1/subscription_items/{id}")
def retrieve_subscription_item(ctx: Ctx, id: str) -> dict[str, Any]:
    return render(ctx.store, "subscription_item", ctx.store.require("subscription_item", id))
