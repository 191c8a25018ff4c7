"""Prepaid credits end to end on the hand-computed scenarios (tests/fixtures/scenarios/credits.yml).

Read from the session's scenarios warehouse (one pipeline run, clock 2026-10-05, grace 72 h). The invoice
totals before credits are those of tests/test_scenarios.py (worked out there from the fixture):
  inv_cus_pro_20260901        300.00 base + 0.52 storage                                  = 300.52
  inv_cus_pro_20261001        300.00 + 4.00 + 40.00 + 18.75 + 2.33 + 1.00                  = 366.08
  inv_cus_pro_20261101 (draft) 300.00 + storage 30 GB x 0.1 = 3.00 (October: 30 GB all month) = 303.00
  inv_cus_downgrade_20260901  300.00 (pro, August)                                       = 300.00
  inv_cus_downgrade_20261001  300.00 (pro, September; the downgrade waits for its end)    = 300.00
  inv_cus_downgrade_20261101 (draft) 100.00 (basic, October, no usage)                   = 100.00

cus_pro's grants (drawdown order: priority, then soonest expiry, then oldest):
  pro_launch  promotional 400.00, priority 1, Aug 15 .. Sep 15 (expires before the Oct 1 invoice)
  pro_prepaid paid        300.00, priority 2, from Aug 1, never expires
  pro_winback promotional  50.00, priority 1, Oct 2 .. Jan 1 (not yet effective on Oct 1)
  Sep 1  (300.52): pro_launch 300.52 (pro_prepaid, priority 2, is not needed)       -> 0 to pay
  Sep 15: pro_launch expires with 400.00 - 300.52 = 99.48 left: an expiry row of 99.48
  Oct 1  (366.08): pro_launch expired, pro_winback not effective: pro_prepaid 300.00 -> 66.08 to pay
  Nov 1 draft (303.00): pro_winback 50.00 (pro_prepaid is empty)                  -> 253.00 to pay
cus_downgrade's monthly commitment cd_commit, 350.00 a term from Aug 1 to Nov 1, rollover 50%:
  term #1 (Aug) pays the Sep 1 invoice: 300.00 -> 0 to pay; 50.00 left on Sep 2: 25.00 rolls to #2,
        25.00 expires
  term #2 (Sep) 350.00 + 25.00 = 375.00 pays the Oct 1 invoice: 300.00 -> 0; 75.00 left on Oct 2:
        37.50 rolls to #3, 37.50 expires
  term #3 (Oct) 350.00 + 37.50 = 387.50 pays the Nov 1 draft: 100.00 -> 0 to pay (287.50 left)
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import duckdb
import pytest

from .conftest import query

pytestmark = pytest.mark.slow


def test_issued_and_draft_invoices_after_credits(scenarios_dir):
    rows = query(
        scenarios_dir / "warehouse.read.duckdb",
        """select invoice_id, invoice_status, total_amount_cents - credit_amount_cents, credit_amount_cents,
                  total_amount_cents
        from billing.fct_invoices where customer_id in ('cus_pro', 'cus_downgrade') order by 1""",
    )
    assert rows == [
        ("inv_cus_downgrade_20260901", "issued", 30000, -30000, 0),
        ("inv_cus_downgrade_20261001", "issued", 30000, -30000, 0),
        ("inv_cus_downgrade_20261101", "draft", 10000, -10000, 0),
        ("inv_cus_pro_20260901", "issued", 30052, -30052, 0),
        ("inv_cus_pro_20261001", "issued", 36608, -30000, 6608),
        ("inv_cus_pro_20261101", "draft", 30300, -5000, 25300),
    ]
    # nobody else has a grant: no other invoice has a credit line
    assert query(
        scenarios_dir / "warehouse.read.duckdb",
        "select distinct customer_id from billing.fct_invoice_lines where fee_type = 'credit' order by 1",
    ) == [("cus_downgrade",), ("cus_pro",)]


def test_the_credit_ledger_reconciles_by_hand(scenarios_dir):
    rows = query(
        scenarios_dir / "warehouse.read.duckdb",
        """select grant_id, entry_type, coalesce(invoice_id, related_grant_id), amount_cents,
                  balance_after_cents
        from billing.fct_credit_ledger order by grant_id, entry_seq""",
    )
    assert rows == [
        ("cd_commit#1", "grant", None, 35000, 35000),
        ("cd_commit#1", "draw", "inv_cus_downgrade_20260901", -30000, 5000),
        ("cd_commit#1", "rollover_out", "cd_commit#2", -2500, 2500),
        ("cd_commit#1", "expiry", None, -2500, 0),
        ("cd_commit#2", "grant", None, 35000, 35000),
        ("cd_commit#2", "rollover_in", "cd_commit#1", 2500, 37500),
        ("cd_commit#2", "draw", "inv_cus_downgrade_20261001", -30000, 7500),
        ("cd_commit#2", "rollover_out", "cd_commit#3", -3750, 3750),
        ("cd_commit#2", "expiry", None, -3750, 0),
        ("cd_commit#3", "grant", None, 35000, 35000),
        ("cd_commit#3", "rollover_in", "cd_commit#2", 3750, 38750),
        ("pro_launch", "grant", None, 40000, 40000),
        ("pro_launch", "draw", "inv_cus_pro_20260901", -30052, 9948),
        ("pro_launch", "expiry", None, -9948, 0),
        ("pro_prepaid", "grant", None, 30000, 30000),
        ("pro_prepaid", "draw", "inv_cus_pro_20261001", -30000, 0),
        ("pro_winback", "grant", None, 5000, 5000),
    ]
    grants = query(
        scenarios_dir / "warehouse.read.duckdb",
        """select grant_id, grant_type, granted_cents, rolled_in_cents, drawn_cents, rolled_out_cents,
                  expired_cents, balance_cents, status
        from billing.fct_credit_grants order by 1""",
    )
    assert grants == [
        ("cd_commit#1", "paid", 35000, 0, 30000, 2500, 2500, 0, "expired"),
        ("cd_commit#2", "paid", 35000, 2500, 30000, 3750, 3750, 0, "expired"),
        ("cd_commit#3", "paid", 35000, 3750, 0, 0, 0, 38750, "active"),
        ("pro_launch", "promotional", 40000, 0, 30052, 0, 9948, 0, "expired"),
        ("pro_prepaid", "paid", 30000, 0, 30000, 0, 0, 0, "active"),
        ("pro_winback", "promotional", 5000, 0, 0, 0, 0, 5000, "active"),
    ]


def test_a_credit_line_traces_to_its_grant_in_sql(scenarios_dir):
    """The invoice's credit line -> its ledger row -> the grant and the commitment term it came from."""
    rows = query(
        scenarios_dir / "warehouse.read.duckdb",
        """
        select l.invoice_id, l.amount_cents, c.entry_type, g.commitment_id, g.term_number,
               g.term_start_date::varchar, g.term_end_date::varchar
        from billing.fct_issued_invoice_lines as l
        join billing.fct_credit_ledger as c on c.ledger_line_id = l.invoice_line_id
        join staging.stg_accounts__credit_grants as g on g.grant_id = c.grant_id
        where l.fee_type = 'credit' and l.customer_id = 'cus_downgrade'
        order by 1
        """,
    )
    assert rows == [
        ("inv_cus_downgrade_20260901", -30000, "draw", "cd_commit", 1, "2026-08-01", "2026-09-01"),
        ("inv_cus_downgrade_20261001", -30000, "draw", "cd_commit", 2, "2026-09-01", "2026-10-01"),
    ]


