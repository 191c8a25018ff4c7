"""The raw Stripe tables: one per object type, typed columns plus the full object JSON.

Each table is declared once here (:data:`TABLES`) as a list of typed columns, each with its
SQL type, how it is read from the Stripe object and a one-line description; the DDL
(:data:`STRIPE_RAW_DDL`) is generated from these declarations, so the insert code and the DDL
never drift apart, and every column carries its description as an SQL comment.

Conventions for every column below:

* money is ``bigint`` in the currency's minor unit, exactly as Stripe sends it (``unit_amount``
  and ``*_decimal`` texts are kept as ``varchar`` so that sub-minor prices stay exact);
* every time is a ``timestamp`` in UTC without a zone (Stripe's unix seconds, converted);
* ids of other objects are the Stripe ids (``cus_...``), even when Stripe could expand them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

#: Stripe customer ``metadata`` key holding the Meterhouse customer id (the ``customer_id`` of
#: usage events, Lago's ``external_customer_id``).
CUSTOMER_ID_METADATA_KEY = "meterhouse_customer_id"
#: Stripe invoice ``metadata`` key holding the Meterhouse invoice id it was issued from.
INVOICE_ID_METADATA_KEY = "meterhouse_invoice_id"
#: Fallback for the catalog plan code: a price's ``lookup_key`` is the plan code (Stripe's own
#: way to name a price stably, unique per account); a price without one may carry the code in
#: this ``metadata`` key instead (the same key is read on products, as information only).
PLAN_CODE_METADATA_KEY = "meterhouse_plan_code"

Obj = dict[str, Any]


def get(obj: Any, path: str) -> Any:
    """``obj["a"]["b"]`` for ``"a.b"``; ``None`` as soon as a step is missing or null."""
    node = obj
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def ts(value: Any) -> datetime | None:
    """Stripe unix seconds as a naive UTC ``datetime``."""
    if value is None or isinstance(value, bool):
        return None
    return datetime.fromtimestamp(int(value), tz=UTC).replace(tzinfo=None)


def as_id(value: Any) -> str | None:
    """An id field that may have been expanded into an object."""
    if isinstance(value, dict):
        return value.get("id")
    return value


def plan_code_of_price(price: Any) -> str | None:
    """The catalog plan code a price carries: its ``lookup_key``, else its metadata key."""
    if not isinstance(price, dict):
        return None
    return price.get("lookup_key") or get(price, f"metadata.{PLAN_CODE_METADATA_KEY}") or None


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_sha256(obj: Any, deleted: bool) -> str:
    text = canonical_json(obj) + ("\x00deleted" if deleted else "")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    read: Callable[[Obj, Obj | None, int | None], Any]  # (object, parent, position) -> value
    doc: str


def col(name: str, sql_type: str, doc: str, path: str | None = None) -> Column:
    """A column read from ``path`` (default: the column name) of the object."""
    path = path or name
    if sql_type == "timestamp":
        return Column(name, sql_type, lambda o, _p, _i: ts(get(o, path)), doc)
    if sql_type == "bigint":
        return Column(
            name,
            sql_type,
            lambda o, _p, _i: None if get(o, path) is None else int(get(o, path)),
            doc,
        )
    if sql_type == "boolean":
        return Column(
            name,
            sql_type,
            lambda o, _p, _i: None if get(o, path) is None else bool(get(o, path)),
            doc,
        )
    return Column(name, sql_type, lambda o, _p, _i: as_id(get(o, path)), doc)


def fn(
    name: str, sql_type: str, doc: str, read: Callable[[Obj, Obj | None, int | None], Any]
) -> Column:
    return Column(name, sql_type, read, doc)


#: Columns every table ends with, in this order; filled by the sync, not read from the object.
COMMON_COLUMNS: list[tuple[str, str, str]] = [
    ("object_json", "json not null", "the full object exactly as the API returned it"),
    (
        "content_sha256",
        "varchar not null",
        "sha-256 of object_json (keys sorted) and the deleted flag: same hash, same version",
    ),
    (
        "deleted",
        "boolean not null",
        "true after a *.deleted event (customer, product, draft invoice) or a 404 on re-list",
    ),
    (
        "stripe_updated_seq",
        "varchar not null",
        "version order key 'CCCCCCCCCCCC:evt_id' (event created, 12 digits, then event id) of "
        "the event this version came from; for list reads, the newest event already processed "
        "when it was read; a higher key is a newer version (see the package docstring)",
    ),
    ("version_source", "varchar not null", "how this version was read: list, event or relist"),
    ("version_event_type", "varchar", "the event type when version_source = 'event'"),
    ("version_no", "integer not null", "1 for the first version stored, +1 per replacement"),
    ("sync_id", "bigint not null", "raw.stripe_syncs.sync_id of the sync that wrote this version"),
    ("loaded_at", "timestamp not null", "loaded_at of the sync that wrote this version (UTC)"),
]
COMMON_NAMES = [c[0] for c in COMMON_COLUMNS]


@dataclass(frozen=True)
class Table:
    """One raw table. ``kind`` is Stripe's ``object`` value of the rows."""

    key: str  # short name used in counts and SyncResult ("customers")
    kind: str
    doc: str
    columns: list[Column]
    parent: str | None = None  # key of the parent table for child tables
    parent_column: str | None = None
    children: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"raw.stripe_{self.key}"

    @property
    def all_columns(self) -> list[str]:
        return ["id", *[c.name for c in self.columns], *COMMON_NAMES]

    def typed_values(
        self, obj: Obj, parent: Obj | None = None, position: int | None = None
    ) -> list[Any]:
        return [c.read(obj, parent, position) for c in self.columns]


