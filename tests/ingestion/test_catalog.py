import json
import textwrap
import warnings
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import yaml

from ingestion.catalog import (
    Catalog,
    CatalogError,
    CatalogWarning,
    load_catalog,
    load_yaml,
    write_catalog,
)
from ingestion.warehouse import connect

FULL_CATALOG = """\
billable_metrics:
  - code: api_calls
    name: API calls
    description: Requests to the public API
    aggregation_type: count_agg
    filters:
      - key: region
        values: [us, eu]
      - key: tier
        values: [free, paid]
  - code: tokens
    name: Tokens
    aggregation_type: sum_agg
    field_name: tokens
    rounding_function: ceil
    rounding_precision: 0
  - code: storage_gb
    aggregation_type: weighted_sum_agg
    field_name: gb
    recurring: true
  - code: seats
    aggregation_type: unique_count_agg
    field_name: user_id
    recurring: true
  - code: payments
    aggregation_type: sum_agg
    field_name: amount
  - code: peak_cpu
    aggregation_type: max_agg
    field_name: cpu
  - code: balance
    aggregation_type: latest_agg
    field_name: balance
plans:
  - code: growth_usd
    name: Growth
    description: For growing teams
    interval: monthly
    amount_cents: 4900
    amount_currency: USD
    pay_in_advance: true
    trial_period: 14
    invoice_display_name: Growth plan
    charges:
      - billable_metric_code: api_calls
        charge_model: standard
        invoice_display_name: API calls
        properties:
          amount: 0.00042
          pricing_group_keys: [project]
        filters:
          - values: {region: [eu]}
            invoice_display_name: API calls (EU)
            properties: {amount: "0.0005"}
          - values: {region: [us], tier: [__ALL_FILTER_VALUES__]}
            properties: {amount: 0.1}
      - billable_metric_code: tokens
        charge_model: graduated
        min_amount_cents: 1000
        properties:
          graduated_ranges:
            - {from_value: 0, to_value: 1000, per_unit_amount: 0, flat_amount: 0}
            - {from_value: 1001, to_value: 10000, per_unit_amount: 0.002, flat_amount: 1.50}
            - {from_value: 10001, to_value: null, per_unit_amount: 0.001, flat_amount: 0}
      - id: storage
        billable_metric_code: storage_gb
        charge_model: volume
        properties:
          volume_ranges:
            - {from_value: 0, to_value: 100, per_unit_amount: 0.25, flat_amount: 0}
            - {from_value: 101, to_value: null, per_unit_amount: 0.2, flat_amount: 10}
      - billable_metric_code: seats
        charge_model: standard
        prorated: true
        properties: {amount: 12}
      - billable_metric_code: tokens
        charge_model: package
        invoiceable: false
        properties: {amount: 5, package_size: 1000, free_units: 100}
      - billable_metric_code: payments
        charge_model: percentage
        properties:
          rate: 2.99
          fixed_amount: 0.30
          free_units_per_events: 5
          free_units_per_total_aggregation: 500
          per_transaction_min_amount: 1.75
          per_transaction_max_amount: 12
  - code: scale_eur
    interval: yearly
    amount_cents: 0
    amount_currency: EUR
    minimum_commitment: {amount_cents: 100000, invoice_display_name: Annual commitment}
    charges:
      - billable_metric_code: payments
        charge_model: graduated_percentage
        properties:
          graduated_percentage_ranges:
            - {from_value: 0, to_value: 1000, rate: 1, flat_amount: 0}
            - {from_value: 1001, to_value: null, rate: 0.5, flat_amount: 0.10}
      - billable_metric_code: peak_cpu
        charge_model: graduated
        properties:
          graduated_ranges:
            - {from_value: 0, to_value: 0.5, per_unit_amount: 1, flat_amount: 0}
            - {from_value: 0.5, to_value: null, per_unit_amount: 2, flat_amount: 0}
      - billable_metric_code: balance
        charge_model: standard
        properties: {amount: "1.000"}
"""

LOADED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
AT = datetime(2026, 3, 1, 12, 0)  # as stored: naive UTC


def write(tmp_path, text):
    path = tmp_path / "catalog.yml"
    path.write_text(textwrap.dedent(text))
    return path


def load_text(tmp_path, text):
    return load_catalog(write(tmp_path, text))


