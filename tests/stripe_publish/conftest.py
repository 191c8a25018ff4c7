"""Fixtures: a Stripe emulator (frozen clock), an SDK client without SDK retries, and a small
DuckDB warehouse with hand-made rows in the billing tables the publisher reads.

The hand-made month 2026-01 (amounts in minor units, each line rounded once, half away from zero):

inv_a_20260131  cus_a USD  pro subscription         31 days x 49.00              4900
                           api_calls (standard)     123456.789 x 0.00035 = 43.20987615 -> 4321
                           storage_gb (standard)    10.25 x 0.0125 = 0.128125      ->   13
                           sms (standard)           0 x 0.05                            0
                           total                                                     9234
inv_j_20260131  cus_j JPY  jp_basic subscription    3000 yen                         3000
                           api_calls (standard)     150.5 x 0.75 = 112.875 yen  ->   113
                           total                                                     3113
inv_b_20260131  cus_b USD  starter subscription                                      1900
inv_x_20260131  cus_x USD  starter subscription (cus_x has no Stripe customer)        500
cn_a_1          cus_a USD  credit note against inv_a_20251231 (month 2025-12)        1200

inv_a_20251231  cus_a USD  (month 2025-12) pro 4900 + api_calls 600                  5500
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import stripe

from ingestion.stripe_emulator import EmulatorServer, client_for
from ingestion.stripe_publish import RetryPolicy, ensure_demo_customers

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, the frozen emulator clock's start
MAPPED = ["cus_a", "cus_b", "cus_j"]  # cus_x stays without a Stripe customer
FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.01)
NO_RETRY = RetryPolicy(max_attempts=1)

LINE_COLUMNS = [
    "invoice_line_id",
    "invoice_id",
    "line_kind",
    "original_invoice_id",
    "fee_id",
    "customer_id",
    "subscription_id",
    "plan_code",
    "service_window_id",
    "fee_type",
    "charge_id",
    "filter_id",
    "group_key",
    "billable_metric_code",
    "charge_model",
    "currency",
    "unit_amount",
    "events_count",
    "service_start_at",
    "service_end_at",
    "units",
    "precise_amount",
    "amount_cents",
    "issue_date",
    "billing_month",
    "issue_at",
    "cutoff_loaded_at",
    "issued_at",
]

DDL = """
create schema if not exists billing;
create table billing.fct_issued_invoices (
    invoice_id varchar, customer_id varchar, currency varchar, issue_date date,
    issue_at timestamp, billing_month varchar, lines_count bigint,
    subscription_amount_cents hugeint, usage_amount_cents hugeint,
    adjustment_amount_cents hugeint, total_amount_cents hugeint,
    is_standalone_adjustment boolean, cutoff_loaded_at timestamp
);
create table billing.fct_issued_invoice_lines (
    invoice_line_id varchar, invoice_id varchar, line_kind varchar, original_invoice_id varchar,
    fee_id varchar, customer_id varchar, subscription_id varchar, plan_code varchar,
    service_window_id varchar, fee_type varchar, charge_id varchar, filter_id varchar,
    group_key varchar, billable_metric_code varchar, charge_model varchar, currency varchar,
    unit_amount decimal(38, 12), events_count bigint, service_start_at timestamp,
    service_end_at timestamp, units decimal(38, 12), precise_amount decimal(38, 24),
    amount_cents hugeint, issue_date date, billing_month varchar, issue_at timestamp,
    cutoff_loaded_at timestamp, issued_at timestamp
);
create table billing.fct_credit_notes (
    credit_note_id varchar, invoice_id varchar, customer_id varchar, currency varchar,
    issue_date date, billing_month varchar, lines_count bigint, total_amount_cents hugeint,
    cutoff_loaded_at timestamp, issued_at timestamp
);
create table billing.fct_billing_ledger (
    ledger_line_id varchar, document_type varchar, document_id varchar, line_kind varchar,
    original_invoice_id varchar, fee_id varchar, customer_id varchar, subscription_id varchar,
    plan_code varchar, service_window_id varchar, fee_type varchar, charge_id varchar,
    filter_id varchar, group_key varchar, billable_metric_code varchar, charge_model varchar,
    currency varchar, unit_amount decimal(38, 12), events_count bigint,
    service_start_at timestamp, service_end_at timestamp, units decimal(38, 12),
    precise_amount decimal(38, 24), amount_cents hugeint, issue_date date,
    billing_month varchar, issue_at timestamp, cutoff_loaded_at timestamp, issued_at timestamp
);
"""

CUTOFF = datetime(2026, 2, 1, 6, 0)
JAN = (datetime(2026, 1, 1), datetime(2026, 2, 1))
DEC = (datetime(2025, 12, 1), datetime(2026, 1, 1))


def _line(
    invoice_id: str,
    customer_id: str,
    currency: str,
    n: int,
    fee_type: str,
    code: str,
    units: str,
    unit_amount: str,
    precise: str,
    cents: int,
    period: tuple[datetime, datetime],
    billing_month: str,
    *,
    line_kind: str = "fee",
) -> dict[str, Any]:
    fee_id = f"fee_{invoice_id}_{n}"
    is_sub = fee_type == "subscription"
    return {
        "invoice_line_id": f"{invoice_id}|{fee_id}",
        "invoice_id": invoice_id,
        "line_kind": line_kind,
        "original_invoice_id": invoice_id,
        "fee_id": fee_id,
        "customer_id": customer_id,
        "subscription_id": f"sub_{customer_id}",
        "plan_code": code if is_sub else "pro",
        "service_window_id": f"sw_{customer_id}_{billing_month}",
        "fee_type": fee_type,
        "charge_id": None if is_sub else f"ch_{code}",
        "filter_id": None,
        "group_key": "",
        "billable_metric_code": None if is_sub else code,
        "charge_model": None if is_sub else "standard",
        "currency": currency,
        "unit_amount": Decimal(unit_amount),
        "events_count": None if is_sub else 42,
        "service_start_at": period[0],
        "service_end_at": period[1],
        "units": Decimal(units),
        "precise_amount": Decimal(precise),
        "amount_cents": cents,
        "issue_date": period[1].date(),
        "billing_month": billing_month,
        "issue_at": period[1],
        "cutoff_loaded_at": CUTOFF,
        "issued_at": CUTOFF,
    }


def _lines() -> list[dict[str, Any]]:
    jan, dec = "2026-01", "2025-12"
    return [
        _line("inv_a_20260131", "cus_a", "USD", 1, "subscription", "pro", "31", "49", "49", 4900, JAN, jan),
        _line("inv_a_20260131", "cus_a", "USD", 2, "charge", "api_calls", "123456.789", "0.00035", "43.20987615", 4321, JAN, jan),
        _line("inv_a_20260131", "cus_a", "USD", 3, "charge", "storage_gb", "10.25", "0.0125", "0.128125", 13, JAN, jan),
        _line("inv_a_20260131", "cus_a", "USD", 4, "charge", "sms", "0", "0.05", "0", 0, JAN, jan),
        _line("inv_j_20260131", "cus_j", "JPY", 1, "subscription", "jp_basic", "31", "3000", "3000", 3000, JAN, jan),
        _line("inv_j_20260131", "cus_j", "JPY", 2, "charge", "api_calls", "150.5", "0.75", "112.875", 113, JAN, jan),
        _line("inv_b_20260131", "cus_b", "USD", 1, "subscription", "starter", "31", "19", "19", 1900, JAN, jan),
        _line("inv_x_20260131", "cus_x", "USD", 1, "subscription", "starter", "31", "5", "5", 500, JAN, jan),
        _line("inv_a_20251231", "cus_a", "USD", 1, "subscription", "pro", "31", "49", "49", 4900, DEC, dec),
        _line("inv_a_20251231", "cus_a", "USD", 2, "charge", "api_calls", "20000", "0.0003", "6", 600, DEC, dec),
    ]  # fmt: skip


def build_warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute(DDL)
    lines = _lines()
    placeholders = ", ".join("?" for _ in LINE_COLUMNS)
    con.executemany(
        f"insert into billing.fct_issued_invoice_lines values ({placeholders})",
        [[row[c] for c in LINE_COLUMNS] for row in lines],
    )
    con.execute(
        """insert into billing.fct_issued_invoices
        select invoice_id, any_value(customer_id), any_value(currency), any_value(issue_date),
               max(issue_at), max(billing_month), count(*),
               coalesce(sum(amount_cents) filter (where fee_type = 'subscription'), 0),
               coalesce(sum(amount_cents) filter (where fee_type = 'charge'), 0),
               coalesce(sum(amount_cents) filter (where line_kind = 'adjustment'), 0),
               sum(amount_cents), not bool_or(line_kind = 'fee'), any_value(cutoff_loaded_at)
        from billing.fct_issued_invoice_lines group by invoice_id"""
    )
    # the credit note: api_calls of inv_a_20251231 over-billed by 1200 (a late void correction)
    cn_line = _line(
        "inv_a_20251231", "cus_a", "USD", 2, "charge", "api_calls", "4000", "0.0003", "1.2", 1200, DEC, "2026-01"
    )  # fmt: skip
    cn_line.update(issue_date=date(2026, 1, 5), issue_at=datetime(2026, 1, 5), line_kind="credit")
    ledger_row = {
        **cn_line,
        "ledger_line_id": "cn_a_1|" + cn_line["fee_id"],
        "document_type": "credit_note",
        "document_id": "cn_a_1",
    }
    cols = ["ledger_line_id", "document_type", "document_id"] + [
        c for c in LINE_COLUMNS if c not in ("invoice_line_id", "invoice_id")
    ]
    con.execute(
        f"insert into billing.fct_billing_ledger ({', '.join(cols)}) "
        f"values ({', '.join('?' for _ in cols)})",
        [ledger_row[c] for c in cols],
    )
    con.execute(
        """insert into billing.fct_credit_notes
        select document_id, any_value(original_invoice_id), any_value(customer_id),
               any_value(currency), any_value(issue_date), any_value(billing_month), count(*),
               sum(amount_cents), any_value(cutoff_loaded_at), any_value(issued_at)
        from billing.fct_billing_ledger where document_type = 'credit_note' group by document_id"""
    )
    return con


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with EmulatorServer(clock_start=T0) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_emulator(srv: EmulatorServer) -> None:
    srv.reset()


@pytest.fixture
def client(srv: EmulatorServer) -> stripe.StripeClient:
    """No SDK retries: the publisher's own retries are the ones under test."""
    return client_for(srv.url, max_network_retries=0, timeout=5)


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    c = build_warehouse(tmp_path / "warehouse.duckdb")
    yield c
    c.close()


@pytest.fixture
def mapped(con: duckdb.DuckDBPyConnection, client: stripe.StripeClient) -> dict[str, str]:
    """Stripe customers for cus_a, cus_b and cus_j (not cus_x)."""
    return ensure_demo_customers(con, client, customer_ids=MAPPED, retry=FAST)
