"""DIR/overrides.yml: per-subscription deals on a plan's prices, validated against the catalog, its price
versions and the subscriptions, stored as derived plans (one per price version)."""

from __future__ import annotations

import textwrap
from datetime import date
from decimal import Decimal

import pytest

from ingestion.catalog import CatalogError, load_catalog
from ingestion.overrides import derived_plans, load_overrides
from ingestion.plan_versions import load_plan_versions
from ingestion.scenarios import load_scenario, price_derived_plans

CATALOG = """\
billable_metrics:
  - code: calls
    aggregation_type: count_agg
    filters:
      - key: region
        values: [us, eu]
  - code: gb
    aggregation_type: sum_agg
    field_name: gb
plans:
  - code: pro
    interval: monthly
    amount_cents: 30000
    amount_currency: USD
    charges:
      - billable_metric_code: calls
        charge_model: standard
        properties: {amount: "0.01"}
        filters:
          - values: {region: [eu]}
            properties: {amount: "0.02"}
      - billable_metric_code: gb
        charge_model: standard
        properties: {amount: "0.25"}
      - id: gb_premium
        billable_metric_code: gb
        charge_model: standard
        properties: {amount: "0.5"}
  - code: lite
    interval: monthly
    amount_cents: 1000
    amount_currency: USD
    charges:
      - billable_metric_code: calls
        charge_model: standard
        properties: {amount: "0.02"}
"""
VERSIONS = """\
plan_versions:
  - {plan_code: pro, version: v2, effective_from: 2026-10-01, amount_cents: 32000}
"""
# subscription -> the plans it is on (its first, then its plan changes')
SUBSCRIPTIONS = {"sub_a": ["pro"], "sub_b": ["pro"], "sub_c": ["lite", "pro"]}


@pytest.fixture
def setup(tmp_path):
    (tmp_path / "catalog.yml").write_text(CATALOG)
    (tmp_path / "plan_versions.yml").write_text(VERSIONS)
    catalog = load_catalog(tmp_path / "catalog.yml")
    return tmp_path, catalog, load_plan_versions(tmp_path, catalog)


def overrides_of(setup, text):
    data_dir, catalog, versions = setup
    (data_dir / "overrides.yml").write_text(textwrap.dedent(text))
    return load_overrides(data_dir, catalog, versions, SUBSCRIPTIONS)


def problems_of(setup, text):
    with pytest.raises(CatalogError) as info:
        overrides_of(setup, text)
    return info.value.problems


def test_no_file_means_no_override(setup):
    data_dir, catalog, versions = setup
    assert load_overrides(data_dir, catalog, versions, SUBSCRIPTIONS) == []


def test_a_deal_changes_what_it_names_on_every_price_version(setup):
    (deal,) = overrides_of(
        setup,
        """\
        overrides:
          - subscription_id: sub_b
            effective_from: 2026-09-15
            amount_cents: 25000
            charges:
              - billable_metric_code: calls
                properties: {amount: "0.005"}
              - billable_metric_code: gb
                id: gb_premium
                charge_model: package
                properties: {amount: "1", package_size: 10, free_units: 0}
        """,
    )
    assert (deal.subscription_id, deal.plan_code, deal.effective_from) == (
        "sub_b",
        "pro",
        date(2026, 9, 15),
    )
    base, on_v2 = deal.derived
    assert [
        (d.plan.code, d.price_version, d.subscription_id, d.plan.amount_cents) for d in deal.derived
    ] == [
        ("pro~sub_b", None, "sub_b", 25000),
        ("pro@v2~sub_b", "v2", "sub_b", 25000),  # the deal's base fee replaces the version's too
    ]
    assert base.plan.charge_ids() == ["pro~sub_b.calls", "pro~sub_b.gb.1", "gb_premium~sub_b"]
    assert on_v2.charge_keys == {
        "pro@v2~sub_b.calls": "pro.calls",
        "pro@v2~sub_b.gb.1": "pro.gb.1",
        "gb_premium@v2~sub_b": "gb_premium",
    }
    calls, gb, premium = base.plan.charges
    assert calls.properties == {"amount": Decimal("0.005")}
    assert calls.filters[0].properties == {
        "amount": Decimal("0.02")
    }  # not named: the plan's filter price
    assert gb.properties == {
        "amount": Decimal("0.25")
    }  # a charge the deal does not name keeps its price
    assert (premium.charge_model, premium.properties["package_size"]) == ("package", 10)
    assert base.override_effective_from == on_v2.override_effective_from == date(2026, 9, 15)
    # the other subscription on the plan is untouched: no derived plan names it
    assert {d.subscription_id for d in derived_plans([], [deal])} == {"sub_b"}


