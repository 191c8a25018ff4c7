"""Publishing a month: what is sent, dry runs, reruns, customers, blockers, credit notes, totals."""

from __future__ import annotations

import json

import duckdb
import stripe

from ingestion.stripe_emulator import EmulatorServer
from ingestion.stripe_publish import PUBLISH_DDL, ensure_publish_schema, publish_month

from .conftest import FAST, NO_RETRY
from .support import (
    CN_A,
    INV_A,
    INV_A_DEC,
    INV_B,
    INV_J,
    INV_X,
    JAN,
    assert_published_once,
    invoice_items,
    ledger_calls,
    ledger_state,
    posts,
    stripe_invoices,
)


def test_multi_line_invoice_with_fractional_units_at_a_sub_cent_price(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    report = publish_month(con, client, JAN, retry=FAST)

    doc = report.by_id(INV_A)
    assert doc.outcome == "published" and doc.error is None
    assert doc.stripe_total == doc.amount == 9234
    inv = assert_published_once(srv, INV_A)[INV_A]
    assert inv["customer"] == mapped["cus_a"]
    assert inv["currency"] == "usd"
    assert inv["collection_method"] == "send_invoice" and inv["auto_advance"] is False
    assert inv["metadata"]["meterhouse_billing_month"] == JAN
    assert inv["status"] == "open"

    items = {i["metadata"]["meterhouse_invoice_line_id"]: i for i in invoice_items(srv, inv["id"])}
    api = items[f"{INV_A}|fee_{INV_A}_2"]
    # 123456.789 units x 0.00035 USD = 43.20987615 -> 4321 cents, sent as the amount itself
    assert api["amount"] == 4321 and api["quantity"] == 1
    assert "123456.789 units x 0.00035 USD" in api["description"]
    assert "service 2026-01-01 to 2026-01-31" in api["description"]
    assert api["period"] == {"start": 1767225600, "end": 1769904000}
    assert items[f"{INV_A}|fee_{INV_A}_3"]["amount"] == 13
    assert items[f"{INV_A}|fee_{INV_A}_1"]["amount"] == 4900
    # the zero line is not sent, and reported
    zero = f"{INV_A}|fee_{INV_A}_4"
    assert zero not in items
    actions = {line.line_id: line.action for line in doc.lines}
    assert actions[zero] == "skipped_zero"
    assert sorted(a for k, a in actions.items() if k != zero) == ["added"] * 3

    assert ledger_state(con, INV_A)[:4] == ("finalized", inv["id"], 9234, 9234)
    steps = [c[0] for c in ledger_calls(con, INV_A)]
    assert steps.count("add_line") == 3 and steps.count("create_invoice") == 1
    assert steps.count("finalize") == 1 and steps[0] == "find_customer"
    keys = {c[2] for c in ledger_calls(con, INV_A) if c[2]}
    assert f"mh-{INV_A}-create" in keys and f"mh-{INV_A}-finalize" in keys


def test_jpy_invoice_amounts_are_whole_yen(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    report = publish_month(con, client, JAN, retry=FAST)
    assert report.by_id(INV_J).outcome == "published"
    inv = assert_published_once(srv, INV_J)[INV_J]
    assert inv["currency"] == "jpy" and inv["total"] == 3113
    amounts = sorted(i["amount"] for i in invoice_items(srv, inv["id"]))
    assert amounts == [113, 3000]  # 150.5 x 0.75 = 112.875 yen -> 113
    assert "JPY 3,113" in report.render()


def test_dry_run_sends_nothing_and_lists_what_would_be_sent(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    srv.clear_request_log()
    report = publish_month(con, client, JAN, dry_run=True, retry=FAST)
    assert posts(srv) == []
    assert srv.objects("invoice") == []
    assert report.dry_run
    doc = report.by_id(INV_A)
    assert doc.outcome == "would_publish"
    assert [(line.amount, line.action) for line in doc.lines] == [
        (4900, "would_add"),
        (4321, "would_add"),
        (13, "would_add"),
        (0, "skipped_zero"),
    ]
    assert report.by_id(INV_X).reason == "unmapped_customer"
    assert report.by_id(CN_A).reason == "original_not_published"
    # nothing written to the warehouse either
    tables = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'raw'"
    ).fetchall()[0][0]
    assert tables == 0
    text = report.render()
    assert "dry run" in text and "would_add" in text and "USD 43.21" in text


def test_dry_run_after_a_partial_publish_lists_only_the_missing_lines(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    srv.inject_fault("500_before", "/v1/invoices/", "POST")  # finalize of the first invoice
    publish_month(con, client, JAN, retry=NO_RETRY)
    srv.clear_request_log()
    report = publish_month(con, client, JAN, dry_run=True)
    assert posts(srv) == []
    doc = report.by_id(INV_A)
    assert doc.outcome == "would_publish" and "would resume draft" in (doc.reason or "")
    assert {line.action for line in doc.lines} == {"already_present", "skipped_zero"}
    assert report.by_id(INV_J).outcome == "already_published"


def test_rerun_publishes_nothing_new(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    first = publish_month(con, client, JAN, retry=FAST)
    assert first.counts == {"published": 3, "skipped": 2}
    srv.clear_request_log()
    second = publish_month(con, client, JAN, retry=FAST)
    assert posts(srv) == []
    assert second.stripe_writes == 0
    assert second.counts == {"already_published": 3, "skipped": 2}
    assert_published_once(srv, INV_A, INV_J, INV_B)
    doc = second.by_id(INV_A)
    assert {line.action for line in doc.lines} == {"already_present", "skipped_zero"}


def test_unmapped_customer_is_skipped(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    report = publish_month(con, client, JAN, retry=FAST)
    doc = report.by_id(INV_X)
    assert (doc.outcome, doc.reason) == ("skipped", "unmapped_customer")
    assert stripe_invoices(srv, INV_X) == []
    assert all(
        c["metadata"].get("meterhouse_customer_id") != "cus_x" for c in srv.objects("customer")
    )
    assert "unmapped_customer" in report.render()


def test_blocked_customer_is_skipped_with_the_check_and_reason(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    con.execute(
        """create table billing.publish_blockers as
        select * from (values
            ('cus_b', '2026-01', 'invoice_matches_lines', 'lines sum to 1800, total is 1900'),
            ('cus_b', '2025-12', 'other_month', 'does not apply to 2026-01'),
            ('cus_j', '2026-01', 'fx_rates_present', 'no JPY rate for 2026-01-01')
        ) as t(customer_id, billing_month, check_name, reason)"""
    )
    report = publish_month(con, client, JAN, retry=FAST)
    b = report.by_id(INV_B)
    assert (b.outcome, b.check_name, b.reason) == (
        "blocked",
        "invoice_matches_lines",
        "lines sum to 1800, total is 1900",
    )
    assert report.by_id(INV_J).check_name == "fx_rates_present"
    assert stripe_invoices(srv, INV_B) == [] and stripe_invoices(srv, INV_J) == []
    assert report.by_id(INV_A).outcome == "published"
    text = report.render()
    assert "blocked by invoice_matches_lines: lines sum to 1800, total is 1900" in text
    assert report.to_dict()["counts"]["blocked"] == 2


def test_a_blocker_without_customer_blocks_the_whole_month(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    con.execute(
        """create table billing.publish_blockers (customer_id varchar, billing_month varchar,
            check_name varchar, reason varchar)"""
    )
    con.execute(
        "insert into billing.publish_blockers values (null, '2026-01', 'load_complete', 'late file')"
    )
    srv.clear_request_log()
    report = publish_month(con, client, JAN, retry=FAST)
    assert {d.outcome for d in report.documents} == {"blocked"}
    assert {d.check_name for d in report.documents} == {"load_complete"}
    assert srv.request_log == []


def test_credit_note_against_a_published_invoice(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    early = publish_month(con, client, JAN, retry=FAST)
    assert (early.by_id(CN_A).outcome, early.by_id(CN_A).reason) == (
        "skipped",
        "original_not_published",
    )
    assert srv.objects("credit_note") == []

    dec = publish_month(con, client, "2025-12", retry=FAST)
    assert dec.by_id(INV_A_DEC).outcome == "published"
    original = assert_published_once(srv, INV_A_DEC)[INV_A_DEC]

    report = publish_month(con, client, JAN, retry=FAST)
    doc = report.by_id(CN_A)
    assert doc.outcome == "published", doc.error
    notes = srv.objects("credit_note")
    assert len(notes) == 1
    cn = notes[0]
    assert cn["invoice"] == original["id"] and cn["amount"] == 1200
    assert cn["metadata"]["meterhouse_credit_note_id"] == CN_A
    assert doc.stripe_id == cn["id"] and doc.stripe_invoice_id == original["id"]
    state = ledger_state(con, CN_A)
    assert state[0] == "issued" and state[5] == cn["id"] and state[3] == 1200
    after = client.v1.invoices.retrieve(original["id"])
    assert after.amount_remaining == 5500 - 1200

    srv.clear_request_log()
    again = publish_month(con, client, JAN, retry=FAST)
    assert again.by_id(CN_A).outcome == "already_published"
    assert posts(srv) == [] and len(srv.objects("credit_note")) == 1


def test_total_mismatch_is_detected_and_reported_with_both_amounts(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    srv.inject_fault("500_before", "/v1/invoices/", "POST")  # finalize of inv_a fails
    first = publish_month(con, client, JAN, retry=NO_RETRY)
    assert first.by_id(INV_A).outcome == "failed"
    draft = stripe_invoices(srv, INV_A)[0]
    assert draft["status"] == "draft"
    # someone adds a stray item to the draft in the Stripe dashboard
    client.v1.invoice_items.create(
        {"customer": draft["customer"], "invoice": draft["id"], "amount": 100, "currency": "usd"}
    )
    report = publish_month(con, client, JAN, retry=FAST)
    doc = report.by_id(INV_A)
    assert doc.outcome == "failed"
    assert "Stripe total 9334" in doc.error and "Meterhouse total 9234" in doc.error
    assert "USD 93.34" in doc.error and "USD 92.34" in doc.error
    assert "draft not finalized" in doc.error and "without a Meterhouse line id" in doc.error
    assert doc.stripe_total == 9334
    assert stripe_invoices(srv, INV_A)[0]["status"] == "draft"  # not finalized
    state = ledger_state(con, INV_A)
    assert state[0] == "total_mismatch" and state[2:4] == (9234, 9334)
    assert "9334" in state[4]
    assert not report.ok
    # the other invoices are unaffected
    assert_published_once(srv, INV_J, INV_B)


def test_report_to_dict_and_render(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    report = publish_month(con, client, JAN, retry=FAST)
    data = report.to_dict()
    json.dumps(data)  # plain data
    assert data["counts"] == {"published": 3, "skipped": 2}
    assert data["line_counts"] == {"added": 6, "not_sent": 2, "skipped_zero": 1}
    assert data["ok"] is True and data["stripe_writes"] == 3 + 6 + 3
    doc = next(d for d in data["documents"] if d["document_id"] == INV_A)
    assert doc["stripe_id"].startswith("in_") and doc["amount"] == 9234
    text = report.render()
    assert f"invoice {INV_A} (cus_a, USD 92.34): published -> {doc['stripe_id']}" in text
    assert "skipped_zero" in text and "original_not_published" in text


def test_publish_ddl_is_idempotent_and_documented(con: duckdb.DuckDBPyConnection) -> None:
    ensure_publish_schema(con)
    ensure_publish_schema(con)
    cols = dict(
        con.execute(
            """select column_name, data_type from information_schema.columns
            where table_schema = 'raw' and table_name = 'stripe_published_documents'"""
        ).fetchall()
    )
    assert cols["meterhouse_total_cents"] == "HUGEINT"
    assert "DOUBLE" not in set(cols.values()) and "FLOAT" not in set(cols.values())
    assert "raw.stripe_publications" in PUBLISH_DDL


def test_a_batch_limit_defers_the_rest_to_the_next_run(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    first = publish_month(con, client, JAN, retry=FAST, max_new=1)
    outcomes = {d.document_id: (d.outcome, d.reason) for d in first.documents}
    sent = [k for k, (o, _) in outcomes.items() if o == "published"]
    deferred = [
        k
        for k, (o, r) in outcomes.items()
        if o == "skipped" and (r or "").startswith("batch_limit")
    ]
    assert len(sent) == 1
    # every other invoice of the month waits, without a call to Stripe
    assert sorted(sent + deferred) == sorted(outcomes)
    second = publish_month(con, client, JAN, retry=FAST)
    again = {d.document_id: d.outcome for d in second.documents}
    assert again[sent[0]] == "already_published"
    assert {again[k] for k in deferred} <= {"published", "skipped"}  # cus_x stays unmapped
    assert again[INV_A] in ("published", "already_published")
    assert_published_once(srv, INV_A)
