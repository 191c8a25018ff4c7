"""Events: ``GET /v1/events`` and ``GET /v1/events/{id}``.

Every create, update and state change records an event (see ``Ctx.emit``) with
``data.object`` (the object as it was right after the change), ``data.previous_attributes``
on ``*.updated`` events, ``request.id`` / ``request.idempotency_key``, and ``created`` from
the emulator clock. Events list newest first like every Stripe list; filters ``type``
(with Stripe's ``*`` wildcard, e.g. ``invoice.*``), ``types[]`` and ``created``.

Simplified: events are kept forever (Stripe keeps 30 days) and no webhooks are sent
(``pending_webhooks`` is always 0).
"""

from __future__ import annotations

import fnmatch
from typing import Any

from ..errors import invalid
from ..forms import as_list
from .base import Ctx, filter_created, paginate, render, route


@route("GET", "/v1/events")
def list_events(ctx: Ctx) -> dict[str, Any]:
    p = ctx.params
    objs = ctx.store.all("event")
    if p.get("type") and p.get("types"):
        raise invalid("You may only specify one of these parameters: type, types.", param="types")
    if p.get("type"):
        pattern = str(p["type"])
        objs = [o for o in objs if fnmatch.fnmatchcase(o["type"], pattern)]
    if p.get("types"):
        wanted = set(as_list(p["types"], "types"))
        objs = [o for o in objs if o["type"] in wanted]
    objs = filter_created(objs, p.get("created"))
    return paginate(ctx, "event", objs, "/v1/events")


@route("GET", "/v1/events/{id}")
def retrieve_event(ctx: Ctx, id: str) -> dict[str, Any]:
    return render(ctx.store, "event", ctx.store.require("event", id))
