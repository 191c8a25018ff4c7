"""Property test: the SQL rating (int_charge_amounts) against an independent Python reference.

The reference below is written from SEMANTICS.md "Charge models" alone, with Python's Decimal. Hypothesis
draws random ladders (classic integer ranges and adjacent decimal ranges), packages and quantities,
including quantities exactly at, just under and just over each boundary; every case of a draw is priced in
ONE dbt run (the catalog rows go to raw.charges, the quantities straight into the meters table).
"""

from __future__ import annotations

import json
import math
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .conftest import query, run_dbt

pytestmark = pytest.mark.slow

D = Decimal


# ---------------------------------------------------------------- the reference (SEMANTICS.md)


def ref_graduated(units: D, ranges: list[dict], percentage: bool = False) -> D:
    # adjacent when there are several ranges and each starts at the previous end; graduated_percentage
    # always counts the classic way (+1)
    adjacent = (
        not percentage
        and len(ranges) > 1
        and all(ranges[i]["from"] == ranges[i - 1]["to"] for i in range(1, len(ranges)))
    )
    total = D(0)
    for i, r in enumerate(ranges):
        if i > 0 and not units > ranges[i - 1]["to"]:
            break  # the walk stops at the first range whose to_value >= units
        top = units if r["to"] is None else min(units, r["to"])
        extra = 0 if (r["from"] == 0 or adjacent) else 1
        in_range = max(top - r["from"] + extra, D(0))
        price = r["rate"] / 100 if percentage else r["per_unit"]
        total += in_range * price + r["flat"]
    return total


def ref_volume(units: D, ranges: list[dict]) -> D:
    if units == 0:
        return D(0)
    for r in ranges:
        if r["from"] <= math.ceil(units) and (r["to"] is None or units <= r["to"]):
            return units * r["per_unit"] + r["flat"]
    raise AssertionError("contiguous classic ranges always hold a positive quantity")


def ref_package(units: D, amount: D, size: int, free: int) -> D:
    return math.ceil(max(units - free, D(0)) / size) * amount


# ---------------------------------------------------------------- strategies

money = st.decimals(min_value=D("0"), max_value=D("50"), places=6, allow_nan=False, allow_infinity=False)
rates = st.decimals(min_value=D("0"), max_value=D("30"), places=3, allow_nan=False, allow_infinity=False)


@st.composite
def classic_ladder(draw, percentage=False):
    n = draw(st.integers(1, 4))
    start = draw(st.sampled_from([0, 1]))
    ranges, lo = [], start
    for i in range(n):
        hi = None if i == n - 1 else lo + draw(st.integers(0, 200))
        r = {"from": D(lo), "to": None if hi is None else D(hi), "flat": draw(money)}
        r["rate" if percentage else "per_unit"] = draw(rates if percentage else money)
        ranges.append(r)
        lo = None if hi is None else hi + 1
    return ranges


@st.composite
def adjacent_ladder(draw):
    n = draw(st.integers(2, 4))
    ranges, lo = [], D(0)
    for i in range(n):
        width = draw(st.decimals(min_value=D("0.01"), max_value=D("150"), places=2))
        hi = None if i == n - 1 else lo + width
        ranges.append({"from": lo, "to": hi, "per_unit": draw(money), "flat": draw(money)})
        lo = hi
    return ranges


def boundaries(ranges):
    out = {D(0)}
    for r in ranges:
        for b in (r["from"], r["to"]):
            if b is not None:
                out |= {b, b + D("0.0001"), max(b - D("0.0001"), D(0))}
    return sorted(out)


@st.composite
def quantity(draw, ranges=None):
    if ranges and draw(st.booleans()):
        return draw(st.sampled_from(boundaries(ranges)))
    return draw(st.decimals(min_value=D("0"), max_value=D("1000"), places=4))


@st.composite
def case(draw):
    model = draw(st.sampled_from(["graduated", "graduated_adjacent", "volume", "package", "graduated_percentage"]))
    if model == "package":
        amount, size, free = draw(money), draw(st.integers(1, 500)), draw(st.integers(0, 100))
        units = draw(quantity())
        props = {"amount": str(amount), "package_size": str(size), "free_units": str(free)}
        return "package", props, units, ref_package(units, amount, size, free)
    if model == "graduated_adjacent":
        ranges = draw(adjacent_ladder())
    else:
        ranges = draw(classic_ladder(percentage=model == "graduated_percentage"))
    units = draw(quantity(ranges))
    if model == "volume":
        expected = ref_volume(units, ranges)
    else:
        expected = ref_graduated(units, ranges, percentage=model == "graduated_percentage")
    key = {"graduated_adjacent": "graduated"}.get(model, model)
    price_key = "rate" if model == "graduated_percentage" else "per_unit_amount"
    props = {
        f"{key}_ranges": [
            {
                "from_value": str(r["from"]),
                "to_value": None if r["to"] is None else str(r["to"]),
                price_key: str(r["rate"] if model == "graduated_percentage" else r["per_unit"]),
                "flat_amount": str(r["flat"]),
            }
            for r in ranges
        ]
    }
    return key, props, units, expected


# ---------------------------------------------------------------- one SQL run per draw


def price_in_sql(cases) -> dict[str, D]:
    from ingestion.warehouse import connect, ensure_raw_schema

    db = Path(tempfile.mkdtemp(prefix="mh_rating_")) / "rating.duckdb"
    con = connect(db)
    ensure_raw_schema(con)
    con.execute("create schema intermediate")
    con.execute(
        """create table intermediate.int_usage_meters (
               service_window_id varchar, subscription_id varchar, charge_id varchar, filter_id varchar,
               group_key varchar, billable_metric_code varchar, aggregation_type varchar,
               events_count bigint, aggregated_value decimal(38, 12), units decimal(38, 12),
               service_start_at timestamp, service_end_at timestamp)"""
    )
    for i, (model, props, units, _) in enumerate(cases):
        cid = f"c{i}"
        con.execute(
            "insert into raw.charges values (?, 'p', 1, 'm', ?, false, true, false, 0, ?, null)",
            [cid, model, json.dumps(props)],
        )
        con.execute(
            "insert into intermediate.int_usage_meters values (?, 's', ?, null, '', 'm', 'sum_agg', 1, ?, ?, "
            "'2026-09-01', '2026-10-01')",
            [f"w{i}", cid, str(units), str(units)],
        )
    con.close()
    run_dbt(
        ["run", "--select", "stg_catalog__charges", "stg_catalog__charge_filters", "int_charge_price_ranges",
         "int_charge_amounts"],
        db,
    )
    return dict(query(db, "select service_window_id, precise_amount from intermediate.int_charge_amounts"))


@settings(
    max_examples=3,
    deadline=None,
    phases=(Phase.explicit, Phase.generate),  # each draw is a dbt run: report the failing draw, no shrinking
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(case(), min_size=120, max_size=120))
def test_sql_rating_matches_the_reference(dbt_manifest, cases):
    priced = price_in_sql(cases)
    mismatches = [
        (model, props, str(units), str(expected), str(priced.get(f"w{i}")))
        for i, (model, props, units, expected) in enumerate(cases)
        if priced.get(f"w{i}") != expected
    ]
    assert not mismatches, json.dumps(mismatches[:5], indent=1)
