"""The whole pipeline (Dagster: files -> raw -> dbt -> issued invoices -> snapshot) on hand-computed scenarios.

Every expected figure below is worked out by hand from tests/fixtures/scenarios (catalog.yml, its price
version plan_versions.yml, the deal in overrides.yml, coupons.yml, taxes.yml, the CSVs and
landing/events/2026-09-usage.jsonl); the arithmetic is in the comments. The billing clock is pinned to
2026-10-05T00:00Z with a 72 h grace period, so every September invoice is issued.
"""

from __future__ import annotations

import pytest

from .conftest import query

pytestmark = pytest.mark.slow

# invoice_id -> total in minor units, status issued
EXPECTED_ISSUED_TOTALS = {
    # base 100.00; api_calls: us x3 + no region x1 = 4 x 0.015 = 0.06; eu x2 x 0.02 = 0.04 (b1's exact retry is a
    # duplicate, b2's changed payload a conflict); gb 1.5 + 2.25 + 0.125 = 3.875 x 0.25 = 0.96875 -> 0.97
    "inv_cus_basic_20261001": 10000 + 6 + 4 + 97,
    # New York, started Sep 15 local: 16 of 30 days x 100.00 = 53.333.. -> 53.33; m1 at 2026-10-01T03:59:59Z is
    # still September in New York: 1 x 0.015 = 0.015 -> 0.02 (half away from zero); m2 at 04:00Z is October.
    "inv_cus_midmonth_20261001": 5333 + 2,
    # August: base 300.00; storage +10 GB held Aug 16..31 = 16 of 31 days -> 5.161290322581 GB x 0.1 -> 0.52;
    # credits.yml: the pro_launch grant (400.00) pays all of it, after tax (tests/test_credits_scenarios.py)
    "inv_cus_pro_20260901": 30000 + 52 - (30000 + 52),
    # September: users {u1, u3} = 2 x 2 = 4.00; seats latest 4 x 10 = 40.00; conns max 12.5 x 1.5 = 18.75;
    # storage (10 x 10 days + 30 x 20 days) / 30 = 23.333333333334 x 0.1 -> 2.33; compute_hours ceil(1.5) = 2 x 0.5;
    # credits.yml: pro_launch expired on Sep 15, so the pro_prepaid grant pays 300.00 of it
    "inv_cus_pro_20261001": 30000 + 400 + 4000 + 1875 + 233 + 100 - 30000,
    # Tokyo: y1..y5 fall in September JST (y1 = Sep 1 00:00 JST, y5 = Sep 30 23:59:59 JST) -> 5 x 0.3 = 1.5 -> 2 yen;
    # taxes.yml: 10% on each line, summed unrounded: 500 + 0.2 = 500.2 -> 500 yen
    "inv_cus_yen_20261001": 5000 + 2 + 500,
    # pricing groups: region=us 2 GB, region=eu 3 GB, no region 1.5 GB, at 1.00
    "inv_cus_group_20261001": 200 + 300 + 150,
    "inv_cus_upgrade_20260901": 10000,
    # upgrade on Sep 11 (15:00Z) takes effect that day: basic Sep 1..10 = 10/30 x 100.00 = 33.33 plus u1 0.015 -> 0.02,
    # invoiced when the old plan's window ends (Sep 11)
    "inv_cus_upgrade_20260911": 3333 + 2,
    # pro Sep 11..30 = 20/30 x 300.00 = 200.00; u2 1 x 0.0005 -> 0.00
    "inv_cus_upgrade_20261001": 20000,
    # downgrade waits for the end of September: full pro month; credits.yml: a prepaid commitment of 350.00
    # a month pays each (tests/test_credits_scenarios.py)
    "inv_cus_downgrade_20260901": 30000 - 30000,
    "inv_cus_downgrade_20261001": 30000 - 30000,
    # pay in advance: September's fee on Sep 1 (120.00: the period started Sep 1, before plan_versions.yml's
    # adv_usd@2026-10, effective 2026-09-15); on Oct 1 September's usage in arrears at September's catalog price
    # 3 x 0.01 = 0.03 and October's fee in advance at the version (its period starts Oct 1 >= Sep 15): 130.00
    "inv_cus_adv_20260901": 12000,
    "inv_cus_adv_20261001": 3 + 13000,
    # 10 trial days free: 20/30 x 31.00 = 20.666.. -> 20.67; coupons.yml, oldest applied first: the 5.00
    # welcome coupon (no applied_at: from the first invoice) -> 15.67 left, then loyal10 (applied Sep 15)
    # 10% of 15.67 = 1.567 -> 1.57 -> 14.10
    "inv_cus_trial_20261001": 2067 - 500 - 157,
    # ended Sep 20 at noon: days Sep 1..20 = 20/30 x 100.00 = 66.67, invoiced on Sep 20
    "inv_cus_ended_20260920": 6667,
    # two subscriptions on basic_usd: sub_a at the catalog's 100.00; sub_b has a deal (overrides.yml): 80.00,
    # api calls at 0.01, so am2 (names sub_b) 1 x 0.01 = 0.01 (0.015 -> 0.02 without the deal); am1 names
    # none and is ambiguous
    "inv_cus_ambiguous_20261001": 10000 + 8000 + 1,
    # anniversary Aug 15: first period Aug 15 - Sep 15 holds an1 (Sep 14 23:59:59)
    "inv_cus_anniv_20260915": 10000 + 2,
    # c1 (10 GB) replaced by c3 (6 GB), c2 voided by c4: 6 x 0.25 = 1.50
    "inv_cus_corr_20261001": 10000 + 150,
}


