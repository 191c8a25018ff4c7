"""A stateful Stripe-compatible HTTP emulator that the real ``stripe`` SDK (16.x) talks to.

Nothing here reaches the internet: the server listens on loopback and the SDK is pointed at it
with :func:`client_for`.

Usage::

    from ingestion.stripe_emulator import EmulatorServer, client_for

    with EmulatorServer(state_path=Path("stripe_state.json")) as srv:
        client = client_for(srv.url)
        customer = client.v1.customers.create({"email": "a@example.com"})

``serve(state_path, host, port)`` runs it in the foreground (``python -m
ingestion.stripe_emulator --state PATH --port N``).

Emulated resources (shapes of API version 2026-10-28.endive, the SDK's default): customers,
products, prices, subscriptions and items, invoice items, invoices and their lines (incl.
``add_lines``, ``finalize``, ``pay``, ``void``, ``mark_uncollectible``, search), credit
notes, charges, refunds, invoice payments and events; see ``resources/`` for each family's
rules and simplifications. IDs, ``created`` (from an emulator clock), newest-first lists,
``expand``, errors and idempotency behave as Stripe documents them.

How each fault (``srv.inject_fault(kind, path, method)``) looks to an SDK caller using
``client_for(url, max_network_retries=N)``:

============== ================================== =========================================
fault          N = 0                              N > 0 (the SDK retries, same key)
============== ================================== =========================================
500_before     ``APIError`` (500), nothing made   retried; the retry creates the object once
500_after      ``APIError`` (500), object made,   not retried (``Stripe-Should-Retry:
               500 stored under the key           false``); ``APIError``; replays give 500
timeout        ``APIConnectionError`` when the    retried: 409 while the first request
               client timeout is shorter than     still sleeps (retried again), then the
               the fault's ``seconds``            stored success is replayed: one object
drop_after_    ``APIConnectionError``, object     retried: the stored success is replayed,
write          made and stored under the key      exactly one object exists
429            ``RateLimitError``, nothing made   ``rate_limit``: not retried,
                                                  ``RateLimitError``; ``lock_timeout``
                                                  (``Stripe-Should-Retry: true``): retried
============== ================================== =========================================
"""

from __future__ import annotations

from .client import client_for
from .faults import Fault
from .server import EmulatorServer, RequestLogEntry, serve

__all__ = ["EmulatorServer", "Fault", "RequestLogEntry", "client_for", "serve"]
