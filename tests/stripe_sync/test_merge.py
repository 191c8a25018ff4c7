"""Stripe subscriptions with a catalog plan code become Meterhouse subscriptions that bill usage only.

Through the SDK against the emulator: customers mapped by metadata, prices whose lookup_key is a plan code
of the scenarios catalog, subscriptions in every state the merge must handle. Then the warehouse's own dbt
models over the merged subscriptions: the Stripe one has no base fee, the file one has its base fee.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import stripe

from ingestion.accounts import load_accounts, write_accounts
from ingestion.catalog import load_catalog, write_catalog
from ingestion.stripe_emulator import EmulatorServer
from ingestion.stripe_sync import sync_stripe
from ingestion.stripe_sync.merge import merge_stripe_subscriptions, write_merge_outcomes

from ..conftest import FIXTURES, run_dbt
from .conftest import T0_DT, rows


def _price(client: stripe.StripeClient, currency: str, **extra: object) -> str:
    params = {
        "product_data": {"name": "Plan"},
        "currency": currency,
        "unit_amount": 10000,
        "recurring": {"interval": "month"},
        **extra,
    }
    return client.v1.prices.create(params).id


def _subscribe(client: stripe.StripeClient, customer: str, price: str) -> str:
    return client.v1.subscriptions.create({"customer": customer, "items": [{"price": price}]}).id


def _landing(tmp_path: Path, clash_id: str) -> Path:
    """The scenarios fixture's customers, and one file subscription: cus_pro's, under a Stripe sub's id."""
    landing = tmp_path / "landing"
    landing.mkdir()
    shutil.copy(FIXTURES / "scenarios" / "landing" / "customers.csv", landing / "customers.csv")
    (landing / "subscriptions.csv").write_text(
        "external_subscription_id,external_customer_id,plan_code,started_at,ending_at\n"
        f"{clash_id},cus_pro,pro_usd,2023-11-01T00:00:00Z,\n"
    )
    return landing


def test_merge_bills_usage_only_and_rejects_with_reasons(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    def customer(meterhouse_id: str | None) -> str:
        metadata = {"meterhouse_customer_id": meterhouse_id} if meterhouse_id else {}
        return client.v1.customers.create({"metadata": metadata}).id

    basic, yen, ghost, bare = (
        customer("cus_basic"),
        customer("cus_yen"),
        customer("cus_ghost"),
        customer(None),
    )
    basic_usd = _price(client, "usd", lookup_key="basic_usd")
    unknown = _price(client, "usd", lookup_key="enterprise_2027")

    merged_id = _subscribe(client, basic, basic_usd)
    ghost_id = _subscribe(client, ghost, basic_usd)
    bare_id = _subscribe(client, bare, basic_usd)
    unknown_id = _subscribe(client, basic, unknown)
    # cus_yen is billed in JPY: a USD plan is not for them
    mismatch_id = _subscribe(client, yen, basic_usd)
    clash_id = _subscribe(client, basic, basic_usd)
    sync_stripe(con, client)

    catalog = load_catalog(FIXTURES / "scenarios" / "catalog.yml")
    accounts = load_accounts(_landing(tmp_path, clash_id), catalog)
    outcomes = {
        o.stripe_subscription_id: o for o in merge_stripe_subscriptions(con, accounts, catalog)
    }

    assert {sid: o.reason_code for sid, o in outcomes.items()} == {
        merged_id: None,
        ghost_id: "unknown_customer",
        bare_id: "unmapped_customer",
        unknown_id: "unknown_plan_code",
        mismatch_id: "currency_mismatch",
        clash_id: "subscription_id_clash",
    }
    assert "cus_ghost" in outcomes[ghost_id].reason and "customers.csv" in outcomes[ghost_id].reason
    assert "JPY" in outcomes[mismatch_id].reason and "USD" in outcomes[mismatch_id].reason
    # the clash: the file's subscription is the one billed, and the message says so
    assert "file's subscription is billed" in outcomes[clash_id].reason

    by_id = {s.external_subscription_id: s for s in accounts.subscriptions}
    assert set(by_id) == {clash_id, merged_id}
    assert (by_id[clash_id].source, by_id[clash_id].external_customer_id) == ("file", "cus_pro")
    stripe_sub = by_id[merged_id]
    assert (stripe_sub.source, stripe_sub.external_customer_id, stripe_sub.plan_code) == (
        "stripe",
        "cus_basic",
        "basic_usd",
    )
    assert (stripe_sub.started_at, stripe_sub.ending_at) == (T0_DT, None)

    now = datetime(2023, 12, 20)
    write_catalog(con, catalog, now)
    write_accounts(con, accounts, now)
    write_merge_outcomes(con, list(outcomes.values()), now)
    assert rows(
        con,
        "select outcome, count(*) as n from raw.stripe_subscription_merge group by 1 order by 1",
    ) == [{"outcome": "merged", "n": 1}, {"outcome": "rejected", "n": 5}]

    # The warehouse's models over these subscriptions, with the clock at 2023-12-20: November's window
    # (Nov 14 22:13:20 .. Dec 1 for the Stripe one, Nov 1 .. Dec 1 for the file one) has closed.
    con.execute(
        "insert into raw.run_context (billing_clock, grace_period_hours, future_margin_hours, written_at) "
        "values ('2023-12-20 00:00:00', 72, 24, '2023-12-20 00:00:00')"
    )
    con.close()
    db = tmp_path / "warehouse.duckdb"
    run_dbt(
        ["build", "--select", "+int_fees", "--resource-type", "model", "--resource-type", "seed"],
        db,
    )
    with duckdb.connect(str(db), read_only=True) as ro:
        fees = ro.execute(
            "select p.subscription_id, f.fee_type, f.amount_cents "
            "from intermediate.int_fees as f "
            "join intermediate.int_billing_periods as p using (service_window_id) "
            "where f.scenario = 'live' and f.fee_type in ('subscription', 'minimum_commitment') "
            "and p.period_start_at < '2023-12-01' order by 1, 2"
        ).fetchall()
        sources = dict(
            ro.execute(
                "select distinct subscription_id, subscription_source from intermediate.int_billing_periods"
            ).fetchall()
        )
    assert sources == {clash_id: "file", merged_id: "stripe"}
    # pro_usd is 300.00 a month: the file subscription's full November; the Stripe one has no base fee
    assert fees == [(clash_id, "subscription", 30000)]