# billing month = the UTC month of the issue instant (tests/test_orchestration.py derives these by hand):
# everything issued from Sep 1 to Sep 30 UTC, including cus_yen's Oct 1 JST invoice (Sep 30 15:00 UTC)
SEPTEMBER_INVOICES = {
    "inv_cus_pro_20260901",
    "inv_cus_upgrade_20260901",
    "inv_cus_upgrade_20260911",
    "inv_cus_downgrade_20260901",
    "inv_cus_adv_20260901",
    "inv_cus_ended_20260920",
    "inv_cus_anniv_20260915",
    "inv_cus_yen_20261001",
}


def test_every_issued_invoice_matches_the_hand_computed_total(scenarios_dir):
    rows = query(
        scenarios_dir / "warehouse.read.duckdb",
        "select invoice_id, total_amount_cents from billing.fct_invoices where invoice_status = 'issued'",
    )
    assert dict(rows) == EXPECTED_ISSUED_TOTALS


def test_currency_and_billing_month_of_issued_invoices(scenarios_dir):
    rows = dict(
        (r[0], (r[1], r[2]))
        for r in query(
            scenarios_dir / "warehouse.read.duckdb",
            "select invoice_id, currency, billing_month from billing.fct_issued_invoices",
        )
    )
    assert rows["inv_cus_yen_20261001"] == ("JPY", "2026-09")  # Oct 1 00:00 JST = Sep 30 15:00 UTC
    assert rows["inv_cus_midmonth_20261001"] == (
        "USD",
        "2026-10",
    )  # Oct 1 00:00 EDT = Oct 1 04:00 UTC
    assert rows["inv_cus_pro_20260901"] == ("USD", "2026-09")


def test_each_event_has_the_hand_assigned_outcome(scenarios_dir):
    outcomes = dict(
        query(
            scenarios_dir / "warehouse.read.duckdb",
            "select outcome, count(*) from usage.fct_event_outcomes group by 1",
        )
    )
    assert outcomes == {
        "billed": 44,
        "duplicate": 1,
        "conflict": 1,
        "superseded": 2,
        "correction": 2,
        "correction_orphan": 1,
        "invalid_value": 1,
        "unmatched_metric": 1,
        "unmatched_customer": 1,
        "no_active_subscription": 1,
        "ambiguous_subscription": 1,
    }
    by_event = dict(
        query(
            scenarios_dir / "warehouse.read.duckdb",
            "select event_id || '#' || row_number, outcome from usage.fct_event_outcomes",
        )
    )
    assert by_event["b1#1"] == "billed"
    assert by_event["b1#7"] == "duplicate"
    assert by_event["b2#8"] == "conflict"
    assert by_event["b10#12"] == "invalid_value"
    assert by_event["b11#13"] == "unmatched_metric"
    assert by_event["g1#14"] == "unmatched_customer"
    assert by_event["c1#52"] == "superseded" and by_event["c3#54"] == "correction"
    assert by_event["c5#56"] == "correction_orphan"
    assert by_event["e1#47"] == "no_active_subscription"
    assert by_event["am1#48"] == "ambiguous_subscription"


