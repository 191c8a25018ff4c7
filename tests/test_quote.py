"""`meterhouse quote`: the warehouse's own SQL on a scratch database, many cases per dbt run.

Expected figures are worked out by hand: the scenario ones are the very invoices of test_scenarios.py
(tests/fixtures/scenarios), so a quote of a customer's period must equal what the warehouse bills.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from orchestration.cli import main
from orchestration.quote import QuoteCase, QuoteError, calendar_period, quote_many

from .conftest import FIXTURES

pytestmark = pytest.mark.slow

SCENARIOS = FIXTURES / "scenarios"


def events_of(customer: str) -> list[dict]:
    lines = (SCENARIOS / "landing" / "events" / "2026-09-usage.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if f'"{customer}"' in line]


@pytest.fixture(scope="module")
def scenario_quotes(dbt_manifest):
    """Six scenario customers priced in one scratch warehouse and one dbt build."""
    cases = [
        QuoteCase("basic", "basic_usd", events_of("cus_basic")),
        QuoteCase(
            "midmonth",
            "basic_usd",
            events_of("cus_midmonth"),
            "2026-09-15T10:00:00-04:00",
            "2026-10-01T00:00:00-04:00",
            timezone="America/New_York",
        ),
        QuoteCase("yen", "yen_plan", events_of("cus_yen"), timezone="Asia/Tokyo"),
        QuoteCase("group", "group_usd", events_of("cus_group")),
        QuoteCase("adv", "adv_usd", events_of("cus_adv")),
        QuoteCase(
            "ended",
            "basic_usd",
            events_of("cus_ended"),
            "2026-09-01T00:00:00Z",
            "2026-09-20T12:00:00Z",
        ),
        QuoteCase(
            "trial", "trial_usd", [], "2026-09-01T00:00:00Z"
        ),  # no events: the period is given
        # price versions (tests/fixtures/scenarios/plan_versions.yml, read next to the catalog): adv_usd is
        # 120.00 and 0.01 a call, its version 2026-10 130.00 and 0.02 from the periods starting on or after
        # 2026-09-15 (local); the "adv" case above is September's period, at the catalog's prices
        QuoteCase("adv_oct", "adv_usd", ADV_CALLS, "2026-10-01T00:00:00Z"),
        QuoteCase("adv_pinned", "adv_usd@2026-10", [], "2026-09-01T00:00:00Z"),
        QuoteCase("adv_tokyo", "adv_usd", [], "2026-09-15T00:00:00+09:00", timezone="Asia/Tokyo"),
    ]
    return quote_many(SCENARIOS / "catalog.yml", cases)


ADV_CALLS = [
    {"event_id": f"q{n}", "customer_id": "x", "metric": "api_calls",
     "timestamp": "2026-10-02T00:00:00Z", "properties": {}}
    for n in range(2)
]  # fmt: skip


def test_the_period_picks_the_price_version_unless_one_is_named(scenario_quotes):
    # September's period started Sep 1, before 2026-09-15: the catalog's 120.00 + 3 x 0.01
    assert (scenario_quotes["adv"].total_cents, scenario_quotes["adv"].priced_plan) == (
        12000 + 3,
        "adv_usd",
    )
    # October: version 2026-10, 130.00 + 2 calls x 0.02 = 130.04, its lines named after the version
    oct_ = scenario_quotes["adv_oct"].as_json()
    assert (oct_["total_cents"], oct_["plan"], oct_["priced_plan"]) == (
        13000 + 4,
        "adv_usd",
        "adv_usd@2026-10",
    )
    calls = [line for line in oct_["lines"] if line["metric"] == "api_calls"]
    assert [(c["charge"], c["units"], c["amount_cents"]) for c in calls] == [
        ("adv_usd@2026-10.api_calls", "2", 4)
    ]
    # a version's code prices that version whatever the period
    assert scenario_quotes["adv_pinned"].total_cents == 13000
    # the effective date is local: Sep 15 00:00 in Tokyo (Sep 14 15:00 UTC) starts a period at the version
    assert (scenario_quotes["adv_tokyo"].total_cents, scenario_quotes["adv_tokyo"].priced_plan) == (
        13000,
        "adv_usd@2026-10",
    )


@pytest.mark.parametrize(
    ("key", "total_cents"),
    [
        # the same arithmetic as EXPECTED_ISSUED_TOTALS in test_scenarios.py
        ("basic", 10000 + 6 + 4 + 97),
        (
            "midmonth",
            5333 + 2,
        ),  # 16 of 30 local days; m1 (03:59:59Z Oct 1) is still September in New York
        ("yen", 5000 + 2),  # y1..y5 are September in Tokyo: 1.5 yen -> 2
        ("group", 200 + 300 + 150),
        ("adv", 12000 + 3),  # September's advance fee and September's usage, each naming September
        ("ended", 6667),  # terminated Sep 20 noon: 20 of 30 days
        (
            "trial",
            3100,
        ),  # a quote prices the steady state: no trial days (the warehouse bills 2067 then)
    ],
)
def test_a_quote_equals_what_the_warehouse_bills(scenario_quotes, key, total_cents):
    assert scenario_quotes[key].total_cents == total_cents


def test_quote_lines_carry_what_made_them(scenario_quotes):
    basic = scenario_quotes["basic"].as_json()
    assert basic["currency"] == "USD"
    assert basic["period"] == {"start": "2026-09-01T00:00:00Z", "end": "2026-10-01T00:00:00Z"}
    lines = {
        (line["fee_type"], line.get("charge"), json.dumps(line.get("filter"))): line
        for line in basic["lines"]
    }
    eu = lines[("charge", "basic_usd.api_calls", json.dumps({"region": ["eu"]}))]
    assert (eu["units"], eu["events_count"], eu["precise_amount"], eu["amount_cents"]) == (
        "2",
        2,
        "0.04",
        4,
    )
    gb = lines[("charge", "basic_usd.gb", "null")]
    assert (gb["units"], gb["precise_amount"], gb["amount_cents"]) == ("3.875", "0.96875", 97)
    assert lines[("subscription", None, "null")]["amount_cents"] == 10000
    # every input row is accounted for: 18 rows = 9 priced + 1 duplicate + 1 conflict + 1 unmatched metric
    # + 1 invalid value + 5 quarantined
    events = basic["events"]
    assert events["rows_read"] == 18
    assert (events["priced"], events["duplicate"], events["conflict"]) == (9, 1, 1)
    assert sum(events["quarantined"].values()) == 5
    groups = {
        line.get("group")
        for line in scenario_quotes["group"].as_json()["lines"]
        if line["fee_type"] == "charge"
    }
    assert groups == {"region=us", "region=eu", "region=null"}


def test_the_default_period_is_the_local_calendar_period_of_the_first_event(scenario_quotes):
    yen = scenario_quotes["yen"]
    # Sep 1 00:00 in Tokyo is Aug 31 15:00 UTC
    assert (yen.period_start, yen.period_end) == (
        datetime(2026, 8, 31, 15),
        datetime(2026, 9, 30, 15),
    )
    assert calendar_period(datetime(2026, 11, 25, 12), "weekly") == (
        datetime(2026, 11, 23),
        datetime(2026, 11, 30),
    )
    assert calendar_period(datetime(2026, 11, 25), "quarterly") == (
        datetime(2026, 10, 1),
        datetime(2027, 1, 1),
    )
    assert calendar_period(datetime(2026, 11, 25), "yearly") == (
        datetime(2026, 1, 1),
        datetime(2027, 1, 1),
    )


PRICING_CATALOG = """\
billable_metrics:
  - code: payments
    aggregation_type: sum_agg
    field_name: amount
  - code: calls
    aggregation_type: count_agg
