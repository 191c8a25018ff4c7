"""The sync engine: full list, events since the cursor, re-list of open objects, upserts.

See the package docstring for the rules; this module only implements them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import stripe

from .tables import (
    STRIPE_RAW_DDL,
    TABLE_BY_KIND,
    TABLES,
    Obj,
    Table,
    content_sha256,
)

ZERO_SEQ = "000000000000:"
STATE_KEY = "default"
PAGE_LIMIT = 100
#: Events are stored in batches of this many, each batch with the cursor in one transaction.
EVENT_BATCH_SIZE = 500
#: Top-level types in the order of the full list (parents before what refers to them).
LIST_ORDER = [
    "customers",
    "products",
    "prices",
    "subscriptions",
    "invoices",
    "credit_notes",
    "charges",
    "refunds",
]
OPEN_INVOICE_STATUSES = ("draft", "open", "uncollectible")
FINAL_SUBSCRIPTION_STATUSES = ("canceled", "incomplete_expired")


def seq_of(created: int | None, event_id: str | None) -> str:
    """The version order key of an event: created (12 digits) then the event id."""
    if created is None or event_id is None:
        return ZERO_SEQ
    return f"{int(created):012d}:{event_id}"


def ensure_stripe_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``raw`` schema and every Stripe raw table if missing (idempotent)."""
    con.execute(STRIPE_RAW_DDL)


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """The newest event processed (``event_id`` None: no event existed when it was set)."""

    event_id: str | None
    created: int | None

    @property
    def seq(self) -> str:
        return seq_of(self.created, self.event_id)


@dataclass
class TypeCounts:
    """What one sync did to one raw table."""

    listed: int = 0  # objects read from Stripe (lists, events, retrieves, embedded children)
    inserted: int = 0  # new ids
    updated: int = 0  # newer versions that replaced the stored one
    unchanged: int = 0  # same content as stored: nothing written
    stale: int = 0  # older than the stored version: nothing written
    removed: int = 0  # child rows (lines, items) no longer on their parent: deleted

    @property
    def upserted(self) -> int:
        return self.inserted + self.updated

    def add(self, other: TypeCounts) -> None:
        for name in asdict(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self) -> dict[str, int]:
        return {**asdict(self), "upserted": self.upserted}


