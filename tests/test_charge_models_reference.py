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


def ref_percentage(values: list[D], props: dict) -> D:
    """SEMANTICS.md `percentage`: free units/events from the running totals, or, with a per-transaction
    min/max, Lago's event-by-event walk (free events and free amount used up first)."""
    rate, fixed = D(props["rate"]), D(props.get("fixed_amount") or 0)
    n_free = int(props.get("free_units_per_events") or 0)
    f_free = D(props.get("free_units_per_total_aggregation") or 0)
    low, high = props.get("per_transaction_min_amount"), props.get("per_transaction_max_amount")
    if low is not None or high is not None:
        total, events_left, amount_left = D(0), n_free, f_free
        for value in values:
            if events_left > 0 or amount_left > 0:
                events_left -= 1
                if amount_left <= 0:
                    continue
                if amount_left > value:
                    amount_left -= value
                    continue
                value, amount_left, events_left = value - amount_left, D(0), 0
            cost = value * rate / 100 + fixed
            if low is not None and cost < D(low):
                cost = D(low)
            elif high is not None and cost > D(high):
                cost = D(high)
            total += cost
        return total
    totals, running = [], D(0)
    for value in values:
        running += value
        totals.append(running)
    if n_free > 0:
        kept = totals[:n_free]
    elif f_free > 0:
        kept = []
        for t in totals:
            kept.append(t)
            if t > f_free:
                break
    else:
        kept = []
    last = kept[-1] if kept else D(0)
    if last == 0:
        free_value = D(0)
    elif 0 < n_free < len(kept):
        free_value = kept[n_free - 1]
    elif f_free == 0 or last <= f_free:
        free_value = last
    else:
        free_value = f_free
    candidates = [c for c in (n_free, sum(1 for t in kept if t < f_free)) if c != 0]
    free_events = min(candidates) if candidates else 0
    units = sum(values, D(0))
    if units == 0:
        return D(0)
    return max(units - free_value, D(0)) * rate / 100 + max(len(values) - free_events, 0) * fixed


# ---------------------------------------------------------------- strategies

money = st.decimals(
    min_value=D("0"), max_value=D("50"), places=6, allow_nan=False, allow_infinity=False
)
rates = st.decimals(
    min_value=D("0"), max_value=D("30"), places=3, allow_nan=False, allow_infinity=False
)


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
def percentage_case(draw):
    values = draw(
        st.lists(
            st.decimals(min_value=D("0"), max_value=D("500"), places=3), min_size=0, max_size=8
        )
    )
    props = {"rate": str(draw(rates))}
    if draw(st.booleans()):
        props["fixed_amount"] = str(draw(st.decimals(min_value=D("0"), max_value=D("2"), places=2)))
    if draw(st.booleans()):
        props["free_units_per_events"] = str(draw(st.integers(1, 5)))
    if draw(st.booleans()):
        # often exactly at a running total, to hit the "exceeds" and "below" boundaries
        totals = [sum(values[: i + 1], D(0)) for i in range(len(values))]
        pick = [t for t in totals if t > 0]
        props["free_units_per_total_aggregation"] = str(
            draw(st.sampled_from(pick))
            if pick and draw(st.booleans())
            else draw(st.decimals(min_value=D("0.001"), max_value=D("1500"), places=3))
        )
    if draw(st.booleans()):
        low = draw(st.decimals(min_value=D("0"), max_value=D("3"), places=2))
        high = low + draw(st.decimals(min_value=D("0"), max_value=D("20"), places=2))
        which = draw(st.sampled_from(["min", "max", "both"]))
        if which in ("min", "both"):
            props["per_transaction_min_amount"] = str(low)
        if which in ("max", "both"):
            props["per_transaction_max_amount"] = str(high)
    return "percentage", props, values, ref_percentage(values, props)


@st.composite
def case(draw):
    model = draw(
        st.sampled_from(
            [
                "graduated",
                "graduated_adjacent",
                "volume",
                "package",
                "graduated_percentage",
                "percentage",
            ]
        )
    )
    if model == "percentage":
        return draw(percentage_case())
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
    con.execute(
        """create table intermediate.int_usage_events_charged (
               service_window_id varchar, charge_id varchar, filter_id varchar, group_key varchar,
               is_carried_over boolean, load_id bigint, row_number bigint, event_id varchar,
               value decimal(38, 12), value_text varchar, operation_type varchar, event_at timestamp,
               attributed_seq_applied bigint)"""
    )
    for i, (model, props, units, _) in enumerate(cases):
        cid = f"c{i}"
        con.execute(
            "insert into raw.charges values (?, 'p', 1, 'm', ?, false, true, false, 0, ?, null)",
            [cid, model, json.dumps(props)],
        )
        # a percentage case carries its events, in time order but loaded in reverse (the row numbers
        # count down), so the SQL must order by time; the other cases carry only a quantity
        values = units if isinstance(units, list) else None
        total = sum(values, D(0)) if values is not None else units
        con.execute(
            "insert into intermediate.int_usage_meters values (?, 's', ?, null, '', 'm', 'sum_agg', ?, ?, ?, "
            "'2026-09-01', '2026-10-01')",
            [f"w{i}", cid, len(values) if values is not None else 1, str(total), str(total)],
        )
        for j, value in enumerate(values or []):
            con.execute(
                "insert into intermediate.int_usage_events_charged values "
                "(?, ?, null, '', false, 1, ?, ?, ?, ?, null, timestamp '2026-09-01' + to_seconds(?), 0)",
                [f"w{i}", cid, len(values) - j, f"e{i}_{j}", str(value), str(value), 3600 * j],
            )
    con.close()
    run_dbt(
        [
            "run",
            "--select",
            "stg_catalog__charges",
            "stg_catalog__charge_filters",
            "stg_catalog__scenario_charges",
            "stg_catalog__scenario_charge_filters",
            "int_charge_price_ranges",
            "int_charge_amounts",
        ],
        db,
    )
    return dict(
        query(
            db,
            "select service_window_id, precise_amount from intermediate.int_charge_amounts "
            "where scenario = 'live'",
        )
    )


@settings(
    max_examples=3,
    deadline=None,
    phases=(
        Phase.explicit,
        Phase.generate,
    ),  # each draw is a dbt run: report the failing draw, no shrinking
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
