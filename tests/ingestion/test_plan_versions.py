"""DIR/plan_versions.yml: price versions of catalog plans, validated by name, stored as derived plans."""

from __future__ import annotations

import textwrap
from datetime import date, datetime
from decimal import Decimal

import duckdb
import pytest

from ingestion.catalog import CatalogError, load_catalog
from ingestion.plan_versions import load_plan_versions, write_priced_catalog
from ingestion.warehouse import ensure_raw_schema

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
      - id: pro_storage
        billable_metric_code: gb
        charge_model: standard
        properties: {amount: "0.25"}
  - code: lite
    interval: monthly
    amount_cents: 1000
    amount_currency: USD
    charges:
      - billable_metric_code: calls
        charge_model: standard
        properties: {amount: "0.02"}
"""


@pytest.fixture
def catalog(tmp_path):
    (tmp_path / "catalog.yml").write_text(CATALOG)
    return load_catalog(tmp_path / "catalog.yml")


def versions_of(tmp_path, catalog, text):
    (tmp_path / "plan_versions.yml").write_text(textwrap.dedent(text))
    return load_plan_versions(tmp_path, catalog)


def problems_of(tmp_path, catalog, text):
    with pytest.raises(CatalogError) as info:
        versions_of(tmp_path, catalog, text)
    return info.value.problems


def test_no_file_means_no_version(tmp_path, catalog):
    assert load_plan_versions(tmp_path, catalog) == []


def test_a_version_is_the_plan_before_it_with_what_it_gives_replaced(tmp_path, catalog):
    # listed out of date order: the 2026-11 version builds on 2026-09's charges, not on the catalog's
    versions = versions_of(
        tmp_path,
        catalog,
        """\
        plan_versions:
          - {plan_code: pro, version: "2026-11", effective_from: 2026-11-01, amount_cents: 35000}
          - plan_code: pro
            version: "2026-09"
            effective_from: "2026-09-01"
            charges:
              - billable_metric_code: calls
                charge_model: graduated
                properties:
                  graduated_ranges:
                    - {from_value: 0, to_value: 100, per_unit_amount: "0", flat_amount: "0"}
                    - {from_value: 101, to_value: null, per_unit_amount: "0.008", flat_amount: "0"}
                filters:
                  - values: {region: [eu]}
                    properties:
                      graduated_ranges:
                        - {from_value: 0, to_value: null, per_unit_amount: "0.009", flat_amount: "0"}
              - id: pro_storage
                billable_metric_code: gb
                charge_model: standard
                properties: {amount: "0.2"}
        """,
    )
    by_name = {v.version: v for v in versions}
    sep, nov = by_name["2026-09"].derived, by_name["2026-11"].derived
    assert (sep.plan.code, sep.base_plan_code, sep.version_effective_from) == (
        "pro@2026-09",
        "pro",
        date(2026, 9, 1),
    )
    # auto ids follow the derived code; an explicit id gets the version as a suffix
    assert sep.plan.charge_ids() == ["pro@2026-09.calls", "pro_storage@2026-09"]
    assert sep.charge_keys == {
        "pro@2026-09.calls": "pro.calls",
        "pro_storage@2026-09": "pro_storage",
    }
    assert sep.plan.amount_cents == 30000  # not given: the catalog's
    assert sep.plan.charges[0].filters[0].properties["graduated_ranges"][0][
        "per_unit_amount"
    ] == Decimal("0.009")
    # 2026-11 changes the base fee and keeps 2026-09's charges
    assert (nov.plan.code, nov.plan.amount_cents) == ("pro@2026-11", 35000)
    assert nov.plan.charge_ids() == ["pro@2026-11.calls", "pro_storage@2026-11"]
    assert nov.plan.charges[0].charge_model == "graduated"
    assert nov.plan.charges[1].properties == {"amount": Decimal("0.2")}


def test_every_problem_is_named(tmp_path, catalog):
    problems = problems_of(
        tmp_path,
        catalog,
        """\
        plan_versions:
          - {plan_code: gold, version: v1, effective_from: 2026-09-01}
          - {plan_code: pro, version: "bad name", effective_from: 2026-09-01}
          - {plan_code: pro, version: v2, effective_from: "2026-09-01T00:00:00Z"}
          - {plan_code: pro, version: v3, effective_from: 2026-10-01, interval: yearly, amount_currency: EUR}
          - {plan_code: pro, version: v4, effective_from: 2026-11-01, trial_period: 0, pay_in_advance: false,
             amount_cents: 1, price: 3}
          - {plan_code: pro, version: v4, effective_from: 2026-11-01}
          - plan_code: lite
            version: v1
            effective_from: 2026-09-01
            charges:
              - billable_metric_code: gb
                charge_model: standard
                properties: {amount: "0.1"}
          - plan_code: lite
            version: v2
            effective_from: 2026-10-01
            charges:
              - billable_metric_code: calls
                charge_model: standard
                properties: {amount: "-1", fixed: 2}
        """,
    )
    assert problems == [
        "plan_versions.yml: plan_versions[0] (plan_code 'gold', version 'v1') -> plan_code: unknown plan 'gold' "
        "(catalog.yml plans: lite, pro)",
        "plan_versions.yml: plan_versions[1] (plan_code 'pro', version 'bad name') -> version: 'bad name': a "
        "version's name is text of letters, digits, '.', '_' or '-' (up to 40), e.g. \"2026-09\"",
        "plan_versions.yml: plan_versions[2] (plan_code 'pro', version 'v2') -> effective_from: "
        "'2026-09-01T00:00:00Z' has a time of day: give a date (YYYY-MM-DD), read in each customer's timezone",
        "plan_versions.yml: plan_versions[3] (plan_code 'pro', version 'v3') -> interval: a version keeps its "
        "plan's interval ('monthly'): it changes prices, not billing periods, currencies or trials; make a new "
        "plan instead",
        "plan_versions.yml: plan_versions[3] (plan_code 'pro', version 'v3') -> amount_currency: a version keeps "
        "its plan's amount_currency ('USD'): it changes prices, not billing periods, currencies or trials; make "
        "a new plan instead",
        "plan_versions.yml: plan_versions[4] (plan_code 'pro', version 'v4') -> price: unknown key (a version "
        "gives amount_cents, charges, description, invoice_display_name, minimum_commitment, name)",
        "plan_versions.yml: plan_versions[5] (plan_code 'pro', version 'v4') -> version: plan 'pro' already has a "
        "version with this version (plan_versions[4])",
        "plan_versions.yml: plan_versions[5] (plan_code 'pro', version 'v4') -> effective_from: plan 'pro' "
        "already has a version with this effective_from (plan_versions[4])",
        "plan_versions.yml: plan_versions[6] (plan_code 'lite', version 'v1') -> charges: a version keeps its "
        "plan's billable metrics (they decide which subscription an event belongs to): no charge on 'calls'; "
        "'gb' not priced by plan 'lite'",
        "plan_versions.yml: plan_versions[7] (plan_code 'lite', version 'v2') -> charges[0] (billable_metric_code "
        "'calls') -> properties.amount: must be >= 0, got -1",
        "plan_versions.yml: plan_versions[7] (plan_code 'lite', version 'v2') -> charges[0] (billable_metric_code "
        "'calls') -> properties.fixed: not a property of the standard charge model (its keys: amount, "
        "pricing_group_keys)",
    ]


def test_derived_plans_are_written_with_the_catalog_and_traced(tmp_path, catalog):
    versions = versions_of(
        tmp_path,
        catalog,
        "plan_versions:\n  - {plan_code: lite, version: v2, effective_from: 2026-10-01, amount_cents: 1200}\n",
    )
    con = duckdb.connect()
    ensure_raw_schema(con)
    priced = write_priced_catalog(con, catalog, [v.derived for v in versions], datetime(2026, 9, 1))
    assert [p.code for p in priced.plans] == ["pro", "lite", "lite@v2"]
    assert con.execute("select code, amount_cents from raw.plans order by code").fetchall() == [
        ("lite", 1000),
        ("lite@v2", 1200),
        ("pro", 30000),
    ]
    assert con.execute(
        "select charge_id, plan_code, properties from raw.charges where plan_code = 'lite@v2'"
    ).fetchall() == [("lite@v2.calls", "lite@v2", '{"amount": "0.02"}')]
    assert con.execute(
        "select plan_code, base_plan_code, price_version, version_effective_from, subscription_id, source_file "
        "from raw.plan_derivations order by plan_code"
    ).fetchall() == [
        ("lite", "lite", None, None, None, "catalog.yml"),
        ("lite@v2", "lite", "v2", date(2026, 10, 1), None, "plan_versions.yml"),
        ("pro", "pro", None, None, None, "catalog.yml"),
    ]


def test_lago_keys_of_a_version_are_dropped_with_a_warning(tmp_path, catalog):
    from ingestion.catalog import CatalogWarning

    with pytest.warns(CatalogWarning, match=r"charges\[0\].*lago_id: Lago key ignored"):
        (version,) = versions_of(
            tmp_path,
            catalog,
            """\
            plan_versions:
              - plan_code: lite
                version: v2
                effective_from: 2026-10-01
                charges:
                  - {lago_id: 8c1f, billable_metric_code: calls, charge_model: standard,
                     properties: {amount: "0.03"}}
            """,
        )
    assert version.derived.plan.charges[0].properties == {"amount": Decimal("0.03")}
