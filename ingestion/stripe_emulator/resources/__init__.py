"""The emulated Stripe v1 endpoints, one module per resource family.

Importing this package registers every route (see :func:`base.route`).
"""

from __future__ import annotations

from . import catalog, credit_notes, customers, events, invoices, payments, subscriptions
from .base import ROUTES, Ctx, match_route

__all__ = [
    "ROUTES",
    "Ctx",
    "catalog",
    "credit_notes",
    "customers",
    "events",
    "invoices",
    "match_route",
    "payments",
    "subscriptions",
]