def test_every_row_is_accounted_for(scenarios_dir):
    (row,) = query(
        scenarios_dir / "warehouse.read.duckdb",
        "select rows_read, quarantined_rows, landed_rows, outcome_rows, is_balanced from usage.rpt_load_accounting",
    )
    assert row == (62, 6, 56, 56, True)
    reasons = dict(
        query(
            scenarios_dir / "warehouse.read.duckdb",
            "select quarantine_reason, count(*) from staging.stg_events__quarantined_events group by 1",
        )
    )
    assert reasons == {
        "invalid_json": 1,
        "invalid_timestamp": 1,
        "timestamp_out_of_range": 1,
        "missing_field": 1,
        "invalid_properties": 1,
        "invalid_correction": 1,
    }


def test_an_invoice_line_traces_to_its_events(scenarios_dir):
    """The gb line of cus_basic's September invoice is the sum of three events' values, found in SQL."""
    rows = query(
        scenarios_dir / "warehouse.read.duckdb",
        """
        select e.event_id, e.value
        from billing.fct_issued_invoice_lines as l
        join intermediate.int_usage_events_charged as e
          on e.service_window_id = l.service_window_id and e.charge_id = l.charge_id
         and e.filter_id is not distinct from l.filter_id and e.group_key = l.group_key
        where l.invoice_id = 'inv_cus_basic_20261001' and l.billable_metric_code = 'gb'
        order by e.event_id
        """,
    )
    assert [(r[0], str(r[1].normalize())) for r in rows] == [
        ("b7", "1.5"),
        ("b8", "2.25"),
        ("b9", "0.125"),
    ]


def test_a_line_names_the_price_version_and_the_deal_that_made_it(scenarios_dir):
    """plan_code and charge_id of an issued line are the derived plan's (plan_versions.yml, overrides.yml);
    stg_catalog__plan_derivations says which catalog plan, version and subscription deal that is."""
    rows = query(
        scenarios_dir / "warehouse.read.duckdb",
        """
        select l.invoice_id, l.subscription_id, l.fee_type, l.charge_id, l.plan_code, d.base_plan_code,
               d.price_version, d.version_effective_from::varchar, d.override_subscription_id, l.amount_cents
        from billing.fct_issued_invoice_lines as l
        join staging.stg_catalog__plan_derivations as d using (plan_code)
        where l.invoice_id in ('inv_cus_adv_20260901', 'inv_cus_adv_20261001', 'inv_cus_ambiguous_20261001')
          and (l.fee_type = 'subscription' or l.billable_metric_code in ('users', 'api_calls'))
          and l.amount_cents <> 0
        order by l.invoice_id, l.subscription_id, l.fee_type
        """,
    )
    assert rows == [
        # adv_usd (pay in advance): September's fee at the catalog's 120.00; on Oct 1, September's calls in
        # arrears at the catalog's 0.01 (3 x 0.01) and October's fee in advance at version 2026-10 (effective
        # 2026-09-15, so from the period starting Oct 1): one invoice, two prices, each line naming its own
        ("inv_cus_adv_20260901", "sub_adv", "subscription", None, "adv_usd", "adv_usd", None, None, None,
         12000),
        ("inv_cus_adv_20261001", "sub_adv", "charge", "adv_usd.api_calls", "adv_usd", "adv_usd", None, None,
         None, 3),
        ("inv_cus_adv_20261001", "sub_adv", "subscription", None, "adv_usd@2026-10", "adv_usd", "2026-10",
         "2026-09-15", None, 13000),
        # the same plan, two subscriptions: sub_a at the catalog's price, sub_b at its deal
        ("inv_cus_ambiguous_20261001", "sub_a", "subscription", None, "basic_usd", "basic_usd", None, None,
         None, 10000),
        ("inv_cus_ambiguous_20261001", "sub_b", "charge", "basic_usd~sub_b.api_calls", "basic_usd~sub_b",
         "basic_usd", None, None, "sub_b", 1),
        ("inv_cus_ambiguous_20261001", "sub_b", "subscription", None, "basic_usd~sub_b", "basic_usd", None,
         None, "sub_b", 8000),
    ]  # fmt: skip


