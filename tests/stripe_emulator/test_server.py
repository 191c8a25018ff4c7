"""The HTTP layer: persistence, authentication, control endpoints, the CLI, the form parser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import stripe

from ingestion.stripe_emulator import EmulatorServer, client_for
from ingestion.stripe_emulator.forms import parse_form

REPO = Path(__file__).resolve().parents[2]


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "stripe.json"
    with EmulatorServer(state_path=state, clock_start=1_700_000_000) as first:
        client = client_for(first.url, max_network_retries=0)
        cus = client.v1.customers.create({"email": "keep@example.com"}, {"idempotency_key": "k-1"})
        inv = client.v1.invoices.create({"customer": cus.id})
        client.v1.invoices.add_lines(inv.id, {"lines": [{"amount": 4200}]})
        client.v1.invoices.finalize_invoice(inv.id)
        first.advance_clock(3600)
    assert json.loads(state.read_text())["version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["stripe.json"]  # no temp files left

    with EmulatorServer(state_path=state, clock_start=1_700_000_000) as second:
        client = client_for(second.url, max_network_retries=0)
        assert second.now() == 1_700_003_600  # the clock offset persisted too
        again = client.v1.invoices.retrieve(inv.id)
        assert (again.status, again.amount_due, again.number) == (
            "open",
            4200,
            f"{cus.invoice_prefix}-0001",
        )
        replay = client.v1.customers.create(
            {"email": "keep@example.com"}, {"idempotency_key": "k-1"}
        )
        assert replay.id == cus.id  # idempotency records persisted
        new = client.v1.customers.create({})
        assert new.id not in (cus.id,)
        assert [c.id for c in client.v1.customers.list()] == [new.id, cus.id]
        assert new.created == 1_700_003_600


def test_authentication(srv_raw: EmulatorServer) -> None:
    resp = requests.get(f"{srv_raw.url}/v1/customers", timeout=5)
    assert resp.status_code == 401
    assert resp.json()["error"]["type"] == "invalid_request_error"
    assert "API key" in resp.json()["error"]["message"]
    with pytest.raises(stripe.AuthenticationError) as err:
        client_for(srv_raw.url, "sk_live_nope", max_network_retries=0).v1.customers.list()
    assert err.value.http_status == 401
    basic = requests.get(f"{srv_raw.url}/v1/customers", auth=("sk_test_basic", ""), timeout=5)
    assert basic.status_code == 200
    assert basic.json()["object"] == "list"


def test_unknown_url_and_headers(srv_raw: EmulatorServer) -> None:
    headers = {"Authorization": "Bearer sk_test_raw"}
    resp = requests.get(f"{srv_raw.url}/v1/nothing_here", headers=headers, timeout=5)
    assert resp.status_code == 404
    assert "Unrecognized request URL" in resp.json()["error"]["message"]
    ok = requests.post(
        f"{srv_raw.url}/v1/customers",
        data="metadata[a]=1&preferred_locales[]=en&preferred_locales[]=fr",
        headers={
            **headers,
            "Content-Type": "application/x-www-form-urlencoded",
            "Idempotency-Key": "h-1",
        },
        timeout=5,
    )
    assert ok.status_code == 200
    assert ok.headers["Request-Id"].startswith("req_")
    assert ok.headers["Idempotency-Key"] == "h-1"
    assert ok.headers["Stripe-Version"] == stripe.api_version
    assert ok.json()["preferred_locales"] == ["en", "fr"]
    assert ok.json()["metadata"] == {"a": "1"}


def test_control_endpoints(srv_raw: EmulatorServer) -> None:
    client = client_for(srv_raw.url, max_network_retries=0)
    cus = client.v1.customers.create({})
    now = requests.get(f"{srv_raw.url}/_emulator/clock", timeout=5).json()["now"]
    moved = requests.post(f"{srv_raw.url}/_emulator/clock", json={"advance": 90}, timeout=5).json()
    # the wall clock keeps running under the 90 s advance: allow a few seconds for a loaded machine
    assert now + 90 <= moved["now"] <= now + 95
    assert moved["now"] <= client.v1.customers.create({}).created <= moved["now"] + 5
    state = requests.get(f"{srv_raw.url}/_emulator/state", timeout=5).json()
    assert cus.id in state["objects"]["customer"]
    logged = requests.get(f"{srv_raw.url}/_emulator/requests", timeout=5).json()["requests"]
    assert logged[-1]["path"] == "/v1/customers"
    assert requests.post(f"{srv_raw.url}/_emulator/reset", timeout=5).json() == {"reset": True}
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.retrieve(cus.id)
    assert srv_raw.request_log[-1].status == 404


def test_cli_module(tmp_path: Path) -> None:
    state = tmp_path / "cli.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingestion.stripe_emulator", "--state", str(state), "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" on ")[1].split()[0]
        client = client_for(url, max_network_retries=0)
        cus = client.v1.customers.create({"name": "cli"})
        assert cus.id.startswith("cus_")
        assert cus.id in json.loads(state.read_text())["objects"]["customer"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_parse_form() -> None:
    raw = (
        "items[0][price]=price_a&items[0][quantity]=2&items[1][price]=price_b"
        "&metadata[0]=zero&metadata[k]=&expand[]=lines&expand[]=customer"
        "&period[start]=1&period[end]=2&lookup_keys[1]=b&lookup_keys[0]=a&description="
    )
    assert parse_form(raw) == {
        "items": [{"price": "price_a", "quantity": "2"}, {"price": "price_b"}],
        "metadata": {"0": "zero", "k": ""},
        "expand": ["lines", "customer"],
        "period": {"start": "1", "end": "2"},
        "lookup_keys": ["a", "b"],
        "description": "",
    }
    assert parse_form("a%5Bb%5D=c%20d") == {"a": {"b": "c d"}}


@pytest.fixture(scope="module")
def srv_raw() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:  # in memory
        yield server
