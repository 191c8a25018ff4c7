"""The publication ledger: what was sent to Stripe, call by call, and where each document stands.

Three tables in the warehouse (``PUBLISH_DDL``):

``raw.stripe_publications`` (append-only, one row per Stripe HTTP call the publisher made, reads
included; rows are never updated or deleted)
    ``call_seq`` (order), ``run_id``, ``document_type`` (``invoice`` | ``credit_note``),
    ``document_id`` (the Meterhouse invoice_id / credit_note_id), ``line_id`` (the Meterhouse
    invoice_line_id when the call is about one line), ``step`` (``find_customer``,
    ``create_invoice``, ``add_line``, ``finalize``, ``create_credit_note``, ``lookup``),
    ``endpoint`` (``POST /v1/invoices``...), ``idempotency_key`` (writes only), ``params_digest``
    (sha256 of the canonical JSON of the request parameters), ``attempt`` (1 for the first try of a
    call, 2.. for retries), ``outcome`` (see below), ``http_status``, ``stripe_object_id``,
    ``stripe_request_id``, ``error``, ``called_at`` (UTC).

    ``outcome``: ``ok``; ``ok_replayed`` (Stripe replayed a stored success for the key);
    ``rate_limited`` (429), ``server_error`` (5xx that may be retried with the same key),
    ``connection_error`` (no answer: the call may or may not have run), ``key_in_use`` (409) —
    the transient ones, retried; ``stored_error`` (a 5xx Stripe stored under the key, or told us
    not to retry: resolved by a lookup, then a new key); ``client_error`` (4xx, never retried);
    ``not_found`` (404 on a read).

``raw.stripe_published_documents`` (one row per Meterhouse document, upserted as it advances)
    ``document_type``, ``document_id``, ``customer_id``, ``billing_month``, ``currency``,
    ``original_invoice_id`` (credit notes), ``stripe_customer_id``, ``stripe_invoice_id`` (an
    invoice's own; for a credit note, its original's), ``stripe_credit_note_id``, ``state``,
    ``meterhouse_total_cents`` (minor units), ``stripe_total_cents``, ``last_error``,
    ``finalized_at`` (Stripe's ``status_transitions.finalized_at``; a credit note's ``created``),
    ``first_seen_at``, ``updated_at``.

    ``state``: invoices ``draft_created`` -> ``lines_added`` -> ``finalized`` (or
    ``total_mismatch``: Stripe's total differs from Meterhouse's and the invoice is left as is);
    credit notes ``issued``. ``last_error`` is the latest failure (cleared on success). An operator's
    ``void_invoice`` sets an invoice to ``voided`` (``stripe_invoice_id`` still the voided one);
    ``reissue_invoice`` sets it back to ``finalized`` with the replacement's id (see ``operations``).

``raw.stripe_invoice_operations`` (append-only, one row per operator action that reached Stripe)
    ``operation_seq`` (order), ``operation_id``, ``operation`` (``void`` | ``reissue``),
    ``invoice_id`` (Meterhouse), ``stripe_invoice_id`` (the voided invoice / the replacement),
    ``replaced_stripe_invoice_id`` (a reissue's voided invoice), ``reason``, ``operator``,
    ``status`` (``ok`` | ``failed``), ``error``, ``run_id`` (its calls in
    ``raw.stripe_publications``), ``operated_at`` (UTC). Refusals (no reason, a draft, already
    void, paid...) change nothing and are not recorded.

Idempotency keys (:meth:`Ledger.current_key`): the key of a write is derived from Meterhouse ids
(``mh-<invoice_id>-create``, ``mh-<invoice_line_id>``, ``mh-<invoice_id>-finalize``,
``mh-<credit_note_id>-create``). It is reused while its last outcome was transient (so a retry,
even days later in Stripe's 24 h, replays instead of executing twice); after a ``stored_error`` or
an ``ok`` whose object no longer exists (the publisher only writes after a lookup found nothing),
the next key gets a suffix ``-k1``, ``-k2``... and is recorded like any other.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

PUBLICATIONS = "raw.stripe_publications"
DOCUMENTS = "raw.stripe_published_documents"
OPERATIONS = "raw.stripe_invoice_operations"

PUBLISH_DDL = f"""
create schema if not exists raw;
create sequence if not exists raw.stripe_publications_seq;
create table if not exists {PUBLICATIONS} (
    call_seq bigint primary key default nextval('raw.stripe_publications_seq'),
    run_id varchar not null,
    document_type varchar not null,
    document_id varchar not null,
    line_id varchar,
    step varchar not null,
    endpoint varchar,
    idempotency_key varchar,
    params_digest varchar,
    attempt integer not null,
    outcome varchar not null,
    http_status integer,
    stripe_object_id varchar,
    stripe_request_id varchar,
    error varchar,
    called_at timestamp not null
);
create table if not exists {DOCUMENTS} (
    document_type varchar not null,
    document_id varchar not null,
    customer_id varchar not null,
    billing_month varchar not null,
    currency varchar not null,
    original_invoice_id varchar,
    stripe_customer_id varchar,
    stripe_invoice_id varchar,
    stripe_credit_note_id varchar,
    state varchar not null,
    meterhouse_total_cents hugeint not null,
    stripe_total_cents hugeint,
    last_error varchar,
    finalized_at timestamp,
    first_seen_at timestamp not null,
    updated_at timestamp not null,
    primary key (document_type, document_id)
);
create sequence if not exists raw.stripe_invoice_operations_seq;
create table if not exists {OPERATIONS} (
    operation_seq bigint not null default nextval('raw.stripe_invoice_operations_seq'),
    operation_id varchar primary key,
    operation varchar not null,
    invoice_id varchar not null,
    stripe_invoice_id varchar,
    replaced_stripe_invoice_id varchar,
    reason varchar not null,
    operator varchar not null,
    status varchar not null,
    error varchar,
    run_id varchar not null,
    operated_at timestamp not null
);
"""

# outcomes after which the same idempotency key is used again (the call's fate is unknown)
TRANSIENT_OUTCOMES = frozenset({"rate_limited", "server_error", "connection_error", "key_in_use"})
MAX_KEY_LENGTH = 200  # Stripe allows 255


def ensure_publish_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the publication ledger tables (``PUBLISH_DDL``) if they do not exist."""
    con.execute(PUBLISH_DDL)


