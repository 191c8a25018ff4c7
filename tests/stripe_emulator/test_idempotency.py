"""Idempotent requests as Stripe documents them, through the SDK and raw HTTP."""

from __future__ import annotations

import threading
import time

import pytest
import requests
import stripe

from ingestion.stripe_emulator import EmulatorServer


def _count(srv: EmulatorServer, kind: str = "customer") -> int:
    return len(srv.objects(kind))


def test_replay_returns_the_stored_object(srv: EmulatorServer, client: stripe.StripeClient) -> None:
    before = _count(srv)
    srv.clear_request_log()
    first = client.v1.customers.create({"email": "idem@example.com"}, {"idempotency_key": "idem-1"})
    again = client.v1.customers.create({"email": "idem@example.com"}, {"idempotency_key": "idem-1"})
    assert again.id == first.id
    assert _count(srv) == before + 1
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert [(e.status, e.replayed, e.idempotency_key) for e in srv.request_log] == [
        (200, False, "idem-1"),
        (200, True, "idem-1"),
    ]


def test_different_params_or_endpoint_is_idempotency_error(client: stripe.StripeClient) -> None:
    client.v1.customers.create({"name": "A"}, {"idempotency_key": "idem-2"})
    with pytest.raises(stripe.IdempotencyError) as err:
        client.v1.customers.create({"name": "B"}, {"idempotency_key": "idem-2"})
    assert err.value.http_status == 400
    assert "same parameters" in str(err.value)
    with pytest.raises(stripe.IdempotencyError) as err:
        client.v1.products.create({"name": "A"}, {"idempotency_key": "idem-2"})
    assert "same endpoint" in str(err.value)


def test_keys_are_scoped_per_api_key(srv: EmulatorServer, client: stripe.StripeClient) -> None:
    from ingestion.stripe_emulator import client_for

    other = client_for(srv.url, "sk_test_other_account", max_network_retries=0)
    a = client.v1.customers.create({"name": "A"}, {"idempotency_key": "idem-3"})
    b = other.v1.customers.create({"name": "B"}, {"idempotency_key": "idem-3"})
    assert a.id != b.id


def test_validation_errors_are_not_stored(srv: EmulatorServer, client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create({})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoice_items.create({"customer": cus.id}, {"idempotency_key": "idem-4"})
    item = client.v1.invoice_items.create(
        {"customer": cus.id, "amount": 10, "currency": "usd"}, {"idempotency_key": "idem-4"}
    )
    assert item.amount == 10


def test_keys_expire_after_24_hours(srv: EmulatorServer, client: stripe.StripeClient) -> None:
    first = client.v1.customers.create({"name": "exp"}, {"idempotency_key": "idem-5"})
    srv.advance_clock(24 * 3600 - 1)
    assert client.v1.customers.create({"name": "exp"}, {"idempotency_key": "idem-5"}).id == first.id
    srv.advance_clock(2)  # now 24h + 1s after the first request
    before = _count(srv)
    fresh = client.v1.customers.create({"name": "exp"}, {"idempotency_key": "idem-5"})
    assert fresh.id != first.id
    assert _count(srv) == before + 1


def test_stored_500_replays_as_500(srv: EmulatorServer, client: stripe.StripeClient) -> None:
    before = _count(srv)
    srv.inject_fault("500_after", "/v1/customers")
    with pytest.raises(stripe.APIError) as err:
        client.v1.customers.create({"name": "boom"}, {"idempotency_key": "idem-6"})
    assert err.value.http_status == 500
    assert err.value.headers["Stripe-Should-Retry"] == "false"
    assert _count(srv) == before + 1  # the write happened
    with pytest.raises(stripe.APIError) as err:
        client.v1.customers.create({"name": "boom"}, {"idempotency_key": "idem-6"})
    assert err.value.http_status == 500
    assert err.value.headers["Idempotent-Replayed"] == "true"
    assert _count(srv) == before + 1


def test_key_in_flight_is_409(srv: EmulatorServer) -> None:
    url = f"{srv.url}/v1/customers"
    headers = {"Authorization": "Bearer sk_test_raw", "Idempotency-Key": "idem-7"}
    srv.inject_fault("timeout", "/v1/customers", seconds=0.6)
    results: dict[str, requests.Response] = {}

    def first() -> None:
        results["first"] = requests.post(url, data={"name": "slow"}, headers=headers, timeout=5)

    thread = threading.Thread(target=first)
    thread.start()
    time.sleep(0.2)
    clash = requests.post(url, data={"name": "slow"}, headers=headers, timeout=5)
    assert clash.status_code == 409
    assert clash.json()["error"]["type"] == "idempotency_error"
    assert clash.json()["error"]["code"] == "idempotency_key_in_use"
    thread.join()
    assert results["first"].status_code == 200
    replay = requests.post(url, data={"name": "slow"}, headers=headers, timeout=5)
    assert replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == results["first"].json()["id"]


def test_get_ignores_idempotency_keys(srv: EmulatorServer) -> None:
    headers = {"Authorization": "Bearer sk_test_raw", "Idempotency-Key": "idem-8"}
    for _ in range(2):
        got = requests.get(f"{srv.url}/v1/customers?limit=1", headers=headers, timeout=5)
        assert got.status_code == 200
        assert "Idempotent-Replayed" not in got.headers
