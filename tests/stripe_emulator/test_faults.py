"""Each fault kind, and what a stripe-python 16 caller sees with and without SDK retries."""

from __future__ import annotations

import time

import pytest
import stripe

from ingestion.stripe_emulator import EmulatorServer, client_for


def _products(srv: EmulatorServer) -> int:
    return len(srv.objects("product"))


@pytest.fixture(autouse=True)
def _clean(srv: EmulatorServer) -> None:
    srv.faults.clear()
    srv.clear_request_log()


def _log(srv: EmulatorServer) -> list[tuple[int | None, bool, str | None]]:
    return [(e.status, e.replayed, e.fault) for e in srv.request_log]


def test_500_before(
    srv: EmulatorServer, client: stripe.StripeClient, retrying: stripe.StripeClient
) -> None:
    before = _products(srv)
    srv.inject_fault("500_before", "/v1/products")
    with pytest.raises(stripe.APIError) as err:
        client.v1.products.create({"name": "p"})
    assert err.value.http_status == 500
    assert _products(srv) == before  # nothing written

    srv.clear_request_log()
    srv.inject_fault("500_before", "/v1/products")
    prod = retrying.v1.products.create({"name": "p"})
    assert _products(srv) == before + 1
    assert _log(srv) == [(500, False, "500_before"), (200, False, None)]
    keys = {e.idempotency_key for e in srv.request_log}
    assert len(keys) == 1  # the SDK retried with the same key
    assert srv.objects("product")[-1]["id"] == prod.id


def test_500_after_is_not_retried_by_the_sdk(
    srv: EmulatorServer, retrying: stripe.StripeClient
) -> None:
    before = _products(srv)
    srv.inject_fault("500_after", "/v1/products")
    with pytest.raises(stripe.APIError):
        retrying.v1.products.create({"name": "p"})
    assert _log(srv) == [(500, False, "500_after")]  # Stripe-Should-Retry: false
    assert _products(srv) == before + 1


def test_drop_after_write(
    srv: EmulatorServer, client: stripe.StripeClient, retrying: stripe.StripeClient
) -> None:
    before = _products(srv)
    srv.inject_fault("drop_after_write", "/v1/products")
    with pytest.raises(stripe.APIConnectionError):
        client.v1.products.create({"name": "lost"}, {"idempotency_key": "drop-1"})
    assert _products(srv) == before + 1
    # the caller retries by hand with the same key and learns what was created
    prod = client.v1.products.create({"name": "lost"}, {"idempotency_key": "drop-1"})
    assert prod.id == srv.objects("product")[-1]["id"]
    assert _products(srv) == before + 1

    srv.clear_request_log()
    srv.inject_fault("drop_after_write", "/v1/products")
    prod = retrying.v1.products.create({"name": "auto"})
    assert _log(srv) == [(None, False, "drop_after_write"), (200, True, None)]
    assert _products(srv) == before + 2
    assert srv.objects("product")[-1]["id"] == prod.id


def test_timeout_then_409_then_replay(srv: EmulatorServer) -> None:
    before = _products(srv)
    impatient = client_for(srv.url, max_network_retries=0, timeout=0.25)
    srv.inject_fault("timeout", "/v1/products", seconds=0.5)
    with pytest.raises(stripe.APIConnectionError):
        impatient.v1.products.create({"name": "slow"})
    assert _products(srv) == before + 1  # written before the wait
    time.sleep(0.35)  # let the server finish that wait (and log the request) first

    srv.clear_request_log()
    patient = client_for(srv.url, max_network_retries=6, timeout=0.25, retry_delay=0.1)
    srv.inject_fault("timeout", "/v1/products", seconds=0.7)
    prod = patient.v1.products.create({"name": "slow"})
    assert _products(srv) == before + 2
    assert prod.id == srv.objects("product")[-1]["id"]
    statuses = [(e.status, e.replayed, e.fault) for e in srv.request_log]
    assert statuses[-1] == (200, True, None)  # the stored response, replayed
    assert (200, False, "timeout") in statuses  # the slow first attempt, answered too late
    assert (409, False, None) in statuses  # a retry while the first still ran
    assert len({e.idempotency_key for e in srv.request_log}) == 1


def test_429_rate_limit_and_lock_timeout(
    srv: EmulatorServer, retrying: stripe.StripeClient
) -> None:
    before = _products(srv)
    srv.inject_fault("429", "/v1/products")
    with pytest.raises(stripe.RateLimitError) as err:
        retrying.v1.products.create({"name": "busy"})
    assert err.value.http_status == 429
    assert err.value.headers["Stripe-Rate-Limited-Reason"] == "global-rate"
    assert _log(srv) == [(429, False, "429")]  # not retried
    assert _products(srv) == before

    srv.clear_request_log()
    srv.inject_fault("429", "/v1/products", times=2, code="lock_timeout")
    retrying.v1.products.create({"name": "locked"})
    assert _log(srv) == [(429, False, "429"), (429, False, "429"), (200, False, None)]
    assert _products(srv) == before + 1


def test_faults_match_method_and_path(srv: EmulatorServer, client: stripe.StripeClient) -> None:
    srv.inject_fault("500_before", "/v1/invoices", method="GET")
    client.v1.products.create({"name": "unaffected"})
    client.v1.invoices.create({"customer": client.v1.customers.create({}).id})
    with pytest.raises(stripe.APIError):
        client.v1.invoices.list()
    assert client.v1.invoices.list().object == "list"  # consumed once
    assert srv.faults.pending() == []


def test_fault_control_endpoint(srv: EmulatorServer, client: stripe.StripeClient) -> None:
    import requests

    resp = requests.post(
        f"{srv.url}/_emulator/faults",
        json={"kind": "500_before", "path": "/v1/customers", "times": 2},
        timeout=5,
    )
    assert resp.status_code == 200
    assert resp.json()["faults"][0]["times"] == 2
    for _ in range(2):
        with pytest.raises(stripe.APIError):
            client.v1.customers.create({})
    client.v1.customers.create({})
    bad = requests.post(f"{srv.url}/_emulator/faults", json={"kind": "nope"}, timeout=5)
    assert bad.status_code == 400
