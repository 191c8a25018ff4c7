"""Contract tests: the same publish, checked only through Stripe's API, against the emulator and against
Stripe's test mode when a test key is set (STRIPE_TEST_SECRET_KEY=sk_test_...; skipped otherwise, as here,
where nothing may reach the internet).

They read back only what Stripe's API returns (search by metadata, the invoice's lines), never the
emulator's internals, so a pass on both means the emulator behaves as Stripe does for what Meterhouse uses.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import duckdb
import pytest
import stripe

from ingestion.stripe_emulator import EmulatorServer, client_for
from ingestion.stripe_publish import ensure_demo_customers, publish_month

from .conftest import FAST, MAPPED, build_warehouse

JAN = "2026-01"
INV_A = "inv_a_20260131"
KEY = os.environ.get("STRIPE_TEST_SECRET_KEY", "")


@pytest.fixture(params=["emulator", "stripe_test_mode"], scope="module")
def contract_client(request) -> Iterator[stripe.StripeClient]:
    if request.param == "emulator":
        with EmulatorServer() as server:
            yield client_for(server.url, max_network_retries=0, timeout=5)
        return
    if not KEY.startswith("sk_test_"):
        pytest.skip(
            "set STRIPE_TEST_SECRET_KEY=sk_test_... to run the contract tests against Stripe's test mode"
        )
    yield stripe.StripeClient(KEY, stripe_version=stripe.api_version, max_network_retries=0)


def _published(client: stripe.StripeClient, invoice_id: str) -> list:
    found = client.v1.invoices.search(
        params={"query": f"metadata['meterhouse_invoice_id']:'{invoice_id}'"}
    )
    return [inv for inv in found.data if inv.status != "void"]


def test_publish_then_read_back_through_the_api(contract_client, tmp_path) -> None:
    con: duckdb.DuckDBPyConnection = build_warehouse(tmp_path / "warehouse.duckdb")
    try:
        ensure_demo_customers(con, contract_client, customer_ids=MAPPED, retry=FAST)
        first = publish_month(con, contract_client, JAN, retry=FAST)
        assert first.by_id(INV_A).outcome in ("published", "already_published")
        (invoice,) = _published(contract_client, INV_A)
        # the hand-made invoice (tests/stripe_publish/conftest.py): 4900 + 4321 + 13 (+ a zero line not sent)
        assert (invoice.total, invoice.currency, invoice.status) == (9234, "usd", "open")
        lines = contract_client.v1.invoices.line_items.list(invoice.id, params={"limit": 100})
        assert sorted(line.amount for line in lines.data) == [13, 4321, 4900]
        # a second run finds everything published and sends nothing
        again = publish_month(con, contract_client, JAN, retry=FAST)
        assert again.by_id(INV_A).outcome == "already_published"
        assert len(_published(contract_client, INV_A)) == 1
    finally:
        con.close()
