"""Each quality check on the clean generated warehouse of the session fixture (it passes), then on one planted
defect per kind (it fails, naming the rule, counting the failing rows and pinning them to the customer and
month, or load, it blocks). A defect is planted inside a transaction that is rolled back, so every test sees
the clean warehouse. The check functions are called directly: GX on small DataFrames, no Dagster run.

Expected counts are worked out from the one planted row: a rule that the plant breaks fails on exactly that
row (1), every other rule passes on the clean data (the first test of each check shows it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import duckdb
import pytest
import yaml

from ingestion.quality.events import event_batch_suite, load_accounting_suite
from ingestion.quality.freshness import events_freshness, usage_changes
from ingestion.quality.invoices import invoice_line_suite, invoice_suite
from ingestion.quality.results import Pin
from ingestion.quality.stripe import STRIPE_TABLES, stripe_suite
from ingestion.warehouse import connect

from .conftest import CUSTOMERS, MONTH

MARGIN_HOURS = 24  # future_margin_hours of the generated meterhouse.yml
STRIPE = {t.key: t for t in STRIPE_TABLES}


@pytest.fixture(scope="module")
def con(quality_run) -> Iterator[duckdb.DuckDBPyConnection]:
    c = connect(quality_run.db_path)
    yield c
    c.close()


@pytest.fixture(scope="module")
def manifest(quality_run) -> dict:
    return json.loads((quality_run.data_dir / "generator_manifest.json").read_text())


@pytest.fixture(scope="module")
def loads(con) -> list[int]:
    return [r[0] for r in con.execute("select load_id from raw.event_loads order by 1").fetchall()]


@contextmanager
def planted(con: duckdb.DuckDBPyConnection, *statements: str, params: list | None = None):
    con.execute("begin transaction")
    try:
        for sql in statements:
            con.execute(sql, params or [])
        yield
    finally:
        con.execute("rollback")


def failed(report) -> dict[str, int]:
    return {o.rule: o.unexpected_count for o in report.failed_rules}


def one(con, sql: str, params: list | None = None) -> tuple:
    rows = con.execute(sql, params or []).fetchall()
    assert len(rows) == 1, rows
    return rows[0]


# --------------------------------------------------------------------------------------------------
# Event batch
# --------------------------------------------------------------------------------------------------


def _events(con, loads):
    return event_batch_suite(con, future_margin_hours=MARGIN_HOURS, loads=loads)


def test_event_batch_passes_on_the_generated_loads(con, loads, manifest):
    report = _events(con, loads)
    assert report.passed, report.summary()
    # what landed = the generator's rows minus the malformed ones it planted (quarantined before the check):
    # valid_rows = total_rows - malformed_total
    assert manifest["malformed_total"] > 0
    assert report.rows_checked == manifest["total_rows"] - manifest["malformed_total"]
    assert report.failures == []


@pytest.fixture(scope="module")
def a_row(con) -> tuple:
    """The first plain event (no correction) of the biggest load: (load_id, row_number, customer_id,
    loaded_at)."""
    return one(
        con,
        "select load_id, row_number, customer_id, loaded_at from raw.events where correction_type is null "
        "and load_id = (select load_id from raw.event_loads order by rows_landed desc limit 1) "
        "order by row_number limit 1",
    )


def test_a_blank_required_field_fails_and_blocks_the_rows_customer_since_its_load(
    con, loads, a_row
):
    load_id, row_number, customer, loaded_at = a_row
    with planted(
        con,
        f"update raw.events set event_id = '  ' where load_id = {load_id} and row_number = {row_number}",
    ):
        report = _events(con, loads)
    assert failed(report) == {"event_id is not blank": 1}
    assert [f.pin for f in report.failures] == [
        Pin(customer_id=customer, since_loaded_at=loaded_at, load_id=load_id)
    ]
    assert report.failures[0].reason.startswith(
        f"event_batch_suite failed for customer {customer}, the billing months of documents issued "
        f"with load {load_id} in their cut-off: event_id is not blank: 1 failing (e.g. load {load_id} "
        f"row {row_number} of "
    )


@pytest.mark.parametrize(
    ("event_at", "fails"),
    [
        (datetime(2000, 1, 1), False),  # the bound itself is allowed
        (datetime(1999, 12, 31, 23, 59, 59, 999999), True),
    ],
)
def test_an_event_before_2000_fails(con, loads, a_row, event_at, fails):
    load_id, row_number, _, _ = a_row
    with planted(
        con,
        f"update raw.events set event_at = ? where load_id = {load_id} and row_number = {row_number}",
        params=[event_at],
    ):
        report = _events(con, loads)
    assert failed(report) == ({"event_at is on or after 2000-01-01": 1} if fails else {})


@pytest.mark.parametrize(
    ("late", "fails"), [(timedelta(0), False), (timedelta(microseconds=1), True)]
)
def test_an_event_later_than_load_time_plus_the_margin_fails(con, loads, a_row, late, fails):
    load_id, row_number, _, loaded_at = a_row
    event_at = loaded_at + timedelta(hours=MARGIN_HOURS) + late
    with planted(
        con,
        f"update raw.events set event_at = ? where load_id = {load_id} and row_number = {row_number}",
        params=[event_at],
    ):
        report = _events(con, loads)
    assert failed(report) == ({"event_at is at most load time + future margin": 1} if fails else {})


def test_a_row_landed_twice_fails_uniqueness(con, loads, a_row):
    load_id, row_number, _, _ = a_row
    with planted(
        con,
        f"insert into raw.events select * from raw.events where load_id = {load_id} "
        f"and row_number = {row_number}",
    ):
        report = _events(con, loads)
    assert failed(report) == {"(load_id, row_number) is unique": 2}  # both copies


def test_validating_in_chunks_finds_what_validating_at_once_finds(con, loads, a_row):
    load_id, row_number, customer, _ = a_row
    with planted(
        con,
        f"insert into raw.events select * from raw.events where load_id = {load_id} "
        f"and row_number = {row_number}",
        f"update raw.events set event_id = '' where load_id = {load_id} and row_number = {row_number + 150}",
    ):
        whole = _events(con, loads)
        chunked = event_batch_suite(
            con, future_margin_hours=MARGIN_HOURS, loads=loads, chunk_rows=500
        )
    assert (
        failed(whole)
        == failed(chunked)
        == {
            "(load_id, row_number) is unique": 2,
            "event_id is not blank": 1,
        }
    )
    assert chunked.rows_checked == whole.rows_checked
    assert [f.pin for f in chunked.failures] == [f.pin for f in whole.failures]


def test_malformed_corrections_fail(con, loads):
    load_id, row_number = one(
        con,
        "select load_id, row_number from raw.events where correction_type is not null "
        "order by load_id, row_number limit 1",
    )
    where = f"where load_id = {load_id} and row_number = {row_number}"
    with planted(con, f"update raw.events set correction_type = 'undo' {where}"):
        assert failed(_events(con, loads)) == {"correction_type is void or replace": 1}
    with planted(con, f"update raw.events set correction_type = null {where}"):
        assert failed(_events(con, loads)) == {"correction_of and correction_type come together": 1}
    with planted(con, f"update raw.events set correction_of = event_id {where}"):
        assert failed(_events(con, loads)) == {"a correction corrects another event": 1}


def test_a_table_off_its_contract_fails_on_schema_and_blocks_every_customer(con, loads):
    first_load, first_loaded_at = one(
        con, "select load_id, loaded_at from raw.event_loads order by load_id limit 1"
    )
    with planted(
        con,
        "alter table raw.events rename column payload_hash to payload_md5",
        "alter table raw.events alter column properties type varchar",
    ):
        report = _events(con, loads)
    assert failed(report) == {
        "raw.events has every contract column": 1,  # payload_hash
        "raw.events columns have their contract types": 1,  # properties VARCHAR, not JSON
        "raw.events has no column outside the contract": 1,  # payload_md5
    }
    assert report.rows_checked == 0  # rows are not read from a table off its contract
    assert [f.pin for f in report.failures] == [
        Pin(since_loaded_at=first_loaded_at, load_id=first_load)
    ]


# --------------------------------------------------------------------------------------------------
# Load accounting
# --------------------------------------------------------------------------------------------------


def test_load_accounting_passes_on_the_generated_loads(con, loads, manifest):
    report = load_accounting_suite(con, loads=loads)
    assert report.passed, report.summary()
    assert report.rows_checked == len(manifest["files"]) == 4  # one load per event file


@pytest.fixture(scope="module")
def a_load(con) -> tuple:
    return one(
        con, "select load_id, loaded_at from raw.event_loads order by rows_read desc limit 1"
    )


def test_a_load_that_does_not_balance_blocks_every_customer_since_it(con, loads, a_load):
    load_id, loaded_at = a_load
    with planted(
        con, f"update raw.event_loads set rows_read = rows_read + 1 where load_id = {load_id}"
    ):
        report = load_accounting_suite(con, loads=loads)
    assert failed(report) == {"rows read = quarantined + outcomes (billed, duplicates, ...)": 1}
    assert [f.pin for f in report.failures] == [Pin(since_loaded_at=loaded_at, load_id=load_id)]


def test_a_negative_count_in_the_ledger_fails(con, loads, a_load):
    load_id, _ = a_load
    with planted(
        con, f"update raw.event_loads set rows_quarantined = -1 where load_id = {load_id}"
    ):
        report = load_accounting_suite(con, loads=loads)
    # rows_read still = the quarantined rows found + the outcomes: only the ledger's own count is off
    assert failed(report) == {
        "rows_quarantined is not negative": 1,
        "rows_quarantined = rows in raw.quarantined_events": 1,
    }


def test_an_event_lost_after_landing_fails_the_outcome_identity(con, loads, a_row):
    load_id, row_number, _, _ = a_row
    with planted(
        con, f"delete from raw.events where load_id = {load_id} and row_number = {row_number}"
    ):
        report = load_accounting_suite(con, loads=loads)
    # the ledger says n landed, raw.events has n - 1, the outcomes (built before) still n
    assert failed(report) == {
        "rows_landed = rows in raw.events": 1,
        "every landed event has exactly one outcome": 1,
    }


# --------------------------------------------------------------------------------------------------
# Invoices mart
# --------------------------------------------------------------------------------------------------


def test_the_invoices_mart_passes(con):
    invoices, lines = invoice_suite(con), invoice_line_suite(con)
    assert invoices.passed, invoices.summary()
    assert lines.passed, lines.summary()
    assert invoices.rows_checked == one(con, "select count(*) from billing.fct_invoices")[0] > 0
    assert lines.rows_checked == one(con, "select count(*) from billing.fct_invoice_lines")[0] > 0


def test_the_generated_versions_deals_and_credits_reach_the_invoice_lines(con, quality_run):
    """The generator's plan_versions.yml, overrides.yml and credits.yml priced this warehouse: a line
    of a version plan (<plan>@<version>), of a deal (<plan>~<subscription>), and a credit line for a
    customer of credits.yml."""
    files = {
        name: yaml.safe_load((quality_run.data_dir / name).read_text())
        for name in ("plan_versions.yml", "overrides.yml", "credits.yml")
    }
    versions = {
        f"{v['plan_code']}@{v['version']}" for v in files["plan_versions.yml"]["plan_versions"]
    }
    deals = {d["subscription_id"] for d in files["overrides.yml"]["overrides"]}
    credits = files["credits.yml"]
    holders = {g["external_customer_id"] for g in credits["grants"] + credits["commitments"]}
    lines = con.execute(
        "select plan_code, subscription_id, customer_id, fee_type, amount_cents "
        "from billing.fct_invoice_lines"
    ).fetchall()
    assert any(plan and plan.split("~")[0] in versions for plan, *_ in lines)
    assert any(plan and plan.endswith(f"~{sub}") and sub in deals for plan, sub, *_ in lines)
    credit_lines = [(customer, cents) for *_, customer, fee, cents in lines if fee == "credit"]
    assert credit_lines and all(c in holders and cents < 0 for c, cents in credit_lines)


@pytest.fixture(scope="module")
def an_issued_invoice(con, quality_run) -> tuple:
    """An issued invoice of the month that was published: (invoice_id, customer_id)."""
    invoice_id = sorted(i for i, c in quality_run.issued.items() if c != quality_run.customer)[0]
    return invoice_id, quality_run.issued[invoice_id]


def test_an_invoice_in_an_unknown_currency_blocks_its_customer_and_month(con, an_issued_invoice):
    invoice_id, customer = an_issued_invoice
    with planted(
        con, f"update billing.fct_invoices set currency = 'XXX' where invoice_id = '{invoice_id}'"
    ):
        report = invoice_suite(con)
    assert failed(report) == {
        "invoice: currency is an ISO 4217 code of the currencies seed": 1,
        "every line is in the invoice's currency": 1,  # its lines keep the real currency
    }
    assert [f.pin for f in report.failures] == [Pin(customer_id=customer, billing_month=MONTH)]


def test_an_invoice_whose_total_is_not_the_sum_of_its_lines_fails(con, an_issued_invoice):
    invoice_id, customer = an_issued_invoice
    total, lines_sum = one(
        con,
        "select (select total_amount_cents from billing.fct_invoices where invoice_id = $1), "
        "(select sum(amount_cents) from billing.fct_invoice_lines where invoice_id = $1)",
        [invoice_id],
    )
    assert total == lines_sum
    with planted(
        con,
        "update billing.fct_invoices set total_amount_cents = total_amount_cents + 1, "
        f"lines_count = lines_count + 1 where invoice_id = '{invoice_id}'",
    ):
        report = invoice_suite(con)
    assert failed(report) == {
        "total_amount_cents = the sum of the invoice's lines": 1,
        "lines_count = the number of the invoice's lines": 1,
    }
    assert f"total {total + 1}, lines sum to {lines_sum}" in report.failures[0].reason


def test_an_issued_invoice_with_a_negative_total_fails(con, an_issued_invoice):
    invoice_id, _ = an_issued_invoice
    with planted(
        con,
        f"update billing.fct_invoices set total_amount_cents = -1 where invoice_id = '{invoice_id}'",
    ):
        report = invoice_suite(con)
    assert failed(report) == {
        "an issued invoice's total is not negative": 1,
        "total_amount_cents = the sum of the invoice's lines": 1,
    }


@pytest.fixture(scope="module")
def a_charge_line(con, an_issued_invoice) -> tuple:
    """A charge line of that invoice with a positive amount: (invoice_line_id, amount_cents)."""
    return one(
        con,
        "select invoice_line_id, cast(amount_cents as bigint) from billing.fct_invoice_lines "
        "where invoice_id = ? and fee_type in ('charge', 'subscription') and amount_cents > 0 "
        "order by invoice_line_id limit 1",
        [an_issued_invoice[0]],
    )


def _on_line(line_id: str, assignments: str) -> str:
    return f"update billing.fct_invoice_lines set {assignments} where invoice_line_id = '{line_id}'"


def test_a_negative_fee_line_fails_and_blocks_its_customer_and_month(
    con, an_issued_invoice, a_charge_line
):
    line_id, _ = a_charge_line
    # negated whole: amount and precise amount, so it is still rounded once
    with planted(
        con, _on_line(line_id, "amount_cents = -amount_cents, precise_amount = -precise_amount")
    ):
        report = invoice_line_suite(con)
    assert failed(report) == {
        "amount_cents is not negative (except discounts and prepaid credits)": 1
    }
    assert [f.pin for f in report.failures] == [
        Pin(customer_id=an_issued_invoice[1], billing_month=MONTH)
    ]


def test_a_positive_discount_line_fails(con, a_charge_line):
    with planted(con, _on_line(a_charge_line[0], "fee_type = 'discount'")):
        report = invoice_line_suite(con)
    assert failed(report) == {"a discount or prepaid credit line is not positive": 1}


def test_a_fee_line_not_rounded_once_fails(con, a_charge_line):
    line_id, cents = a_charge_line
    with planted(con, _on_line(line_id, "amount_cents = amount_cents + 1")):
        report = invoice_line_suite(con)
    assert failed(report) == {"a fee line's amount_cents is its precise amount rounded once": 1}
    assert f"{cents + 1} " in report.failures[0].reason


def test_a_line_in_an_unknown_currency_fails(con, a_charge_line):
    with planted(con, _on_line(a_charge_line[0], "currency = 'XXX'")):
        report = invoice_line_suite(con)
    # its rounding cannot be checked without an exponent: only the currency rule fails
    assert failed(report) == {"line: currency is an ISO 4217 code of the currencies seed": 1}


def test_a_service_period_ending_before_it_starts_fails(con, a_charge_line):
    with planted(
        con,
        _on_line(
            a_charge_line[0],
            "service_start_at = service_end_at, service_end_at = service_start_at",
        ),
    ):
        report = invoice_line_suite(con)
    assert failed(report) == {"service_end_at is not before service_start_at": 1}


# --------------------------------------------------------------------------------------------------
# Raw Stripe tables
# --------------------------------------------------------------------------------------------------


def test_the_raw_stripe_tables_pass(con, quality_run):
    reports = {t.key: stripe_suite(con, t) for t in STRIPE_TABLES}
    assert all(r.passed for r in reports.values()), [r.summary() for r in reports.values()]
    # read back from the emulator by the first run's sync: the 30 customers the fixture created and the
    # invoices that run published (every one of the month but the blocked one; the second run publishes
    # it and does not sync)
    assert reports["customers"].rows_checked == CUSTOMERS
    assert reports["invoices"].rows_checked == len(quality_run.issued) - 1


def test_a_stripe_invoice_in_a_bad_currency_with_a_negative_amount_blocks_its_customer(
    con, an_issued_invoice
):
    invoice_id, customer = an_issued_invoice
    with planted(
        con,
        "update raw.stripe_invoices set currency = 'zzz', amount_due = -1 "
        f"where meterhouse_invoice_id = '{invoice_id}'",
    ):
        report = stripe_suite(con, STRIPE["invoices"])
    assert failed(report) == {
        "stripe_invoices.currency is an ISO 4217 code of the currencies seed": 1,
        "stripe_invoices.amount_due is not negative": 1,
    }
    # the customer through the Stripe customer's metadata, the month the publisher set on the invoice
    assert [f.pin for f in report.failures] == [Pin(customer_id=customer, billing_month=MONTH)]


def test_a_stripe_customer_defect_blocks_that_customer_in_every_month(con, quality_run):
    customer = quality_run.customer
    with planted(
        con,
        "update raw.stripe_customers set currency = 'zzz' where meterhouse_customer_id = ?",
        params=[customer],
    ):
        report = stripe_suite(con, STRIPE["customers"])
    assert failed(report) == {
        "stripe_customers.currency is an ISO 4217 code of the currencies seed": 1
    }
    assert [f.pin for f in report.failures] == [Pin(customer_id=customer)]


def test_a_defect_in_an_object_of_no_meterhouse_customer_is_reported_but_blocks_nothing(
    con, quality_run
):
    with planted(
        con,
        "update raw.stripe_customers set currency = 'zzz', meterhouse_customer_id = null "
        "where meterhouse_customer_id = ?",
        params=[quality_run.customer],
    ):
        report = stripe_suite(con, STRIPE["customers"])
    assert failed(report) == {
        "stripe_customers.currency is an ISO 4217 code of the currencies seed": 1
    }
    assert report.failures == []


def test_a_missing_required_id_fails(con):
    with planted(
        con,
        "update raw.stripe_invoice_lines set invoice = null "
        "where id = (select min(id) from raw.stripe_invoice_lines)",
    ):
        report = stripe_suite(con, STRIPE["invoice_lines"])
    assert failed(report) == {"stripe_invoice_lines.invoice is present": 1}
    assert report.failures == []  # without its invoice the line names no customer


def test_a_stripe_table_off_its_contract_blocks_everything(con):
    with planted(con, "alter table raw.stripe_charges alter column amount type varchar"):
        report = stripe_suite(con, STRIPE["charges"])
    assert failed(report) == {"raw.stripe_charges columns have their contract types": 1}
    assert [f.pin for f in report.failures] == [Pin()]


# --------------------------------------------------------------------------------------------------
# Freshness (warnings)
# --------------------------------------------------------------------------------------------------


def test_events_freshness_warns_after_the_configured_silence(con):
    last = one(con, "select max(loaded_at) from raw.event_loads where rows_landed > 0")[0]
    on_time = events_freshness(con, max_silence_hours=24, now=last + timedelta(hours=24))
    assert on_time.passed and not on_time.blocks_publishing
    late = events_freshness(
        con, max_silence_hours=24, now=last + timedelta(hours=24, microseconds=1)
    )
    assert failed(late) == {"events landed within the last 24 h": 1}
    assert "24.0 h before" in late.outcomes[0].observed
    assert late.failures == []


def test_usage_day_over_day_passes_on_the_generated_set(con):
    report = usage_changes(con, change_factor=10, min_daily_events=50)
    assert report.passed, report.summary()
    assert report.rows_checked == one(con, "select count(*) from usage.rpt_daily_usage")[0] > 0


def test_usage_dropping_to_zero_or_changing_tenfold_warns(con):
    con.execute(
        """create or replace temp table planted_usage as
        select * from usage.rpt_daily_usage where false"""
    )
    rows = [
        ("s_drop", 120, 0),  # 120 -> 0: drop_to_zero
        ("s_up", 5, 80),  # 5 -> 80: 80 >= 10 x 5: jump_up
        ("s_down", 100, 9),  # 100 -> 9: 100 >= 10 x 9: jump_down
        ("s_small", 40, 0),  # 40 -> 0: both under 50, ignored
        ("s_mild", 60, 7),  # 60 -> 7: 60 < 10 x 7, not an order of magnitude
        ("s_new", 0, 50),  # 0 -> 50: 50 >= 10 x 0 and 50 >= 50: jump_up
    ]
    try:
        for sub, before, day in rows:
            con.execute(
                "insert into planted_usage values (?, 'c', 'api_calls', date '2026-10-10', ?, ?)",
                [sub, day, before],
            )
        report = usage_changes(con, change_factor=10, min_daily_events=50, relation="planted_usage")
    finally:
        con.execute("drop table planted_usage")
    assert not report.passed and not report.blocks_publishing
    found = {(e["subscription_id"], e["change"]) for e in report.outcomes[0].examples}
    assert found == {
        ("s_drop", "drop_to_zero"),
        ("s_up", "jump_up"),
        ("s_down", "jump_down"),
        ("s_new", "jump_up"),
    }
    assert report.outcomes[0].observed == "1 drop_to_zero, 1 jump_down, 2 jump_up"
    assert report.failures == []  # a warning: it blocks nothing