def problems(tmp_path, text):
    with pytest.raises(CatalogError) as info:
        load_text(tmp_path, text)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def one_charge(properties, charge_model="graduated", filters=""):
    """A catalog with one metric (filters region: us/eu) and one plan with one charge."""
    return (
        textwrap.dedent(
            """\
            billable_metrics:
              - code: api_calls
                aggregation_type: count_agg
                filters: [{{key: region, values: [us, eu]}}]
            plans:
              - code: growth
                interval: monthly
                amount_cents: 0
                amount_currency: USD
                charges:
                  - billable_metric_code: api_calls
                    charge_model: {model}
                    properties: {properties}
            """
        ).format(model=charge_model, properties=properties)
        + filters
    )


PREFIX = (
    "catalog.yml: plans[0] (code 'growth') -> charges[0] (billable_metric_code 'api_calls') -> "
)


def table(con, name, order):
    return con.execute(f"select * from raw.{name} order by {order}").fetchall()


# --------------------------------------------------------------------------- valid catalog


def test_full_catalog_loads(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        catalog = load_text(tmp_path, FULL_CATALOG)
    assert catalog.warnings == []
    assert [m.code for m in catalog.billable_metrics] == [
        "api_calls",
        "tokens",
        "storage_gb",
        "seats",
        "payments",
        "peak_cpu",
        "balance",
    ]
    growth = catalog.plan("growth_usd")
    assert growth.charge_ids() == [
        "growth_usd.api_calls",
        "growth_usd.tokens.1",
        "storage",
        "growth_usd.seats",
        "growth_usd.tokens.2",
        "growth_usd.payments",
    ]
    standard = growth.charges[0]
    assert standard.properties == {
        "amount": Decimal("0.00042"),
        "pricing_group_keys": ["project"],
    }
    # YAML 0.1 is read from its text, never through a float.
    amount = standard.filters[1].properties["amount"]
    assert amount == Decimal("0.1")
    assert amount != Decimal(0.1)
    assert str(amount) == "0.1"
    # __ALL_FILTER_VALUES__ stands for every value of the metric filter.
    assert standard.filters[1].values == {"region": ["us"], "tier": ["free", "paid"]}
    assert growth.charges[1].properties["graduated_ranges"][1] == {
        "from_value": Decimal("1001"),
        "to_value": Decimal("10000"),
        "per_unit_amount": Decimal("0.002"),
        "flat_amount": Decimal("1.50"),
    }
    assert growth.charges[4].properties == {
        "amount": Decimal("5"),
        "package_size": 1000,
        "free_units": 100,
    }


def test_full_catalog_writes_exact_raw_tables(tmp_path):
    catalog = load_text(tmp_path, FULL_CATALOG)
    con = connect(tmp_path / "warehouse.duckdb")
    write_catalog(con, catalog, LOADED_AT)

    assert table(con, "billable_metrics", "code") == [
        ("api_calls", "API calls", "count_agg", None, False, None, None, AT),
        ("balance", None, "latest_agg", "balance", False, None, None, AT),
        ("payments", None, "sum_agg", "amount", False, None, None, AT),
        ("peak_cpu", None, "max_agg", "cpu", False, None, None, AT),
        ("seats", None, "unique_count_agg", "user_id", True, None, None, AT),
        ("storage_gb", None, "weighted_sum_agg", "gb", True, None, None, AT),
        ("tokens", "Tokens", "sum_agg", "tokens", False, "ceil", 0, AT),
    ]
    assert table(con, "billable_metric_filters", "billable_metric_code, key") == [
        ("api_calls", "region", '["us", "eu"]'),
        ("api_calls", "tier", '["free", "paid"]'),
    ]
    assert table(con, "plans", "code") == [
        ("growth_usd", "Growth", "monthly", 4900, "USD", True, 14, AT, None),
        ("scale_eur", None, "yearly", 0, "EUR", False, 0, AT, 100000),
    ]
    graduated_tokens = (
        '{"graduated_ranges": ['
        '{"from_value": "0", "to_value": "1000", "per_unit_amount": "0", "flat_amount": "0"}, '
        '{"from_value": "1001", "to_value": "10000", "per_unit_amount": "0.002", '
        '"flat_amount": "1.50"}, '
        '{"from_value": "10001", "to_value": null, "per_unit_amount": "0.001", "flat_amount": "0"}'
        "]}"
    )
    volume = (
        '{"volume_ranges": ['
        '{"from_value": "0", "to_value": "100", "per_unit_amount": "0.25", "flat_amount": "0"}, '
        '{"from_value": "101", "to_value": null, "per_unit_amount": "0.2", "flat_amount": "10"}'
        "]}"
    )
    percentage = (
        '{"rate": "2.99", "fixed_amount": "0.30", "free_units_per_events": "5", '
        '"free_units_per_total_aggregation": "500", "per_transaction_min_amount": "1.75", '
        '"per_transaction_max_amount": "12"}'
    )
    graduated_percentage = (
        '{"graduated_percentage_ranges": ['
        '{"from_value": "0", "to_value": "1000", "rate": "1", "flat_amount": "0"}, '
        '{"from_value": "1001", "to_value": null, "rate": "0.5", "flat_amount": "0.10"}'
        "]}"
    )
    adjacent = (
        '{"graduated_ranges": ['
        '{"from_value": "0", "to_value": "0.5", "per_unit_amount": "1", "flat_amount": "0"}, '
        '{"from_value": "0.5", "to_value": null, "per_unit_amount": "2", "flat_amount": "0"}'
        "]}"
    )
    assert table(con, "charges", "plan_code, charge_order") == [
        (
            "growth_usd.api_calls",
            "growth_usd",
            1,
            "api_calls",
            "standard",
            False,
            True,
            False,
            0,
            '{"amount": "0.00042", "pricing_group_keys": ["project"]}',
            "API calls",
        ),
        (
            "growth_usd.tokens.1",
            "growth_usd",
            2,
            "tokens",
            "graduated",
            False,
            True,
            False,
            1000,
            graduated_tokens,
            None,
        ),
        ("storage", "growth_usd", 3, "storage_gb", "volume", False, True, False, 0, volume, None),
        (
            "growth_usd.seats",
            "growth_usd",
            4,
            "seats",
            "standard",
            False,
            True,
            True,
            0,
            '{"amount": "12"}',
            None,
        ),
        (
            "growth_usd.tokens.2",
            "growth_usd",
            5,
            "tokens",
            "package",
            False,
            False,
            False,
            0,
            '{"amount": "5", "package_size": "1000", "free_units": "100"}',
            None,
        ),
        (
            "growth_usd.payments",
            "growth_usd",
            6,
            "payments",
            "percentage",
            False,
            True,
            False,
            0,
            percentage,
            None,
        ),
        (
            "scale_eur.payments",
            "scale_eur",
            1,
            "payments",
            "graduated_percentage",
            False,
            True,
            False,
            0,
            graduated_percentage,
            None,
        ),
        (
            "scale_eur.peak_cpu",
            "scale_eur",
            2,
            "peak_cpu",
            "graduated",
            False,
            True,
            False,
            0,
            adjacent,
            None,
        ),
        (
            "scale_eur.balance",
            "scale_eur",
            3,
            "balance",
            "standard",
            False,
            True,
            False,
            0,
            '{"amount": "1.000"}',
            None,
        ),
    ]
    assert table(con, "charge_filters", "filter_id") == [
        (
            "growth_usd.api_calls",
            "growth_usd.api_calls#1",
            '{"region": ["eu"]}',
            '{"amount": "0.0005"}',
            "API calls (EU)",
        ),
        (
            "growth_usd.api_calls",
            "growth_usd.api_calls#2",
            '{"region": ["us"], "tier": ["free", "paid"]}',
            '{"amount": "0.1"}',
            None,
        ),
    ]
    # The JSON reads back as exact decimal strings in DuckDB, castable without a float.
    assert con.execute(
        "select (properties->>'amount')::decimal(38, 10) from raw.charges "
        "where charge_id = 'growth_usd.api_calls'"
    ).fetchone() == (Decimal("0.0004200000"),)


def test_write_replaces_previous_contents(tmp_path):
    con = connect(tmp_path / "warehouse.duckdb")
    write_catalog(con, load_text(tmp_path, FULL_CATALOG), LOADED_AT)
    smaller = load_text(tmp_path, one_charge("{amount: 1}", charge_model="standard"))
    later = datetime(2026, 3, 2, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    write_catalog(con, smaller, later)
    assert table(con, "billable_metrics", "code") == [
        ("api_calls", None, "count_agg", None, False, None, None, datetime(2026, 3, 1, 23, 0)),
    ]
    assert table(con, "plans", "code") == [
        ("growth", None, "monthly", 0, "USD", False, 0, datetime(2026, 3, 1, 23, 0), None),
    ]
    assert table(con, "charges", "charge_id") == [
        ("growth.api_calls", "growth", 1, "api_calls", "standard", False, True, False, 0,
         '{"amount": "1"}', None),
    ]  # fmt: skip
    assert table(con, "charge_filters", "filter_id") == []


def test_failed_write_keeps_previous_contents(tmp_path):
    con = connect(tmp_path / "warehouse.duckdb")
    catalog = load_text(tmp_path, FULL_CATALOG)
    write_catalog(con, catalog, LOADED_AT)
    # Bypass validation to make the insert fail on raw.plans' primary key half-way through.
    broken = Catalog.model_construct(
        billable_metrics=catalog.billable_metrics, plans=[catalog.plans[1], catalog.plans[1]]
    )
    with pytest.raises(Exception, match="(?i)constraint"):
        write_catalog(con, broken, LOADED_AT)
    assert [r[0] for r in table(con, "plans", "code")] == ["growth_usd", "scale_eur"]
    assert len(table(con, "charges", "charge_id")) == 9


# --------------------------------------------------------------------------- YAML numbers


def test_yaml_numbers_become_decimals_from_their_text():
    data = load_yaml("a: 0.1\nb: 12.50\nc: 1_000\nd: 7\ne: -0.00042\nf: '0.3'\ng: 0500\n")
    assert data == {
        "a": Decimal("0.1"),
        "b": Decimal("12.50"),
        "c": Decimal("1000"),
        "d": Decimal("7"),
        "e": Decimal("-0.00042"),
        "f": "0.3",
        "g": Decimal("500"),
    }
    assert all(type(v) is Decimal for k, v in data.items() if k != "f")
    assert str(data["b"]) == "12.50"


@pytest.mark.parametrize("text", ["a: 0x1F", "a: 0b101", "a: .inf", "a: .nan", "a: 1:30"])
def test_yaml_numbers_that_are_not_plain_decimals_are_rejected(text):
    with pytest.raises(yaml.YAMLError):
        load_yaml(text)


def test_duplicate_yaml_key_is_an_error(tmp_path):
    found = problems(tmp_path, one_charge("{amount: 1, amount: 2}", charge_model="standard"))
    assert len(found) == 1
    assert found[0].startswith("catalog.yml: not valid YAML:")
    assert "found duplicate key 'amount'" in found[0]


# --------------------------------------------------------------------------- ranges


def graduated(*ranges, key="graduated_ranges", rate=False):
    price = "rate: 1" if rate else "per_unit_amount: 1"
    items = ", ".join(
        f"{{from_value: {lo}, to_value: {'null' if hi is None else hi}, {price}, flat_amount: 0}}"
        for lo, hi in ranges
    )
    return f"{{{key}: [{items}]}}"


def test_range_gap(tmp_path):
    assert problems(tmp_path, one_charge(graduated((0, 10), (12, None)))) == [
        PREFIX + "properties.graduated_ranges[1]: from_value 12 does not follow to_value 10 "
        "(expected 10 or 11): it leaves a gap after the previous range"
    ]


def test_range_overlap(tmp_path):
    assert problems(tmp_path, one_charge(graduated((0, 10), (5, None)))) == [
        PREFIX + "properties.graduated_ranges[1]: from_value 5 does not follow to_value 10 "
        "(expected 10 or 11): it overlaps the previous range"
    ]


def test_range_bad_start(tmp_path):
    assert problems(tmp_path, one_charge(graduated((2, 10), (11, None)))) == [
        PREFIX + "properties.graduated_ranges[0]: the first range must start at 0 or 1, not 2"
    ]


def test_range_open_in_the_middle(tmp_path):
    assert problems(tmp_path, one_charge(graduated((0, None), (11, None)))) == [
        PREFIX + "properties.graduated_ranges[0]: only the last range may be open "
        "(to_value: null); give this one a to_value"
    ]


def test_range_closed_last(tmp_path):
    assert problems(tmp_path, one_charge(graduated((1, 10), (11, 20)))) == [
        PREFIX + "properties.graduated_ranges[1]: the last range must be open (to_value: null) "
        "so that every quantity is priced; it ends at 20"
    ]


def test_range_ending_before_it_starts(tmp_path):
    assert problems(tmp_path, one_charge(graduated((0, 10), (11, 9), (10, None)))) == [
        PREFIX + "properties.graduated_ranges[1]: to_value 9 is below from_value 11"
    ]


def test_graduated_accepts_adjacent_and_classic_ranges(tmp_path):
    catalog = load_text(tmp_path, one_charge(graduated((1, 10), (10, 20), (21, None))))
    ranges = catalog.plans[0].charges[0].properties["graduated_ranges"]
    assert [(r["from_value"], r["to_value"]) for r in ranges] == [
        (Decimal(1), Decimal(10)),
        (Decimal(10), Decimal(20)),
        (Decimal(21), None),
    ]


def test_volume_ranges_must_be_classic(tmp_path):
    props = graduated((0, 100), (100, None), key="volume_ranges")
    assert problems(tmp_path, one_charge(props, charge_model="volume")) == [
        PREFIX + "properties.volume_ranges[1]: from_value 100 does not follow to_value 100 "
        "(expected 101; volume_ranges are classic: each starts at the previous to_value + 1): "
        "it overlaps the previous range"
    ]


def test_graduated_percentage_ranges_must_be_classic(tmp_path):
    props = graduated((0, 100), (100, None), key="graduated_percentage_ranges", rate=True)
    found = problems(tmp_path, one_charge(props, charge_model="graduated_percentage"))
    assert found == [
        PREFIX + "properties.graduated_percentage_ranges[1]: from_value 100 does not follow "
        "to_value 100 (expected 101; graduated_percentage_ranges are classic: each starts at the "
        "previous to_value + 1): it overlaps the previous range"
    ]


def test_filter_properties_follow_the_charge_model_rules(tmp_path):
    filters = textwrap.indent(
        textwrap.dedent(
            f"""\
            filters:
              - values: {{region: [eu]}}
                properties: {graduated((0, 10), (12, None))}
            """
        ),
        " " * 8,
    )
    found = problems(tmp_path, one_charge(graduated((0, None)), filters=filters))
    assert found == [
        PREFIX + "filters[0].properties.graduated_ranges[1]: from_value 12 does not follow "
        "to_value 10 (expected 10 or 11): it leaves a gap after the previous range"
    ]


def test_example_message_names_plan_code_and_charge(tmp_path):
    text = f"""\
        billable_metrics:
          - {{code: api_calls, aggregation_type: count_agg}}
        plans:
          - {{code: a, interval: monthly, amount_cents: 0, amount_currency: USD}}
          - {{code: b, interval: monthly, amount_cents: 0, amount_currency: USD}}
          - code: growth_eur
            interval: monthly
            amount_cents: 0
            amount_currency: EUR
            charges:
              - {{billable_metric_code: api_calls, charge_model: standard, properties: {{amount: 1}}}}
              - billable_metric_code: api_calls
                charge_model: graduated
                properties: {graduated((0, 10), (12, None))}
        """
    assert problems(tmp_path, text) == [
        "catalog.yml: plans[2] (code 'growth_eur') -> charges[1] (billable_metric_code "
        "'api_calls') -> properties.graduated_ranges[1]: from_value 12 does not follow to_value "
        "10 (expected 10 or 11): it leaves a gap after the previous range"
    ]


# --------------------------------------------------------------------------- other properties


def test_properties_of_another_charge_model_are_an_error(tmp_path):
    assert problems(tmp_path, one_charge("{amount: 1}", charge_model="graduated")) == [
        PREFIX + "properties.graduated_ranges: required by the graduated charge model",
        PREFIX + "properties.amount: not a property of the graduated charge model "
        "(its keys: graduated_ranges, pricing_group_keys)",
    ]


def test_package_and_amount_rules(tmp_path):
    props = "{amount: -5, package_size: 0, free_units: 1.5}"
    assert problems(tmp_path, one_charge(props, charge_model="package")) == [
        PREFIX + "properties.amount: must be >= 0, got -5",
        PREFIX + "properties.package_size: Input should be greater than 0 (got 0)",
        PREFIX + "properties.free_units: must be a whole number, got 1.5",
    ]


def test_percentage_max_below_min(tmp_path):
    props = "{rate: 1, per_transaction_min_amount: 2, per_transaction_max_amount: 1.99}"
    assert problems(tmp_path, one_charge(props, charge_model="percentage")) == [
        PREFIX + "properties.per_transaction_max_amount: per_transaction_max_amount 1.99 is below "
        "per_transaction_min_amount 2"
    ]


def test_amounts_may_be_numeric_strings_but_not_words(tmp_path):
    assert problems(tmp_path, one_charge("{amount: 'ten'}", charge_model="standard")) == [
        PREFIX + "properties.amount: 'ten' is not a decimal number"
    ]


# --------------------------------------------------------------------------- keys


LAGO_EXPORT = """\
billable_metrics:
  - lago_id: 1a901a90-1a90-1a90-1a90-1a901a901a90
    code: api_calls
    aggregation_type: count_agg
    created_at: "2026-01-01T00:00:00Z"
    weighted_interval: null
    expression: ""
plans:
  - lago_id: 2b902b90-2b90-2b90-2b90-2b902b902b90
    code: growth
    interval: monthly
    amount_cents: 100
    amount_currency: USD
    tax_codes: [vat_fr]
    bill_charges_monthly: false
    charges:
      - lago_id: 3c903c90-3c90-3c90-3c90-3c903c903c90
        billable_metric_code: api_calls
        charge_model: standard
        properties: {amount: "0.5", grouped_by: [project]}
"""


def test_known_lago_keys_are_dropped_with_a_warning(tmp_path):
    with pytest.warns(CatalogWarning) as record:
        catalog = load_text(tmp_path, LAGO_EXPORT)
    expected = [
        "catalog.yml: billable_metrics[0] (code 'api_calls') -> lago_id: Lago key ignored "
        "(Meterhouse does not use it)",
        "catalog.yml: billable_metrics[0] (code 'api_calls') -> created_at: Lago key ignored "
        "(Meterhouse does not use it)",
        "catalog.yml: billable_metrics[0] (code 'api_calls') -> weighted_interval: Lago key "
        "ignored (Meterhouse does not use it)",
        "catalog.yml: billable_metrics[0] (code 'api_calls') -> expression: empty Lago key ignored",
        "catalog.yml: plans[0] (code 'growth') -> lago_id: Lago key ignored (Meterhouse does not "
        "use it)",
        "catalog.yml: plans[0] (code 'growth') -> tax_codes: Lago key ignored (Meterhouse does not "
        "use it)",
        "catalog.yml: plans[0] (code 'growth') -> bill_charges_monthly: empty Lago key ignored",
        "catalog.yml: plans[0] (code 'growth') -> charges[0] (billable_metric_code 'api_calls') "
        "-> lago_id: Lago key ignored (Meterhouse does not use it)",
        "catalog.yml: plans[0] (code 'growth') -> charges[0] (billable_metric_code 'api_calls') "
        "-> properties.grouped_by: Lago's deprecated grouped_by read as pricing_group_keys",
    ]
    assert catalog.warnings == expected
    assert [str(w.message) for w in record] == expected
    assert "lago_id" not in catalog.plans[0].model_dump()
    assert catalog.plans[0].charges[0].properties == {
        "amount": Decimal("0.5"),
        "pricing_group_keys": ["project"],
    }


def test_lago_keys_that_change_the_bill_are_an_error_when_set(tmp_path):
    text = LAGO_EXPORT.replace("bill_charges_monthly: false", "bill_charges_monthly: true")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = problems(tmp_path, text)
    assert found == [
        "catalog.yml: plans[0] (code 'growth') -> bill_charges_monthly: Lago's key is not supported "
        "by Meterhouse (it would change what is billed); remove it"
    ]


def test_minimum_commitment_is_read(tmp_path):
    text = one_charge("{amount: 1}", charge_model="standard").replace(
        "amount_currency: USD",
        "amount_currency: USD\n    minimum_commitment: {amount_cents: 150000}",
    )
    plan = load_text(tmp_path, text).plans[0]
    assert plan.minimum_commitment.amount_cents == 150000
    bad = text.replace("{amount_cents: 150000}", "{amount_cents: -1}")
    assert problems(tmp_path, bad) == [
        "catalog.yml: plans[0] (code 'growth') -> minimum_commitment.amount_cents: Input should be "
        "greater than or equal to 0 (got -1)"
    ]


def test_unknown_other_key_is_an_error(tmp_path):
    text = one_charge("{amount: 1}", charge_model="standard").replace(
        "charge_model: standard", "charge_model: standard\n        prize: 3"
    )
    assert problems(tmp_path, text) == [
        PREFIX + "prize: unknown key (neither a Meterhouse key nor a known key of Lago's shape; "
        "check the spelling)"
    ]


def test_unknown_top_level_key_is_an_error(tmp_path):
    text = one_charge("{amount: 1}", charge_model="standard") + "coupons: []\n"
    assert problems(tmp_path, text) == [
        "catalog.yml: coupons: unknown top-level key (expected billable_metrics, plans)"
    ]


# --------------------------------------------------------------------------- cross checks


def test_unknown_metric_in_a_charge(tmp_path):
    text = one_charge("{amount: 1}", charge_model="standard").replace(
        "- billable_metric_code: api_calls", "- billable_metric_code: api_cals"
    )
    assert problems(tmp_path, text) == [
        "catalog.yml: plans[0] (code 'growth') -> charges[0] (billable_metric_code 'api_cals') -> "
        "billable_metric_code: unknown billable metric 'api_cals' (known: api_calls)"
    ]


def test_duplicate_codes_and_charge_ids(tmp_path):
    text = """\
        billable_metrics:
          - {code: api_calls, aggregation_type: count_agg}
          - {code: api_calls, aggregation_type: sum_agg, field_name: n}
        plans:
          - code: growth
            interval: monthly
            amount_cents: 0
            amount_currency: USD
            charges:
              - {id: c1, billable_metric_code: api_calls, charge_model: standard, properties: {amount: 1}}
          - code: growth
            interval: yearly
            amount_cents: 0
            amount_currency: USD
            charges:
              - {id: c1, billable_metric_code: api_calls, charge_model: standard, properties: {amount: 1}}
        """
    assert problems(tmp_path, text) == [
        "catalog.yml: billable_metrics[1] (code 'api_calls') -> code: duplicate code "
        "(also billable_metrics[0])",
        "catalog.yml: plans[1] (code 'growth') -> code: duplicate code (also plans[0])",
        "catalog.yml: plans[1] (code 'growth') -> charges[0] (id 'c1', billable_metric_code "
        "'api_calls') -> id: duplicate charge id 'c1' (also plans[0] -> charges[0])",
    ]


def filters_block(*values):
    """A charge's ``filters:`` block, one filter per ``values`` mapping (flow YAML)."""
    lines = ["        filters:"]
    for value in values:
        lines += [f"          - values: {value}", "            properties: {amount: 1}"]
    return "\n".join(lines) + "\n"


def test_charge_filter_values_must_not_be_empty(tmp_path):
    filters = filters_block("{region: [eu]}", "{region: []}")
    assert problems(tmp_path, one_charge("{amount: 1}", "standard", filters=filters)) == [
        PREFIX + "filters[1].values: no values for 'region': list at least one",
    ]


def test_charge_filters_must_match_the_metric_filters(tmp_path):
    filters = filters_block("{country: [fr]}", "{region: [mars, eu]}")
    assert problems(tmp_path, one_charge("{amount: 1}", "standard", filters=filters)) == [
        PREFIX + "filters[0].values.country: 'country' is not a filter of billable metric "
        "'api_calls' (its filters: region)",
        PREFIX + "filters[1].values.region: values ['mars'] are not among billable metric "
        "'api_calls' filter 'region' values ['us', 'eu']",
    ]


def test_charge_filters_must_differ(tmp_path):
    filters = filters_block("{region: [eu, us]}", "{region: [us, eu]}")
    assert problems(tmp_path, one_charge("{amount: 1}", "standard", filters=filters)) == [
        PREFIX + "filters[1].values: same values as filters[0]",
    ]


def test_billable_metric_rules(tmp_path):
    text = """\
        billable_metrics:
          - {code: tokens, aggregation_type: sum_agg}
          - {code: peak, aggregation_type: max_agg, field_name: cpu, recurring: true}
          - {code: calls, aggregation_type: count_agg, rounding_precision: 2}
          - {code: gb, aggregation_type: custom_agg, field_name: gb}
        """
    assert problems(tmp_path, text) == [
        "catalog.yml: billable_metrics[0] (code 'tokens') -> field_name: required for sum_agg",
        "catalog.yml: billable_metrics[1] (code 'peak') -> recurring: only sum_agg, "
        "unique_count_agg and weighted_sum_agg can be recurring, not max_agg",
        "catalog.yml: billable_metrics[2] (code 'calls') -> rounding_precision: only allowed with "
        "rounding_function",
        "catalog.yml: billable_metrics[3] (code 'gb') -> aggregation_type: Input should be "
        "'count_agg', 'sum_agg', 'max_agg', 'unique_count_agg', 'latest_agg' or "
        "'weighted_sum_agg' (got 'custom_agg')",
    ]


def test_plan_rules(tmp_path):
    text = """\
        billable_metrics:
          - {code: calls, aggregation_type: count_agg}
        plans:
          - code: growth
            interval: semiannual
            amount_cents: 10.5
            amount_currency: usd
            charges:
              - {billable_metric_code: calls, charge_model: standard, pay_in_advance: true,
                 prorated: true, properties: {amount: 1}}
        """
    assert problems(tmp_path, text) == [
        "catalog.yml: plans[0] (code 'growth') -> interval: Input should be 'weekly', 'monthly', "
        "'quarterly' or 'yearly' (got 'semiannual')",
        "catalog.yml: plans[0] (code 'growth') -> amount_cents: must be a whole number, got 10.5",
        "catalog.yml: plans[0] (code 'growth') -> amount_currency: 'usd' is not an ISO 4217 "
        "currency code (did you mean 'USD'?)",
        "catalog.yml: plans[0] (code 'growth') -> charges[0] (billable_metric_code 'calls') -> "
        "pay_in_advance: charges paid in advance (instant per-event fees) are not supported; "
        "pay_in_advance applies to the plan's base fee",
    ]


def test_prorated_needs_a_recurring_metric(tmp_path):
    text = one_charge("{amount: 1}", charge_model="standard").replace(
        "charge_model: standard", "charge_model: standard\n        prorated: true"
    )
    assert problems(tmp_path, text) == [
        PREFIX + "prorated: only charges on recurring sum_agg or unique_count_agg metrics can be "
        "prorated; 'api_calls' is a non-recurring count_agg"
    ]


@pytest.mark.parametrize(
    ("aggregation", "extra", "described"),
    [
        ("max_agg", "field_name: n", "max_agg"),
        ("latest_agg", "field_name: n", "latest_agg"),
        ("unique_count_agg", "field_name: n", "unique_count_agg"),
        ("sum_agg", "field_name: n\n    recurring: true", "recurring sum_agg"),
    ],
)
def test_percentage_needs_a_non_recurring_sum_or_count(tmp_path, aggregation, extra, described):
    text = one_charge("{rate: 1}", charge_model="percentage").replace(
        "aggregation_type: count_agg", f"aggregation_type: {aggregation}\n    {extra}"
    )
    assert problems(tmp_path, text) == [
        PREFIX + "charge_model: a percentage charge prices the running total of its events, so it "
        f"needs a non-recurring sum_agg or count_agg metric; 'api_calls' is a {described}"
    ]


def test_percentage_on_count_and_sum_is_accepted(tmp_path):
    for text in (
        one_charge("{rate: 1}", charge_model="percentage"),
        one_charge("{rate: 1}", charge_model="percentage").replace(
            "aggregation_type: count_agg", "aggregation_type: sum_agg\n    field_name: n"
        ),
    ):
        load_text(tmp_path, text)  # no CatalogError


def test_amount_cents_accepts_a_decimal_without_fraction(tmp_path):
    text = one_charge("{amount: 1}", charge_model="standard").replace(
        "amount_cents: 0", "amount_cents: 4900.0"
    )
    assert load_text(tmp_path, text).plans[0].amount_cents == 4900


def test_all_problems_are_reported_together(tmp_path):
    text = """\
        billable_metrics:
          - {code: calls, aggregation_type: sum_agg}
        plans:
          - code: growth
            interval: monthly
            amount_cents: 0
            amount_currency: USD
            charges:
              - billable_metric_code: calls
                charge_model: graduated
                invoicable: false
                properties:
                  graduated_ranges:
                    - {from_value: 0, to_value: 10, per_unit_amount: 1, flat_amount: 0}
                    - {from_value: 12, to_value: null, per_unit_amount: 1, flat_amount: 0}
              - {billable_metric_code: other, charge_model: standard, properties: {amount: 1}}
        """
    found = problems(tmp_path, text)
    assert found == [
        "catalog.yml: billable_metrics[0] (code 'calls') -> field_name: required for sum_agg",
        "catalog.yml: plans[0] (code 'growth') -> charges[0] (billable_metric_code 'calls') -> "
        "invoicable: unknown key (neither a Meterhouse key nor a known key of Lago's shape; check "
        "the spelling)",
        "catalog.yml: plans[0] (code 'growth') -> charges[0] (billable_metric_code 'calls') -> "
        "properties.graduated_ranges[1]: from_value 12 does not follow to_value 10 (expected 10 "
        "or 11): it leaves a gap after the previous range",
    ]


def test_catalog_model_validates_on_its_own():
    """Built from Python (not YAML), the same rules apply and floats are refused."""
    data = json.loads(
        '{"billable_metrics": [{"code": "calls", "aggregation_type": "count_agg"}],'
        ' "plans": [{"code": "p", "interval": "monthly", "amount_cents": 0,'
        ' "amount_currency": "USD", "charges": [{"billable_metric_code": "nope",'
        ' "charge_model": "standard", "properties": {"amount": 0.1}}]}]}'
    )
    with pytest.raises(ValueError, match="not a float"):
        Catalog.model_validate(data)
    data["plans"][0]["charges"][0]["properties"]["amount"] = "0.1"
    with pytest.raises(ValueError, match="unknown billable metric 'nope'"):
        Catalog.model_validate(data)