def params_digest(params: dict[str, Any] | None) -> str:
    """sha256 of the canonical JSON of a request's parameters."""
    return hashlib.sha256(
        json.dumps(params or {}, sort_keys=True, default=str).encode()
    ).hexdigest()


def idempotency_key(*parts: str) -> str:
    """``mh-<parts joined by ->``: printable ASCII, at most 200 characters (hashed when longer)."""
    raw = "mh-" + "-".join(parts)
    safe = re.sub(r"[^A-Za-z0-9_.:|=+-]", "_", raw)
    if safe != raw or len(safe) > MAX_KEY_LENGTH:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:16]
        safe = f"{safe[: MAX_KEY_LENGTH - 17]}~{digest}"
    return safe


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    rows = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchall()  # fetchall, not fetchone: DuckDB 2 keeps a half-read result open
    return bool(rows and rows[0][0])


@dataclass
class CallRecord:
    document_type: str
    document_id: str
    line_id: str | None
    step: str
    endpoint: str
    idempotency_key: str | None
    params_digest: str
    attempt: int
    outcome: str
    http_status: int | None
    stripe_object_id: str | None
    stripe_request_id: str | None
    error: str | None


@dataclass
class DocumentState:
    document_type: str
    document_id: str
    state: str
    stripe_customer_id: str | None
    stripe_invoice_id: str | None
    stripe_credit_note_id: str | None
    stripe_total_cents: int | None
    last_error: str | None


