"""DIR/credits.yml: prepaid credit grants and commitments, validated with every bad entry named."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from ingestion.credits import CreditsError, add_months, load_credits, write_credits
from ingestion.warehouse import connect

CUSTOMERS = {"c1": "USD", "c2": "JPY", "c3": "KWD"}


def write(tmp_path, text):
    (tmp_path / "credits.yml").write_text(text)
    return tmp_path


def test_no_file_means_no_credit(tmp_path):
    credits = load_credits(tmp_path, CUSTOMERS)
    assert (credits.grants, credits.commitments) == ([], [])


def test_grants_and_commitments_in_minor_units(tmp_path):
    write(
        tmp_path,
        "grants:\n"
        "  - {id: launch, external_customer_id: c1, type: promotional, amount: 400.10, currency: USD,\n"
        "     priority: 1, effective_date: 2026-08-15, expiry_date: 2026-09-15, name: Launch}\n"
        '  - {id: yen, external_customer_id: c2, type: paid, amount: "1500", currency: JPY, priority: 2,\n'
        '     effective_date: "2026-09-01"}\n'
        "  - {id: dinar, external_customer_id: c3, type: paid, amount: 0.125, currency: KWD, priority: 1,\n"
        "     effective_date: 2026-09-01}\n"
        "commitments:\n"
        "  - {id: annual, external_customer_id: c1, amount: '350.00', currency: USD, priority: 1,\n"
        "     term: quarterly, start_date: 2026-01-31, end_date: 2027-01-31, rollover_percent: 33.5}\n",
    )
    credits = load_credits(tmp_path, CUSTOMERS)
    # 400.10 USD = 40010 cents (read from the YAML text 400.10, not a float); 1500 JPY = 1500 yen (no
    # minor unit); 0.125 KWD = 125 fils (3 decimals)
    assert [(g.grant_id, g.amount_cents, g.grant_type, g.expiry_date) for g in credits.grants] == [
        ("launch", 40010, "promotional", date(2026, 9, 15)),
        ("yen", 1500, "paid", None),
        ("dinar", 125, "paid", None),
    ]
    (annual,) = credits.commitments
    assert (annual.amount_cents, annual.term, annual.rollover_percent) == (
        35000,
        "quarterly",
        Decimal("33.5"),
    )


def test_every_problem_is_named(tmp_path):
    write(
        tmp_path,
        "grants:\n"
        "  - {id: ok, external_customer_id: c1, type: paid, amount: '10', currency: USD, priority: 1,"
        " effective_date: 2026-09-01}\n"
        "  - {id: ok, external_customer_id: c1, type: paid, amount: '10', currency: USD, priority: 1,"
        " effective_date: 2026-09-01}\n"
        "  - {id: ghost, external_customer_id: nobody, type: paid, amount: '10', currency: USD,"
        " priority: 1, effective_date: 2026-09-01}\n"
        "  - {id: euros, external_customer_id: c1, type: paid, amount: '10', currency: EUR,"
        " priority: 1, effective_date: 2026-09-01}\n"
        "  - {id: neg, external_customer_id: c1, type: paid, amount: '-5', currency: USD, priority: 1,"
        " effective_date: 2026-09-01}\n"
        "  - {id: subcent, external_customer_id: c1, type: paid, amount: 12.345, currency: USD,"
        " priority: 1, effective_date: 2026-09-01}\n"
        "  - {id: yen_frac, external_customer_id: c2, type: paid, amount: '10.5', currency: JPY,"
        " priority: 1, effective_date: 2026-09-01}\n"
        "  - {id: backwards, external_customer_id: c1, type: paid, amount: '10', currency: USD,"
        " priority: 1, effective_date: 2026-09-01, expiry_date: 2026-09-01}\n"
        "  - {id: gift, external_customer_id: c1, type: gift, amount: '10', currency: USD, priority: 0,"
        " effective_date: 2026-09-31, colour: red}\n"
        "  - {external_customer_id: c1, type: paid, amount: '10', currency: USD, priority: 1,"
        " effective_date: 2026-09-01T00:00:00Z}\n"
        "commitments:\n"
        "  - {id: ragged, external_customer_id: c1, amount: '100', currency: USD, priority: 1,"
        " term: monthly, start_date: 2026-01-15, end_date: 2026-03-01, rollover_percent: 50}\n"
        "  - {id: greedy, external_customer_id: c1, amount: '100', currency: USD, priority: 1,"
        " term: yearly, start_date: 2026-01-01, end_date: 2027-01-01, rollover_percent: 120}\n"
        "  - {id: weekly, external_customer_id: c1, amount: '100', currency: USD, priority: 1,"
        " term: weekly, start_date: 2026-01-01, end_date: 2027-01-01, rollover_percent: 0}\n"
        "wallets: []\n",
    )
    with pytest.raises(CreditsError) as info:
        load_credits(tmp_path, CUSTOMERS)
    assert info.value.problems == [
        "credits.yml: wallets: unknown key (expected grants, commitments)",
        "credits.yml: grants[1] (id 'ok'): id 'ok' is already used by grants[0]",
        "credits.yml: grants[2] (id 'ghost'): customer 'nobody' is not in landing/customers.csv",
        "credits.yml: grants[3] (id 'euros'): the grant is in EUR, customer 'c1' is billed in USD "
        "(credits are never converted)",
        "credits.yml: grants[4] (id 'neg'): amount must be above 0, got -5",
        "credits.yml: grants[5] (id 'subcent'): amount 12.345 is not a whole number of USD minor units "
        "(2 decimals)",
        "credits.yml: grants[6] (id 'yen_frac'): amount 10.5 is not a whole number of JPY minor units "
        "(0 decimals)",
        "credits.yml: grants[7] (id 'backwards'): expiry_date 2026-09-01 must be after effective_date "
        "2026-09-01",
        "credits.yml: grants[8] (id 'gift'): priority: must be a whole number >= 1 (1 is drawn first), got 0",
        "credits.yml: grants[8] (id 'gift'): type: Input should be 'paid' or 'promotional' (got 'gift')",
        "credits.yml: grants[8] (id 'gift'): effective_date: must be a date YYYY-MM-DD, got '2026-09-31'",
        "credits.yml: grants[8] (id 'gift'): colour: unknown key",
        "credits.yml: grants[9]: id: required key is missing",
        "credits.yml: grants[9]: effective_date: must be a date YYYY-MM-DD, got '2026-09-01T00:00:00Z'",
        "credits.yml: commitments[0] (id 'ragged'): end_date 2026-03-01 is not a whole number of monthly "
        "terms after start_date 2026-01-15 (e.g. 2026-02-15)",
        "credits.yml: commitments[1] (id 'greedy'): rollover_percent must be from 0 to 100, got 120",
        "credits.yml: commitments[2] (id 'weekly'): term: Input should be 'monthly', 'quarterly' or "
        "'yearly' (got 'weekly')",
    ]


def test_a_float_never_gets_in(tmp_path):
    """YAML numbers become Decimals through their text; a float given from Python is refused."""
    from ingestion.credits import GrantEntry

    with pytest.raises(Exception, match="not a float"):
        GrantEntry.model_validate(
            {"id": "f", "external_customer_id": "c1", "type": "paid", "amount": 0.1,
             "currency": "USD", "priority": 1, "effective_date": "2026-09-01"}
        )  # fmt: skip
    # 0.1 + 0.2 read from YAML text is exactly 30 cents
    write(
        tmp_path,
        "grants:\n  - {id: a, external_customer_id: c1, type: paid, amount: 0.30, currency: USD,"
        " priority: 1, effective_date: 2026-09-01}\n",
    )
    assert load_credits(tmp_path, CUSTOMERS).grants[0].amount_cents == 30


def test_month_arithmetic_clamps_like_duckdb():
    # Jan 31 + 1 month = Feb 28 (2026 is not a leap year), + 2 = Mar 31: always from the start date
    assert [add_months(date(2026, 1, 31), n) for n in (1, 2, 3)] == [
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
    ]


def test_write_credits_replaces_the_raw_tables(tmp_path):
    write(
        tmp_path,
        "grants:\n  - {id: a, external_customer_id: c1, type: paid, amount: '5', currency: USD,"
        " priority: 3, effective_date: 2026-09-01}\n"
        "commitments:\n  - {id: m, external_customer_id: c1, amount: '350.00', currency: USD,"
        " priority: 1, term: monthly, start_date: 2026-08-01, end_date: 2026-11-01,"
        " rollover_percent: '50.0'}\n",
    )
    con = connect(tmp_path / "w.duckdb")
    try:
        for _ in range(2):  # a second load replaces, never appends
            write_credits(con, load_credits(tmp_path, CUSTOMERS), datetime(2026, 10, 5))
        assert con.execute(
            "select grant_id, amount_cents, priority, effective_date, expiry_date from raw.credit_grants"
        ).fetchall() == [("a", 500, 3, date(2026, 9, 1), None)]
        assert con.execute(
            "select commitment_id, amount_cents, term, start_date, end_date, rollover_percent "
            "from raw.credit_commitments"
        ).fetchall() == [("m", 35000, "monthly", date(2026, 8, 1), date(2026, 11, 1), "50")]
    finally:
        con.close()
