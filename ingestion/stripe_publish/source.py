"""What to publish, read from the warehouse: issued invoices, their lines, credit notes, blockers."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import duckdb

from .ledger import table_exists

# ISO 4217 minor-unit exponents that are not 2 (display only: amounts stay integers in minor units)
_EXPONENTS = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
}


def minor_unit_exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), 2)


def format_amount(amount: int, currency: str) -> str:
    """``USD 12.34`` / ``JPY 1,500`` from an integer amount in minor units."""
    exp = minor_unit_exponent(currency)
    value = Decimal(amount).scaleb(-exp)
    return f"{currency.upper()} {value:,.{exp}f}"


def _decimal_text(value: Decimal | None) -> str:
    if value is None:
        return "?"
    value = Decimal(value)
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def epoch(ts: datetime) -> int:
    """Unix seconds of a naive UTC timestamp (integer arithmetic, no float)."""
    return calendar.timegm(ts.timetuple())


@dataclass
class InvoiceLine:
    line_id: str
    invoice_id: str
    line_kind: str
    original_invoice_id: str | None
    fee_type: str | None
    plan_code: str | None
    billable_metric_code: str | None
    charge_model: str | None
    currency: str
    unit_amount: Decimal | None
    units: Decimal | None
    amount_cents: int
    service_start_at: datetime | None
    service_end_at: datetime | None
    # pricing group; 'tax=<code>' on a tax line, 'grant=<id>' on a prepaid credit line
    group_key: str | None = None

    @property
    def period(self) -> dict[str, int] | None:
        if self.service_start_at is None or self.service_end_at is None:
            return None
        return {"start": epoch(self.service_start_at), "end": epoch(self.service_end_at)}

    def service_text(self) -> str:
        if self.service_start_at is None or self.service_end_at is None:
            return ""
        start, end = self.service_start_at, self.service_end_at
        if start.time() == end.time() == datetime.min.time() and end > start:
            last = (end - timedelta(days=1)).date()  # half-open: the last day served
            return f"service {start.date().isoformat()} to {last.isoformat()}"
        return f"service {start.isoformat(sep=' ')} to {end.isoformat(sep=' ')} UTC"

    def description(self) -> str:
        """What the line is, its units, unit price and service period (Stripe's line text)."""
        cur = self.currency.upper()
        units, price = _decimal_text(self.units), _decimal_text(self.unit_amount)
        if self.fee_type == "subscription":
            what = f"Subscription {self.plan_code or ''}".strip()
            detail = f"{units} billable day(s) of {price} {cur} per period"
        elif self.fee_type == "spending_minimum":
            what = f"Spending minimum true-up {self.billable_metric_code or ''}".strip()
            detail = f"{units} units, unit price {price} {cur}"
        elif self.fee_type == "minimum_commitment":
            what = f"Minimum commitment true-up {self.plan_code or ''}".strip()
            detail = f"commitment {price} {cur} per period"
        elif self.fee_type == "discount":
            code = (self.group_key or "").removeprefix("coupon=")
            what = f"Discount {code}".strip()
            detail = "coupon"
        elif self.fee_type == "tax":
            code = (self.group_key or "").removeprefix("tax=")
            what = f"Tax {code}".strip()
            detail = f"{price}% of {units} {cur}"
        elif self.fee_type == "credit":
            # a prepaid credit drawn after tax: how the invoice is paid, not a service period of its own
            grant = (self.group_key or "").removeprefix("grant=")
            return f"Prepaid credit {grant} - applied after tax".strip()[:500]
        else:
            model = f" ({self.charge_model})" if self.charge_model else ""
            what = f"{self.billable_metric_code or 'usage'}{model}"
            detail = f"{units} units x {price} {cur}"
        if self.line_kind == "adjustment":
            what = f"Adjustment to {self.original_invoice_id}: {what}"
        parts = [what, detail, self.service_text()]
        return " - ".join(p for p in parts if p)[:500]


@dataclass
class Invoice:
    invoice_id: str
    customer_id: str
    currency: str
    issue_date: date | None
    billing_month: str
    lines_count: int
    total_amount_cents: int
    is_standalone_adjustment: bool
    lines: list[InvoiceLine] = field(default_factory=list)


@dataclass
class CreditNote:
    credit_note_id: str
    invoice_id: str
    customer_id: str
    currency: str
    issue_date: date | None
    billing_month: str
    lines_count: int
    total_amount_cents: int
    line_amounts: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Blocker:
    customer_id: str | None
    billing_month: str | None
    check_name: str
    reason: str


def load_invoices(con: duckdb.DuckDBPyConnection, billing_month: str) -> list[Invoice]:
    return _load_invoices(con, "billing_month = ?", [billing_month])


def load_invoice(con: duckdb.DuckDBPyConnection, invoice_id: str) -> Invoice | None:
    """One issued invoice with its lines (None when ``billing.fct_issued_invoices`` lacks it)."""
    found = _load_invoices(con, "invoice_id = ?", [invoice_id])
    return found[0] if found else None


def _load_invoices(
    con: duckdb.DuckDBPyConnection, where: str, params: list[object]
) -> list[Invoice]:
    """Issued invoices matching ``where`` (a condition on fct_issued_invoices), with their lines."""
    rows = con.execute(
        f"""select invoice_id, customer_id, currency, issue_date, billing_month, lines_count,
               total_amount_cents, coalesce(is_standalone_adjustment, false)
        from billing.fct_issued_invoices
        where {where}
        order by issue_date, invoice_id""",
        params,
    ).fetchall()
    invoices = {
        r[0]: Invoice(
            invoice_id=r[0],
            customer_id=r[1],
            currency=str(r[2]).upper(),
            issue_date=r[3],
            billing_month=r[4],
            lines_count=int(r[5] or 0),
            total_amount_cents=int(r[6]),
            is_standalone_adjustment=bool(r[7]),
        )
        for r in rows
    }
    if not invoices:
        return []
    lines = con.execute(
        f"""select l.invoice_line_id, l.invoice_id, l.line_kind, l.original_invoice_id, l.fee_type,
               l.plan_code, l.billable_metric_code, l.charge_model, l.currency, l.unit_amount,
               l.units, l.amount_cents, l.service_start_at, l.service_end_at, l.group_key
        from billing.fct_issued_invoice_lines as l
        where l.invoice_id in (select invoice_id from billing.fct_issued_invoices where {where})
        order by l.invoice_id, l.line_kind desc, l.fee_type = 'subscription' desc,
                 l.service_start_at, l.invoice_line_id""",
        params,
    ).fetchall()
    for r in lines:
        invoices[r[1]].lines.append(
            InvoiceLine(
                line_id=r[0],
                invoice_id=r[1],
                line_kind=r[2],
                original_invoice_id=r[3],
                fee_type=r[4],
                plan_code=r[5],
                billable_metric_code=r[6],
                charge_model=r[7],
                currency=str(r[8]).upper(),
                unit_amount=r[9],
                units=r[10],
                amount_cents=int(r[11]),
                service_start_at=r[12],
                service_end_at=r[13],
                group_key=r[14],
            )
        )
    return list(invoices.values())


def load_credit_notes(con: duckdb.DuckDBPyConnection, billing_month: str) -> list[CreditNote]:
    if not table_exists(con, "billing", "fct_credit_notes"):
        return []
    rows = con.execute(
        """select credit_note_id, invoice_id, customer_id, currency, issue_date, billing_month,
               lines_count, total_amount_cents
        from billing.fct_credit_notes
        where billing_month = ?
        order by issue_date, credit_note_id""",
        [billing_month],
    ).fetchall()
    notes = [
        CreditNote(
            credit_note_id=r[0],
            invoice_id=r[1],
            customer_id=r[2],
            currency=str(r[3]).upper(),
            issue_date=r[4],
            billing_month=r[5],
            lines_count=int(r[6] or 0),
            total_amount_cents=int(r[7]),
        )
        for r in rows
    ]
    if notes and table_exists(con, "billing", "fct_billing_ledger"):
        by_id = {n.credit_note_id: n for n in notes}
        for doc_id, line_id, amount in con.execute(
            """select document_id, ledger_line_id, amount_cents from billing.fct_billing_ledger
            where document_type = 'credit_note'
              and document_id in (select credit_note_id from billing.fct_credit_notes
                                  where billing_month = ?)
            order by document_id, ledger_line_id""",
            [billing_month],
        ).fetchall():
            by_id[doc_id].line_amounts.append((line_id, int(amount)))
    return notes


def load_blockers(con: duckdb.DuckDBPyConnection, billing_month: str) -> list[Blocker] | None:
    """Rows of ``billing.publish_blockers`` for the month (None when the model does not exist).

    A row with ``customer_id`` NULL blocks every document of the month; a row with
    ``billing_month`` NULL blocks the customer in every month.
    """
    if not table_exists(con, "billing", "publish_blockers"):
        return None
    rows = con.execute(
        """select customer_id, billing_month, check_name, reason from billing.publish_blockers
        where billing_month = ? or billing_month is null
        order by customer_id nulls first, check_name, reason""",
        [billing_month],
    ).fetchall()
    return [Blocker(r[0], r[1], str(r[2]), str(r[3] or "")) for r in rows]