def test_drafts_follow_the_data_and_are_not_issued(scenarios_dir):
    rows = dict(
        query(
            scenarios_dir / "warehouse.read.duckdb",
            "select invoice_id, invoice_status from billing.fct_invoices where invoice_status <> 'issued'",
        )
    )
    # October's invoices are issued on Nov 1 (or Oct 15 for the anniversary): still drafts on Oct 5
    assert rows["inv_cus_basic_20261101"] == "draft"
    assert rows["inv_cus_anniv_20261015"] == "draft"
    assert set(rows.values()) == {"draft"}


def test_materializations_carry_row_counts_and_load_figures(scenarios_run):
    """What an operator reads on each materialization in the UI: the rows a dbt table holds, and for the
    event load the rows read, landed and quarantined (the scenarios run, on the session's instance)."""
    import dagster as dg

    _, run_id = scenarios_run
    materialized = {
        e.asset_materialization.asset_key: e.asset_materialization
        for e in dg.DagsterInstance.get().all_logs(
            run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        )
    }

    def latest_metadata(*path: str) -> dict:
        m = materialized.get(dg.AssetKey(list(path)))
        assert m is not None, f"{path} was not materialized by the scenarios run"
        return {k: getattr(v, "value", v) for k, v in m.metadata.items()}

    issued = latest_metadata("billing", "fct_issued_invoices")
    assert issued["dagster/row_count"] == len(EXPECTED_ISSUED_TOTALS)
    assert "Execution Duration" in issued

    # the fixture file: 62 lines, 6 quarantined (one per reason), 56 landed (see test_every_row_is_accounted_for)
    events = latest_metadata("raw", "events")
    assert (events["rows_read"], events["rows_quarantined"], events["rows_landed"]) == (62, 6, 56)
    assert events["quarantined_by_reason"]["invalid_json"] == 1

    # the accounting model's materialization: the same 62 / 6 / 56, and the exact retry of b1 is the one
    # duplicate (test_event_outcomes)
    accounting = latest_metadata("usage", "rpt_load_accounting")
    assert (accounting["rows_read"], accounting["rows_quarantined"], accounting["rows_landed"]) == (
        62,
        6,
        56,
    )
    assert (accounting["rows_duplicate"], accounting["unbalanced_loads"]) == (1, 0)


def test_the_run_summary_shows_the_hand_computed_figures(scenarios_dir):
    """What `meterhouse run` prints: the load accounting, and September's invoices per currency."""
    from orchestration.summary import collect, render

    summary = collect(scenarios_dir)
    events = summary["events"]
    assert (events["rows_read"], events["rows_quarantined"], events["duplicates"]) == (62, 6, 1)
    assert events["all_balanced"] is True
    assert sum(events["quarantined_by_reason"].values()) == 6
    september = {
        m["currency"]: m for m in summary["billing_months"] if m["billing_month"] == "2026-09"
    }
    # billing month 2026-09: cus_yen's Oct 1 JST invoice (5502 yen) and seven USD invoices
    usd = SEPTEMBER_INVOICES - {"inv_cus_yen_20261001"}
    assert (september["JPY"]["issued"], september["JPY"]["total_amount_cents"]) == (1, 5502)
    assert (september["USD"]["issued"], september["USD"]["total_amount_cents"]) == (
        7,
        sum(EXPECTED_ISSUED_TOTALS[i] for i in usd),
    )
    text = render(summary)
    assert "5,502" in text or "5502" in text
    # no Stripe configured for the scenarios: said plainly, and no mapping line about nothing
    assert "nothing published (not configured" in text
    assert "Stripe customers:" not in text