def _line_price(o: Obj, _p: Obj | None, _i: int | None) -> Any:
    return as_id(get(o, "pricing.price_details.price")) or as_id(get(o, "price"))


def _line_subscription(o: Obj, _p: Obj | None, _i: int | None) -> Any:
    return as_id(o.get("subscription")) or as_id(
        get(o, "parent.subscription_item_details.subscription")
    )


TABLES: dict[str, Table] = {
    t.key: t
    for t in [
        Table(
            "customers",
            "customer",
            "Stripe customers; meterhouse_customer_id maps them to event customer ids.",
            [
                col("email", "varchar", "customer email"),
                col("name", "varchar", "customer name"),
                col("currency", "varchar", "default currency (lowercase ISO), null until set"),
                col(
                    "balance",
                    "bigint",
                    "credit balance in minor units (negative = credit owed to the customer)",
                ),
                col(
                    CUSTOMER_ID_METADATA_KEY,
                    "varchar",
                    "metadata.meterhouse_customer_id: the Meterhouse (event) customer id",
                    f"metadata.{CUSTOMER_ID_METADATA_KEY}",
                ),
                col("created", "timestamp", "when the customer was created"),
            ],
        ),
        Table(
            "products",
            "product",
            "Stripe products.",
            [
                col("name", "varchar", "product name"),
                col("active", "boolean", "whether the product can be sold"),
                col(
                    PLAN_CODE_METADATA_KEY,
                    "varchar",
                    "metadata.meterhouse_plan_code, information only (plan codes are read on "
                    "prices)",
                    f"metadata.{PLAN_CODE_METADATA_KEY}",
                ),
                col("created", "timestamp", "when the product was created"),
            ],
        ),
        Table(
            "prices",
            "price",
            "Stripe prices; lookup_key (else metadata.meterhouse_plan_code) is the plan code.",
            [
                col("product", "varchar", "product id"),
                col("active", "boolean", "whether the price can be used for new purchases"),
                col("currency", "varchar", "lowercase ISO currency"),
                col("type", "varchar", "one_time or recurring"),
                col("unit_amount", "bigint", "unit amount in minor units (null if not integral)"),
                col("unit_amount_decimal", "varchar", "exact unit amount in minor units, as text"),
                col("recurring_interval", "varchar", "day/week/month/year", "recurring.interval"),
                col(
                    "recurring_interval_count",
                    "bigint",
                    "number of intervals per period",
                    "recurring.interval_count",
                ),
                col("lookup_key", "varchar", "Stripe lookup_key (the catalog plan code)"),
                col(
                    PLAN_CODE_METADATA_KEY,
                    "varchar",
                    "metadata.meterhouse_plan_code (fallback plan code)",
                    f"metadata.{PLAN_CODE_METADATA_KEY}",
                ),
                fn(
                    "plan_code",
                    "varchar",
                    "the catalog plan code: lookup_key, else metadata.meterhouse_plan_code",
                    lambda o, _p, _i: plan_code_of_price(o),
                ),
                col("created", "timestamp", "when the price was created"),
            ],
        ),
        Table(
            "subscriptions",
            "subscription",
            "Stripe subscriptions (items in raw.stripe_subscription_items).",
            [
                col("customer", "varchar", "customer id"),
                col("status", "varchar", "active, past_due, canceled, ..."),
                col("currency", "varchar", "lowercase ISO currency"),
                col("collection_method", "varchar", "charge_automatically or send_invoice"),
                col("start_date", "timestamp", "when the subscription started"),
                col("cancel_at", "timestamp", "scheduled cancellation, if any"),
                col("cancel_at_period_end", "boolean", "cancels at the end of the period"),
                col("canceled_at", "timestamp", "when cancellation was requested"),
                col("ended_at", "timestamp", "when the subscription ended"),
                col("items_total_count", "bigint", "number of items", "items.total_count"),
                col("created", "timestamp", "when the subscription was created"),
            ],
            children=["subscription_items"],
        ),
        Table(
            "subscription_items",
            "subscription_item",
            "Items of subscriptions, replaced with their subscription's version.",
            [
                col("subscription", "varchar", "subscription id"),
                fn(
                    "customer",
                    "varchar",
                    "customer id (from the subscription)",
                    lambda _o, p, _i: as_id((p or {}).get("customer")),
                ),
                fn("price", "varchar", "price id", lambda o, _p, _i: as_id(o.get("price"))),
                col("product", "varchar", "product id of the price", "price.product"),
                col("lookup_key", "varchar", "the price's lookup_key", "price.lookup_key"),
                fn(
                    "plan_code",
                    "varchar",
                    "catalog plan code of the item's price: lookup_key, else the price's "
                    "metadata.meterhouse_plan_code (as embedded when the version was read)",
                    lambda o, _p, _i: plan_code_of_price(o.get("price")),
                ),
                col("quantity", "bigint", "quantity"),
                col("current_period_start", "timestamp", "start of the current period"),
                col("current_period_end", "timestamp", "end of the current period"),
                col("created", "timestamp", "when the item was created"),
            ],
            parent="subscriptions",
            parent_column="subscription",
        ),
        Table(
            "invoices",
            "invoice",
            "Stripe invoices (every line in raw.stripe_invoice_lines).",
            [
                col("customer", "varchar", "customer id"),
                col(
                    "subscription",
                    "varchar",
                    "subscription id for subscription invoices",
                    "parent.subscription_details.subscription",
                ),
                col("status", "varchar", "draft, open, paid, uncollectible or void"),
                col("number", "varchar", "invoice number, set at finalization"),
                col("currency", "varchar", "lowercase ISO currency"),
                col("collection_method", "varchar", "charge_automatically or send_invoice"),
                col("billing_reason", "varchar", "manual, subscription, ..."),
                col("subtotal", "bigint", "sum of lines, minor units"),
                col("total", "bigint", "total, minor units"),
                col("amount_due", "bigint", "amount due, minor units"),
                col("amount_paid", "bigint", "amount paid, minor units"),
                col("amount_remaining", "bigint", "amount still due, minor units"),
                col("starting_balance", "bigint", "customer balance applied, minor units"),
                col(
                    "pre_payment_credit_notes_amount",
                    "bigint",
                    "credit notes issued before payment, minor units",
                ),
                col(
                    "post_payment_credit_notes_amount",
                    "bigint",
                    "credit notes issued after payment, minor units",
                ),
                col("lines_total_count", "bigint", "number of lines", "lines.total_count"),
                col(
                    INVOICE_ID_METADATA_KEY,
                    "varchar",
                    "metadata.meterhouse_invoice_id: the Meterhouse invoice it was issued from",
                    f"metadata.{INVOICE_ID_METADATA_KEY}",
                ),
                col("period_start", "timestamp", "start of the invoiced period"),
                col("period_end", "timestamp", "end of the invoiced period"),
                col("due_date", "timestamp", "due date (send_invoice)"),
                col(
                    "finalized_at",
                    "timestamp",
                    "when it was finalized",
                    "status_transitions.finalized_at",
                ),
                col("paid_at", "timestamp", "when it was paid", "status_transitions.paid_at"),
                col("voided_at", "timestamp", "when it was voided", "status_transitions.voided_at"),
                col("created", "timestamp", "when the invoice was created"),
            ],
            children=["invoice_lines"],
        ),
        Table(
            "invoice_lines",
            "line_item",
            "Every line of every invoice, replaced with their invoice's version.",
            [
                col("invoice", "varchar", "invoice id"),
                fn(
                    "line_position",
                    "integer",
                    "0-based position of the line on the invoice (Stripe's order)",
                    lambda _o, _p, i: i,
                ),
                fn(
                    "customer",
                    "varchar",
                    "customer id (from the invoice)",
                    lambda _o, p, _i: as_id((p or {}).get("customer")),
                ),
                col("currency", "varchar", "lowercase ISO currency"),
                col("amount", "bigint", "line amount, minor units"),
                col("quantity", "bigint", "quantity"),
                col(
                    "unit_amount_decimal",
                    "varchar",
                    "exact unit amount in minor units, as text",
                    "pricing.unit_amount_decimal",
                ),
                fn("price", "varchar", "price id, if priced by a price", _line_price),
                fn("subscription", "varchar", "subscription id, if any", _line_subscription),
                col(
                    "invoice_item",
                    "varchar",
                    "invoice item id the line comes from",
                    "parent.invoice_item_details.invoice_item",
                ),
                col("description", "varchar", "line description"),
                col("period_start", "timestamp", "start of the line's period", "period.start"),
                col("period_end", "timestamp", "end of the line's period", "period.end"),
            ],
            parent="invoices",
            parent_column="invoice",
        ),
        Table(
            "credit_notes",
            "credit_note",
            "Stripe credit notes.",
            [
                col("invoice", "varchar", "invoice id"),
                col("customer", "varchar", "customer id"),
                col("status", "varchar", "issued or void"),
                col("type", "varchar", "pre_payment or post_payment"),
                col("reason", "varchar", "reason given"),
                col("number", "varchar", "credit note number"),
                col("currency", "varchar", "lowercase ISO currency"),
                col("amount", "bigint", "amount credited, minor units"),
                col("total", "bigint", "total, minor units"),
                col("pre_payment_amount", "bigint", "part credited before payment, minor units"),
                col("post_payment_amount", "bigint", "part credited after payment, minor units"),
                col("out_of_band_amount", "bigint", "part settled outside Stripe, minor units"),
                col("effective_at", "timestamp", "when the credit takes effect"),
                col("voided_at", "timestamp", "when it was voided"),
                col("created", "timestamp", "when the credit note was created"),
            ],
        ),
        Table(
            "charges",
            "charge",
            "Stripe charges.",
            [
                col("customer", "varchar", "customer id"),
                col("status", "varchar", "succeeded, pending or failed"),
                col("currency", "varchar", "lowercase ISO currency"),
                col("amount", "bigint", "amount charged, minor units"),
                col("amount_captured", "bigint", "amount captured, minor units"),
                col("amount_refunded", "bigint", "amount refunded so far, minor units"),
                col("paid", "boolean", "whether the charge succeeded"),
                col("refunded", "boolean", "whether it is fully refunded"),
                col("payment_intent", "varchar", "payment intent id, if any"),
                col("failure_code", "varchar", "failure code of a failed charge"),
                col("created", "timestamp", "when the charge was created"),
            ],
        ),
        Table(
            "refunds",
            "refund",
            "Stripe refunds.",
            [
                col("charge", "varchar", "refunded charge id"),
                col("status", "varchar", "succeeded, pending, failed or canceled"),
                col("reason", "varchar", "reason given"),
                col("currency", "varchar", "lowercase ISO currency"),
                col("amount", "bigint", "amount refunded, minor units"),
                col("created", "timestamp", "when the refund was created"),
            ],
        ),
    ]
}

