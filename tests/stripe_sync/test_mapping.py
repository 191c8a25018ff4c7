"""Customers by metadata key, subscriptions by plan code (lookup_key, else price metadata)."""

from __future__ import annotations

from datetime import datetime

import duckdb
import stripe

from ingestion.stripe_emulator import EmulatorServer
from ingestion.stripe_sync import (
    stripe_subscriptions_for_meterhouse,
    sync_stripe,
    unmapped_customers,
)

from .conftest import T0_DT


def _price(client: stripe.StripeClient, **extra: object) -> str:
    params = {
        "product_data": {"name": "Plan"},
        "currency": "usd",
        "unit_amount": 1000,
        "recurring": {"interval": "month"},
        **extra,
    }
    return client.v1.prices.create(params).id


def test_unmapped_customers_on_both_sides(
    client: stripe.StripeClient, con: duckdb.DuckDBPyConnection
) -> None:
    acme = client.v1.customers.create({"metadata": {"meterhouse_customer_id": "acme"}})
    ghost = client.v1.customers.create({"metadata": {"meterhouse_customer_id": "ghost"}})
    bare = client.v1.customers.create({"email": "bare@x.test", "name": "Bare"})
    twin = client.v1.customers.create({"metadata": {"meterhouse_customer_id": "acme"}})
    gone = client.v1.customers.create({"email": "gone@x.test"})
    client.v1.customers.delete(gone.id)
    sync_stripe(con, client)

    report = unmapped_customers(con, {"acme", "initech"})
    assert report["stripe_without_key"] == [
        {"stripe_customer_id": bare.id, "email": "bare@x.test", "name": "Bare"}
    ]
    assert report["stripe_unknown_id"] == [
        {
            "stripe_customer_id": ghost.id,
            "meterhouse_customer_id": "ghost",
            "email": None,
            "name": None,
        }
    ]
    assert report["stripe_duplicate_id"] == {"acme": [acme.id, twin.id]}
    assert report["known_without_stripe"] == ["initech"]
    assert report["counts"] == {
        "mapped": 1,
        "stripe_without_key": 1,
        "stripe_unknown_id": 1,
        "stripe_duplicate_id": 1,
        "known_without_stripe": 1,
    }


def test_subscriptions_with_plan_codes(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection
) -> None:
    acme = client.v1.customers.create({"metadata": {"meterhouse_customer_id": "acme"}})
    bare = client.v1.customers.create({"email": "bare@x.test"})
    pro = _price(client, lookup_key="pro")
    team = _price(client, metadata={"meterhouse_plan_code": "team"})
    both = _price(client, lookup_key="pro_yearly", metadata={"meterhouse_plan_code": "ignored"})
    plain = _price(client)

    s_pro = client.v1.subscriptions.create({"customer": acme.id, "items": [{"price": pro}]})
    s_team = client.v1.subscriptions.create({"customer": bare.id, "items": [{"price": team}]})
    client.v1.subscriptions.create({"customer": acme.id, "items": [{"price": plain}]})  # no code
    srv.advance_clock(86_400)
    s_yearly = client.v1.subscriptions.create({"customer": acme.id, "items": [{"price": both}]})
    srv.advance_clock(86_400)
    client.v1.subscriptions.cancel(s_yearly.id)
    s_ending = client.v1.subscriptions.create(
        {"customer": acme.id, "items": [{"price": pro}], "cancel_at_period_end": True}
    )
    sync_stripe(con, client)

    got = {s["external_subscription_id"]: s for s in stripe_subscriptions_for_meterhouse(con)}
    assert set(got) == {s_pro.id, s_team.id, s_yearly.id, s_ending.id}
    assert got[s_pro.id] == {
        "external_subscription_id": s_pro.id,
        "external_customer_id": "acme",
        "plan_code": "pro",
        "started_at": T0_DT,
        "ending_at": None,
        "stripe_customer_id": acme.id,
        "status": "active",
        "plan_codes": ["pro"],
        "problems": [],
    }
    # the customer has no metadata key: reported, with the reason
    assert got[s_team.id]["external_customer_id"] is None
    assert got[s_team.id]["plan_code"] == "team"
    assert got[s_team.id]["problems"] == ["unmapped_customer"]
    # lookup_key wins over the metadata fallback; a canceled one ends at ended_at
    assert got[s_yearly.id]["plan_code"] == "pro_yearly"
    assert got[s_yearly.id]["started_at"] == datetime(2023, 11, 15, 22, 13, 20)
    assert got[s_yearly.id]["ending_at"] == datetime(2023, 11, 16, 22, 13, 20)
    assert got[s_yearly.id]["status"] == "canceled"
    # cancel_at_period_end: ends at the end of the current period
    assert got[s_ending.id]["ending_at"] == datetime(2023, 12, 16, 22, 13, 20)

    checked = stripe_subscriptions_for_meterhouse(con, known_plan_codes={"pro", "team"})
    problems = {s["external_subscription_id"]: s["problems"] for s in checked}
    assert problems[s_yearly.id] == ["unknown_plan_code"]
    assert problems[s_pro.id] == []

    # the plan code follows the price: a lookup_key added later is picked up via the price row
    client.v1.prices.update(plain, {"lookup_key": "starter"})
    sync_stripe(con, client)
    codes = {s["plan_code"] for s in stripe_subscriptions_for_meterhouse(con)}
    assert "starter" in codes
