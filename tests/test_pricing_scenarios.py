"""Pricing scenarios: alternative price books rated in the same pass as the live catalog.

The fixture's scenario (tests/fixtures/scenarios/scenarios/candidate.yml) is worked out by hand below;
the live invoices of test_scenarios.py are computed with that scenario present, so they also prove that
invoicing reads the live catalog only.
"""

from __future__ import annotations

import json
import textwrap

import pytest

from ingestion.catalog import CatalogError, load_catalog
from ingestion.scenarios import load_scenario, scenario_rows

from .conftest import FIXTURES, query

LIVE = FIXTURES / "scenarios" / "catalog.yml"


@pytest.mark.slow
def test_the_scenario_is_rated_from_the_same_meters(scenarios_dir):
    rows = query(
        scenarios_dir / "warehouse.read.duckdb",
        """
        select customer_id, billing_month, scenario_plan_code, amount_cents, base_fee_cents, usage_cents,
               live_amount_cents, change_cents
        from pricing.rpt_pricing_scenarios
        where scenario = 'candidate' and customer_id in ('cus_basic', 'cus_group')
          and billing_month = '2026-10'
        order by customer_id
        """,
    )
    assert rows == [
        # basic_v2: base 90.00; api_calls default 4 calls on 0-3 free / 4+ 0.50 -> 0.50; eu 2 x 0.05 = 0.10;
        # gb no longer billed. Live: 101.07.
        ("cus_basic", "2026-10", "basic_v2", 9000 + 50 + 10, 9000, 60, 10107, 9060 - 10107),
        # gb per region at 2.00: 2 + 3 + 1.5 GB = 13.00, below the 20.00 minimum -> a 7.00 true-up
        ("cus_group", "2026-10", "group_usd", 2000, 0, 2000, 650, 2000 - 650),
    ]
    # the yen plan is not in the scenario: priced as live (its September usage issues in UTC September),
    # with cus_yen's 10% tax in both: 5002 + 500
    (yen,) = query(
        scenarios_dir / "warehouse.read.duckdb",
        "select amount_cents, live_amount_cents from pricing.rpt_pricing_scenarios "
        "where scenario = 'candidate' and customer_id = 'cus_yen' and billing_month = '2026-09'",
    )
    assert yen == (5502, 5502)


@pytest.mark.slow
def test_invoicing_reads_the_live_catalog_only(scenarios_dir):
    db = scenarios_dir / "warehouse.read.duckdb"
    # the scenario's fees exist (same fee ids as live, other amounts)...
    ((scenario_fees,),) = query(
        db, "select count(*) from intermediate.int_fees where scenario = 'candidate'"
    )
    assert scenario_fees > 0
    # ...and every issued line is the live fee, amount for amount (prepaid credit lines are not fees: they
    # are drawn from the grants when the invoice is issued, tests/test_credits_scenarios.py)
    mismatched = query(
        db,
        """
        select l.ledger_line_id
        from billing.fct_billing_ledger as l
        left join intermediate.int_fees as f on f.fee_id = l.fee_id and f.scenario = 'live'
        where l.line_kind = 'fee' and l.fee_type <> 'credit'
          and (f.fee_id is null or f.amount_cents <> l.amount_cents)
        """,
    )
    assert mismatched == []
    ((total,),) = query(
        db,
        "select total_amount_cents from billing.fct_issued_invoices where invoice_id = 'inv_cus_basic_20261001'",
    )
    assert total == 10107


def scenario_problems(tmp_path, text, name="alt"):
    path = tmp_path / f"{name}.yml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(CatalogError) as info:
        load_scenario(path, load_catalog(LIVE))
    return info.value.problems


