"""Products and prices.

Products: create (optionally with a caller-chosen ``id``, as Stripe allows), retrieve,
update, list (``active``, ``ids``, ``created``), search, delete (refused while prices exist).

Prices: ``unit_amount`` (integer minor units) or ``unit_amount_decimal`` (up to 12 decimal
places; ``unit_amount`` is then null unless the decimal is integral), ``currency``,
``recurring[interval|interval_count|usage_type]``, ``lookup_key`` (unique among prices;
``transfer_lookup_key=true`` moves it), ``product`` or ``product_data[name]``, ``metadata``,
``nickname``, ``active``. List filters ``active``, ``currency``, ``product``, ``type``,
``lookup_keys[]``, ``created``. Prices cannot be deleted (Stripe has no such endpoint).
Not emulated: tiers, ``custom_unit_amount``, ``currency_options``, ``transform_quantity``.
"""

from __future__ import annotations

from typing import Any

from ..errors import invalid
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
from .base import (
    Ctx,
    amount_currency,
    apply_metadata,
    filter_created,
    paginate,
    render,
    route,
    search_page,
)

_PRODUCT_FIELDS = {
    "id",
    "name",
    "active",
    "description",
    "metadata",
    "unit_label",
    "statement_descriptor",
    "tax_code",
    "url",
    "images",
    "shippable",
}
_PRICE_FIELDS = {
    "currency",
    "unit_amount",
    "unit_amount_decimal",
    "recurring",
    "lookup_key",
    "transfer_lookup_key",
    "product",
    "product_data",
    "metadata",
    "nickname",
    "active",
    "billing_scheme",
    "tax_behavior",
}


def _apply_product(obj: dict[str, Any], params: dict[str, Any]) -> None:
    if "name" in params:
        obj["name"] = require(params, "name")
    for name in ("description", "unit_label", "statement_descriptor", "tax_code", "url"):
        if name in params:
            obj[name] = optional_str(params, name)
    if "active" in params:
        obj["active"] = as_bool(params["active"], "active")
    if "shippable" in params:
        obj["shippable"] = as_bool(params["shippable"], "shippable")
    if "images" in params:
        obj["images"] = as_list(params["images"] or [], "images")
    obj["metadata"] = apply_metadata(obj.get("metadata"), params.get("metadata"))


def new_product(ctx: Ctx, params: dict[str, Any], prod_id: str | None = None) -> dict[str, Any]:
    require(params, "name")
    now = ctx.now()
    obj: dict[str, Any] = {
        "id": prod_id or ctx.store.new_id("prod"),
        "object": "product",
        "active": True,
        "created": now,
        "default_price": None,
        "description": None,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": {},
        "name": None,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": now,
        "url": None,
    }
    _apply_product(obj, params)
    ctx.store.put("product", obj)
    ctx.emit("product.created", "product", obj)
    return obj


@route("POST", "/v1/products")
def create_product(ctx: Ctx) -> dict[str, Any]:
    reject_unknown(ctx.params, _PRODUCT_FIELDS)
    prod_id = optional_str(ctx.params, "id")
    if prod_id and ctx.store.exists("product", prod_id):
        raise invalid("Product already exists.", param="id", code="resource_already_exists")
    params = {k: v for k, v in ctx.params.items() if k != "id"}
    return render(ctx.store, "product", new_product(ctx, params, prod_id))


@route("GET", "/v1/products/{id}")
def retrieve_product(ctx: Ctx, id: str) -> dict[str, Any]:
    obj = ctx.store.require("product", id)  # deleted ones are gone (404)
    return render(ctx.store, "product", obj)


