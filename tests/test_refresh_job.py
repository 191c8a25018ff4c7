"""`meterhouse run --job refresh`: the 15-minute refresh from the command line.

New events land on the scenarios warehouse (clock 2026-10-05: September is issued, October is the open
period). The refresh must load them and bring October's draft up to date, and must issue nothing: a late
September event waits for the next close, as an adjustment, and the issued ledger stays byte for byte.
"""

from __future__ import annotations

import json
import shutil

import pytest

from .conftest import query

# cus_basic is on basic_usd: api_calls 0.015 (0.02 with region eu), gb 0.25 per GB; base fee 100.00
NEW_EVENTS = [
    # October, the open period: 4 GB + 2 api_calls (us) + 1 api_call (eu)
    {"event_id": "r_gb", "customer_id": "cus_basic", "metric": "gb",
     "timestamp": "2026-10-03T09:00:00Z", "properties": {"gb": "4"}},
    {"event_id": "r_us1", "customer_id": "cus_basic", "metric": "api_calls",
     "timestamp": "2026-10-03T10:00:00Z", "properties": {"region": "us"}},
    {"event_id": "r_us2", "customer_id": "cus_basic", "metric": "api_calls",
     "timestamp": "2026-10-03T11:00:00Z", "properties": {"region": "us"}},
    {"event_id": "r_eu1", "customer_id": "cus_basic", "metric": "api_calls",
     "timestamp": "2026-10-04T10:00:00Z", "properties": {"region": "eu"}},
    # September, already issued: only the next close may bill it (as an adjustment)
    {"event_id": "r_late", "customer_id": "cus_basic", "metric": "api_calls",
     "timestamp": "2026-09-20T10:00:00Z", "properties": {"region": "us"}},
    # cus_ended's subscription ended Sep 20 (basic_usd): no next invoice to carry the adjustment, so it
    # waits as a standalone adjustment invoice that the next close issues: 0 -> 1 x 0.015 -> 2 cents
    {"event_id": "r_ended", "customer_id": "cus_ended", "metric": "api_calls",
     "timestamp": "2026-09-10T00:00:00Z", "properties": {}},
]  # fmt: skip
OCTOBER_DRAFT = "inv_cus_basic_20261101"
# by hand: 10000 base + 4 GB x 0.25 = 100 + 2 x 0.015 = 0.03 -> 3 + 1 x 0.02 -> 2, and the late September
# call previewed as an adjustment: September's us calls were issued as 4 x 0.015 = 0.06 -> 6; with the
# late one 5 x 0.015 = 0.075 -> 8 (half away from zero), so +2 on the next invoice
OCTOBER_BEFORE_CENTS = 10000
SEPTEMBER_ADJUSTMENT_CENTS = 8 - 6
OCTOBER_AFTER_CENTS = 10000 + 100 + 3 + 2 + SEPTEMBER_ADJUSTMENT_CENTS


def _ledger(db):
    return query(db, "select * from billing.fct_billing_ledger order by ledger_line_id")


def _draft_total(db) -> int:
    rows = query(
        db,
        "select sum(amount_cents), any_value(invoice_status) from billing.fct_invoice_lines "
        "where invoice_id = ?",
        [OCTOBER_DRAFT],
    )
    total, status = rows[0]
    assert status == "draft"
    return int(total)


@pytest.fixture(scope="module")
def refreshed(scenarios_dir, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("refresh")
    shutil.copytree(scenarios_dir, data_dir, dirs_exist_ok=True)
    snapshot = data_dir / "warehouse.read.duckdb"
    before = {
        "ledger": _ledger(snapshot),
        "draft": _draft_total(snapshot),
        "rows_read": query(snapshot, "select sum(rows_read) from raw.event_loads")[0][0],
    }
    landing = data_dir / "landing" / "events"
    tmp = landing / ".refresh.jsonl.part"
    tmp.write_text("".join(json.dumps(e) + "\n" for e in NEW_EVENTS))
    tmp.rename(landing / "2026-10-04-refresh.jsonl")
    return data_dir, before


@pytest.fixture(scope="module")
def refresh_output(refreshed):
    import contextlib
    import io

    from orchestration.cli import main

    data_dir, _ = refreshed
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["run", "--data-dir", str(data_dir), "--job", "refresh", "--format", "json"])
    assert rc == 0, out.getvalue()[-3000:]
    text = out.getvalue()
    return json.loads(text[text.index("\n{") + 1 :] if not text.startswith("{") else text)


def test_the_scenarios_start_where_the_hand_figures_do(refreshed):
    _, before = refreshed
    assert before["draft"] == OCTOBER_BEFORE_CENTS


def test_refresh_loads_the_new_events_and_updates_the_open_draft(refreshed, refresh_output):
    data_dir, _ = refreshed
    snapshot = data_dir / "warehouse.read.duckdb"
    assert _draft_total(snapshot) == OCTOBER_AFTER_CENTS
    loaded = query(
        snapshot,
        "select event_id from raw.events where file_name like '%2026-10-04-refresh.jsonl' "
        "order by event_id",
    )
    assert [r[0] for r in loaded] == sorted(e["event_id"] for e in NEW_EVENTS)
    outcomes = dict(
        query(
            snapshot,
            "select event_id, outcome from usage.fct_event_outcomes "
            "where event_id in ('r_gb', 'r_us1', 'r_us2', 'r_eu1')",
        )
    )
    assert outcomes == dict.fromkeys(["r_gb", "r_us1", "r_us2", "r_eu1"], "billed")


def test_refresh_issues_nothing(refreshed, refresh_output):
    data_dir, before = refreshed
    # the late September event is previewed on the open draft, against the invoice it corrects ...
    adjustments = query(
        data_dir / "warehouse.read.duckdb",
        "select original_invoice_id, billable_metric_code, units, amount_cents "
        "from billing.fct_invoice_lines where invoice_id = ? and line_kind = 'adjustment'",
        [OCTOBER_DRAFT],
    )
    assert [(a, m, int(u), int(c)) for a, m, u, c in adjustments] == [
        ("inv_cus_basic_20261001", "api_calls", 1, SEPTEMBER_ADJUSTMENT_CENTS)
    ]
    # no next invoice for cus_ended: a standalone adjustment, due, dated by the build's clock (2026-10-05)
    standalone = query(
        data_dir / "warehouse.read.duckdb",
        "select invoice_id, invoice_status, issue_date, billing_month, total_amount_cents, "
        "is_standalone_adjustment from billing.fct_invoices where customer_id = 'cus_ended' "
        "and invoice_status <> 'issued'",
    )
    assert [(i, st, str(d), m, int(t), a) for i, st, d, m, t, a in standalone] == [
        ("inv_cus_ended_adj_pending", "due", "2026-10-05", "2026-10", 2, True)
    ]
    # ... and changes no issued line: only the next close issues them
    assert _ledger(data_dir / "warehouse.read.duckdb") == before["ledger"]
    assert _ledger(data_dir / "warehouse.duckdb") == before["ledger"]


def test_refresh_prints_the_run_summary(refreshed, refresh_output):
    _, before = refreshed
    events = refresh_output["events"]
    assert events["rows_read"] == before["rows_read"] + len(NEW_EVENTS)
    assert events["all_balanced"] is True


def test_stripe_emulator_only_with_the_close():
    from orchestration.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["run", "--data-dir", "/nonexistent", "--job", "refresh", "--stripe-emulator"])
    assert exc.value.code == 2