#: Stripe ``object`` value -> table key, for events' ``data.object``.
TABLE_BY_KIND = {t.kind: t.key for t in TABLES.values() if t.parent is None}


def _sql_comment(text: str) -> str:
    return " ".join(text.split())


def _table_ddl(table: Table) -> str:
    rows: list[tuple[str, str]] = [("id varchar primary key", f"Stripe id ({table.kind})")]
    rows += [(f"{c.name} {c.sql_type}", c.doc) for c in table.columns]
    rows += [(f"{n} {t}", d) for n, t, d in COMMON_COLUMNS]
    lines = []
    for i, (decl, doc) in enumerate(rows):
        comma = "," if i < len(rows) - 1 else ""
        lines.append(f"    {decl}{comma}  -- {_sql_comment(doc)}")
    return (
        f"-- {table.doc}\ncreate table if not exists {table.name} (\n" + "\n".join(lines) + "\n);"
    )


_STATE_DDL = """\
-- The incremental cursor: one row per Stripe account the warehouse syncs ('default').
create table if not exists raw.stripe_sync_state (
    state_key varchar primary key,  -- 'default'
    initialized_at timestamp not null,  -- when the first full list completed
    cursor_event_id varchar,  -- newest event processed (null: no event existed yet)
    cursor_event_created bigint,  -- its created, unix seconds as Stripe sends it
    cursor_seq varchar not null,  -- stripe_updated_seq of that event ('000000000000:' if none)
    last_sync_id bigint not null,  -- the sync that last moved the cursor
    updated_at timestamp not null  -- loaded_at of that sync
);
-- One row per sync run, written when it starts and completed when it ends.
create table if not exists raw.stripe_syncs (
    sync_id bigint primary key,  -- 1, 2, 3... in run order
    mode varchar not null,  -- full (first run, or cursor lost) or incremental
    status varchar not null,  -- running, succeeded or failed
    relist_open boolean not null,  -- whether open objects were re-listed
    started_at timestamp not null,  -- wall clock, UTC
    finished_at timestamp,  -- wall clock, UTC; null while running
    loaded_at timestamp not null,  -- the loaded_at written on the rows of this sync
    cursor_before varchar,  -- cursor event id before the sync
    cursor_after varchar,  -- cursor event id after the sync (the stored state)
    events_processed bigint,  -- events newer than the cursor handled (incl. ignored types)
    counts json,  -- per table: listed, inserted, updated, unchanged, stale, removed
    error varchar  -- the error message of a failed sync
);"""


STRIPE_RAW_DDL = (
    "create schema if not exists raw;\n\n"
    + "\n\n".join(_table_ddl(t) for t in TABLES.values())
    + "\n\n"
    + _STATE_DDL
    + "\n"
)