@route("POST", "/v1/products/{id}")
def update_product(ctx: Ctx, id: str) -> dict[str, Any]:
    reject_unknown(ctx.params, _PRODUCT_FIELDS - {"id"} | {"default_price"})
    obj = ctx.store.require("product", id)
    before = dict(obj)
    if "default_price" in ctx.params:
        price_id = optional_str(ctx.params, "default_price")
        if price_id:
            price = ctx.store.require("price", price_id, param="default_price")
            if price["product"] != id:
                raise invalid("The price must belong to this product.", param="default_price")
        obj["default_price"] = price_id
    _apply_product(obj, {k: v for k, v in ctx.params.items() if k != "default_price"})
    obj["updated"] = ctx.now()
    ctx.store.put("product", obj)
    ctx.emit("product.updated", "product", obj, previous=before)
    return render(ctx.store, "product", obj)


@route("DELETE", "/v1/products/{id}")
def delete_product(ctx: Ctx, id: str) -> dict[str, Any]:
    obj = ctx.store.require("product", id)
    if any(p["product"] == id for p in ctx.store.all("price")):
        raise invalid(
            "This product cannot be deleted because it has one or more user-created prices."
        )
    ctx.emit("product.deleted", "product", obj)
    obj["_deleted"] = True
    ctx.store.put("product", obj)
    return {"id": id, "object": "product", "deleted": True}


@route("GET", "/v1/products")
def list_products(ctx: Ctx) -> dict[str, Any]:
    objs = [o for o in ctx.store.all("product") if not o.get("_deleted")]
    if "active" in ctx.params:
        active = as_bool(ctx.params["active"], "active")
        objs = [o for o in objs if o["active"] == active]
    if ctx.params.get("ids"):
        ids = set(as_list(ctx.params["ids"], "ids"))
        objs = [o for o in objs if o["id"] in ids]
    objs = filter_created(objs, ctx.params.get("created"))
    return paginate(ctx, "product", objs, "/v1/products")


@route("GET", "/v1/products/search")
def search_products(ctx: Ctx) -> dict[str, Any]:
    return search_page(ctx, "product", ctx.store.all("product"), "/v1/products/search")


# --- prices -------------------------------------------------------------------------------


def _recurring(value: Any) -> dict[str, Any]:
    rec = as_dict(value, "recurring")
    interval = require(rec, "interval", "recurring[")
    if interval not in ("day", "week", "month", "year"):
        raise invalid(f"Invalid recurring[interval]: {interval}", param="recurring[interval]")
    usage_type = rec.get("usage_type") or "licensed"
    if usage_type not in ("licensed", "metered"):
        raise invalid(f"Invalid recurring[usage_type]: {usage_type}", param="recurring[usage_type]")
    return {
        "interval": interval,
        "interval_count": as_int(
            rec.get("interval_count", 1), "recurring[interval_count]", minimum=1
        ),
        "meter": rec.get("meter") or None,
        "trial_period_days": None,
        "usage_type": usage_type,
    }


def _take_lookup_key(ctx: Ctx, key: str, transfer: bool, price_id: str) -> None:
    for other in ctx.store.all("price"):
        if other["id"] != price_id and other.get("lookup_key") == key:
            if not transfer:
                raise invalid(
                    f"A price (`{other['id']}`) already uses that lookup key.",
                    param="lookup_key",
                )
            moved = ctx.store.require("price", other["id"])
            before = dict(moved)
            moved["lookup_key"] = None
            ctx.store.put("price", moved)
            ctx.emit("price.updated", "price", moved, previous=before)


