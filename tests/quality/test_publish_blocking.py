"""Blocking per customer and billing month, end to end (the session fixture, tests/quality/conftest.py):
a row planted in raw.events for one customer stops that customer's publication in the same close run while
every other invoice of the month goes out; once the load is removed, the next run publishes it, once."""

from __future__ import annotations

import dagster as dg

from ingestion.warehouse import connect

from .conftest import MONTH


def _months_of(db_path, customer: str) -> set[str]:
    """Every billing month with a document of the customer (all issued in run 1, after the planted load)."""
    con = connect(db_path)
    try:
        rows = con.execute(
            """select billing_month from billing.fct_issued_invoices where customer_id = ?
            union select billing_month from billing.fct_credit_notes where customer_id = ?""",
            [customer, customer],
        ).fetchall()
    finally:
        con.close()
    return {r[0] for r in rows}


def test_the_failing_check_holds_back_its_customer_and_the_others_are_published(quality_run):
    run, first = quality_run, quality_run.first
    x = run.customer
    assert first.success
    x_invoices = sorted(i for i, c in run.issued.items() if c == x)
    others = {i for i, c in run.issued.items() if c != x}
    assert len(x_invoices) == 1, f"{x} should have one {MONTH} invoice: {run.issued}"
    assert len(others) >= 10  # the generated set issues one invoice per active customer in 2026-11

    # the check failed on the planted row, with it as the example in the check's metadata
    evaluation = first.checks[("raw/events", "event_batch_suite")]
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    examples = evaluation.metadata["failing_examples"].value
    assert [e["event_id"] for e in examples["event_at is on or after 2000-01-01"]] == [
        "evt_planted"
    ]
    assert evaluation.metadata["publish_blockers"].value == 1

    # billing.publish_blockers: X in every month of its documents (all issued after the planted load),
    # named by the check; nobody else
    assert {(c, m, n) for c, m, n, _ in first.blockers} == {
        (x, month, "event_batch_suite") for month in _months_of(run.db_path, x)
    }
    assert MONTH in {m for _, m, _, _ in first.blockers}

    # Stripe holds every other invoice of the month, not X's
    assert first.stripe_invoice_ids == others
    # and the publisher says which check stopped X's invoice, and why
    blocked = first.publication_metadata["blocked_documents"]
    assert [(b["document_id"], b["customer_id"], b["check_name"]) for b in blocked] == [
        (x_invoices[0], x, "event_batch_suite")
    ]
    assert "event_at is on or after 2000-01-01: 1 failing" in blocked[0]["reason"]
    assert "evt_planted" in blocked[0]["reason"]
    assert first.publication_metadata["published"] == len(others)
    assert first.publication_metadata["blocked"] == 1


def test_once_the_load_is_fixed_the_next_run_publishes_the_held_invoice_once(quality_run):
    run, fixed = quality_run, quality_run.fixed
    x_invoices = {i for i, c in run.issued.items() if c == run.customer}
    assert fixed.success
    assert fixed.checks[("raw/events", "event_batch_suite")].passed
    assert fixed.blockers == []
    assert fixed.stripe_invoice_ids == set(run.issued)
    # only X's invoice was created; the others were found published and not sent again
    assert fixed.stripe_invoice_posts == len(x_invoices) == 1
    assert fixed.publication_metadata["published"] == 1
    assert fixed.publication_metadata["already_published"] == len(run.issued) - 1
    assert "blocked_documents" not in fixed.publication_metadata


def test_every_other_check_passed_on_the_clean_generated_set(quality_run):
    """The run's asset checks: the GX suites, the freshness warnings and dbt's tests all pass on the generated
    data (its malformed rows were quarantined before any check saw them); only the planted row fails."""
    first = quality_run.first
    failed = sorted(k for k, e in first.checks.items() if not e.passed)
    assert failed == [("raw/events", "event_batch_suite")]
    names = {name for _, name in first.checks}
    assert {
        "load_accounting_suite",
        "invoice_suite",
        "invoice_line_suite",
        "stripe_invoices_suite",
        "stripe_customers_suite",
        "events_freshness",
        "usage_day_over_day",
        "issued_invoices_match_their_lines",
    } <= names
