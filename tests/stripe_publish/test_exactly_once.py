"""Exactly once under faults: every crash point, stored 500s, expired keys, retries and 4xx."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import pytest
import stripe

from ingestion.stripe_emulator import EmulatorServer, client_for
from ingestion.stripe_publish import RetryPolicy, publish_month

from .conftest import FAST, NO_RETRY
from .support import (
    CN_A,
    INV_A,
    INV_A_DEC,
    INV_B,
    INV_J,
    JAN,
    assert_published_once,
    invoice_items,
    ledger_calls,
    ledger_state,
    posts,
    stripe_invoices,
)

ALL = (INV_A, INV_B, INV_J)
DAY = 86_400


def _rerun_ends_published(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection
) -> Any:
    srv.clear_request_log()
    report = publish_month(con, client, JAN, retry=FAST)
    assert report.ok, report.render()
    assert_published_once(srv, *ALL)
    return report


def _wrap(
    monkeypatch: pytest.MonkeyPatch, service: Any, name: str, before: Callable[[int], None]
) -> None:
    """Run ``before(n)`` ahead of the n-th call (1-based) of ``service.name``."""
    original = getattr(service, name)
    calls = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        before(calls["n"])
        return original(*args, **kwargs)

    monkeypatch.setattr(service, name, wrapper)


# --- crash points ---------------------------------------------------------------------------


def test_crash_before_create(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    srv.inject_fault("500_before", "/v1/invoices", "POST")  # the first create (inv_a)
    first = publish_month(con, client, JAN, retry=NO_RETRY)
    doc = first.by_id(INV_A)
    assert doc.outcome == "failed" and "server_error" in doc.error
    assert stripe_invoices(srv, INV_A) == []
    assert ledger_state(con, INV_A)[0] == "pending"

    report = _rerun_ends_published(srv, client, con)
    assert report.by_id(INV_A).outcome == "published"
    assert report.by_id(INV_B).outcome == "already_published"
    # the rerun reused the key of the create that never ran
    creates = [c for c in ledger_calls(con, INV_A) if c[0] == "create_invoice"]
    assert [(c[2], c[3]) for c in creates] == [
        (f"mh-{INV_A}-create", "server_error"),
        (f"mh-{INV_A}-create", "ok"),
    ]


def test_process_killed_after_stripe_created_the_invoice(
    srv: EmulatorServer,
    client: stripe.StripeClient,
    con: duckdb.DuckDBPyConnection,
    mapped,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The process dies between Stripe's answer and the ledger write: the ledger never knew."""
    original = client.v1.invoices.create

    def create_then_die(*args: Any, **kwargs: Any) -> Any:
        original(*args, **kwargs)
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(client.v1.invoices, "create", create_then_die)
    with pytest.raises(KeyboardInterrupt):
        publish_month(con, client, JAN, retry=FAST)
    monkeypatch.undo()
    assert len(stripe_invoices(srv, INV_A)) == 1
    assert ledger_state(con, INV_A) is None

    report = _rerun_ends_published(srv, client, con)
    assert report.by_id(INV_A).outcome == "resumed"
    assert len([e for e in posts(srv) if e.path == "/v1/invoices"]) == 2  # inv_b, inv_j only


