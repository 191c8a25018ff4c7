"""The reconciliation report: Meterhouse against Stripe for one billing month.

``reconciliation_report(data_dir, "2026-02")`` reads ``reconciliation.fct_reconciliation`` (one row per
customer x billing month, see ``dbt_project/models/marts/reconciliation``) from the read-only snapshot
``DIR/warehouse.read.duckdb`` (or ``db_path``) and writes, under ``out_dir`` (default ``DIR/reports/``):

* ``reconciliation-<period>.csv``: one row per customer, every column of the mart, money in integer minor
  units exactly as stored (what a spreadsheet or a script reads);
* ``reconciliation-<period>.html``: one self-contained page (inline CSS, no script, no external asset): a
  summary by status and reason code at the top (customers, and Meterhouse / Stripe totals per currency),
  then one row per customer with the figures, money in the currency's major unit (exponent from
  ``reference.currencies``: JPY 0 decimals, KWD 3).

It returns a :class:`ReportResult` with both paths, the rows (dicts, the mart's columns) and ``render()``,
the terminal table the CLI (``meterhouse report reconciliation --period YYYY-MM``) prints. It never
writes to the warehouse.
"""

from __future__ import annotations

import csv
import html
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ingestion.warehouse import connect

TABLE = "reconciliation.fct_reconciliation"
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

#: reason codes in precedence order (the mart's rule), used to order summaries and rows
REASON_ORDER = [
    "blocked",
    "before_publish_from",
    "unmapped_customer",
    "unpublished",
    "amount_mismatch",
    "voided_reissued",
    "refunded",
    "credited",
    "late_usage_adjusted",
    "matched",
]
STATUS_ORDER = ["action_needed", "explained", "matched"]

#: money columns of the mart (integer minor units)
MONEY_COLUMNS = [
    "rated_amount_cents",
    "meterhouse_total_cents",
    "stripe_total_cents",
    "stripe_amount_paid_cents",
    "meterhouse_credited_cents",
    "stripe_credited_cents",
    "stripe_refunded_cents",
    "late_adjustment_cents",
    "late_credit_cents",
]


class ReportError(Exception):
    """The snapshot or the mart is missing, or the period is malformed; the message says what to do."""


@dataclass
class ReportResult:
    period: str
    csv_path: Path
    html_path: Path
    rows: list[dict[str, Any]]
    columns: list[str] = field(default_factory=list)

    def counts_by_status(self) -> dict[str, int]:
        c = Counter(r["reconciliation_status"] for r in self.rows)
        return {s: c[s] for s in STATUS_ORDER if c[s]}

    def counts_by_reason(self) -> dict[str, int]:
        c = Counter(r["reason_code"] for r in self.rows)
        return {s: c[s] for s in REASON_ORDER if c[s]} | {
            s: n for s, n in sorted(c.items()) if s not in REASON_ORDER
        }

    def render(self) -> str:
        """A plain-text table for the terminal: the summary, then one line per customer."""
        out = [f"Reconciliation {self.period}: {len(self.rows)} customer(s)"]
        if not self.rows:
            out.append(
                "  nothing to reconcile: no issued invoice and no Stripe invoice in this month"
            )
        for status, n in self.counts_by_status().items():
            reasons = ", ".join(
                f"{code} {k}"
                for code, k in self.counts_by_reason().items()
                if _status_of(self.rows, code) == status
            )
            out.append(f"  {status:<14} {n:>5}   ({reasons})")
        headers = [
            "customer",
            "status",
            "reason_code",
            "events",
            "meterhouse",
            "stripe",
            "stripe status",
        ]
        table = [
            [
                str(r["customer_id"]),
                str(r["reconciliation_status"]),
                str(r["reason_code"]),
                str(r["events_received"]),
                money(r["meterhouse_total_cents"], r["currency"], r["currency_exponent"]),
                money(r["stripe_total_cents"], r["currency"], r["currency_exponent"]),
                str(r["stripe_status"] or "-"),
            ]
            for r in self.rows
        ]
        if table:
            widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
            right = {3, 4, 5}

            def fmt(cells: list[str]) -> str:
                return "  ".join(
                    c.rjust(w) if i in right else c.ljust(w)
                    for i, (c, w) in enumerate(zip(cells, widths, strict=True))
                ).rstrip()

            out.append("")
            out.append(fmt(headers))
            out.append(fmt(["-" * w for w in widths]))
            out.extend(fmt(row) for row in table)
            notes = [r for r in self.rows if r["reason_code"] != "matched"]
            if notes:
                out.append("")
                out.extend(f"{r['customer_id']}: {r['reason']}" for r in notes)
        out.append("")
        out.append(f"CSV:  {self.csv_path}")
        out.append(f"HTML: {self.html_path}")
        return "\n".join(out)


