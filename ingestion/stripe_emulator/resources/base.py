"""What every resource family shares: routing, rendering, lists, metadata, events, expand.

* **Routing**: :func:`route` registers ``(method, "/v1/customers/{id}")`` handlers; a handler
  takes a :class:`Ctx` and the path parameters and returns the JSON body (HTTP 200).
* **Rendering**: objects are stored as their API shape plus hidden ``_``-prefixed bookkeeping
  keys, which :func:`render` strips; kinds whose shape embeds other objects (an invoice's
  ``lines``) register a renderer with :func:`renderer`.
* **Lists** (:func:`paginate`): Stripe's cursor pagination, newest first (``created`` then the
  hidden sequence number as tie-breaker), ``limit`` 1..100 (default 10), ``starting_after`` /
  ``ending_before`` resolved against the cursor object's position even when a filter excludes
  it, and ``{"object": "list", "data", "has_more", "url"}``. ``created`` accepts an integer or
  ``gt``/``gte``/``lt``/``lte``.
* **Metadata** (:func:`apply_metadata`): merged key by key on update; ``metadata[k]=""`` unsets a
  key, ``metadata=""`` clears all; Stripe's limits (50 keys, 40-char keys, 500-char values).
* **Events** (:meth:`Ctx.emit`): every create, update and state change records an ``evt_``
  with a snapshot of the object in ``data.object`` (and ``previous_attributes`` on updates)
  and the ``request`` id and idempotency key that caused it.
* **Expand**: ``expand[]=customer`` (or ``data.customer`` on lists) replaces an id with the
  object, for any field holding an id of a known kind.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ApiError, invalid
from ..forms import as_dict, as_int, as_list
from ..store import Obj, Store

API_VERSION = "2026-10-28.endive"
Handler = Callable[..., dict[str, Any]]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    template: str
    handler: Handler


ROUTES: list[Route] = []
_RENDERERS: dict[str, Callable[[Store, Obj], Obj]] = {}


def route(method: str, template: str) -> Callable[[Handler], Handler]:
    """Register a handler for ``method`` and a path template like ``/v1/invoices/{id}/pay``."""
    regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$"

    def decorate(fn: Handler) -> Handler:
        ROUTES.append(Route(method.upper(), re.compile(regex), template, fn))
        return fn

    return decorate


def match_route(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route for a request; literal segments win over ``{id}`` (``/search`` vs ``/{id}``)."""
    candidates = []
    for r in ROUTES:
        if r.method != method:
            continue
        m = r.pattern.match(path)
        if m:
            candidates.append((r.template.count("{"), r, m.groupdict()))
    if not candidates:
        return None
    candidates.sort(key=lambda c: c[0])
    return candidates[0][1], candidates[0][2]


def renderer(kind: str) -> Callable[[Callable[[Store, Obj], Obj]], Callable[[Store, Obj], Obj]]:
    def decorate(fn: Callable[[Store, Obj], Obj]) -> Callable[[Store, Obj], Obj]:
        _RENDERERS[kind] = fn
        return fn

    return decorate


