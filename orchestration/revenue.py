"""The revenue report: the KPIs of one month (``meterhouse report revenue --month YYYY-MM``).

``revenue_report(data_dir, "2026-09")`` reads the month's row of ``revenue.fct_revenue_kpis`` (MRR, ARR,
customers, ARPA, the movements, FX impact, churn rates, NRR and GRR monthly and over the trailing 12 months;
see ``dbt_project/models/marts/revenue/_revenue__models.yml`` for every definition) from the read-only
snapshot ``DIR/warehouse.read.duckdb`` (or ``db_path``). It never writes to the warehouse.

The figures stay exact: amounts are ``Decimal`` in the reporting currency, rates ``Decimal`` fractions
(0.25 = 25 %). ``RevenueReport.as_json()`` gives them as exact decimal strings (trailing zeros dropped);
``render()`` is the terminal table, with amounts rounded (half away from zero) to the reporting currency's
minor unit and rates shown in percent with two decimals, for display only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from ingestion.warehouse import connect

TABLE = "revenue.fct_revenue_kpis"
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

#: amounts in the reporting currency (exact decimals)
AMOUNTS = [
    "mrr",
    "committed_mrr",
    "usage_mrr",
    "arr",
    "arpa",
    "mrr_at_start",
    "new_business_mrr",
    "expansion_mrr",
    "contraction_mrr",
    "churn_mrr",
    "reactivation_mrr",
    "fx_impact",
    "net_mrr_change",
    "mrr_12m_ago",
    "retained_mrr_12m",
]
#: fractions (0.25 = 25 %)
RATES = [
    "customer_churn_rate",
    "gross_mrr_churn_rate",
    "net_mrr_churn_rate",
    "nrr",
    "grr",
    "nrr_trailing_12m",
    "grr_trailing_12m",
]
COUNTS = [
    "customers",
    "customers_at_start",
    "new_customers",
    "churned_customers",
    "reactivated_customers",
    "expanded_customers",
    "contracted_customers",
    "customers_12m_ago",
]


class RevenueReportError(Exception):
    """The month is malformed, or the snapshot, the mart or the month is missing; says what to do."""


def exact_text(value: Decimal | None) -> str | None:
    """An exact decimal as text without trailing zeros (``Decimal('800.540000')`` -> ``'800.54'``)."""
    if value is None:
        return None
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass
class RevenueReport:
    month: str
    reporting_currency: str
    minor_unit_exponent: int
    is_final: bool
    kpis: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        """Every KPI: amounts and rates as exact decimal strings, counts as integers, null when undefined."""
        out: dict[str, Any] = {
            "month": self.month,
            "reporting_currency": self.reporting_currency,
            "is_final": self.is_final,
        }
        for name in AMOUNTS + RATES:
            out[name] = exact_text(self.kpis[name])
        for name in COUNTS:
            out[name] = int(self.kpis[name])
        return out

    def amount(self, name: str, signed: bool = False) -> str:
        value = self.kpis[name]
        if value is None:
            return "-"
        quantum = Decimal(1).scaleb(-self.minor_unit_exponent)
        rounded = value.quantize(quantum, rounding=ROUND_HALF_UP)
        text = f"{rounded:,.{self.minor_unit_exponent}f}"
        return f"+{text}" if signed and rounded > 0 else text

    def percent(self, name: str) -> str:
        value = self.kpis[name]
        if value is None:
            return "-"
        return f"{(value * 100).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)} %"

    def render(self) -> str:
        k = self.kpis
        status = (
            "final"
            if self.is_final
            else "not final: the month has not ended or some of its invoice lines are not issued yet"
        )
        rows: list[tuple[str, str, str]] = [
            (
                "MRR",
                self.amount("mrr"),
                f"committed {self.amount('committed_mrr')}, usage {self.amount('usage_mrr')}",
            ),
            ("ARR", self.amount("arr"), "MRR x 12"),
            (
                "Customers",
                str(k["customers"]),
                f"{k['customers_at_start']} at start; {k['new_customers']} new, "
                f"{k['churned_customers']} churned, {k['reactivated_customers']} reactivated",
            ),
            ("ARPA", self.amount("arpa"), "MRR / customers"),
            ("MRR at start", self.amount("mrr_at_start"), "end of the previous month"),
            (
                "New business",
                self.amount("new_business_mrr", signed=True),
                f"{k['new_customers']} customer(s)",
            ),
            (
                "Expansion",
                self.amount("expansion_mrr", signed=True),
                f"{k['expanded_customers']} customer(s)",
            ),
            (
                "Contraction",
                self.amount("contraction_mrr", signed=True),
                f"{k['contracted_customers']} customer(s)",
            ),
            (
                "Churn",
                self.amount("churn_mrr", signed=True),
                f"{k['churned_customers']} customer(s)",
            ),
            (
                "Reactivation",
                self.amount("reactivation_mrr", signed=True),
                f"{k['reactivated_customers']} customer(s)",
            ),
            (
                "FX impact",
                self.amount("fx_impact", signed=True),
                "exchange rates alone, not a movement",
            ),
            ("Net MRR change", self.amount("net_mrr_change", signed=True), "MRR - MRR at start"),
            (
                "Customer churn rate",
                self.percent("customer_churn_rate"),
                "churned / customers at start",
            ),
            (
                "Gross MRR churn",
                self.percent("gross_mrr_churn_rate"),
                "(churn + contraction) / MRR at start",
            ),
            (
                "Net MRR churn",
                self.percent("net_mrr_churn_rate"),
                "(churn + contraction - expansion - reactivation) / MRR at start",
            ),
            ("NRR", self.percent("nrr"), "(start + expansion - contraction - churn) / start"),
            ("GRR", self.percent("grr"), "(start - contraction - churn) / start"),
            (
                "NRR trailing 12 months",
                self.percent("nrr_trailing_12m"),
                f"{k['customers_12m_ago']} customer(s) paying 12 months before: their MRR now / then",
            ),
            (
                "GRR trailing 12 months",
                self.percent("grr_trailing_12m"),
                "each customer capped at then",
            ),
        ]
        label_w = max(len(r[0]) for r in rows)
        value_w = max(len(r[1]) for r in rows)
        out = [f"Revenue {self.month} in {self.reporting_currency} ({status})", ""]
        out.extend(
            f"  {label:<{label_w}}  {value:>{value_w}}  {note}".rstrip()
            for label, value, note in rows
        )
        return "\n".join(out)


def revenue_report(data_dir: Path, month: str, *, db_path: Path | None = None) -> RevenueReport:
    """The KPIs of ``month`` (YYYY-MM) from ``db_path`` or ``data_dir/warehouse.read.duckdb``, read-only."""
    if not _MONTH.match(month or ""):
        raise RevenueReportError(f"--month must be YYYY-MM, got {month!r}")
    db = Path(db_path) if db_path is not None else Path(data_dir) / "warehouse.read.duckdb"
    if not db.exists():
        raise RevenueReportError(
            f"{db} does not exist: run `meterhouse run --data-dir DIR` first (it writes the snapshot)"
        )
    con = connect(db, read_only=True)
    try:
        found = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'revenue' and table_name = 'fct_revenue_kpis'"
        ).fetchall()[0][0]
        if not found:
            raise RevenueReportError(
                f"{db} has no {TABLE}: rebuild the warehouse with this version "
                "(`meterhouse run --data-dir DIR`)"
            )
        cur = con.execute(
            f"""select k.*, coalesce(c.minor_unit_exponent, 2) as minor_unit_exponent
                from {TABLE} as k
                left join reference.currencies as c on c.currency = k.reporting_currency
                where k.month = ?""",
            [month],
        )
        columns = [d[0] for d in cur.description]
        rows = [dict(zip(columns, r, strict=True)) for r in cur.fetchall()]
        if not rows:
            months = [
                r[0] for r in con.execute(f"select month from {TABLE} order by month").fetchall()
            ]
            span = f"{months[0]} to {months[-1]}" if months else "none yet"
            raise RevenueReportError(f"no revenue for {month}: months with revenue: {span}")
    finally:
        con.close()
    row = rows[0]
    return RevenueReport(
        month=month,
        reporting_currency=row["reporting_currency"],
        minor_unit_exponent=int(row["minor_unit_exponent"]),
        is_final=bool(row["is_final"]),
        kpis=row,
    )