def _status_of(rows: list[dict[str, Any]], code: str) -> str | None:
    for r in rows:
        if r["reason_code"] == code:
            return r["reconciliation_status"]
    return None


def money(cents: Any, currency: str | None, exponent: Any) -> str:
    """Minor units as the major unit with the currency's decimals (``USD 1,234.50``); '-' for null."""
    if cents is None:
        return "-"
    exp = 2 if exponent is None else int(exponent)
    value = Decimal(int(cents)).scaleb(-exp)
    return f"{(currency or '').upper()} {value:,.{exp}f}".strip()


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def _load_rows(db: Path, period: str) -> tuple[list[str], list[dict[str, Any]]]:
    if not db.exists():
        raise ReportError(
            f"{db} does not exist: run `meterhouse run --data-dir DIR` first (it writes the snapshot)"
        )
    con = connect(db, read_only=True)
    try:
        found = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'reconciliation' and table_name = 'fct_reconciliation'"
        ).fetchall()[0][0]
        if not found:
            raise ReportError(
                f"{db} has no {TABLE}: rebuild the warehouse with this version "
                "(`meterhouse run --data-dir DIR`)"
            )
        cur = con.execute(
            f"""select * from {TABLE} where billing_month = ?
            order by case reconciliation_status when 'action_needed' then 0
                                                when 'explained' then 1 else 2 end,
                     list_position(?, reason_code), customer_id""",
            [period, REASON_ORDER],
        )
        columns = [d[0] for d in cur.description]
        rows = [dict(zip(columns, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()
    for r in rows:
        units = r.get("billed_units_by_metric")
        if isinstance(units, str):
            r["billed_units_by_metric"] = json.loads(units) if units else {}
    return columns, rows


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for r in rows:
            writer.writerow(
                [
                    json.dumps(r[c], sort_keys=True)
                    if isinstance(r[c], dict)
                    else ("" if r[c] is None else _jsonable(r[c]))
                    for c in columns
                ]
            )


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1d2330;font-size:14px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
p.meta{color:#5b6472;margin:0 0 16px}
table{border-collapse:collapse;width:100%;margin-bottom:8px}
th,td{border-bottom:1px solid #e3e6eb;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f4f6f9;font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.reason{color:#3b4350;font-size:12px;max-width:420px}
span.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.action_needed{background:#fde2e1;color:#9b1c1c}.explained{background:#fff4d6;color:#7a5200}
.matched{background:#dcf5e3;color:#18652f}
code{font-size:12px}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _write_html(path: Path, period: str, rows: list[dict[str, Any]], result: ReportResult) -> None:
    # summary: per status and reason code, customers and totals per currency
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        g = groups.setdefault(
            (r["reconciliation_status"], r["reason_code"]),
            {"n": 0, "mh": defaultdict(int), "stripe": defaultdict(int), "exp": {}},
        )
        g["n"] += 1
        cur = r["currency"] or ""
        g["exp"][cur] = r["currency_exponent"]
        g["mh"][cur] += int(r["meterhouse_total_cents"] or 0)
        if r["stripe_total_cents"] is not None:
            g["stripe"][cur] += int(r["stripe_total_cents"])

    def totals(g: dict[str, Any], key: str) -> str:
        return "<br>".join(_e(money(v, c, g["exp"][c])) for c, v in sorted(g[key].items())) or "-"

    summary_rows = []
    for status in STATUS_ORDER + sorted({s for s, _ in groups} - set(STATUS_ORDER)):
        for code in REASON_ORDER + sorted({c for _, c in groups} - set(REASON_ORDER)):
            g = groups.get((status, code))
            if g is None:
                continue
            summary_rows.append(
                f"<tr><td><span class='badge {_e(status)}'>{_e(status)}</span></td>"
                f"<td><code>{_e(code)}</code></td><td class='num'>{g['n']}</td>"
                f"<td class='num'>{totals(g, 'mh')}</td><td class='num'>{totals(g, 'stripe')}</td></tr>"
            )
    body_rows = []
    for r in rows:
        cur, exp = r["currency"], r["currency_exponent"]
        units = r.get("billed_units_by_metric") or {}
        units_html = "<br>".join(f"{_e(k)}: {_e(v)}" for k, v in sorted(units.items())) or "-"
        events = (
            f"{r['events_received']} received<br>{r['events_duplicate']} duplicate<br>"
            f"{r['events_quarantined']} quarantined"
        )
        body_rows.append(
            "<tr>"
            f"<td>{_e(r['customer_id'])}<br><code>{_e(r['stripe_customer_ids'] or 'no Stripe customer')}"
            "</code></td>"
            f"<td><span class='badge {_e(r['reconciliation_status'])}'>"
            f"{_e(r['reconciliation_status'])}</span><br><code>{_e(r['reason_code'])}</code></td>"
            f"<td class='num'>{events}</td>"
            f"<td>{units_html}</td>"
            f"<td class='num'>{_e(money(r['rated_amount_cents'], cur, exp))}</td>"
            f"<td class='num'>{_e(money(r['meterhouse_total_cents'], cur, exp))}<br>"
            f"<code>{_e(r['meterhouse_invoice_ids'] or '-')}</code></td>"
            f"<td class='num'>{_e(money(r['stripe_total_cents'], cur, exp))}<br>"
            f"{_e(r['stripe_status'] or 'not in Stripe')}<br>"
            f"<code>{_e(r['stripe_invoice_ids'] or '-')}</code></td>"
            f"<td class='num'>{_e(money(r['meterhouse_credited_cents'], cur, exp))}<br>"
            f"{_e(money(r['stripe_credited_cents'], cur, exp))}</td>"
            f"<td class='num'>{_e(money(r['stripe_refunded_cents'], cur, exp))}</td>"
            f"<td class='num'>{_e(money(r['late_adjustment_cents'], cur, exp))}<br>"
            f"{_e(money(r['late_credit_cents'], cur, exp))}</td>"
            f"<td class='reason'>{_e(r['reason'])}</td>"
            "</tr>"
        )
    status_line = ", ".join(f"{n} {s}" for s, n in result.counts_by_status().items()) or "no rows"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Meterhouse reconciliation {_e(period)}</title>
<style>{_CSS}</style></head>
<body>
<h1>Meterhouse &harr; Stripe reconciliation, billing month {_e(period)}</h1>
<p class="meta">{len(rows)} customer(s): {_e(status_line)}. Money in each currency's major unit;
the CSV next to this page has every figure in minor units.</p>
<h2>Summary by status</h2>
<table id="summary">
<thead><tr><th>status</th><th>reason code</th><th class="num">customers</th>
<th class="num">Meterhouse total</th><th class="num">Stripe total</th></tr></thead>
<tbody>
{chr(10).join(summary_rows) or "<tr><td colspan='5'>nothing to reconcile this month</td></tr>"}
</tbody></table>
<h2>Customers</h2>
<table id="customers">
<thead><tr><th>customer / Stripe</th><th>status</th><th class="num">events</th><th>billed units</th>
<th class="num">rated</th><th class="num">Meterhouse invoice</th><th class="num">Stripe invoice</th>
<th class="num">credit notes<br>Meterhouse / Stripe</th><th class="num">refunds</th>
<th class="num">late usage<br>adjusted / credited</th><th>reason</th></tr></thead>
<tbody>
{chr(10).join(body_rows)}
</tbody></table>
</body></html>
"""
    path.write_text(page, encoding="utf-8")


def reconciliation_report(
    data_dir: Path,
    period: str,
    out_dir: Path | None = None,
    *,
    db_path: Path | None = None,
) -> ReportResult:
    """Write ``reconciliation-<period>.csv`` and ``.html`` for billing month ``period`` (YYYY-MM).

    Reads ``db_path`` or ``data_dir/warehouse.read.duckdb`` read-only; writes under ``out_dir`` (default
    ``data_dir/reports``, created if missing). Raises :class:`ReportError` with what to do when the period
    is malformed or the snapshot / mart is missing.
    """
    if not _PERIOD.match(period or ""):
        raise ReportError(f"period must be YYYY-MM, got {period!r}")
    data_dir = Path(data_dir)
    db = Path(db_path) if db_path is not None else data_dir / "warehouse.read.duckdb"
    columns, rows = _load_rows(db, period)
    out = Path(out_dir) if out_dir is not None else data_dir / "reports"
    out.mkdir(parents=True, exist_ok=True)
    result = ReportResult(
        period=period,
        csv_path=out / f"reconciliation-{period}.csv",
        html_path=out / f"reconciliation-{period}.html",
        rows=rows,
        columns=columns,
    )
    _write_csv(result.csv_path, columns, rows)
    _write_html(result.html_path, period, rows, result)
    return result