def strip_hidden(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_hidden(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [strip_hidden(v) for v in value]
    return value


def render(store: Store, kind: str, obj: Obj) -> Obj:
    """The API representation of a stored object."""
    if obj.get("_deleted"):
        return {"id": obj["id"], "object": obj["object"], "deleted": True}
    fn = _RENDERERS.get(kind)
    out = fn(store, copy.deepcopy(obj)) if fn else copy.deepcopy(obj)
    return strip_hidden(out)


@dataclass
class Ctx:
    """One API request as handlers see it."""

    store: Store
    params: dict[str, Any]
    api_key: str
    request_id: str
    idempotency_key: str | None = None
    events: list[str] = field(default_factory=list)

    def now(self) -> int:
        return self.store.now()

    def emit(
        self,
        type: str,
        kind: str,
        obj: Obj,
        previous: Obj | None = None,
        *,
        previous_rendered: Obj | None = None,
    ) -> Obj:
        """Record an event whose ``data.object`` is the object as rendered now.

        ``previous`` (a stored object before the change) or ``previous_rendered`` (its
        rendering, for kinds whose rendering reads other objects) adds
        ``data.previous_attributes``; an update that changed nothing emits no event.
        """
        snapshot = render(self.store, kind, obj)
        data: dict[str, Any] = {"object": snapshot}
        if previous is not None or previous_rendered is not None:
            before = previous_rendered or render(self.store, kind, previous or {})
            diff = diff_previous(before, snapshot)
            if not diff:
                return {}
            data["previous_attributes"] = diff
        event = {
            "id": self.store.new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 0,
            "request": {"id": self.request_id, "idempotency_key": self.idempotency_key},
            "type": type,
        }
        self.store.put("event", event)
        self.events.append(event["id"])
        return event


def diff_previous(before: Any, after: Any) -> dict[str, Any]:
    """Stripe's ``previous_attributes``: old values of changed keys (``None`` for added keys)."""
    out: dict[str, Any] = {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        return out
    for key in list(before) + [k for k in after if k not in before]:
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key == "metadata" and isinstance(old, dict) and isinstance(new, dict):
            out[key] = {k: old.get(k) for k in set(old) | set(new) if old.get(k) != new.get(k)}
        else:
            out[key] = old
    return out


# --- metadata -----------------------------------------------------------------------------


def apply_metadata(current: dict[str, str] | None, value: Any, param: str = "metadata") -> dict:
    """Merge ``metadata`` params into ``current`` the way Stripe does."""
    result = dict(current or {})
    if value is None:
        return result
    if value == "":
        return {}
    for key, val in as_dict(value, param).items():
        if not isinstance(val, str):
            raise invalid(f"Invalid value for metadata key {key}", param=f"{param}[{key}]")
        if val == "":
            result.pop(key, None)
            continue
        if len(key) > 40:
            raise invalid("Metadata keys can have at most 40 characters.", param=f"{param}[{key}]")
        if len(val) > 500:
            raise invalid("Metadata values can have up to 500 characters.", param=f"{param}[{key}]")
        result[key] = val
    if len(result) > 50:
        raise invalid("Metadata can have at most 50 keys.", param=param)
    return result


# --- lists --------------------------------------------------------------------------------


def filter_created(objs: Iterable[Obj], value: Any, param: str = "created") -> list[Obj]:
    """Stripe's ``created`` filter: an exact integer or a ``gt/gte/lt/lte`` hash."""
    objs = list(objs)
    if value is None or value == "":
        return objs
    if isinstance(value, dict):
        bounds = {op: as_int(v, f"{param}[{op}]") for op, v in value.items()}
        for op in bounds:
            if op not in ("gt", "gte", "lt", "lte"):
                raise ApiError(400, f"Received unknown parameter: {param}[{op}]")
    else:
        bounds = {"eq": as_int(value, param)}
    tests: dict[str, Callable[[int, int], bool]] = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
        "eq": lambda a, b: a == b,
    }
    return [o for o in objs if all(tests[op](o[param], b) for op, b in bounds.items())]


def list_limit(params: dict[str, Any]) -> int:
    raw = params.get("limit")
    if raw is None or raw == "":
        return 10
    limit = as_int(raw, "limit")
    if not 1 <= limit <= 100:
        raise invalid(
            "Invalid limit: must be between 1 and 100",
            param="limit",
            code="parameter_invalid_integer",
        )
    return limit


def _order_key(obj: Obj) -> tuple[int, int]:
    return (int(obj.get("created", 0)), int(obj["_seq"]))


def paginate(
    ctx: Ctx,
    kind: str,
    objs: Iterable[Obj],
    url: str,
    *,
    newest_first: bool = True,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One page of a Stripe list, rendered."""
    params = ctx.params
    items = sorted(objs, key=_order_key, reverse=newest_first)
    limit = list_limit(params)
    after, before = params.get("starting_after"), params.get("ending_before")
    if after and before:
        raise invalid(
            "You may only specify one of these parameters: ending_before, starting_after."
        )
    cursor_id = after or before
    if cursor_id:
        param = "starting_after" if after else "ending_before"
        cursor = next((o for o in items if o["id"] == cursor_id), None)
        if cursor is None and isinstance(cursor_id, str):
            cursor = ctx.store.get(kind, cursor_id)
        if cursor is None:
            raise invalid(f"No such {kind}: '{cursor_id}'", param=param, code="resource_missing")
        ck = _order_key(cursor)
        if newest_first:
            later = [o for o in items if _order_key(o) < ck]
            earlier = [o for o in items if _order_key(o) > ck]
        else:
            later = [o for o in items if _order_key(o) > ck]
            earlier = [o for o in items if _order_key(o) < ck]
        if after:
            page, has_more = later[:limit], len(later) > limit
        else:
            page, has_more = earlier[-limit:], len(earlier) > limit
    else:
        page, has_more = items[:limit], len(items) > limit
    body: dict[str, Any] = {
        "object": "list",
        "data": [render(ctx.store, kind, o) for o in page],
        "has_more": has_more,
        "url": url,
    }
    if extra:
        body.update(extra)
    return body


def embedded_list(store: Store, kind: str, objs: list[Obj], url: str, limit: int = 10) -> Obj:
    """A list embedded in its parent (an invoice's ``lines``): the first ``limit``, oldest first."""
    return {
        "object": "list",
        "data": [render(store, kind, o) for o in objs[:limit]],
        "has_more": len(objs) > limit,
        "total_count": len(objs),
        "url": url,
    }


# --- expand -------------------------------------------------------------------------------

_PREFIX_KINDS = {
    "cus": "customer",
    "prod": "product",
    "price": "price",
    "sub": "subscription",
    "si": "subscription_item",
    "ii": "invoiceitem",
    "in": "invoice",
    "cn": "credit_note",
    "ch": "charge",
    "re": "refund",
    "evt": "event",
    "inpay": "invoice_payment",
}
_FIELD_KINDS = {
    "customer": "customer",
    "product": "product",
    "price": "price",
    "default_price": "price",
    "invoice": "invoice",
    "latest_invoice": "invoice",
    "charge": "charge",
    "subscription": "subscription",
    "refund": "refund",
}


def _expand_value(store: Store, field_name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    kind = _FIELD_KINDS.get(field_name) or _PREFIX_KINDS.get(value.split("_", 1)[0])
    obj = store.get(kind, value) if kind else None
    return render(store, kind, obj) if (obj is not None and kind) else value


def _expand_path(store: Store, node: Any, parts: list[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _expand_path(store, item, parts)
        return
    if not isinstance(node, dict) or not parts:
        return
    head, rest = parts[0], parts[1:]
    if head not in node:
        return
    if rest:
        _expand_path(store, node[head], rest)
    else:
        node[head] = _expand_value(store, head, node[head])


def apply_expand(store: Store, body: dict[str, Any], expand: Any) -> dict[str, Any]:
    """Replace ids by objects along each ``expand`` path (``customer``, ``data.customer``)."""
    if not expand:
        return body
    for path in as_list(expand, "expand"):
        if isinstance(path, str) and path:
            _expand_path(store, body, path.split("."))
    return body


def amount_currency(value: Any, param: str = "currency") -> str:
    """A three-letter ISO currency, lowercased as Stripe returns it."""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{3}", value):
        raise invalid(f"Invalid currency: {value}", param=param)
    return value.lower()


# --- search -------------------------------------------------------------------------------


# Fields stored exactly as rendered (no value computed at render time), safe to filter on before rendering.
_STORED_FIELDS = frozenset(
    {
        "metadata",
        "customer",
        "status",
        "currency",
        "id",
        "number",
        "subscription",
        "email",
        "name",
        "lookup_key",
        "active",
        "product",
        "created",
        "description",
        "type",
        "invoice",
        "charge",
    }
)


def _query_fields(query: str) -> set[str]:
    """The top-level field names a search query names (``metadata['k']:'v'`` -> metadata)."""
    import re

    without_strings = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "''", query)
    return {
        m.group(1)
        for m in re.finditer(
            r"-?([A-Za-z_][A-Za-z0-9_.]*)\s*(?:\[[^\]]*\])?\s*(?::|<|>|=)", without_strings
        )
        if m.group(1).upper() not in ("AND", "OR")
    } | ({"?"} if not re.search(r"[:<>=]", without_strings) else set())


def search_page(ctx: Ctx, kind: str, objs: Iterable[Obj], url: str) -> dict[str, Any]:
    """A ``search_result`` page: newest first, ``next_page`` an opaque cursor for ``page``."""
    from ..search import compile_query

    params = ctx.params
    query = params.get("query")
    if not isinstance(query, str) or not query.strip():
        raise invalid("Missing required param: query.", param="query", code="parameter_missing")
    predicate = compile_query(query)
    limit = list_limit(params)
    items = sorted((o for o in objs if not o.get("_deleted")), key=_order_key, reverse=True)
    page_token = params.get("page")
    if page_token:
        try:
            cursor_key = tuple(
                int(x) for x in base64.urlsafe_b64decode(page_token).decode().split(":")
            )
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raise invalid(f"Invalid page: {page_token}", param="page") from None
        items = [o for o in items if _order_key(o) < cursor_key]
    if _STORED_FIELDS.issuperset(_query_fields(query)):
        # the query reads only fields kept as-is on the stored object (metadata, customer, status...):
        # filter before rendering, so a search costs one render per match, not per object
        items = [o for o in items if predicate(o)]
    rendered = [(o, render(ctx.store, kind, o)) for o in items]
    matches = [(o, r) for o, r in rendered if predicate(r)]
    page = matches[:limit]
    has_more = len(matches) > limit
    next_page = None
    if has_more:
        created, seq = _order_key(page[-1][0])
        next_page = base64.urlsafe_b64encode(f"{created}:{seq}".encode()).decode()
    return {
        "object": "search_result",
        "data": [r for _, r in page],
        "has_more": has_more,
        "next_page": next_page,
        "url": url,
    }