@dataclass
class SyncResult:
    sync_id: int
    mode: str  # full | incremental
    loaded_at: datetime
    started_at: datetime
    finished_at: datetime | None = None
    elapsed_seconds: float = 0.0
    counts: dict[str, TypeCounts] = field(default_factory=lambda: {k: TypeCounts() for k in TABLES})
    events_processed: int = 0  # events newer than the cursor read and handled (incl. ignored)
    events_ignored: int = 0  # of those, about objects not synced (invoice items...)
    cursor_before: str | None = None
    cursor_after: str | None = None
    relisted: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def upserted(self) -> int:
        return sum(c.upserted for c in self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly (e.g. for Dagster output metadata)."""
        return {
            "sync_id": self.sync_id,
            "mode": self.mode,
            "loaded_at": self.loaded_at.isoformat(),
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "elapsed_seconds": self.elapsed_seconds,
            "events_processed": self.events_processed,
            "events_ignored": self.events_ignored,
            "cursor_before": self.cursor_before,
            "cursor_after": self.cursor_after,
            "relisted": self.relisted,
            "upserted": self.upserted,
            "counts": {k: c.to_dict() for k, c in self.counts.items()},
            "warnings": list(self.warnings),
        }


class StripeSyncError(RuntimeError):
    """A sync stopped on a Stripe error; what was committed before it is consistent."""

    def __init__(self, message: str, *, sync_id: int, phase: str, cursor: str | None) -> None:
        super().__init__(message)
        self.sync_id = sync_id
        self.phase = phase
        self.cursor = cursor


_HINTS: list[tuple[type[stripe.StripeError], str]] = [
    (
        stripe.AuthenticationError,
        "check the Stripe API key given to the client (a secret or restricted key with read "
        "access to every synced object), then run the sync again",
    ),
    (
        stripe.PermissionError,
        "give the API key read access to customers, products, prices, subscriptions, invoices, "
        "credit notes, charges, refunds and events, then run the sync again",
    ),
    (
        stripe.RateLimitError,
        "Stripe rate-limited the sync: wait a minute (or use a client with "
        "max_network_retries > 0) and run it again",
    ),
    (
        stripe.APIConnectionError,
        "Stripe could not be reached: check the network and the client's base address, then "
        "run the sync again",
    ),
    (
        stripe.InvalidRequestError,
        "Stripe rejected a read (an object may have been deleted mid-sync): run the sync "
        "again; if it fails the same way, report it with the request id",
    ),
]
_DEFAULT_HINT = "Stripe failed on its side: run the sync again"


def _error_message(err: stripe.StripeError, sync_id: int, phase: str, cursor: Cursor) -> str:
    hint = next((h for cls, h in _HINTS if isinstance(err, cls)), _DEFAULT_HINT)
    status = f" (HTTP {err.http_status})" if err.http_status else ""
    request = f" [request {err.request_id}]" if getattr(err, "request_id", None) else ""
    where = (
        f"the event cursor stays at {cursor.event_id}"
        if cursor.event_id
        else "the event cursor was not moved"
    )
    detail = err.user_message or str(err) or type(err).__name__
    return (
        f"Stripe sync #{sync_id} failed while {phase}: {type(err).__name__}{status}: {detail}"
        f"{request}. The raw.stripe_* tables are consistent (each step that completed was "
        f"committed whole, the failed one not at all) and {where}. What to do: {hint}; the "
        "next sync resumes from the cursor and re-reads everything that was not stored."
    )


# --- versions and plans -----------------------------------------------------------------------


@dataclass
class Version:
    """One version of one object as read from Stripe."""

    table: str
    obj: Obj
    seq: str
    source: str  # list | event | relist
    event_type: str | None = None
    deleted: bool = False


@dataclass
class _Row:
    table: Table
    id: str
    values: list[Any]


@dataclass
class _Plan:
    rows: list[_Row] = field(default_factory=list)
    deletes: list[tuple[Table, str]] = field(default_factory=list)
    counts: dict[str, TypeCounts] = field(default_factory=dict)

    def count(self, key: str) -> TypeCounts:
        return self.counts.setdefault(key, TypeCounts())


def _wins(new_seq: str, new_source: str, old_seq: str) -> bool:
    """Whether a version with different content replaces the stored one (the version rule)."""
    if new_seq != old_seq:
        return new_seq > old_seq
    # Same key: a list read at seq S saw every event up to S, so it is at least as new as
    # the stored version; an event at S cannot be newer than a version already at S.
    return new_source != "event"


def _utc_naive(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC).replace(tzinfo=None)
    if value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _SyncRun:
    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        client: stripe.StripeClient,
        loaded_at: datetime,
        relist_open: bool,
        event_batch_size: int,
    ) -> None:
        self.con = con
        self.client = client
        self.loaded_at = loaded_at
        self.relist_open = relist_open
        self.event_batch_size = event_batch_size
        self.phase = "starting"
        self.cursor = Cursor(None, None)
        self.initialized = False
        self.result: SyncResult

    # --- state --------------------------------------------------------------------------------

    def _load_state(self) -> None:
        row = self.con.execute(
            "select cursor_event_id, cursor_event_created from raw.stripe_sync_state "
            "where state_key = ?",
            [STATE_KEY],
        ).fetchone()
        if row is not None:
            self.initialized = True
            self.cursor = Cursor(row[0], row[1])

    def _write_state(self, cursor: Cursor) -> None:
        self.con.execute(
            "insert into raw.stripe_sync_state as s values (?, ?, ?, ?, ?, ?, ?) "
            "on conflict (state_key) do update set cursor_event_id = excluded.cursor_event_id, "
            "cursor_event_created = excluded.cursor_event_created, "
            "cursor_seq = excluded.cursor_seq, last_sync_id = excluded.last_sync_id, "
            "updated_at = excluded.updated_at",
            [
                STATE_KEY,
                self.loaded_at,
                cursor.event_id,
                cursor.created,
                cursor.seq,
                self.result.sync_id,
                self.loaded_at,
            ],
        )

    def _start_row(self, mode: str) -> None:
        sync_id = self.con.execute(
            "select coalesce(max(sync_id), 0) + 1 from raw.stripe_syncs"
        ).fetchone()[0]  # type: ignore[index]
        started = datetime.now(UTC).replace(tzinfo=None)
        self.result = SyncResult(
            sync_id=int(sync_id),
            mode=mode,
            loaded_at=self.loaded_at,
            started_at=started,
            cursor_before=self.cursor.event_id,
            cursor_after=self.cursor.event_id,
            relisted=False,
        )
        self.con.execute(
            "insert into raw.stripe_syncs (sync_id, mode, status, relist_open, started_at, "
            "loaded_at, cursor_before) values (?, ?, 'running', ?, ?, ?, ?)",
            [sync_id, mode, self.relist_open, started, self.loaded_at, self.cursor.event_id],
        )

    def _finish_row(self, status: str, error: str | None) -> None:
        r = self.result
        r.finished_at = datetime.now(UTC).replace(tzinfo=None)
        r.cursor_after = self.cursor.event_id
        self.con.execute(
            "update raw.stripe_syncs set status = ?, finished_at = ?, mode = ?, cursor_after = ?, "
            "events_processed = ?, counts = ?, error = ? where sync_id = ?",
            [
                status,
                r.finished_at,
                r.mode,
                r.cursor_after,
                r.events_processed,
                json.dumps({k: c.to_dict() for k, c in r.counts.items()}),
                error,
                r.sync_id,
            ],
        )

    # --- API ----------------------------------------------------------------------------------

    def _service(self, key: str) -> Any:
        v1 = self.client.v1
        return {
            "customers": v1.customers,
            "products": v1.products,
            "prices": v1.prices,
            "subscriptions": v1.subscriptions,
            "invoices": v1.invoices,
            "credit_notes": v1.credit_notes,
            "charges": v1.charges,
            "refunds": v1.refunds,
        }[key]

    @staticmethod
    def _pages(first_page: Any) -> Iterator[Obj]:
        for obj in first_page.auto_paging_iter():
            yield obj.to_dict(for_json=True)

    def _list(self, key: str, params: dict[str, Any] | None = None) -> Iterator[Obj]:
        self.phase = f"listing {key}" + (f" {params}" if params else "")
        page = self._service(key).list({**(params or {}), "limit": PAGE_LIMIT})
        yield from self._pages(page)

    def _newest_event(self) -> Cursor:
        self.phase = "reading the newest event"
        page = self.client.v1.events.list({"limit": 1})
        if not page.data:
            return Cursor(None, None)
        return Cursor(page.data[0].id, int(page.data[0].created))

    def _events_since(self, cursor: Cursor) -> tuple[list[Obj], bool]:
        """Events newer than the cursor, oldest first, and whether the cursor was found."""
        self.phase = f"listing events after {cursor.event_id or 'the beginning'}"
        params: dict[str, Any] = {"limit": PAGE_LIMIT}
        if cursor.created is not None:
            params["created"] = {"gte": cursor.created}
        found = cursor.event_id is None
        events: list[Obj] = []
        for event in self.client.v1.events.list(params).auto_paging_iter():
            if event.id == cursor.event_id:
                found = True
                break
            events.append(event.to_dict(for_json=True))
        events.sort(key=lambda e: seq_of(e["created"], e["id"]))
        return events, found

    def _children(self, table: Table, obj: Obj) -> list[Obj] | None:
        """Every line of an invoice / item of a subscription (paged when ``has_more``)."""
        embedded = obj.get("lines" if table.key == "invoices" else "items")
        if not isinstance(embedded, dict):
            return None
        if not embedded.get("has_more"):
            return list(embedded.get("data") or [])
        if table.key == "invoices":
            self.phase = f"listing the lines of invoice {obj['id']}"
            page = self.client.v1.invoices.line_items.list(obj["id"], {"limit": PAGE_LIMIT})
        else:
            self.phase = f"listing the items of subscription {obj['id']}"
            page = self.client.v1.subscription_items.list(
                {"subscription": obj["id"], "limit": PAGE_LIMIT}
            )
        return list(self._pages(page))

    # --- storing --------------------------------------------------------------------------------

    def _row_values(
        self,
        table: Table,
        obj: Obj,
        version: Version,
        sha: str,
        version_no: int,
        parent: Obj | None = None,
        position: int | None = None,
    ) -> list[Any]:
        return [
            obj["id"],
            *table.typed_values(obj, parent, position),
            json.dumps(obj, ensure_ascii=False),
            sha,
            version.deleted if parent is None else False,
            version.seq,
            version.source,
            version.event_type,
            version_no,
            self.result.sync_id,
            self.loaded_at,
        ]

    def _existing(self, table: Table, ids: Iterable[str]) -> dict[str, tuple[str, str, int]]:
        ids = list(ids)
        if not ids:
            return {}
        rows = self.con.execute(
            f"select id, stripe_updated_seq, content_sha256, version_no from {table.name} "
            "where id in (select unnest(?))",
            [ids],
        ).fetchall()
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def _plan_parents(self, table: Table, versions: list[Version], plan: _Plan) -> list[Version]:
        """Decide each version's fate; returns the versions to write."""
        counts = plan.count(table.key)
        existing = self._existing(table, {v.obj["id"] for v in versions})
        winners: list[Version] = []
        for v in versions:
            counts.listed += 1
            oid = v.obj["id"]
            sha = content_sha256(v.obj, v.deleted)
            old = existing.get(oid)
            if old is None:
                counts.inserted += 1
                version_no = 1
            elif sha == old[1]:
                counts.unchanged += 1
                continue
            elif not _wins(v.seq, v.source, old[0]):
                counts.stale += 1
                continue
            else:
                counts.updated += 1
                version_no = old[2] + 1
            existing[oid] = (v.seq, sha, version_no)
            plan.rows.append(_Row(table, oid, self._row_values(table, v.obj, v, sha, version_no)))
            winners.append(v)
        return winners

    def _plan_children(
        self, table: Table, version: Version, children: list[Obj], plan: _Plan
    ) -> None:
        child = TABLES[table.children[0]]
        counts = plan.count(child.key)
        parent_id = version.obj["id"]
        rows = self.con.execute(
            f"select id, content_sha256, version_no from {child.name} "
            f"where {child.parent_column} = ? or id in (select unnest(?))",
            [parent_id, [c["id"] for c in children] or [""]],
        ).fetchall()
        existing = {r[0]: (r[1], r[2]) for r in rows}
        seen: set[str] = set()
        for position, obj in enumerate(children):
            counts.listed += 1
            seen.add(obj["id"])
            sha = content_sha256({"position": position, "object": obj}, False)
            old = existing.get(obj["id"])
            if old is not None and old[0] == sha:
                counts.unchanged += 1
                continue
            if old is None:
                counts.inserted += 1
            else:
                counts.updated += 1
            values = self._row_values(
                child, obj, version, sha, 1 if old is None else old[1] + 1, version.obj, position
            )
            plan.rows.append(_Row(child, obj["id"], values))
        for gone in sorted(set(existing) - seen):
            counts.removed += 1
            plan.deletes.append((child, gone))

    def store(self, versions: list[Version], cursor: Cursor | None = None) -> None:
        """Upsert versions (and their children) and move the cursor, in one transaction.

        Reads (stored versions, then the children Stripe pages out) happen before the
        transaction; the counts are added to the result only once it committed.
        """
        newest: dict[tuple[str, str], Version] = {}
        superseded: dict[str, int] = {}
        for v in versions:  # within one batch only the newest version of an id is stored
            k = (v.table, v.obj["id"])
            if k in newest:
                superseded[v.table] = superseded.get(v.table, 0) + 1
                if not _wins(v.seq, v.source, newest[k].seq):
                    continue
            newest[k] = v
        plan = _Plan()
        for key, n in superseded.items():  # read, never written: counted as stale
            plan.count(key).listed += n
            plan.count(key).stale += n
        by_table: dict[str, list[Version]] = {}
        for v in newest.values():
            by_table.setdefault(v.table, []).append(v)
        for key in LIST_ORDER:
            if key not in by_table:
                continue
            table = TABLES[key]
            for v in self._plan_parents(table, by_table[key], plan):
                if table.children and not v.deleted:
                    children = self._children(table, v.obj)
                    if children is not None:
                        self._plan_children(table, v, children, plan)
        self._apply(plan, cursor)
        for key, c in plan.counts.items():
            self.result.counts[key].add(c)
        if cursor is not None:
            self.cursor = cursor
            self.result.cursor_after = cursor.event_id

    def _apply(self, plan: _Plan, cursor: Cursor | None) -> None:
        if not plan.rows and not plan.deletes and cursor is None:
            return
        self.phase = "writing to DuckDB"
        self.con.execute("begin transaction")
        try:
            for table, gone in plan.deletes:
                self.con.execute(f"delete from {table.name} where id = ?", [gone])
            grouped: dict[str, list[_Row]] = {}
            for row in plan.rows:
                grouped.setdefault(row.table.key, []).append(row)
            for key, rows in grouped.items():
                table = TABLES[key]
                cols = table.all_columns
                self.con.executemany(
                    f"insert or replace into {table.name} ({', '.join(cols)}) "
                    f"values ({', '.join('?' for _ in cols)})",
                    [r.values for r in rows],
                )
            if cursor is not None:
                self._write_state(cursor)
            self.con.execute("commit")
        except BaseException:
            self.con.execute("rollback")
            raise

    # --- phases -----------------------------------------------------------------------------------

    def full(self) -> None:
        """List every type (each in its own transaction), then set the cursor."""
        newest = self._newest_event()
        for key in LIST_ORDER:
            params = {"status": "all"} if key == "subscriptions" else None
            versions = [Version(key, o, newest.seq, "list") for o in self._list(key, params)]
            self.store(versions)
        self.store([], cursor=newest)

    def incremental(self) -> bool:
        """Apply the events since the cursor; False when the cursor was not found."""
        events, found = self._events_since(self.cursor)
        if not found:
            return False
        for batch in _chunks(events, self.event_batch_size):
            versions: list[Version] = []
            for event in batch:
                obj = (event.get("data") or {}).get("object") or {}
                key = TABLE_BY_KIND.get(obj.get("object"))
                if key is None or not obj.get("id"):
                    self.result.events_ignored += 1
                    continue
                deleted = bool(obj.get("deleted")) or (
                    event["type"].endswith(".deleted") and key != "subscriptions"
                )
                seq = seq_of(event["created"], event["id"])
                versions.append(Version(key, obj, seq, "event", event["type"], deleted))
            last = batch[-1]
            self.store(versions, cursor=Cursor(last["id"], int(last["created"])))
            self.result.events_processed += len(batch)
        return True

    def _retrieve_or_deleted(self, key: str, oid: str, seq: str) -> Version:
        self.phase = f"retrieving {key} {oid}"
        try:
            obj = self._service(key).retrieve(oid).to_dict(for_json=True)
        except stripe.InvalidRequestError as err:
            if err.http_status != 404:
                raise
            stored = self.con.execute(
                f"select object_json from {TABLES[key].name} where id = ?", [oid]
            ).fetchone()
            return Version(key, json.loads(stored[0]), seq, "relist", deleted=True)  # type: ignore[index]
        return Version(key, obj, seq, "relist", deleted=bool(obj.get("deleted")))

    def _ids(self, sql: str) -> list[str]:
        return [r[0] for r in self.con.execute(sql).fetchall()]

    def relist(self) -> None:
        """Re-read what is not final yet: a safety net for events Stripe no longer has."""
        seq = self.cursor.seq
        self.result.relisted = True
        # invoices: draft, open and uncollectible can still change
        statuses = ", ".join(f"'{s}'" for s in OPEN_INVOICE_STATUSES)
        stored_open = self._ids(
            f"select id from raw.stripe_invoices where not deleted and status in ({statuses})"
        )
        seen: dict[str, Version] = {}
        for status in OPEN_INVOICE_STATUSES:
            for obj in self._list("invoices", {"status": status}):
                seen[obj["id"]] = Version("invoices", obj, seq, "relist")
        for oid in stored_open:
            if oid not in seen:  # left the open states: read its final state
                seen[oid] = self._retrieve_or_deleted("invoices", oid, seq)
        self.store(list(seen.values()))
        # subscriptions: every status but canceled / incomplete_expired
        final = ", ".join(f"'{s}'" for s in FINAL_SUBSCRIPTION_STATUSES)
        stored_live = self._ids(
            f"select id from raw.stripe_subscriptions where not deleted and status not in ({final})"
        )
        seen = {
            o["id"]: Version("subscriptions", o, seq, "relist") for o in self._list("subscriptions")
        }
        for oid in stored_live:
            if oid not in seen:
                seen[oid] = self._retrieve_or_deleted("subscriptions", oid, seq)
        self.store(list(seen.values()))
        # charges that can still be refunded
        refundable = self._ids(
            "select id from raw.stripe_charges where not deleted and status = 'succeeded' "
            "and coalesce(amount_refunded, 0) < amount"
        )
        self.store([self._retrieve_or_deleted("charges", oid, seq) for oid in refundable])


def sync_stripe(
    con: duckdb.DuckDBPyConnection,
    client: stripe.StripeClient,
    *,
    loaded_at: datetime | None = None,
    relist_open: bool = True,
    event_batch_size: int = EVENT_BATCH_SIZE,
) -> SyncResult:
    """Bring the ``raw.stripe_*`` tables up to date with the Stripe account behind ``client``.

    First run (no cursor): a full list of every type. Later runs: the events since the cursor,
    then (``relist_open``) a re-read of the objects that are not final yet. Raises
    :class:`StripeSyncError` on a Stripe error (the sync is recorded as failed, every table
    stays consistent and the cursor covers only stored events).
    """
    ensure_stripe_schema(con)
    run = _SyncRun(con, client, _utc_naive(loaded_at), relist_open, max(1, event_batch_size))
    run._load_state()
    run._start_row("incremental" if run.initialized else "full")
    started = time.monotonic()
    try:
        if not run.initialized:
            run.full()
        elif not run.incremental():
            run.result.mode = "full"
            run.result.warnings.append(
                f"cursor event {run.cursor.event_id} is no longer listed by Stripe (events are "
                "kept 30 days): every type was listed again in full"
            )
            run.full()
        elif relist_open:
            run.relist()
    except stripe.StripeError as err:
        message = _error_message(err, run.result.sync_id, run.phase, run.cursor)
        run.result.elapsed_seconds = round(time.monotonic() - started, 3)
        run._finish_row("failed", message)
        raise StripeSyncError(
            message, sync_id=run.result.sync_id, phase=run.phase, cursor=run.cursor.event_id
        ) from err
    except BaseException as err:
        run._finish_row("failed", f"{type(err).__name__}: {err}")
        raise
    run.result.elapsed_seconds = round(time.monotonic() - started, 3)
    run._finish_row("succeeded", None)
    return run.result