@route("POST", "/v1/prices")
def create_price(ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    reject_unknown(p, _PRICE_FIELDS)
    currency = amount_currency(require(p, "currency"), "currency")
    if p.get("unit_amount") not in (None, "") and p.get("unit_amount_decimal") not in (None, ""):
        raise invalid(
            "You may only specify one of these parameters: unit_amount, unit_amount_decimal.",
            param="unit_amount",
        )
    if p.get("unit_amount") not in (None, ""):
        unit_amount: int | None = as_int(p["unit_amount"], "unit_amount", minimum=0)
        decimal = str(unit_amount)
    elif p.get("unit_amount_decimal") not in (None, ""):
        dec = as_decimal(p["unit_amount_decimal"], "unit_amount_decimal")
        if dec < 0:
            raise invalid("unit_amount_decimal must be >= 0", param="unit_amount_decimal")
        decimal = format(dec.normalize(), "f") if dec != dec.to_integral_value() else str(int(dec))
        unit_amount = int(dec) if dec == dec.to_integral_value() else None
    else:
        raise invalid(
            "Missing required param: unit_amount.", param="unit_amount", code="parameter_missing"
        )
    if p.get("product"):
        product_id = ctx.store.require("product", p["product"], param="product")["id"]
    elif p.get("product_data"):
        product_id = new_product(ctx, as_dict(p["product_data"], "product_data"))["id"]
    else:
        raise invalid("Missing required param: product.", param="product", code="parameter_missing")
    price_id = ctx.store.new_id("price")
    recurring = _recurring(p["recurring"]) if p.get("recurring") else None
    lookup_key = optional_str(p, "lookup_key")
    if lookup_key:
        transfer = as_bool(p.get("transfer_lookup_key", "false"), "transfer_lookup_key")
        _take_lookup_key(ctx, lookup_key, transfer, price_id)
    obj: dict[str, Any] = {
        "id": price_id,
        "object": "price",
        "active": as_bool(p.get("active", "true"), "active"),
        "billing_scheme": "per_unit",
        "created": ctx.now(),
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": lookup_key,
        "metadata": apply_metadata({}, p.get("metadata")),
        "nickname": optional_str(p, "nickname"),
        "product": product_id,
        "recurring": recurring,
        "tax_behavior": p.get("tax_behavior") or "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if recurring else "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": decimal,
    }
    ctx.store.put("price", obj)
    ctx.emit("price.created", "price", obj)
    return render(ctx.store, "price", obj)


@route("GET", "/v1/prices/{id}")
def retrieve_price(ctx: Ctx, id: str) -> dict[str, Any]:
    return render(ctx.store, "price", ctx.store.require("price", id))


@route("POST", "/v1/prices/{id}")
def update_price(ctx: Ctx, id: str) -> dict[str, Any]:
    p = ctx.params
    reject_unknown(p, {"active", "metadata", "nickname", "lookup_key", "transfer_lookup_key"})
    obj = ctx.store.require("price", id)
    before = dict(obj)
    if "active" in p:
        obj["active"] = as_bool(p["active"], "active")
    if "nickname" in p:
        obj["nickname"] = optional_str(p, "nickname")
    if "lookup_key" in p:
        key = optional_str(p, "lookup_key")
        if key:
            transfer = as_bool(p.get("transfer_lookup_key", "false"), "transfer_lookup_key")
            _take_lookup_key(ctx, key, transfer, id)
        obj["lookup_key"] = key
    obj["metadata"] = apply_metadata(obj.get("metadata"), p.get("metadata"))
    ctx.store.put("price", obj)
    ctx.emit("price.updated", "price", obj, previous=before)
    return render(ctx.store, "price", obj)


@route("GET", "/v1/prices")
def list_prices(ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    objs = ctx.store.all("price")
    if "active" in p:
        active = as_bool(p["active"], "active")
        objs = [o for o in objs if o["active"] == active]
    if p.get("currency"):
        objs = [o for o in objs if o["currency"] == str(p["currency"]).lower()]
    if p.get("product"):
        objs = [o for o in objs if o["product"] == p["product"]]
    if p.get("type"):
        objs = [o for o in objs if o["type"] == p["type"]]
    if p.get("lookup_keys"):
        keys = set(as_list(p["lookup_keys"], "lookup_keys"))
        objs = [o for o in objs if o.get("lookup_key") in keys]
    objs = filter_created(objs, p.get("created"))
    return paginate(ctx, "price", objs, "/v1/prices")


@route("GET", "/v1/prices/search")
def search_prices(ctx: Ctx) -> dict[str, Any]:
    return search_page(ctx, "price", ctx.store.all("price"), "/v1/prices/search")
