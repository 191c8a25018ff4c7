"""Checks on the invoices mart: ``billing.fct_invoices`` (``invoice_suite``) and ``billing.fct_invoice_lines``
(``invoice_line_suite``). Both hold every invoice: the issued ones exactly as issued (the ledger), the due
and draft ones as the data stands, so a defect is seen before its invoice is issued and blocks its
publication after.

A failure blocks the invoice's customer in the invoice's billing month (SEMANTICS.md "Money": currencies
of the ``currencies`` seed, ISO 4217; totals are sums of lines each rounded once, half away from zero, to
the currency's minor unit; only discount and prepaid-credit lines are negative). A broken mart schema blocks every month.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pandas as pd

from ingestion.warehouse import currency_exponents

from .gx_suite import Pinning, Rule, pin_failures, read_frame, run_rules, schema_frame, schema_rules
from .results import CheckReport, Pin

INVOICE_CHECK = "invoice_suite"
INVOICE_LINE_CHECK = "invoice_line_suite"
INVOICES_ASSET = "billing/fct_invoices"
INVOICE_LINES_ASSET = "billing/fct_invoice_lines"

INVOICE_STATUSES = ["issued", "due", "draft"]
LINE_KINDS = ["fee", "adjustment"]
FEE_TYPES = [
    "subscription",
    "charge",
    "spending_minimum",
    "minimum_commitment",
    "discount",
    "tax",
    "credit",
]
# lines that take money off an invoice: a coupon's discount, a prepaid credit drawn (ingestion/credits.py)
NEGATIVE_FEE_TYPES = ["discount", "credit"]
MONTH_REGEX = r"^\d{4}-(?:0[1-9]|1[0-2])$"

# the columns these checks and the publisher rely on, with their types (more columns are fine)
INVOICE_COLUMNS = {
    "invoice_id": "VARCHAR",
    "customer_id": "VARCHAR",
    "currency": "VARCHAR",
    "issue_date": "DATE",
    "billing_month": "VARCHAR",
    "invoice_status": "VARCHAR",
    "lines_count": "BIGINT",
    "total_amount_cents": "HUGEINT",
}
LINE_COLUMNS = {
    "invoice_line_id": "VARCHAR",
    "invoice_id": "VARCHAR",
    "line_kind": "VARCHAR",
    "customer_id": "VARCHAR",
    "fee_type": "VARCHAR",
    "currency": "VARCHAR",
    "unit_amount": "DECIMAL(38,12)",
    "units": "DECIMAL(38,12)",
    "precise_amount": "DECIMAL(38,24)",
    "amount_cents": "HUGEINT",
    "service_start_at": "TIMESTAMP",
    "service_end_at": "TIMESTAMP",
    "billing_month": "VARCHAR",
    "invoice_status": "VARCHAR",
}

ACTION = (
    "This customer's invoices of the month are not published until the mart is right: find the cause "
    "(the line's events, its charge, a manual change to the ledger) and run the close again"
)


def line_rows(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """billing.fct_invoice_lines, money read exactly (integers as BIGINT, decimals through text)."""
    return read_frame(
        con,
        """
        select invoice_line_id, invoice_id, line_kind, fee_type, customer_id, currency, billing_month,
               invoice_status, cast(amount_cents as bigint) as amount_cents,
               cast(units as varchar) as units, cast(unit_amount as varchar) as unit_amount,
               cast(precise_amount as varchar) as precise_amount, service_start_at, service_end_at
        from billing.fct_invoice_lines
        order by invoice_id, invoice_line_id
        """,
        decimals=["units", "unit_amount", "precise_amount"],
    )


def invoice_rows(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return read_frame(
        con,
        """
        select invoice_id, customer_id, currency, billing_month, invoice_status, issue_date,
               lines_count, cast(total_amount_cents as bigint) as total_amount_cents
        from billing.fct_invoices
        order by invoice_id
        """,
    )


def rounded_once(precise: Decimal | None, currency: str | None) -> int | None:
    """The precise amount rounded half away from zero to the currency's minor unit (None: unknown)."""
    exponent = currency_exponents().get(str(currency))
    if precise is None or exponent is None:
        return None
    return int((precise * (Decimal(10) ** exponent)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def with_line_facts(invoices: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    """Each invoice with its lines' sum, count and the number of lines in another currency."""
    own = invoices[["invoice_id", "currency"]].rename(columns={"currency": "invoice_currency"})
    merged = lines.merge(own, on="invoice_id", how="left")
    merged["other_currency"] = (merged["currency"] != merged["invoice_currency"]).astype("int64")
    facts = merged.groupby("invoice_id").agg(
        lines_total_cents=("amount_cents", "sum"),
        lines_counted=("invoice_line_id", "count"),
        lines_in_other_currency=("other_currency", "sum"),
    )
    out = invoices.merge(facts, left_on="invoice_id", right_index=True, how="left")
    for column in ("lines_total_cents", "lines_counted", "lines_in_other_currency"):
        out[column] = out[column].fillna(0).astype("int64")
    out.index = invoices.index
    return out


def with_rounding(lines: pd.DataFrame) -> pd.DataFrame:
    out = lines.copy()
    out["rounded_cents"] = pd.array(
        [rounded_once(p, c) for p, c in zip(out["precise_amount"], out["currency"], strict=True)],
        dtype="Int64",
    )
    return out


def _currency_rule(frame: str) -> Rule:
    return Rule(
        f"{frame}: currency is an ISO 4217 code of the currencies seed",
        "ExpectColumnValuesToBeInSet",
        {"column": "currency", "value_set": sorted(currency_exponents())},
    )


def invoice_rules() -> list[Rule]:
    rules = [
        Rule("invoice_id is unique", "ExpectColumnValuesToBeUnique", {"column": "invoice_id"}),
    ]
    for column in ("invoice_id", "customer_id", "currency", "billing_month", "invoice_status"):
        rules.append(
            Rule(
                f"invoice {column} is present", "ExpectColumnValuesToNotBeNull", {"column": column}
            )
        )
    return rules + [
        _currency_rule("invoice"),
        Rule(
            "invoice_status is issued, due or draft",
            "ExpectColumnValuesToBeInSet",
            {"column": "invoice_status", "value_set": INVOICE_STATUSES},
        ),
        Rule(
            "invoice billing_month is YYYY-MM",
            "ExpectColumnValuesToMatchRegex",
            {"column": "billing_month", "regex": MONTH_REGEX},
        ),
        Rule(
            "total_amount_cents = the sum of the invoice's lines",
            "ExpectColumnPairValuesToBeEqual",
            {"column_A": "total_amount_cents", "column_B": "lines_total_cents"},
        ),
        Rule(
            "lines_count = the number of the invoice's lines",
            "ExpectColumnPairValuesToBeEqual",
            {"column_A": "lines_count", "column_B": "lines_counted"},
        ),
        Rule(
            "an invoice has at least one line",
            "ExpectColumnValuesToBeBetween",
            {"column": "lines_counted", "min_value": 1},
        ),
        Rule(
            "every line is in the invoice's currency",
            "ExpectColumnValuesToBeBetween",
            {"column": "lines_in_other_currency", "max_value": 0},
        ),
        Rule(
            "an issued invoice's total is not negative",
            "ExpectColumnValuesToBeBetween",
            {"column": "total_amount_cents", "min_value": 0},
            where=("invoice_status", "==", "issued"),
        ),
    ]


def line_rules() -> list[Rule]:
    rules = [
        Rule(
            "invoice_line_id is unique",
            "ExpectColumnValuesToBeUnique",
            {"column": "invoice_line_id"},
        ),
    ]
    for column in (
        "invoice_line_id",
        "invoice_id",
        "customer_id",
        "currency",
        "billing_month",
        "line_kind",
        "amount_cents",
    ):
        rules.append(
            Rule(f"line {column} is present", "ExpectColumnValuesToNotBeNull", {"column": column})
        )
    not_discount = ("fee_type", "not in", NEGATIVE_FEE_TYPES)
    return rules + [
        _currency_rule("line"),
        Rule(
            "line billing_month is YYYY-MM",
            "ExpectColumnValuesToMatchRegex",
            {"column": "billing_month", "regex": MONTH_REGEX},
        ),
        Rule(
            "line_kind is fee or adjustment",
            "ExpectColumnValuesToBeInSet",
            {"column": "line_kind", "value_set": LINE_KINDS},
        ),
        Rule(
            "fee_type is a known fee type",
            "ExpectColumnValuesToBeInSet",
            {"column": "fee_type", "value_set": FEE_TYPES},
        ),
        Rule(
            "amount_cents is not negative (except discounts and prepaid credits)",
            "ExpectColumnValuesToBeBetween",
            {"column": "amount_cents", "min_value": 0},
            where=not_discount,
        ),
        Rule(
            "units are not negative (except discounts and prepaid credits)",
            "ExpectColumnValuesToBeBetween",
            {"column": "units", "min_value": 0},
            where=not_discount,
        ),
        Rule(
            "a discount or prepaid credit line is not positive",
            "ExpectColumnValuesToBeBetween",
            {"column": "amount_cents", "max_value": 0},
            where=("fee_type", "not in", [t for t in FEE_TYPES if t not in NEGATIVE_FEE_TYPES]),
        ),
        Rule(
            "a fee line's amount_cents is its precise amount rounded once",
            "ExpectColumnPairValuesToBeEqual",
            {
                "column_A": "amount_cents",
                "column_B": "rounded_cents",
                "ignore_row_if": "either_value_is_missing",
            },
            where=("line_kind", "==", "fee"),
        ),
        Rule(
            "service_end_at is not before service_start_at",
            "ExpectColumnPairValuesAToBeGreaterThanB",
            {
                "column_A": "service_end_at",
                "column_B": "service_start_at",
                "or_equal": True,
                "ignore_row_if": "either_value_is_missing",
            },
        ),
    ]


def _invoice_label(row: pd.Series) -> str:
    return (
        f"invoice {row['invoice_id']} ({row['invoice_status']}, {row['currency']}): total "
        f"{row['total_amount_cents']}, lines sum to {row['lines_total_cents']}"
    )


def _line_label(row: pd.Series) -> str:
    return (
        f"line {row['invoice_line_id']} ({row['fee_type']}, {row['invoice_status']}): "
        f"{row['amount_cents']} {row['currency']} for {row['units']} units, precise "
        f"{row['precise_amount']}"
    )


def _by_invoice(label) -> Pinning:
    return Pinning(customer="customer_id", month="billing_month", table=Pin(), label=label)


def invoice_suite(con: duckdb.DuckDBPyConnection) -> CheckReport:
    """billing.fct_invoices against its lines."""
    schema = schema_frame(con, "billing", "fct_invoices", INVOICE_COLUMNS)
    outcomes = run_rules(
        "fct_invoices schema", schema, schema_rules("billing.fct_invoices", exact=False)
    )
    frames = {"fct_invoices schema": schema}
    rows = None
    if all(o.success for o in outcomes):  # a table off its contract is not read row by row
        rows = with_line_facts(invoice_rows(con), line_rows(con))
        outcomes += run_rules("fct_invoices", rows, invoice_rules())
        frames["fct_invoices"] = rows
    failures = pin_failures(
        INVOICE_CHECK,
        INVOICES_ASSET,
        outcomes,
        frames,
        {
            "fct_invoices schema": Pinning(table=Pin(), label=lambda r: r["column_name"]),
            "fct_invoices": _by_invoice(_invoice_label),
        },
        ACTION,
    )
    return CheckReport(
        check_name=INVOICE_CHECK,
        asset_key=INVOICES_ASSET,
        rows_checked=0 if rows is None else len(rows),
        outcomes=outcomes,
        failures=failures,
        scope=_scope(rows, "invoices"),
    )


def invoice_line_suite(con: duckdb.DuckDBPyConnection) -> CheckReport:
    """billing.fct_invoice_lines."""
    schema = schema_frame(con, "billing", "fct_invoice_lines", LINE_COLUMNS)
    outcomes = run_rules(
        "fct_invoice_lines schema", schema, schema_rules("billing.fct_invoice_lines", exact=False)
    )
    frames = {"fct_invoice_lines schema": schema}
    lines = None
    if all(o.success for o in outcomes):
        lines = with_rounding(line_rows(con))
        outcomes += run_rules("fct_invoice_lines", lines, line_rules())
        frames["fct_invoice_lines"] = lines
    failures = pin_failures(
        INVOICE_LINE_CHECK,
        INVOICE_LINES_ASSET,
        outcomes,
        frames,
        {
            "fct_invoice_lines schema": Pinning(table=Pin(), label=lambda r: r["column_name"]),
            "fct_invoice_lines": _by_invoice(_line_label),
        },
        ACTION,
    )
    return CheckReport(
        check_name=INVOICE_LINE_CHECK,
        asset_key=INVOICE_LINES_ASSET,
        rows_checked=0 if lines is None else len(lines),
        outcomes=outcomes,
        failures=failures,
        scope=_scope(lines, "lines"),
    )


def _scope(rows: pd.DataFrame | None, what: str) -> str:
    if rows is None:
        return f"{what} not read: the table is off its contract"
    statuses = rows["invoice_status"].value_counts().to_dict()
    return (
        ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) + f" {what}"
        if statuses
        else f"no {what}"
    )
