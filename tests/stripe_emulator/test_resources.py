"""Every resource round-trips through the real SDK with Stripe's shapes."""

from __future__ import annotations

from decimal import Decimal

import pytest
import stripe

from .conftest import T0


def test_customer_create_retrieve_update_delete(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create(
        {"email": "grace@example.com", "name": "Grace", "metadata": {"plan": "pro", "region": "eu"}}
    )
    assert cus.id.startswith("cus_")
    assert cus.object == "customer"
    assert cus.livemode is False
    assert cus.created >= T0
    assert cus.balance == 0
    assert len(cus.invoice_prefix) == 8

    got = client.v1.customers.retrieve(cus.id)
    assert got.email == "grace@example.com"
    assert got.metadata.to_dict() == {"plan": "pro", "region": "eu"}

    # metadata merges key by key; "" unsets a key; "" for a field unsets it
    upd = client.v1.customers.update(
        cus.id, {"metadata": {"region": "", "tier": "gold"}, "name": "", "description": "vip"}
    )
    assert upd.metadata.to_dict() == {"plan": "pro", "tier": "gold"}
    assert upd.name is None
    assert upd.description == "vip"

    deleted = client.v1.customers.delete(cus.id)
    assert deleted.deleted is True
    assert client.v1.customers.retrieve(cus.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.update(cus.id, {"name": "x"})
    assert err.value.http_status == 404
    assert err.value.code == "resource_missing"
    assert err.value.param == "id"


def test_missing_object_and_unknown_param_errors(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.invoices.retrieve("in_doesnotexist")
    assert err.value.http_status == 404
    assert err.value.code == "resource_missing"
    assert "No such invoice: 'in_doesnotexist'" in str(err.value)

    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.create({"colour": "red"})  # type: ignore[typeddict-unknown-key]
    assert err.value.http_status == 400
    assert err.value.param == "colour"


def test_product_and_prices(client: stripe.StripeClient) -> None:
    prod = client.v1.products.create({"name": "API calls", "id": "prod_api_calls_test"})
    assert prod.id == "prod_api_calls_test"
    assert prod.active is True
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.products.create({"name": "again", "id": "prod_api_calls_test"})
    assert err.value.code == "resource_already_exists"

    flat = client.v1.prices.create(
        {
            "product": prod.id,
            "currency": "EUR",
            "unit_amount": 1999,
            "recurring": {"interval": "month"},
            "lookup_key": "pro_monthly_test",
            "metadata": {"tier": "pro"},
        }
    )
    assert flat.id.startswith("price_")
    assert flat.currency == "eur"
    assert flat.unit_amount == 1999
    assert flat.unit_amount_decimal == Decimal("1999")
    assert flat.type == "recurring"
    assert flat.recurring.interval == "month" and flat.recurring.interval_count == 1

    per_call = client.v1.prices.create(
        {"product": prod.id, "currency": "eur", "unit_amount_decimal": Decimal("0.125")}
    )
    assert per_call.unit_amount is None
    assert per_call.unit_amount_decimal == Decimal("0.125")
    assert per_call.type == "one_time"

    # lookup keys are unique unless transferred
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.prices.create(
            {
                "product": prod.id,
                "currency": "eur",
                "unit_amount": 1,
                "lookup_key": "pro_monthly_test",
            }
        )
    found = client.v1.prices.list({"lookup_keys": ["pro_monthly_test", "nope"]})
    assert [p.id for p in found.data] == [flat.id]
    moved = client.v1.prices.create(
        {
            "product": prod.id,
            "currency": "eur",
            "unit_amount": 2099,
            "lookup_key": "pro_monthly_test",
            "transfer_lookup_key": True,
        }
    )
    assert [p.id for p in client.v1.prices.list({"lookup_keys": ["pro_monthly_test"]})] == [
        moved.id
    ]
    assert client.v1.prices.retrieve(flat.id).lookup_key is None

    by_product = client.v1.prices.list({"product": prod.id, "limit": 100})
    assert [p.id for p in by_product.data] == [moved.id, per_call.id, flat.id]

    with pytest.raises(stripe.InvalidRequestError):
        client.v1.products.delete(prod.id)  # it has prices

    inline = client.v1.prices.create(
        {"product_data": {"name": "Seats"}, "currency": "usd", "unit_amount": 500}
    )
    assert client.v1.products.retrieve(inline.product).name == "Seats"

    upd = client.v1.prices.update(flat.id, {"active": False, "metadata": {"tier": ""}})
    assert upd.active is False and upd.metadata.to_dict() == {}


def test_subscription_lifecycle(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    price = client.v1.prices.create(
        {
            "product_data": {"name": "Platform fee"},
            "currency": "usd",
            "unit_amount": 4900,
            "recurring": {"interval": "month"},
        }
    )
    sub = client.v1.subscriptions.create(
        {
            "customer": customer.id,
            "items": [{"price": price.id, "quantity": 3}],
            "metadata": {"contract": "C-1"},
        }
    )
    assert sub.id.startswith("sub_")
    assert sub.status == "active"
    assert sub.currency == "usd"
    item = sub["items"].data[0]
    assert item.id.startswith("si_")
    assert item.price.id == price.id and item.quantity == 3
    # a month from 2023-11-14T22:13:20Z (or later) is the same day next month
    assert item.current_period_end - item.current_period_start in (30 * 86400, 31 * 86400)

    listed = client.v1.subscriptions.list({"customer": customer.id})
    assert [s.id for s in listed] == [sub.id]

    canceled = client.v1.subscriptions.cancel(sub.id)
    assert canceled.status == "canceled"
    assert canceled.canceled_at is not None
    assert client.v1.subscriptions.list({"customer": customer.id}).data == []
    assert [
        s.id for s in client.v1.subscriptions.list({"customer": customer.id, "status": "all"})
    ] == [sub.id]
    assert [
        s.id for s in client.v1.subscriptions.list({"customer": customer.id, "status": "canceled"})
    ] == [sub.id]

    one_time = client.v1.prices.create(
        {"product": price.product, "currency": "usd", "unit_amount": 100}
    )
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": one_time.id}]})


def test_add_interval_clamps_month_ends() -> None:
    from ingestion.stripe_emulator.resources.subscriptions import add_interval

    jan31 = 1706659200  # 2024-01-31T00:00:00Z
    assert add_interval(jan31, "month", 1) == 1709164800  # 2024-02-29 (leap year)
    assert add_interval(jan31, "year", 1) == 1738281600  # 2025-01-31
    assert add_interval(jan31, "week", 2) == jan31 + 14 * 86400


def test_invoice_items_pricing(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    price = client.v1.prices.create(
        {"product_data": {"name": "GB"}, "currency": "usd", "unit_amount_decimal": "0.5"}
    )
    by_price = client.v1.invoice_items.create(
        {"customer": customer.id, "pricing": {"price": price.id}, "quantity": 7}
    )
    assert by_price.id.startswith("ii_")
    assert by_price.amount == 4  # 0.5 * 7 = 3.5, rounded half up
    assert by_price.currency == "usd"
    assert by_price.pricing.price_details.price == price.id
    assert by_price.invoice is None

    flat = client.v1.invoice_items.create(
        {
            "customer": customer.id,
            "amount": -300,
            "currency": "usd",
            "description": "Goodwill credit",
            "period": {"start": T0, "end": T0 + 86400},
            "metadata": {"reason": "outage"},
        }
    )
    assert flat.amount == -300
    assert flat.period.start == T0 and flat.period.end == T0 + 86400

    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.invoice_items.create({"customer": customer.id, "currency": "usd"})
    assert err.value.code == "parameter_missing"

    upd = client.v1.invoice_items.update(flat.id, {"amount": -250, "metadata": {"reason": ""}})
    assert upd.amount == -250 and upd.metadata.to_dict() == {}

    pending = client.v1.invoice_items.list({"customer": customer.id, "pending": True})
    assert [i.id for i in pending] == [flat.id, by_price.id]
    assert client.v1.invoice_items.delete(by_price.id).deleted is True
    assert [i.id for i in client.v1.invoice_items.list({"customer": customer.id})] == [flat.id]


def test_expand_customer(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    inv = client.v1.invoices.create({"customer": customer.id, "expand": ["customer"]})
    assert inv.customer.id == customer.id
    assert inv.customer.email == "ada@example.com"
    listed = client.v1.invoices.list({"customer": customer.id, "expand": ["data.customer"]})
    assert listed.data[0].customer.name == "Ada"
