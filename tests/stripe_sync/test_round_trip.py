"""Every object type through the real SDK into the raw tables, typed columns checked by hand."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import duckdb
import stripe

from ingestion.stripe_emulator import EmulatorServer
from ingestion.stripe_sync import STRIPE_RAW_DDL, TABLES, ensure_stripe_schema, sync_stripe

from .conftest import T0_DT, one, rows

LOADED_AT = datetime(2024, 1, 2, 3, 4, 5)


def _seed(client: stripe.StripeClient) -> dict[str, str]:
    cus = client.v1.customers.create(
        {
            "email": "ops@acme.test",
            "name": "Acme",
            "currency": "usd",
            "metadata": {"meterhouse_customer_id": "acme", "region": "eu"},
        }
    )
    prod = client.v1.products.create(
        {"name": "Pro plan", "metadata": {"meterhouse_plan_code": "pro"}}
    )
    monthly = client.v1.prices.create(
        {
            "product": prod.id,
            "currency": "usd",
            "unit_amount": 4900,
            "recurring": {"interval": "month"},
            "lookup_key": "pro_monthly",
        }
    )
    usage = client.v1.prices.create(
        {
            "product": prod.id,
            "currency": "usd",
            "unit_amount_decimal": "0.042",
            "metadata": {"meterhouse_plan_code": "usage"},
        }
    )
    sub = client.v1.subscriptions.create(
        {"customer": cus.id, "items": [{"price": monthly.id, "quantity": 3}]}
    )
    inv = client.v1.invoices.create(
        {
            "customer": cus.id,
            "collection_method": "send_invoice",
            "days_until_due": 30,
            "metadata": {"meterhouse_invoice_id": "mh-inv-001"},
        }
    )
    client.v1.invoices.add_lines(
        inv.id,
        {
            "lines": [
                {"amount": 1234, "description": "Setup"},
                {"pricing": {"price": usage.id}, "quantity": 1000, "description": "API calls"},
            ]
        },
    )
    client.v1.invoices.pay(inv.id)  # 1234 + 1000 x 0.042 = 1276
    charge = client.v1.charges.list({"customer": cus.id}).data[0]
    refund = client.v1.refunds.create({"charge": charge.id, "amount": 276, "reason": "duplicate"})
    cn = client.v1.credit_notes.create({"invoice": inv.id, "amount": 100, "reason": "duplicate"})
    return {
        "customer": cus.id,
        "product": prod.id,
        "monthly": monthly.id,
        "usage": usage.id,
        "subscription": sub.id,
        "invoice": inv.id,
        "charge": charge.id,
        "refund": refund.id,
        "credit_note": cn.id,
    }


def test_every_type_round_trips(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection
) -> None:
    ids = _seed(client)
    result = sync_stripe(con, client, loaded_at=LOADED_AT)
    assert result.mode == "full"
    assert {k: c.inserted for k, c in result.counts.items()} == {
        "customers": 1,
        "products": 1,
        "prices": 2,
        "subscriptions": 1,
        "subscription_items": 1,
        "invoices": 1,
        "invoice_lines": 2,
        "credit_notes": 1,
        "charges": 1,
        "refunds": 1,
    }

    cus = one(con, "select * from raw.stripe_customers")
    assert cus["id"] == ids["customer"]
    assert (cus["email"], cus["name"], cus["currency"], cus["balance"]) == (
        "ops@acme.test",
        "Acme",
        "usd",
        -100,  # the post-payment credit note went to the customer's balance
    )
    assert cus["meterhouse_customer_id"] == "acme"
    assert cus["created"] == T0_DT
    assert json.loads(cus["object_json"])["metadata"] == {
        "meterhouse_customer_id": "acme",
        "region": "eu",
    }
    assert (cus["version_no"], cus["version_source"], cus["sync_id"]) == (1, "list", 1)
    assert cus["loaded_at"] == LOADED_AT and cus["deleted"] is False

    prod = one(con, "select * from raw.stripe_products")
    assert (prod["name"], prod["active"], prod["meterhouse_plan_code"]) == ("Pro plan", True, "pro")

    prices = {r["id"]: r for r in rows(con, "select * from raw.stripe_prices")}
    monthly, usage = prices[ids["monthly"]], prices[ids["usage"]]
    assert (monthly["unit_amount"], monthly["type"], monthly["recurring_interval"]) == (
        4900,
        "recurring",
        "month",
    )
    assert (monthly["recurring_interval_count"], monthly["lookup_key"], monthly["plan_code"]) == (
        1,
        "pro_monthly",
        "pro_monthly",
    )
    assert (usage["unit_amount"], usage["unit_amount_decimal"], usage["type"]) == (
        None,
        "0.042",
        "one_time",
    )
    assert (usage["lookup_key"], usage["plan_code"], usage["product"]) == (
        None,
        "usage",
        ids["product"],
    )

    sub = one(con, "select * from raw.stripe_subscriptions")
    assert (sub["id"], sub["customer"], sub["status"], sub["currency"]) == (
        ids["subscription"],
        ids["customer"],
        "active",
        "usd",
    )
    assert (sub["start_date"], sub["ended_at"], sub["cancel_at"]) == (T0_DT, None, None)
    assert sub["items_total_count"] == 1
    item = one(con, "select * from raw.stripe_subscription_items")
    assert (item["subscription"], item["customer"], item["price"], item["product"]) == (
        ids["subscription"],
        ids["customer"],
        ids["monthly"],
        ids["product"],
    )
    assert (item["quantity"], item["lookup_key"], item["plan_code"]) == (
        3,
        "pro_monthly",
        "pro_monthly",
    )
    assert item["current_period_start"] == T0_DT
    assert item["current_period_end"] == datetime(2023, 12, 14, 22, 13, 20)

    inv = one(con, "select * from raw.stripe_invoices")
    assert (inv["id"], inv["customer"], inv["status"], inv["currency"]) == (
        ids["invoice"],
        ids["customer"],
        "paid",
        "usd",
    )
    assert (inv["subtotal"], inv["total"], inv["amount_due"], inv["amount_paid"]) == (
        1276,
        1276,
        1276,
        1276,
    )
    assert (inv["amount_remaining"], inv["post_payment_credit_notes_amount"]) == (0, 100)
    assert (inv["lines_total_count"], inv["meterhouse_invoice_id"]) == (2, "mh-inv-001")
    assert inv["number"] and inv["collection_method"] == "send_invoice"
    assert inv["paid_at"] == inv["finalized_at"] == T0_DT
    assert inv["due_date"] == T0_DT + timedelta(days=30)

    lines = rows(con, "select * from raw.stripe_invoice_lines order by line_position")
    assert [(ln["amount"], ln["quantity"], ln["description"]) for ln in lines] == [
        (1234, 1, "Setup"),
        (42, 1000, "API calls"),
    ]
    assert [ln["price"] for ln in lines] == [None, ids["usage"]]
    assert lines[1]["unit_amount_decimal"] == "0.042"
    assert {(ln["invoice"], ln["customer"], ln["currency"]) for ln in lines} == {
        (ids["invoice"], ids["customer"], "usd")
    }

    cn = one(con, "select * from raw.stripe_credit_notes")
    assert (cn["invoice"], cn["customer"], cn["status"], cn["type"]) == (
        ids["invoice"],
        ids["customer"],
        "issued",
        "post_payment",
    )
    assert (cn["amount"], cn["total"], cn["post_payment_amount"], cn["pre_payment_amount"]) == (
        100,
        100,
        100,
        0,
    )

    ch = one(con, "select * from raw.stripe_charges")
    assert (ch["id"], ch["customer"], ch["status"], ch["amount"]) == (
        ids["charge"],
        ids["customer"],
        "succeeded",
        1276,
    )
    assert (ch["amount_refunded"], ch["refunded"], ch["paid"]) == (276, False, True)

    re = one(con, "select * from raw.stripe_refunds")
    assert (re["id"], re["charge"], re["amount"], re["status"], re["reason"]) == (
        ids["refund"],
        ids["charge"],
        276,
        "succeeded",
        "duplicate",
    )

    state = one(con, "select * from raw.stripe_sync_state")
    newest = client.v1.events.list({"limit": 1}).data[0]
    assert state["cursor_event_id"] == newest.id
    sync = one(con, "select * from raw.stripe_syncs")
    assert (sync["status"], sync["mode"], sync["cursor_before"], sync["cursor_after"]) == (
        "succeeded",
        "full",
        None,
        newest.id,
    )
    assert json.loads(sync["counts"])["invoice_lines"]["inserted"] == 2


def test_schema_is_documented_and_idempotent(con: duckdb.DuckDBPyConnection) -> None:
    ensure_stripe_schema(con)
    ensure_stripe_schema(con)
    names = {
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'"
        ).fetchall()
    }
    assert names == {f"stripe_{k}" for k in TABLES} | {"stripe_sync_state", "stripe_syncs"}
    for table in TABLES.values():
        cols = [
            r[0]
            for r in con.execute(
                "select column_name from information_schema.columns where table_schema = 'raw' "
                "and table_name = ? order by ordinal_position",
                [table.name.split(".")[1]],
            ).fetchall()
        ]
        assert cols == table.all_columns
    column_lines = [
        ln for ln in STRIPE_RAW_DDL.splitlines() if ln.startswith("    ") and ln.strip()
    ]
    assert column_lines and all("  -- " in ln for ln in column_lines)
