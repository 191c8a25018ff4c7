"""Fixtures: one emulator per test module (port 0, frozen clock) and SDK clients for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe

from ingestion.stripe_emulator import EmulatorServer, client_for

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z, the frozen emulator clock's start


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    state = tmp_path_factory.mktemp("stripe_emulator") / "state.json"
    with EmulatorServer(state_path=state, clock_start=T0) as server:
        yield server


@pytest.fixture
def client(srv: EmulatorServer) -> stripe.StripeClient:
    """No SDK retries: every request the test makes is exactly one HTTP request."""
    return client_for(srv.url, max_network_retries=0)


@pytest.fixture
def retrying(srv: EmulatorServer) -> stripe.StripeClient:
    """The SDK's own retries (3), with a short deterministic backoff."""
    return client_for(srv.url, max_network_retries=3, retry_delay=0.05, timeout=5)


@pytest.fixture
def customer(client: stripe.StripeClient) -> stripe.Customer:
    return client.v1.customers.create({"email": "ada@example.com", "name": "Ada"})