def test_crash_after_create_connection_dropped(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    srv.inject_fault("drop_after_write", "/v1/invoices", "POST")
    first = publish_month(con, client, JAN, retry=NO_RETRY)
    assert first.by_id(INV_A).outcome == "failed"
    assert "connection_error" in first.by_id(INV_A).error
    drafts = stripe_invoices(srv, INV_A)
    assert len(drafts) == 1 and drafts[0]["status"] == "draft"

    report = _rerun_ends_published(srv, client, con)
    assert report.by_id(INV_A).outcome == "resumed"
    assert stripe_invoices(srv, INV_A)[0]["id"] == drafts[0]["id"]
    assert not [e for e in posts(srv) if e.path == "/v1/invoices"]  # found, not created again


def test_dropped_create_retried_in_the_same_run_replays_the_stored_success(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    srv.inject_fault("drop_after_write", "/v1/invoices", "POST")
    report = publish_month(con, client, JAN, retry=FAST)
    assert report.by_id(INV_A).outcome == "published"
    assert_published_once(srv, *ALL)
    creates = [c for c in ledger_calls(con, INV_A) if c[0] == "create_invoice"]
    assert [c[3] for c in creates] == ["connection_error", "ok_replayed"]


@pytest.mark.parametrize(
    ("fault", "first_outcome"),
    [("500_before", "failed"), ("drop_after_write", "failed"), ("500_after", "published")],
)
def test_crash_between_lines(
    srv: EmulatorServer,
    client: stripe.StripeClient,
    con: duckdb.DuckDBPyConnection,
    mapped,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    first_outcome: str,
) -> None:
    def fault_on_second_line(n: int) -> None:
        if n == 2:
            srv.inject_fault(fault, "/v1/invoiceitems", "POST")

    _wrap(monkeypatch, client.v1.invoice_items, "create", fault_on_second_line)
    first = publish_month(con, client, JAN, retry=NO_RETRY)
    monkeypatch.undo()
    doc = first.by_id(INV_A)
    assert doc.outcome == first_outcome, doc.error
    sid = stripe_invoices(srv, INV_A)[0]["id"]
    if first_outcome == "failed":
        assert [line.action for line in doc.lines] == [
            "added",
            "not_sent",
            "not_sent",
            "skipped_zero",
        ]
        assert stripe_invoices(srv, INV_A)[0]["status"] == "draft"
        assert len(invoice_items(srv, sid)) == (2 if fault == "drop_after_write" else 1)
        assert ledger_state(con, INV_A)[0] == "draft_created"
    else:  # the stored 500 was resolved by listing the draft's lines: the line was there
        line2 = [c for c in ledger_calls(con, INV_A) if c[0] == "add_line"][1]
        assert line2[3] == "stored_error"

    report = _rerun_ends_published(srv, client, con)
    rerun = report.by_id(INV_A)
    added = [line.line_id for line in rerun.lines if line.action == "added"]
    if first_outcome == "failed":
        assert rerun.outcome == "resumed"
        assert len(added) == (1 if fault == "drop_after_write" else 2)
        assert len([e for e in posts(srv) if e.path == "/v1/invoiceitems"]) == len(added)
    else:
        assert rerun.outcome == "already_published" and added == []
    assert len(invoice_items(srv, sid)) == 3


@pytest.mark.parametrize("fault", ["500_before", "drop_after_write", "500_after"])
def test_crash_before_finalize(
    srv: EmulatorServer,
    client: stripe.StripeClient,
    con: duckdb.DuckDBPyConnection,
    mapped,
    fault: str,
) -> None:
    srv.inject_fault(fault, "/v1/invoices/", "POST")  # only finalize posts under /v1/invoices/
    first = publish_month(con, client, JAN, retry=NO_RETRY)
    status = stripe_invoices(srv, INV_A)[0]["status"]
    if fault == "500_after":  # stored 500: the lookup saw it finalized
        assert first.by_id(INV_A).outcome == "published"
        assert status == "open"
    else:
        assert first.by_id(INV_A).outcome == "failed"
        assert status == ("draft" if fault == "500_before" else "open")
        assert ledger_state(con, INV_A)[0] == "lines_added"

    report = _rerun_ends_published(srv, client, con)
    rerun = report.by_id(INV_A)
    finalizes = [e for e in posts(srv) if e.path.endswith("/finalize")]
    if fault == "500_before":
        assert rerun.outcome == "resumed" and len(finalizes) == 1
    elif fault == "drop_after_write":
        assert rerun.outcome == "resumed" and finalizes == []
    else:
        assert rerun.outcome == "already_published" and finalizes == []
    assert posts(srv) == finalizes  # nothing else was written
    assert ledger_state(con, INV_A)[0] == "finalized"


# --- stored 500s ----------------------------------------------------------------------------


def test_stored_500_on_create_is_resolved_by_lookup_not_by_retrying_the_key(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    srv.inject_fault("500_after", "/v1/invoices", "POST")
    report = publish_month(con, client, JAN, retry=FAST)
    assert report.by_id(INV_A).outcome == "published"
    assert_published_once(srv, *ALL)
    key = f"mh-{INV_A}-create"
    assert [e.status for e in srv.request_log if e.idempotency_key == key] == [500]
    steps = [(c[0], c[3]) for c in ledger_calls(con, INV_A)]
    i = steps.index(("create_invoice", "stored_error"))
    assert steps[i + 1] == ("lookup", "ok")

    # a rerun within 24 h replays nothing: the ledger knows the invoice
    srv.clear_request_log()
    publish_month(con, client, JAN, retry=FAST)
    assert not any(e.idempotency_key == key for e in srv.request_log)


def test_stored_500_whose_object_is_gone_gets_a_new_key(
    srv: EmulatorServer,
    client: stripe.StripeClient,
    con: duckdb.DuckDBPyConnection,
    mapped,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stored 500, lookup unavailable, draft deleted by hand: the rerun must not replay the 500."""

    def stored_500_then_no_lookup(n: int) -> None:
        if n == 1:
            srv.inject_fault("500_after", "/v1/invoices", "POST")
            srv.inject_fault("500_before", "/v1/invoices/search", "GET")

    _wrap(monkeypatch, client.v1.invoices, "create", stored_500_then_no_lookup)
    first = publish_month(con, client, JAN, retry=NO_RETRY)
    monkeypatch.undo()
    assert first.by_id(INV_A).outcome == "failed"
    (draft,) = stripe_invoices(srv, INV_A)
    client.v1.invoices.delete(draft["id"])

    report = _rerun_ends_published(srv, client, con)
    assert report.by_id(INV_A).outcome == "published"
    creates = [(c[2], c[3]) for c in ledger_calls(con, INV_A) if c[0] == "create_invoice"]
    assert creates == [(f"mh-{INV_A}-create", "stored_error"), (f"mh-{INV_A}-create-k1", "ok")]


def test_stored_500_replayed_for_the_key_is_not_retried_forever(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    """The key's stored 500 is replayed on the first try; the lookup then finds the invoice."""
    sid = mapped["cus_a"]
    params = {
        "customer": sid,
        "currency": "usd",
        "auto_advance": False,
        "collection_method": "send_invoice",
        "days_until_due": 30,
        "pending_invoice_items_behavior": "exclude",
        "description": f"Meterhouse invoice {INV_A} ({JAN})",
        "metadata": {
            "meterhouse_invoice_id": INV_A,
            "meterhouse_billing_month": JAN,
            "meterhouse_customer_id": "cus_a",
        },
    }
    # an earlier publisher (whose ledger was lost) got a stored 500 for this very key
    srv.inject_fault("500_after", "/v1/invoices", "POST")
    with pytest.raises(stripe.APIError):
        client.v1.invoices.create(params, {"idempotency_key": f"mh-{INV_A}-create"})
    # and its draft was deleted, so the lookup finds nothing
    client.v1.invoices.delete(stripe_invoices(srv, INV_A)[0]["id"])
    srv.clear_request_log()
    report = publish_month(con, client, JAN, retry=FAST)
    assert report.by_id(INV_A).outcome == "published"
    creates = [(c[2], c[3]) for c in ledger_calls(con, INV_A) if c[0] == "create_invoice"]
    assert creates == [(f"mh-{INV_A}-create", "stored_error"), (f"mh-{INV_A}-create-k1", "ok")]
    replays = [e for e in srv.request_log if e.idempotency_key == f"mh-{INV_A}-create"]
    assert [(e.status, e.replayed) for e in replays] == [(500, True)]
    assert_published_once(srv, *ALL)


# --- days later -----------------------------------------------------------------------------


def test_rerun_after_the_keys_expired_creates_nothing_new(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    publish_month(con, client, JAN, retry=FAST)
    srv.advance_clock(25 * 3600)
    srv.clear_request_log()
    report = publish_month(con, client, JAN, retry=FAST)
    assert posts(srv) == []
    assert report.counts["already_published"] == 3
    assert_published_once(srv, *ALL)

    # even with the ledger lost, Stripe's own records stop any duplicate
    con.execute("drop table raw.stripe_publications; drop table raw.stripe_published_documents")
    srv.advance_clock(25 * 3600)
    srv.clear_request_log()
    report = publish_month(con, client, JAN, retry=FAST)
    assert posts(srv) == []
    assert report.counts["resumed"] == 3
    assert_published_once(srv, *ALL)


def test_crash_after_create_then_rerun_days_later(
    srv: EmulatorServer,
    client: stripe.StripeClient,
    con: duckdb.DuckDBPyConnection,
    mapped,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Draft made, second line made but unrecorded, keys expired: the lookup, not the key, saves us."""
    srv.inject_fault("drop_after_write", "/v1/invoices", "POST")
    publish_month(con, client, JAN, retry=NO_RETRY)  # inv_a: draft made, ledger has no id

    def drop_second(n: int) -> None:
        if n == 2:
            srv.inject_fault("drop_after_write", "/v1/invoiceitems", "POST")

    _wrap(monkeypatch, client.v1.invoice_items, "create", drop_second)
    publish_month(con, client, JAN, retry=NO_RETRY)  # inv_a: two lines made, one unrecorded
    monkeypatch.undo()
    srv.advance_clock(3 * DAY)
    report = _rerun_ends_published(srv, client, con)
    assert report.by_id(INV_A).outcome == "resumed"
    assert len([e for e in posts(srv) if e.path == "/v1/invoiceitems"]) == 1


# --- retries --------------------------------------------------------------------------------


def test_429_is_retried_with_the_same_key(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    srv.inject_fault("429", "/v1/invoices", "POST", times=2)
    slept: list[float] = []
    retry = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=1.0, sleep=slept.append)
    report = publish_month(con, client, JAN, retry=retry)
    assert report.by_id(INV_A).outcome == "published"
    key = f"mh-{INV_A}-create"
    assert [e.status for e in srv.request_log if e.idempotency_key == key] == [429, 429, 200]
    creates = [c[3] for c in ledger_calls(con, INV_A) if c[0] == "create_invoice"]
    assert creates == ["rate_limited", "rate_limited", "ok"]
    assert slept == [0.01, 0.02]  # exponential backoff
    assert_published_once(srv, *ALL)


def test_timeout_then_key_in_use_then_replay(
    srv: EmulatorServer, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    impatient = client_for(srv.url, max_network_retries=0, timeout=0.3)
    srv.inject_fault("timeout", "/v1/invoices", "POST", seconds=0.8)
    retry = RetryPolicy(max_attempts=8, base_delay=0.2, max_delay=0.4)
    report = publish_month(con, impatient, JAN, retry=retry)
    assert report.by_id(INV_A).outcome == "published"
    creates = [c[3] for c in ledger_calls(con, INV_A) if c[0] == "create_invoice"]
    assert creates[0] == "connection_error" and creates[-1] == "ok_replayed"
    assert set(creates[1:-1]) <= {"key_in_use"}
    assert_published_once(srv, *ALL)


def test_a_4xx_is_not_retried(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    # someone used the publisher's key for another request: Stripe answers 400 idempotency_error
    key = f"mh-{INV_A}-create"
    client.v1.invoices.create({"customer": mapped["cus_a"]}, {"idempotency_key": key})
    srv.clear_request_log()
    report = publish_month(con, client, JAN, retry=FAST)
    doc = report.by_id(INV_A)
    assert doc.outcome == "failed" and "client_error (HTTP 400)" in doc.error
    assert [e.status for e in srv.request_log if e.idempotency_key == key] == [400]
    assert stripe_invoices(srv, INV_A) == []
    assert report.by_id(INV_B).outcome == "published"  # the run goes on
    assert "HTTP 400" in ledger_state(con, INV_A)[4]  # last_error


def test_a_credit_note_stripe_refuses_is_failed_not_retried(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    con.execute("update billing.fct_credit_notes set total_amount_cents = 9999")
    publish_month(con, client, "2025-12", retry=FAST)
    srv.clear_request_log()
    report = publish_month(con, client, JAN, retry=FAST)
    doc = report.by_id(CN_A)
    assert doc.outcome == "failed" and "HTTP 400" in doc.error
    assert len([e for e in posts(srv) if e.path == "/v1/credit_notes"]) == 1
    assert srv.objects("credit_note") == []
    assert_published_once(srv, INV_A_DEC)
