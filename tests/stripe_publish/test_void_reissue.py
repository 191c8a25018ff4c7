"""An operator voids a published invoice and reissues a corrected one, with a reason, exactly once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb
import pytest
import stripe

from ingestion.stripe_emulator import EmulatorServer
from ingestion.stripe_publish import (
    OperationResult,
    invoice_command,
    publish_month,
    reissue_invoice,
    void_invoice,
)
from ingestion.warehouse import ensure_raw_schema

from .conftest import FAST, NO_RETRY
from .support import INV_A, INV_B, JAN, TOTALS, invoice_items, ledger_state, stripe_invoices

NOW = datetime(2026, 2, 3, 9, 30)
STORAGE_LINE = f"{INV_A}|fee_{INV_A}_3"


def _published(srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection):
    report = publish_month(con, client, JAN, retry=FAST)
    assert report.ok, report.render()
    (inv,) = stripe_invoices(srv, INV_A)
    return inv


def _void(con, client, reason: str = "storage billed at the wrong tier", **kw: Any):
    return void_invoice(
        con, client, INV_A, reason=reason, operator="alice", now=NOW, retry=FAST, **kw
    )


def _reissue(con, client, reason: str = "storage tier corrected", **kw: Any) -> OperationResult:
    kw.setdefault("retry", FAST)
    return reissue_invoice(con, client, INV_A, reason=reason, operator="alice", now=NOW, **kw)


def _operations(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        """select operation, invoice_id, stripe_invoice_id, replaced_stripe_invoice_id, reason,
               operator, status, error
        from raw.stripe_invoice_operations order by operation_seq"""
    ).fetchall()


def _correct_storage_line(con: duckdb.DuckDBPyConnection, cents: int = 20) -> int:
    """Meterhouse corrects the storage line of inv_a (13 -> ``cents``); returns the new total."""
    con.execute(
        "update billing.fct_issued_invoice_lines set amount_cents = ? where invoice_line_id = ?",
        [cents, STORAGE_LINE],
    )
    total = TOTALS[INV_A] - 13 + cents
    con.execute(
        "update billing.fct_issued_invoices set total_amount_cents = ? where invoice_id = ?",
        [total, INV_A],
    )
    return total


def _state(srv: EmulatorServer) -> list[tuple]:
    """Everything Stripe holds for inv_a: (id, status, total, reissue_of)."""
    return [
        (i["id"], i["status"], i["total"], i["metadata"].get("meterhouse_reissue_of"))
        for i in stripe_invoices(srv, INV_A)
    ]


def _snapshot(con: duckdb.DuckDBPyConnection, srv: EmulatorServer) -> tuple:
    return (
        _operations(con),
        ledger_state(con, INV_A),
        _state(srv),
        con.execute("select count(*) from raw.stripe_publications").fetchall(),
    )


def _one_replacement(srv: EmulatorServer, voided_id: str, total: int) -> dict:
    found = stripe_invoices(srv, INV_A)
    assert len(found) == 2, _state(srv)
    old, new = found
    assert old["id"] == voided_id and old["status"] == "void"
    assert new["status"] == "open" and new["total"] == total
    assert new["metadata"]["meterhouse_reissue_of"] == voided_id
    per_line = [i["metadata"]["meterhouse_invoice_line_id"] for i in invoice_items(srv, new["id"])]
    assert sorted(per_line) == sorted(set(per_line)) and len(per_line) == 3
    return new


def test_void_records_the_reason_and_publish_month_leaves_it_alone(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    original = _published(srv, client, con)

    result = _void(con, client)
    assert result.ok, result.render()
    assert result.stripe_invoice_id == original["id"] and result.stripe_status == "void"
    assert "Voided Stripe invoice" in result.render() and "reissue" in result.render()
    assert result.to_dict()["ok"] is True
    assert _state(srv) == [(original["id"], "void", TOTALS[INV_A], None)]
    assert _operations(con) == [
        (
            "void",
            INV_A,
            original["id"],
            None,
            "storage billed at the wrong tier",
            "alice",
            "ok",
            None,
        )
    ]
    assert ledger_state(con, INV_A)[:2] == ("voided", original["id"])
    keys = con.execute(
        "select idempotency_key, outcome from raw.stripe_publications where step = 'void'"
    ).fetchall()
    assert keys == [(f"mh-{INV_A}-void1", "ok")]

    # not silently republished
    report = publish_month(con, client, JAN, retry=FAST)
    doc = report.by_id(INV_A)
    assert (doc.outcome, doc.reason) == ("skipped", "voided_in_stripe")
    assert report.by_id(INV_B).outcome == "already_published"
    assert len(stripe_invoices(srv, INV_A)) == 1
    assert ledger_state(con, INV_A)[0] == "voided"


def test_refusals_change_nothing(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    # before anything is published: nothing to void, nothing to reissue
    ensure_raw_schema(con)  # the warehouse creates the operations table with the ledger
    assert _operations(con) == []
    res = _void(con, client)
    assert res.status == "refused" and "not published" in res.error
    assert _reissue(con, client).status == "refused"

    _published(srv, client, con)
    before = _snapshot(con, srv)
    for reason in ("", "   "):
        res = _void(con, client, reason=reason)
        assert res.status == "refused" and "reason is required" in res.error
        assert "Nothing was changed" in res.render()
    # reissue of an invoice never voided
    res = _reissue(con, client)
    assert res.status == "refused" and "never voided" in res.error and "void it first" in res.error
    assert _snapshot(con, srv) == before

    # void twice
    assert _void(con, client).ok
    before = _snapshot(con, srv)
    twice = _void(con, client, reason="again")
    assert twice.status == "refused" and "already void" in twice.error
    assert "reissue" in twice.error
    assert _snapshot(con, srv) == before

    # a paid invoice cannot be voided: a credit note instead
    (inv_b,) = stripe_invoices(srv, INV_B)
    client.v1.invoices.pay(inv_b["id"], {"paid_out_of_band": True})
    res = void_invoice(con, client, INV_B, reason="wrong", retry=FAST)
    assert res.status == "refused" and "paid" in res.error and "credit note" in res.error
    assert stripe_invoices(srv, INV_B)[0]["status"] == "paid"
    assert ledger_state(con, INV_B)[0] == "finalized"
    assert len(_operations(con)) == 1


def test_void_of_a_draft_is_refused(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    srv.inject_fault("500_before", "/v1/invoices/", "POST")  # inv_a's finalize fails
    report = publish_month(con, client, JAN, retry=NO_RETRY)
    assert report.by_id(INV_A).outcome == "failed"
    (draft,) = stripe_invoices(srv, INV_A)
    assert draft["status"] == "draft"
    res = _void(con, client)
    assert res.status == "refused" and "draft" in res.error
    assert stripe_invoices(srv, INV_A)[0]["status"] == "draft"
    assert _operations(con) == []


def test_reissue_publishes_one_corrected_replacement(
    srv: EmulatorServer,
    client: stripe.StripeClient,
    con: duckdb.DuckDBPyConnection,
    mapped,
    capsys: pytest.CaptureFixture[str],
) -> None:
    original = _published(srv, client, con)
    assert invoice_command(con, client, "void", INV_A, "storage billed at the wrong tier") == 0
    assert "Voided" in capsys.readouterr().out
    total = _correct_storage_line(con)

    result = _reissue(con, client)
    assert result.ok, result.render()
    new = _one_replacement(srv, original["id"], total)
    assert result.stripe_invoice_id == new["id"]
    assert result.replaced_stripe_invoice_id == original["id"]
    assert result.stripe_total == result.meterhouse_total == total
    assert new["customer"] == original["customer"]
    assert new["metadata"]["meterhouse_invoice_id"] == INV_A
    items = {i["metadata"]["meterhouse_invoice_line_id"]: i for i in invoice_items(srv, new["id"])}
    assert items[STORAGE_LINE]["amount"] == 20
    assert "Reissued" in result.render() and original["id"] in result.render()

    ops = _operations(con)
    assert [(o[0], o[2], o[3], o[4], o[6]) for o in ops] == [
        ("void", original["id"], None, "storage billed at the wrong tier", "ok"),
        ("reissue", new["id"], original["id"], "storage tier corrected", "ok"),
    ]
    state = ledger_state(con, INV_A)
    assert state[:4] == ("finalized", new["id"], total, total)

    # a second reissue: refused, never a second replacement
    again = _reissue(con, client, reason="once more")
    assert again.status == "refused" and "already reissued" in again.error
    assert invoice_command(con, client, "reissue", INV_A, "once more") == 1
    assert "Not reissued" in capsys.readouterr().out
    _one_replacement(srv, original["id"], total)
    assert len(_operations(con)) == 2

    # publish_month: the replacement is the published invoice
    report = publish_month(con, client, JAN, retry=FAST)
    assert report.ok, report.render()
    doc = report.by_id(INV_A)
    assert (doc.outcome, doc.stripe_id) == ("already_published", new["id"])
    _one_replacement(srv, original["id"], total)

    # void the replacement, reissue again: a second generation with its own keys
    second_void = _void(con, client, reason="wrong again")
    assert second_void.ok and second_void.stripe_invoice_id == new["id"]
    third = _reissue(con, client, reason="right now")
    assert third.ok, third.render()
    found = stripe_invoices(srv, INV_A)
    assert [i["status"] for i in found] == ["void", "void", "open"]
    assert found[2]["metadata"]["meterhouse_reissue_of"] == new["id"]
    keys = {
        k
        for (k,) in con.execute(
            "select distinct idempotency_key from raw.stripe_publications "
            "where step in ('void', 'reissue_create', 'reissue_finalize')"
        ).fetchall()
    }
    assert keys == {
        f"mh-{INV_A}-void1",
        f"mh-{INV_A}-void2",
        f"mh-{INV_A}-reissue1-create",
        f"mh-{INV_A}-reissue1-finalize",
        f"mh-{INV_A}-reissue2-create",
        f"mh-{INV_A}-reissue2-finalize",
    }


def test_reissue_accepts_an_invoice_voided_in_stripe_by_hand(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    original = _published(srv, client, con)
    client.v1.invoices.void_invoice(original["id"])
    res = _void(con, client)
    assert res.status == "refused" and "outside Meterhouse" in res.error
    result = _reissue(con, client)
    assert result.ok, result.render()
    _one_replacement(srv, original["id"], TOTALS[INV_A])
    assert [o[0] for o in _operations(con)] == ["reissue"]


def test_crash_after_the_replacement_was_created_then_rerun(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    original = _published(srv, client, con)
    assert _void(con, client).ok
    srv.inject_fault("drop_after_write", "/v1/invoices", "POST")  # the replacement's create
    first = _reissue(con, client, retry=NO_RETRY)
    assert first.status == "failed" and "connection_error" in first.error
    assert "run the same command again" in first.render()
    (draft,) = [i for i in stripe_invoices(srv, INV_A) if i["status"] == "draft"]
    assert invoice_items(srv, draft["id"]) == []
    assert [o[6] for o in _operations(con)] == ["ok", "failed"]

    rerun = _reissue(con, client)
    assert rerun.ok, rerun.render()
    assert rerun.resumed and rerun.stripe_invoice_id == draft["id"]
    _one_replacement(srv, original["id"], TOTALS[INV_A])
    assert [o[6] for o in _operations(con)] == ["ok", "failed", "ok"]
    assert _reissue(con, client).status == "refused"


def test_dropped_create_is_replayed_in_the_same_run(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    original = _published(srv, client, con)
    assert _void(con, client).ok
    srv.inject_fault("drop_after_write", "/v1/invoices", "POST")
    result = _reissue(con, client)
    assert result.ok, result.render()
    _one_replacement(srv, original["id"], TOTALS[INV_A])
    creates = con.execute(
        "select idempotency_key, outcome from raw.stripe_publications "
        "where step = 'reissue_create' order by call_seq"
    ).fetchall()
    assert creates == [
        (f"mh-{INV_A}-reissue1-create", "connection_error"),
        (f"mh-{INV_A}-reissue1-create", "ok_replayed"),
    ]


def test_process_killed_between_lines_then_rerun(
    srv: EmulatorServer,
    client: stripe.StripeClient,
    con: duckdb.DuckDBPyConnection,
    mapped,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = _published(srv, client, con)
    assert _void(con, client).ok
    create = client.v1.invoice_items.create
    calls = {"n": 0}

    def second_line_then_die(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        out = create(*args, **kwargs)
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return out

    monkeypatch.setattr(client.v1.invoice_items, "create", second_line_then_die)
    with pytest.raises(KeyboardInterrupt):
        _reissue(con, client)
    monkeypatch.undo()
    (draft,) = [i for i in stripe_invoices(srv, INV_A) if i["status"] == "draft"]
    assert len(invoice_items(srv, draft["id"])) == 2

    rerun = _reissue(con, client)
    assert rerun.ok and rerun.resumed, rerun.render()
    new = _one_replacement(srv, original["id"], TOTALS[INV_A])
    assert new["id"] == draft["id"]


def test_a_crashed_reissue_finished_by_publish_month_is_recorded_by_the_rerun(
    srv: EmulatorServer, client: stripe.StripeClient, con: duckdb.DuckDBPyConnection, mapped
) -> None:
    original = _published(srv, client, con)
    assert _void(con, client).ok
    srv.inject_fault("drop_after_write", "/v1/invoiceitems", "POST")
    assert _reissue(con, client, retry=NO_RETRY).status == "failed"

    report = publish_month(con, client, JAN, retry=FAST)
    assert report.ok, report.render()
    assert report.by_id(INV_A).outcome == "resumed"
    new = _one_replacement(srv, original["id"], TOTALS[INV_A])

    rerun = _reissue(con, client)
    assert rerun.ok and rerun.resumed and rerun.stripe_invoice_id == new["id"], rerun.render()
    assert "recorded now" in rerun.render()
    assert [o[6] for o in _operations(con)] == ["ok", "failed", "ok"]
    _one_replacement(srv, original["id"], TOTALS[INV_A])
    assert _reissue(con, client).status == "refused"


def test_a_reissue_whose_total_differs_is_not_finalized(
    srv: EmulatorServer,
    client: stripe.StripeClient,
    con: duckdb.DuckDBPyConnection,
    mapped,
) -> None:
    _published(srv, client, con)
    assert _void(con, client).ok
    # the lines no longer add up to the invoice total: refused before anything is sent
    con.execute(
        "update billing.fct_issued_invoice_lines set amount_cents = 99 where invoice_line_id = ?",
        [STORAGE_LINE],
    )
    res = _reissue(con, client)
    assert res.status == "refused" and "sum to" in res.error
    assert len(stripe_invoices(srv, INV_A)) == 1


def test_unknown_action(
    con: duckdb.DuckDBPyConnection, client: stripe.StripeClient, capsys: pytest.CaptureFixture
) -> None:
    assert invoice_command(con, client, "delete", INV_A, "x") == 1
    assert "unknown invoice action" in capsys.readouterr().out
