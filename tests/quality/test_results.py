"""raw.check_failures is replaced per check at each run (a fixed defect clears), raw.check_runs logs every run,
and the event checks validate the loads after their last run plus the loads still failing. On an empty
in-memory warehouse with hand-made rows: no GX, no pipeline."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from ingestion.quality.events import EVENT_BATCH_CHECK, loads_to_check
from ingestion.quality.results import CheckFailure, CheckReport, Pin, RuleOutcome, record_reports
from ingestion.warehouse import ensure_raw_schema

T1, T2 = datetime(2026, 11, 2, 6), datetime(2026, 11, 3, 6)


@pytest.fixture
def con():
    c = duckdb.connect()
    ensure_raw_schema(c)
    for load_id in (1, 2, 3):
        c.execute(
            "insert into raw.event_loads values (?, 1, ?, ?, 'jsonl', 10, 1, 1, 0, ?)",
            [load_id, f"f{load_id}.jsonl", f"sha{load_id}", T1],
        )
    yield c
    c.close()


def _report(failures: list[CheckFailure], max_load_id: int | None) -> CheckReport:
    return CheckReport(
        check_name=EVENT_BATCH_CHECK,
        asset_key="raw/events",
        rows_checked=3,
        outcomes=[RuleOutcome("event_id is not blank", "x", success=not failures)],
        failures=failures,
        max_load_id=max_load_id,
    )


def test_failures_are_replaced_per_check_and_every_run_is_logged(con):
    bad = CheckFailure(
        EVENT_BATCH_CHECK, "raw/events", Pin("cus_a", None, T1, 2), 1, "event_id is blank"
    )
    other = CheckFailure("invoice_suite", "billing/fct_invoices", Pin("cus_b", "2026-10"), 1, "x")
    record_reports(con, [_report([bad], 3)], checked_at=T1, run_id="r1")
    record_reports(
        con,
        [
            CheckReport(
                "invoice_suite",
                "billing/fct_invoices",
                5,
                [RuleOutcome("r", "x", False)],
                [other],
            )
        ],
        checked_at=T1,
        run_id="r1",
    )
    assert con.execute(
        "select check_name, customer_id, billing_month, since_loaded_at, load_id, run_id "
        "from raw.check_failures order by check_name"
    ).fetchall() == [
        (EVENT_BATCH_CHECK, "cus_a", None, T1, 2, "r1"),
        ("invoice_suite", "cus_b", "2026-10", None, None, "r1"),
    ]
    # the event check passes at the next run: its rows go, the other check's stay
    record_reports(con, [_report([], 3)], checked_at=T2, run_id="r2")
    assert con.execute("select check_name from raw.check_failures").fetchall() == [
        ("invoice_suite",)
    ]
    assert con.execute(
        "select run_id, passed, blockers, max_load_id from raw.check_runs "
        "where check_name = ? order by checked_at",
        [EVENT_BATCH_CHECK],
    ).fetchall() == [("r1", False, 1, 3), ("r2", True, 0, 3)]


def test_the_event_checks_validate_new_loads_and_loads_still_failing(con):
    # never run: every load, and the newest is 3
    assert loads_to_check(con, EVENT_BATCH_CHECK) == ([1, 2, 3], 3)
    bad = CheckFailure(EVENT_BATCH_CHECK, "raw/events", Pin("cus_a", None, T1, 2), 1, "blank")
    record_reports(con, [_report([bad], 3)], checked_at=T1, run_id="r1")
    # load 2 still fails; 1 and 3 passed
    assert loads_to_check(con, EVENT_BATCH_CHECK) == ([2], 3)
    con.execute(
        "insert into raw.event_loads values (4, 2, 'f4.jsonl', 'sha4', 'jsonl', 10, 1, 1, 0, ?)",
        [T2],
    )
    assert loads_to_check(con, EVENT_BATCH_CHECK) == ([2, 4], 4)
    record_reports(con, [_report([], 4)], checked_at=T2, run_id="r2")
    assert loads_to_check(con, EVENT_BATCH_CHECK) == ([], 4)