def test_every_problem_is_named(setup):
    problems = problems_of(
        setup,
        """\
        overrides:
          - {subscription_id: sub_ghost, amount_cents: 1}
          - {subscription_id: sub_a, plan_code: lite}
          - {subscription_id: sub_c, amount_cents: 1}
          - {subscription_id: sub_a, discount: 10}
          - subscription_id: sub_b
            charges:
              - {billable_metric_code: calls, properties: {amount: "-0.01"}}
              - {billable_metric_code: gb, id: pro.gb.1, properties: {amount: "0.2"}}
              - {billable_metric_code: gb, id: pro.gb.1, properties: {amount: "0.3"}}
          - {subscription_id: sub_b, plan_code: pro, amount_cents: 2}
        """,
    )
    assert problems == [
        "overrides.yml: overrides[0] (subscription_id 'sub_ghost') -> subscription_id: unknown subscription "
        "'sub_ghost' (not in landing/subscriptions.csv)",
        "overrides.yml: overrides[1] (subscription_id 'sub_a', plan_code 'lite') -> plan_code: subscription "
        "'sub_a' is never on plan 'lite' (its plans: pro)",
        "overrides.yml: overrides[2] (subscription_id 'sub_c') -> plan_code: subscription 'sub_c' is on several "
        "plans (lite, pro): say which plan this override prices",
        "overrides.yml: overrides[3] (subscription_id 'sub_a') -> discount: unknown key (an override gives "
        "amount_cents, charges, description, effective_from, invoice_display_name, minimum_commitment, name, "
        "plan_code)",
        "overrides.yml: overrides[4] (subscription_id 'sub_b') -> charges[2] (id 'pro.gb.1', billable_metric_code "
        "'gb'): changes the same charge as charges[1]",
        "overrides.yml: overrides[4] (subscription_id 'sub_b') -> charges[0] (billable_metric_code 'calls') -> "
        "properties.amount: must be >= 0, got -0.01",
        "overrides.yml: overrides[5] (subscription_id 'sub_b', plan_code 'pro'): subscription 'sub_b' already has "
        "an override of plan 'pro' (overrides[4]); one deal per subscription and plan",
    ]