class Ledger:
    """Reads and writes the publication ledger; a read-only ledger (dry runs) never writes."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        run_id: str,
        clock: Callable[[], datetime],
        *,
        writable: bool = True,
    ) -> None:
        self.con = con
        self.run_id = run_id
        self.clock = clock
        self.writable = writable
        if writable:
            ensure_publish_schema(con)
        self.exists = writable or (
            table_exists(con, "raw", "stripe_publications")
            and table_exists(con, "raw", "stripe_published_documents")
        )

    # --- calls --------------------------------------------------------------------------

    def record_call(self, rec: CallRecord) -> None:
        if not self.writable:
            return
        self.con.execute(
            f"""insert into {PUBLICATIONS} (run_id, document_type, document_id, line_id, step,
                endpoint, idempotency_key, params_digest, attempt, outcome, http_status,
                stripe_object_id, stripe_request_id, error, called_at)
            values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                self.run_id,
                rec.document_type,
                rec.document_id,
                rec.line_id,
                rec.step,
                rec.endpoint,
                rec.idempotency_key,
                rec.params_digest,
                rec.attempt,
                rec.outcome,
                rec.http_status,
                rec.stripe_object_id,
                rec.stripe_request_id,
                rec.error,
                self.clock(),
            ],
        )

    def current_key(
        self, document_type: str, document_id: str, line_id: str | None, step: str, base: str
    ) -> str:
        """The idempotency key the next write of this step uses (see the module docstring)."""
        if not self.exists:
            return base
        rows = self.con.execute(
            f"""select idempotency_key, outcome from {PUBLICATIONS}
            where document_type = ? and document_id = ? and coalesce(line_id, '') = ?
              and step = ? and idempotency_key is not null
            order by call_seq""",
            [document_type, document_id, line_id or "", step],
        ).fetchall()
        if not rows:
            return base
        last_key, last_outcome = rows[-1]
        if last_outcome in TRANSIENT_OUTCOMES or last_outcome == "client_error":
            return str(last_key)
        used = list(dict.fromkeys(str(k) for k, _ in rows))
        n = len(used)
        while True:
            key = f"{base}-k{n}"
            if key not in used:
                return key
            n += 1

    # --- documents ----------------------------------------------------------------------

    def document(self, document_type: str, document_id: str) -> DocumentState | None:
        if not self.exists:
            return None
        rows = self.con.execute(
            f"""select document_type, document_id, state, stripe_customer_id, stripe_invoice_id,
                stripe_credit_note_id, stripe_total_cents, last_error
            from {DOCUMENTS} where document_type = ? and document_id = ?""",
            [document_type, document_id],
        ).fetchall()
        if not rows:
            return None
        row = rows[0]
        return DocumentState(
            document_type=row[0],
            document_id=row[1],
            state=row[2],
            stripe_customer_id=row[3],
            stripe_invoice_id=row[4],
            stripe_credit_note_id=row[5],
            stripe_total_cents=None if row[6] is None else int(row[6]),
            last_error=row[7],
        )

    def save_document(
        self,
        *,
        document_type: str,
        document_id: str,
        customer_id: str,
        billing_month: str,
        currency: str,
        meterhouse_total_cents: int,
        state: str | None = None,
        original_invoice_id: str | None = None,
        stripe_customer_id: str | None = None,
        stripe_invoice_id: str | None = None,
        stripe_credit_note_id: str | None = None,
        stripe_total_cents: int | None = None,
        last_error: str | None = None,
        finalized_at: datetime | None = None,
    ) -> None:
        """Upsert a document's row; None keeps the stored value, except ``last_error`` (cleared)."""
        if not self.writable:
            return
        now = self.clock()
        self.con.execute(
            f"""insert into {DOCUMENTS} (document_type, document_id, customer_id, billing_month,
                currency, original_invoice_id, stripe_customer_id, stripe_invoice_id,
                stripe_credit_note_id, state, meterhouse_total_cents, stripe_total_cents,
                last_error, finalized_at, first_seen_at, updated_at)
            values (?, ?, ?, ?, ?, ?, ?, ?, ?, coalesce(?, 'pending'), ?, ?, ?, ?, ?, ?)
            on conflict (document_type, document_id) do update set
                original_invoice_id = coalesce(excluded.original_invoice_id,
                                               {DOCUMENTS}.original_invoice_id),
                stripe_customer_id = coalesce(excluded.stripe_customer_id,
                                              {DOCUMENTS}.stripe_customer_id),
                stripe_invoice_id = coalesce(excluded.stripe_invoice_id,
                                             {DOCUMENTS}.stripe_invoice_id),
                stripe_credit_note_id = coalesce(excluded.stripe_credit_note_id,
                                                 {DOCUMENTS}.stripe_credit_note_id),
                state = case when ? is null then {DOCUMENTS}.state else excluded.state end,
                meterhouse_total_cents = excluded.meterhouse_total_cents,
                stripe_total_cents = coalesce(excluded.stripe_total_cents,
                                              {DOCUMENTS}.stripe_total_cents),
                last_error = excluded.last_error,
                finalized_at = coalesce(excluded.finalized_at, {DOCUMENTS}.finalized_at),
                updated_at = excluded.updated_at""",
            [
                document_type,
                document_id,
                customer_id,
                billing_month,
                currency,
                original_invoice_id,
                stripe_customer_id,
                stripe_invoice_id,
                stripe_credit_note_id,
                state,
                meterhouse_total_cents,
                stripe_total_cents,
                last_error,
                finalized_at,
                now,
                now,
                state,
            ],
        )