def test_a_credit_line_publishes_to_stripe_and_totals_match(scenarios_dir, tmp_path):
    """The issued invoices with credit lines published to the Stripe emulator: the credit is a negative
    invoice item naming its grant, and Stripe's total is Meterhouse's (an invoice paid by credits in full
    totals zero and is marked paid at once, as Stripe does)."""
    from ingestion.stripe_emulator import EmulatorServer, client_for
    from ingestion.stripe_publish import RetryPolicy, ensure_demo_customers, publish_month

    db = tmp_path / "warehouse.duckdb"
    shutil.copy(scenarios_dir / "warehouse.read.duckdb", db)
    fast = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.01)
    clock = int(datetime(2026, 10, 5, tzinfo=UTC).timestamp())
    con = duckdb.connect(str(db))
    try:
        with EmulatorServer(clock_start=clock) as srv:
            client = client_for(srv.url, max_network_retries=0, timeout=5)
            ensure_demo_customers(con, client, customer_ids=["cus_pro"], retry=fast)
            for month, invoice_id in (
                ("2026-09", "inv_cus_pro_20260901"),
                ("2026-10", "inv_cus_pro_20261001"),
            ):
                report = publish_month(con, client, month, retry=fast)
                assert report.by_id(invoice_id).outcome == "published"
            invoices = {
                i["metadata"]["meterhouse_invoice_id"]: i
                for i in srv.objects("invoice")
                if i["metadata"].get("meterhouse_invoice_id", "").startswith("inv_cus_pro_")
            }
            items = {
                mh_id: sorted(
                    (i["amount"], i["description"].split(" - ")[0])
                    for i in srv.objects("invoiceitem")
                    if i["invoice"] == inv["id"]
                )
                for mh_id, inv in invoices.items()
            }
    finally:
        con.close()
    sep, oct_ = invoices["inv_cus_pro_20260901"], invoices["inv_cus_pro_20261001"]
    # Sep 1: 300.00 + storage 0.52, paid in full by pro_launch
    assert (sep["total"], sep["status"]) == (0, "paid")
    assert items["inv_cus_pro_20260901"] == [
        (-30052, "Prepaid credit pro_launch"),
        (52, "storage (standard)"),
        (30000, "Subscription pro_usd"),
    ]
    # Oct 1: 366.08 less pro_prepaid's 300.00 = 66.08 due
    assert (oct_["total"], oct_["status"]) == (6608, "open")
    assert (-30000, "Prepaid credit pro_prepaid") in items["inv_cus_pro_20261001"]
    assert sum(amount for amount, _ in items["inv_cus_pro_20261001"]) == 6608