def test_charge_problems_of_a_deal(setup):
    problems = problems_of(
        setup,
        """\
        overrides:
          - subscription_id: sub_a
            charges:
              - {billable_metric_code: seats, properties: {amount: "1"}}
              - {billable_metric_code: gb, properties: {amount: "1"}}
              - {billable_metric_code: gb, id: gb_gold, properties: {amount: "1"}}
              - {billable_metric_code: calls, charge_model: package}
              - {billable_metric_code: gb, id: gb_premium, charge_model: volume, properties: {amount: "1"}}
          - subscription_id: sub_b
            charges:
              - {billable_metric_code: calls, charge_model: package, properties: {amount: "1", package_size: 5, free_units: 0}}
        """,
    )
    where = "overrides.yml: overrides[0] (subscription_id 'sub_a') -> "
    assert problems == [
        where
        + "charges[0] (billable_metric_code 'seats'): plan 'pro' has no charge on 'seats' (it prices calls, "
        "gb); an override changes the plan's charges, it does not add any",
        where
        + "charges[1] (billable_metric_code 'gb'): plan 'pro' has 2 charges on 'gb' (pro.gb.1, gb_premium): "
        "give the id of the one this override changes",
        where
        + "charges[2] (id 'gb_gold', billable_metric_code 'gb'): id 'gb_gold' is none of plan 'pro''s "
        "charges on 'gb' (pro.gb.1, gb_premium)",
        where
        + "charges[3] (billable_metric_code 'calls') -> properties: a new charge_model (package) needs its "
        "properties",
        where
        + "charges[4] (id 'gb_premium', billable_metric_code 'gb') -> properties.volume_ranges: required by "
        "the volume charge model",
        where
        + "charges[4] (id 'gb_premium', billable_metric_code 'gb') -> properties.amount: not a property of "
        "the volume charge model (its keys: volume_ranges, pricing_group_keys)",
        "overrides.yml: overrides[1] (subscription_id 'sub_b') -> charges[0] (billable_metric_code 'calls') -> "
        "filters: a new charge_model (package) needs its filters' properties: give filters",
    ]


def test_scenarios_price_versions_and_leave_deals_alone(setup, tmp_path):
    data_dir, catalog, versions = setup
    (data_dir / "overrides.yml").write_text(
        "overrides:\n  - {subscription_id: sub_b, amount_cents: 25000}\n"
    )
    derived = derived_plans(versions, load_overrides(data_dir, catalog, versions, SUBSCRIPTIONS))
    scenario_file = tmp_path / "cheaper.yml"
    scenario_file.write_text(
        textwrap.dedent(
            """\
            plan_map: {pro: pro_cheap}
            plans:
              - code: pro_cheap
                interval: monthly
                amount_cents: 20000
                amount_currency: USD
                charges:
                  - billable_metric_code: calls
                    charge_model: standard
                    properties: {amount: "0.005"}
                    filters:
                      - values: {region: [eu]}
                        properties: {amount: "0.01"}
            """
        )
    )
    scenario = load_scenario(scenario_file, catalog)
    price_derived_plans([scenario], derived)
    # every version of pro is priced by the scenario's plan; sub_b's deal keeps its terms
    assert {
        code: scenario.live_to_scenario[code]
        for code in ("pro", "pro@v2", "pro~sub_b", "pro@v2~sub_b")
    } == {
        "pro": "pro_cheap",
        "pro@v2": "pro_cheap",
        "pro~sub_b": None,
        "pro@v2~sub_b": None,
    }


def test_a_scenario_that_cannot_price_a_version_is_named(setup, tmp_path):
    data_dir, catalog, _ = setup
    (data_dir / "plan_versions.yml").write_text(
        textwrap.dedent(
            """\
            plan_versions:
              - plan_code: lite
                version: v2
                effective_from: 2026-10-01
                charges:
                  - billable_metric_code: calls
                    charge_model: standard
                    properties: {amount: "0.02"}
                    filters:
                      - values: {region: [us]}
                        properties: {amount: "0.01"}
            """
        )
    )
    versions = load_plan_versions(data_dir, catalog)
    scenario_file = tmp_path / "lite_up.yml"
    scenario_file.write_text(
        "plans:\n  - code: lite\n    interval: monthly\n    amount_cents: 1500\n    amount_currency: USD\n"
        "    charges:\n      - {billable_metric_code: calls, charge_model: standard, properties: {amount: '0.03'}}\n"
    )
    scenario = load_scenario(scenario_file, catalog)
    with pytest.raises(CatalogError) as info:
        price_derived_plans([scenario], derived_plans(versions, []))
    assert info.value.problems == [
        "scenarios/lite_up.yml: plans[0] (code 'lite') -> charges[0]: filters must have the live charge's sets of "
        "values ([{'region': ['us']}]): they shape the meters (pricing version 'v2' of plan 'lite')"
    ]