def test_a_scenario_changes_prices_not_periods_metrics_or_meters(tmp_path):
    problems = scenario_problems(
        tmp_path,
        """\
        billable_metrics: []
        plans:
          - code: basic_usd
            interval: yearly
            amount_cents: 9000
            amount_currency: EUR
            charges:
              - billable_metric_code: seats
                charge_model: standard
                properties: {amount: "1"}
              - billable_metric_code: api_calls
                charge_model: standard
                properties: {amount: "1"}
          - code: group_usd
            interval: monthly
            amount_cents: 0
            amount_currency: USD
            charges:
              - billable_metric_code: gb
                charge_model: standard
                properties: {amount: "1"}
        """,
    )
    assert problems == [
        "scenarios/alt.yml: billable_metrics: a scenario prices the live catalog's billable metrics; remove "
        "billable_metrics",
    ]
    problems = scenario_problems(
        tmp_path,
        """\
        plans:
          - code: basic_usd
            interval: yearly
            amount_cents: 9000
            amount_currency: USD
            charges:
              - billable_metric_code: seats
                charge_model: standard
                properties: {amount: "1"}
              - billable_metric_code: api_calls
                charge_model: standard
                properties: {amount: "1"}
          - code: group_usd
            interval: monthly
            amount_cents: 0
            amount_currency: USD
            charges:
              - billable_metric_code: gb
                charge_model: standard
                properties: {amount: "1"}
        """,
    )
    assert problems == [
        "scenarios/alt.yml: plans[0] (code 'basic_usd'): interval must be the live plan 'basic_usd''s "
        "('monthly'): a scenario changes prices, not billing periods or currencies",
        "scenarios/alt.yml: plans[0] (code 'basic_usd') -> charges[0]: live plan 'basic_usd' has no charge on "
        "'seats'; a scenario prices the live meters only",
        "scenarios/alt.yml: plans[0] (code 'basic_usd') -> charges[1]: filters must have the live charge's "
        "sets of values ([{'region': ['eu']}]): they shape the meters",
        "scenarios/alt.yml: plans[1] (code 'group_usd') -> charges[0]: pricing_group_keys must be the live "
        "charge's (['region']): they shape the meters",
    ]


def test_plan_map_and_names(tmp_path):
    problems = scenario_problems(
        tmp_path,
        """\
        plan_map: {nope: basic_v9}
        plans: []
        """,
    )
    assert problems == [
        "scenarios/alt.yml: plan_map: 'nope' is not a live plan",
        "scenarios/alt.yml: plan_map: 'basic_v9' is not a plan of this scenario",
    ]
    assert scenario_problems(tmp_path, "plans: []\n", name="live") == [
        "scenarios/live.yml: 'live' is the live catalog's name; rename the file"
    ]
    assert scenario_problems(tmp_path, "plans: []\n", name="Price-Up") == [
        "scenarios/Price-Up.yml: a scenario's name is its file name: lower-case letters, digits and _ "
        "('Price-Up')"
    ]


def test_rows_resolve_every_live_plan_and_charge():
    from datetime import datetime

    live = load_catalog(LIVE)
    scenario = load_scenario(FIXTURES / "scenarios" / "scenarios" / "candidate.yml", live)
    rows = scenario_rows([scenario], live, datetime(2026, 10, 1))
    plans = {r[1]: (r[2], r[3]) for r in rows["scenario_plans"]}
    assert plans["basic_usd"] == ("basic_v2", 9000)
    assert plans["pro_usd"] == ("pro_usd", 30000)  # not in the scenario: the live plan, unchanged
    charges = {r[1]: r[2] for r in rows["scenario_charges"]}
    assert charges["basic_usd.api_calls"] == "graduated"
    assert "basic_usd.gb" not in charges  # basic_v2 does not bill gb
    assert charges["pro_usd.users"] == "standard"
    filters = {r[1]: json.loads(r[2]) for r in rows["scenario_charge_filters"]}
    assert filters == {
        "basic_usd.api_calls#1": {
            "graduated_ranges": [
                {"from_value": "0", "to_value": None, "per_unit_amount": "0.05", "flat_amount": "0"}
            ]
        }
    }
