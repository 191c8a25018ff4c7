"""Stripe -> DuckDB: the Stripe objects in raw tables, kept up to date incrementally.

Usage::

    from ingestion.stripe_sync import sync_stripe

    result = sync_stripe(con, stripe_client)          # a stripe.StripeClient (SDK 16)
    context.add_output_metadata(result.to_dict())     # e.g. from a Dagster asset

Tables (DDL with a comment per column: :data:`STRIPE_RAW_DDL`, created by
:func:`ensure_stripe_schema`): ``raw.stripe_customers``, ``stripe_products``, ``stripe_prices``,
``stripe_subscriptions``, ``stripe_subscription_items``, ``stripe_invoices``,
``stripe_invoice_lines`` (every line, paged through ``/v1/invoices/{id}/lines``),
``stripe_credit_notes``, ``stripe_charges``, ``stripe_refunds``; one row per Stripe id with the
typed columns an analyst needs, the full object (``object_json``) and its version columns.
``raw.stripe_sync_state`` keeps the event cursor and ``raw.stripe_syncs`` one row per sync.

**What a sync reads.**

1. First run (no cursor): the newest event is noted as the cursor, then every type is listed in
   full (``limit=100``, auto-paging; subscriptions with ``status=all``), each type stored in its
   own transaction; the cursor is stored last. A first run that fails stores no cursor, so the
   next run lists everything again (unchanged rows are not rewritten).
2. Later runs: the events newer than the cursor (``/v1/events`` with ``created[gte]`` = the
   cursor's, paged newest first until the cursor event), applied oldest first in batches of
   ``event_batch_size``; each batch's upserts and the cursor move to its last event commit in one
   transaction, so the cursor never covers an event that is not stored. Each event's
   ``data.object`` is a version of that object; an invoice's lines (a subscription's items) are
   refreshed with it, paging ``/v1/invoices/{id}/lines`` when the embedded list ``has_more``.
   Events about objects not synced (invoice items, invoice payments) are counted and skipped.
   If the cursor event is no longer listed (Stripe keeps events 30 days), the run lists every
   type again (``mode='full'``, with a warning).
3. Then, when ``relist_open``: the objects not final yet are read again (invoices draft / open /
   uncollectible, subscriptions not canceled or incomplete_expired, succeeded charges with an
   unrefunded amount); a stored open object no longer listed as open is retrieved one by one
   (a 404 marks it deleted). This only matters when events were lost; credit notes and the
   other types rely on events.

**Which version wins (the version rule).** Every stored version has a key,
``stripe_updated_seq = '<created, 12 digits>:<event id>'``, of the event it came from; a
version read by a list gets the key of the newest event already processed when it was read
(the cursor), since it reflects at least every event up to it. A read version is written only
when its content (``content_sha256``: the object JSON with sorted keys, plus the deleted flag)
differs from the stored one **and** it is newer: a higher key, or the same key and read by a
list (a list read at key K saw every event up to K; an event at K is never newer than a version
already at K). So an older event never overwrites a newer object, a replay of the same events
or a re-list of unchanged objects writes nothing, and within one batch only the newest
version of each id is stored (the others count as ``stale``). Stripe lists events newest first;
the key orders them by ``created`` then id, which is the true order in the emulator (ids grow)
and within one second a tie-break for real Stripe (whose ids are random): two changes to one
object in the same second may be applied in the wrong order, and the next change or re-list
corrects it. Child rows (lines, items) are written when their own content or position changes,
with their parent's version columns, and deleted when they left the parent.

``version_no`` counts the versions stored per id, ``sync_id`` / ``loaded_at`` say which sync
wrote the row. Deleted customers, products and draft invoices stay with ``deleted = true``.

**Errors.** A Stripe error raises :class:`StripeSyncError` whose message says what failed, that
the tables are consistent and where the cursor is, and what to do (usually: fix the cause and
run again; the sync resumes from the cursor). The sync is recorded as ``failed`` in
``raw.stripe_syncs`` with that message.

**Mapping to Meterhouse** (:mod:`.mapping`): customers by ``metadata.meterhouse_customer_id``
(:data:`CUSTOMER_ID_METADATA_KEY`), plan codes by the price's ``lookup_key`` (fallback:
``metadata.meterhouse_plan_code``, :data:`PLAN_CODE_METADATA_KEY`);
:func:`unmapped_customers` and :func:`stripe_subscriptions_for_meterhouse`.
"""

from __future__ import annotations

from .mapping import stripe_subscriptions_for_meterhouse, unmapped_customers
from .sync import (
    EVENT_BATCH_SIZE,
    Cursor,
    StripeSyncError,
    SyncResult,
    TypeCounts,
    ensure_stripe_schema,
    sync_stripe,
)
from .tables import (
    CUSTOMER_ID_METADATA_KEY,
    INVOICE_ID_METADATA_KEY,
    PLAN_CODE_METADATA_KEY,
    STRIPE_RAW_DDL,
    TABLES,
)

__all__ = [
    "CUSTOMER_ID_METADATA_KEY",
    "EVENT_BATCH_SIZE",
    "INVOICE_ID_METADATA_KEY",
    "PLAN_CODE_METADATA_KEY",
    "STRIPE_RAW_DDL",
    "TABLES",
    "Cursor",
    "StripeSyncError",
    "SyncResult",
    "TypeCounts",
    "ensure_stripe_schema",
    "stripe_subscriptions_for_meterhouse",
    "sync_stripe",
    "unmapped_customers",
]