plans:
  - code: pay_usd
    interval: monthly
    amount_cents: 0
    amount_currency: USD
    charges:
      - billable_metric_code: payments
        charge_model: percentage
        properties: {rate: 2.99, per_transaction_min_amount: 1.75, per_transaction_max_amount: 12}
  - code: calls_kwd
    interval: monthly
    amount_cents: 1500
    amount_currency: KWD
    charges:
      - billable_metric_code: calls
        charge_model: standard
        properties: {amount: 0.0005}
  - code: commit_usd
    interval: monthly
    amount_cents: 1000
    amount_currency: USD
    minimum_commitment: {amount_cents: 5000}
    charges:
      - billable_metric_code: calls
        charge_model: standard
        properties: {amount: "0.01"}
  - code: calls_jpy
    interval: yearly
    amount_cents: 120000
    amount_currency: JPY
    charges:
      - billable_metric_code: calls
        charge_model: graduated
        properties:
          graduated_ranges:
            - {from_value: 0, to_value: 2, per_unit_amount: 0, flat_amount: 0}
            - {from_value: 3, to_value: null, per_unit_amount: 0.5, flat_amount: 0}
"""


def usage(metric: str, values: list[str | None], day: str = "2026-10-0") -> list[dict]:
    return [
        {
            "event_id": f"{metric}{i}",
            "customer_id": "prospect",
            "metric": metric,
            "timestamp": f"{day}{i + 1}T12:00:00Z",
            "properties": {} if v is None else {"amount": v},
        }
        for i, v in enumerate(values)
    ]


@pytest.fixture(scope="module")
def pricing_quotes(dbt_manifest, tmp_path_factory):
    catalog = tmp_path_factory.mktemp("quote") / "catalog.yml"
    catalog.write_text(PRICING_CATALOG)
    cases = [
        QuoteCase("pct", "pay_usd", usage("payments", ["10", "80", "10000"])),
        QuoteCase("kwd", "calls_kwd", usage("calls", [None, None, None])),
        QuoteCase("commit", "commit_usd", usage("calls", [None, None, None])),
        # a yearly plan quoted for one full year from the first event's calendar year
        QuoteCase("jpy", "calls_jpy", usage("calls", [None] * 5)),
        QuoteCase(
            "kwd_half",
            "calls_kwd",
            usage("calls", [None]),
            datetime(2026, 10, 1, tzinfo=UTC),
            datetime(2026, 10, 16, tzinfo=UTC),
        ),
    ]
    return quote_many(catalog, cases), catalog


def test_percentage_with_transaction_min_and_max(pricing_quotes):
    quote = pricing_quotes[0]["pct"]
    (charge,) = [line for line in quote.lines if line.fee_type == "charge"]
    # SEMANTICS.md's example: 10 -> 0.299 raised to 1.75; 80 -> 2.392; 10000 -> 299 lowered to 12
    assert charge.precise_amount == Decimal("16.142")
    assert charge.amount_cents == 1614
    assert quote.total_cents == 1614


def test_minor_units_of_kwd_and_jpy(pricing_quotes):
    quotes = pricing_quotes[0]
    kwd = {line.fee_type: line for line in quotes["kwd"].lines}
    # 3 x 0.0005 = 0.0015 KWD -> 0.002 (3 decimals, half away from zero) = 2 fils; base 1.500 KWD
    assert kwd["charge"].precise_amount == Decimal("0.0015")
    assert kwd["charge"].amount_cents == 2
    assert quotes["kwd"].total_cents == 1500 + 2
    # JPY has no minor unit: 5 calls, first 2 free (0-2 classic), 3..5 = 3 x 0.5 = 1.5 yen -> 2; base 120000 yen
    jpy = quotes["jpy"]
    assert (jpy.period_start, jpy.period_end) == (datetime(2026, 1, 1), datetime(2027, 1, 1))
    assert jpy.total_cents == 120000 + 2
    # half a month: Oct 1..15 = 15 of 31 days x 1.500 KWD = 0.725806.. -> 0.726; 1 call 0.0005 -> 0.001
    assert quotes["kwd_half"].total_cents == 726 + 1


def test_minimum_commitment_true_up(pricing_quotes):
    quote = pricing_quotes[0]["commit"]
    lines = {line.fee_type: line.amount_cents for line in quote.lines}
    # base 10.00 + 3 calls x 0.01 = 10.03 against a 50.00 commitment: a 39.97 true-up
    assert lines == {"subscription": 1000, "charge": 3, "minimum_commitment": 3997}
    assert quote.total_cents == 5000


def test_cli_json_output(pricing_quotes, tmp_path, capsys):
    _, catalog = pricing_quotes
    usage_file = tmp_path / "usage.jsonl"
    usage_file.write_text(
        "".join(json.dumps(e) + "\n" for e in usage("payments", ["10", "80", "10000"]))
    )
    code = main(
        [
            "quote",
            "--catalog",
            str(catalog),
            "--plan",
            "pay_usd",
            "--usage",
            str(usage_file),
            "--format",
            "json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["currency"] == "USD"
    assert out["total_cents"] == 1614
    (line,) = [line for line in out["lines"] if line["fee_type"] == "charge"]
    assert line == {
        "fee_type": "charge",
        "charge": "pay_usd.payments",
        "metric": "payments",
        "charge_model": "percentage",
        "units": "10090",
        "events_count": 3,
        "precise_amount": "16.142",
        "amount_cents": 1614,
        "service_period": {"start": "2026-10-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"},
    }


def test_cli_refuses_what_it_cannot_quote(pricing_quotes, tmp_path, capsys):
    _, catalog = pricing_quotes
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps(usage("calls", [None])[0]) + "\n")
    two = tmp_path / "two.jsonl"
    two.write_text(
        "".join(
            json.dumps({**e, "customer_id": f"c{i}"}) + "\n"
            for i, e in enumerate(usage("calls", [None, None]))
        )
    )
    cases = [
        (
            ["--plan", "nope", "--usage", str(one)],
            "plan 'nope' is not in the catalog (plans: calls_jpy, calls_kwd, commit_usd, pay_usd)",
        ),
        (
            ["--plan", "calls_kwd", "--usage", str(two)],
            "holds events of 2 customers (c0, c1); a quote prices one subscription",
        ),
        (
            [
                "--plan",
                "calls_kwd",
                "--usage",
                str(one),
                "--period-start",
                "2026-10-01T00:00:00Z",
                "--period-end",
                "2026-11-02T00:00:00Z",
            ],
            "is longer than one monthly period of plan 'calls_kwd'",
        ),
        (
            ["--plan", "calls_kwd", "--usage", str(one), "--period-start", "2026-10-01"],
            "has no UTC offset",
        ),
        (["--plan", "calls_kwd", "--usage", str(tmp_path / "missing.jsonl")], "not found"),
        (
            ["--plan", "calls_kwd", "--usage", str(one), "--timezone", "Mars/Base"],
            "'Mars/Base' is not an IANA timezone",
        ),
    ]
    for extra, message in cases:
        code = main(["quote", "--catalog", str(catalog), *extra])
        err = capsys.readouterr().err
        assert code == 2, extra
        assert message in err, (extra, err)


def test_quote_case_errors_are_raised_before_any_build():
    with pytest.raises(QuoteError, match="case keys must be unique"):
        quote_many(
            SCENARIOS / "catalog.yml",
            [QuoteCase("a", "basic_usd", []), QuoteCase("a", "basic_usd", [])],
        )
