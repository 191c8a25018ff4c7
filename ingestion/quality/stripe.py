"""Checks on the raw Stripe tables that ``stripe_objects`` (ingestion/stripe_sync) fills: required ids,
currencies of the ``currencies`` seed (ISO 4217; Stripe sends them lowercase), amounts that Stripe never
makes negative, and each table's typed columns (ingestion/stripe_sync/tables.py). Deleted objects are
left out.

A failing object blocks publishing for the Meterhouse customer it belongs to (the Stripe customer's
``metadata.meterhouse_customer_id``): invoices, their lines and credit notes in their billing month
(``metadata.meterhouse_billing_month`` as the publisher sets it, else the UTC month of ``created``), charges
and refunds in the month they were created, customers, subscriptions and items in every month. An object
of no Meterhouse customer is reported but blocks nothing (publishing never sends to it), and products and
prices are checked but never block (publishing sends amounts, not prices). A table whose typed columns
are missing or mistyped blocks every customer in every month.

These run after the sync, so what they find holds back the next publishing run (the close job publishes
before it reads Stripe back).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import duckdb
import pandas as pd

from ingestion.stripe_sync.tables import TABLES
from ingestion.warehouse import currency_exponents

from .gx_suite import Pinning, Rule, pin_failures, read_frame, run_rules, schema_frame, schema_rules
from .results import CheckReport, Pin

_CUSTOMER = (
    "(select c.meterhouse_customer_id from raw.stripe_customers as c where c.id = t.customer)"
)
_INVOICE_MONTH = (
    "(select coalesce(json_extract_string(i.object_json, '$.metadata.meterhouse_billing_month'), "
    "strftime(i.created, '%Y-%m')) from raw.stripe_invoices as i where i.id = t.invoice)"
)
_OWN_MONTH = (
    "coalesce(json_extract_string(t.object_json, '$.metadata.meterhouse_billing_month'), "
    "strftime(t.created, '%Y-%m'))"
)


@dataclass(frozen=True)
class StripeTable:
    key: str  # ingestion.stripe_sync.tables.TABLES key
    required: tuple[str, ...]
    currency: bool  # has a currency column (checked when present)
    currency_required: bool
    non_negative: tuple[str, ...]
    customer_sql: str  # the Meterhouse customer id of a row (t = the table)
    month_sql: str  # its billing month; NULL = every month
    blocks: bool = True

    @property
    def check_name(self) -> str:
        return f"stripe_{self.key}_suite"

    @property
    def asset_key(self) -> str:
        return f"stripe/stripe_{self.key}"


STRIPE_TABLES = [
    StripeTable("customers", ("id",), True, False, (), "t.meterhouse_customer_id", "null"),
    StripeTable("products", ("id",), False, False, (), "null", "null", blocks=False),
    StripeTable(
        "prices", ("id", "currency"), True, True, ("unit_amount",), "null", "null", blocks=False
    ),
    StripeTable("subscriptions", ("id", "customer"), True, True, (), _CUSTOMER, "null"),
    StripeTable(
        "subscription_items", ("id", "subscription"), False, False, ("quantity",), _CUSTOMER, "null"
    ),
    StripeTable(
        "invoices",
        ("id", "customer", "currency", "status"),
        True,
        True,
        ("amount_due", "amount_paid", "amount_remaining"),
        _CUSTOMER,
        _OWN_MONTH,
    ),
    StripeTable(
        "invoice_lines",
        ("id", "invoice", "currency"),
        True,
        True,
        ("quantity",),
        "(select c.meterhouse_customer_id from raw.stripe_invoices as i "
        "join raw.stripe_customers as c on c.id = i.customer where i.id = t.invoice)",
        _INVOICE_MONTH,
    ),
    StripeTable(
        "credit_notes",
        ("id", "invoice", "customer", "currency"),
        True,
        True,
        ("amount", "total"),
        _CUSTOMER,
        _OWN_MONTH,
    ),
    StripeTable(
        "charges",
        ("id", "currency"),
        True,
        True,
        ("amount", "amount_captured", "amount_refunded"),
        _CUSTOMER,
        "strftime(t.created, '%Y-%m')",
    ),
    StripeTable(
        "refunds",
        ("id", "charge", "currency"),
        True,
        True,
        ("amount",),
        "(select c.meterhouse_customer_id from raw.stripe_charges as ch "
        "join raw.stripe_customers as c on c.id = ch.customer where ch.id = t.charge)",
        "strftime(t.created, '%Y-%m')",
    ),
]

ACTION = (
    "Publishing to Stripe for this customer and month waits until Stripe's copy is right: look at the "
    "object in Stripe (or raw.stripe_*), correct it there and let the next sync read it back"
)


def stripe_rows(con: duckdb.DuckDBPyConnection, table: StripeTable) -> pd.DataFrame:
    columns = ["id", *[c.name for c in TABLES[table.key].columns]]
    currency = ", upper(t.currency) as currency_code" if table.currency else ""
    return read_frame(
        con,
        f"""
        select {", ".join(f"t.{c}" for c in columns)}{currency},
               {table.customer_sql} as meterhouse_customer, {table.month_sql} as billing_month
        from raw.stripe_{table.key} as t
        where not t.deleted
        order by t.id
        """,
    )


def stripe_rules(table: StripeTable) -> list[Rule]:
    name = f"stripe_{table.key}"
    rules = [Rule(f"{name}.id is unique", "ExpectColumnValuesToBeUnique", {"column": "id"})]
    rules += [
        Rule(f"{name}.{c} is present", "ExpectColumnValuesToNotBeNull", {"column": c})
        for c in table.required
    ]
    if table.currency:
        rules.append(
            Rule(
                f"{name}.currency is an ISO 4217 code of the currencies seed",
                "ExpectColumnValuesToBeInSet",
                {"column": "currency_code", "value_set": sorted(currency_exponents())},
            )
        )
    rules += [
        Rule(
            f"{name}.{c} is not negative",
            "ExpectColumnValuesToBeBetween",
            {"column": c, "min_value": 0},
        )
        for c in table.non_negative
    ]
    return rules


def stripe_suite(con: duckdb.DuckDBPyConnection, table: StripeTable) -> CheckReport:
    """One raw Stripe table."""
    expected = {"id": "VARCHAR"} | {
        c.name: c.sql_type.split()[0].upper() for c in TABLES[table.key].columns
    }
    schema = schema_frame(con, "raw", f"stripe_{table.key}", expected)
    name = f"raw.stripe_{table.key}"
    outcomes = run_rules(f"{name} schema", schema, schema_rules(name, exact=False))
    frames = {f"{name} schema": schema}
    rows = None
    if all(o.success for o in outcomes):  # a table off its contract is not read row by row
        rows = stripe_rows(con, table)
        outcomes += run_rules(name, rows, stripe_rules(table))
        frames[name] = rows
    failures = pin_failures(
        table.check_name,
        table.asset_key,
        outcomes if rows is None else _mapped_only(outcomes, name, rows),
        frames,
        {
            f"{name} schema": Pinning(table=Pin(), label=lambda r: r["column_name"]),
            name: Pinning(
                customer="meterhouse_customer",
                month="billing_month",
                table=Pin(),
                label=lambda r: f"{table.key} {r['id']}",
            ),
        },
        ACTION,
    )
    return CheckReport(
        check_name=table.check_name,
        asset_key=table.asset_key,
        rows_checked=0 if rows is None else len(rows),
        outcomes=outcomes,
        failures=failures if table.blocks else [],
        scope="not read: the table is off its contract" if rows is None else f"{len(rows)} objects",
        blocks_publishing=table.blocks,
    )


def _mapped_only(outcomes, frame: str, rows: pd.DataFrame):
    """The outcomes as far as Meterhouse customers go: failing rows of no Meterhouse customer dropped."""
    mapped = rows["meterhouse_customer"].notna()
    out = []
    for o in outcomes:
        if o.frame == frame and o.failing_index:
            kept = [i for i in o.failing_index if mapped[i]]
            o = replace(o, failing_index=kept, success=not kept, unexpected_count=len(kept))
        out.append(o)
    return out


def stripe_suites(con: duckdb.DuckDBPyConnection) -> list[CheckReport]:
    return [stripe_suite(con, t) for t in STRIPE_TABLES]
