"""Re-runs and re-sent data never change what was billed (SEMANTICS.md "Events", "Invoices: issue, finality").

Starts from a copy of the scenarios data directory after its pipeline run (the session fixture), then, one
pipeline run per stage (three in all), each stage's state captured once:

    rerun      no new file                                                       -> nothing changes
    resent     the fixture file again under another name + a file of 20 retries  -> skipped / duplicates
    late       one September and one October event for cus_basic                 -> late_adjusted / billed

Expectations are worked out by hand from tests/fixtures/scenarios (see tests/test_scenarios.py). The
billing clock is pinned to 2026-10-05T00:00Z, so no run here makes a new invoice due.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from .conftest import FIXTURES, query

pytestmark = pytest.mark.slow

FIXTURE_EVENTS = FIXTURES / "scenarios" / "landing" / "events" / "2026-09-usage.jsonl"
RESENT_NAME = "resent/2026-09-usage-copy.jsonl"  # same content, another name (and a subfolder)
RETRIES_NAME = "2026-10-retries.jsonl"
LATE_NAME = "2026-10-late.jsonl"

# 1-based lines of the fixture file, all first versions billed by the first run (b1, b3..b6 api_calls;
# b7, b8 under Lago / CloudEvents aliases, b9 an epoch timestamp; p1..p12 users, seats, conns). b2 is left
# out on purpose (its second version is a conflict). Re-sent in reverse order: a new file content.
RETRY_LINES = [1, 3, 4, 5, 6, 9, 10, 11, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28]
RETRY_EVENT_IDS = {f"b{n}" for n in (1, 3, 4, 5, 6, 7, 8, 9)} | {f"p{n}" for n in range(1, 13)}

LATE_EVENTS = [
    # September is issued (inv_cus_basic_20261001, cut-off = the first load): late
    {
        "event_id": "late_sep",
        "customer_id": "cus_basic",
        "metric": "api_calls",
        "timestamp": "2026-09-15T12:00:00Z",
        "properties": {"region": "us"},
    },
    # October is still a draft (inv_cus_basic_20261101, issued on Nov 1)
    {
        "event_id": "late_oct",
        "customer_id": "cus_basic",
        "metric": "api_calls",
        "timestamp": "2026-10-02T12:00:00Z",
        "properties": {"region": "us"},
    },
]

# inv_cus_basic_20261001 (tests/test_scenarios.py): base 100.00 + api_calls default 4 x 0.015 = 0.06
# + eu 2 x 0.02 = 0.04 + gb 3.875 x 0.25 = 0.97
BASIC_SEPTEMBER_TOTAL = 10000 + 6 + 4 + 97


# cus_basic's October draft: the api_calls fee at the default price (region us or none), and any line
# pending there for an earlier, issued invoice (adjustments)
BASIC_OCTOBER_API_CALLS = """
    select units, events_count, amount_cents from billing.fct_invoice_lines
    where invoice_id = 'inv_cus_basic_20261101' and line_kind = 'fee'
      and billable_metric_code = 'api_calls' and filter_id is null
"""
BASIC_OCTOBER_ADJUSTMENTS = """
    select original_invoice_id, billable_metric_code, filter_id, units, amount_cents
    from billing.fct_invoice_lines
    where invoice_id = 'inv_cus_basic_20261101' and line_kind <> 'fee'
"""


def _run(data_dir: Path) -> None:
    from orchestration.cli import run_pipeline

    result = run_pipeline(data_dir)
    assert result.success


def _state(data_dir: Path) -> dict[str, list[tuple]]:
    """Every table these tests compare, full rows in a stable order (read from the writer's warehouse)."""
    db = data_dir / "warehouse.duckdb"
    sql = {
        "event_loads": "select * from raw.event_loads order by load_id",
        "events_count": "select count(*) from raw.events",
        "issued_invoices": "select * from billing.fct_issued_invoices order by invoice_id",
        "issued_lines": "select * from billing.fct_issued_invoice_lines order by all",
        "invoices": "select * from billing.fct_invoices order by invoice_id",
        "invoice_lines": "select * from billing.fct_invoice_lines order by invoice_line_id",
        "outcomes": "select load_id, row_number, event_id, outcome from usage.fct_event_outcomes order by 1, 2",
        "accounting": "select * from usage.rpt_load_accounting order by load_id",
        "basic_october_api_calls": BASIC_OCTOBER_API_CALLS,
        "basic_october_adjustments": BASIC_OCTOBER_ADJUSTMENTS,
    }
    return {name: query(db, q) for name, q in sql.items()}


def _accounting(data_dir: Path, file_name: str) -> dict:
    """The rpt_load_accounting row of one file's load, with the ledger's own counts, by column name."""
    from ingestion.warehouse import connect

    con = connect(data_dir / "warehouse.duckdb", read_only=True)
    try:
        cur = con.execute(
            """
            select a.*, l.rows_landed as ledger_rows_landed, l.rows_quarantined as ledger_rows_quarantined
            from usage.rpt_load_accounting as a join raw.event_loads as l using (load_id)
            where a.file_name = ?
            """,
            [file_name],
        )
        cols = [d[0] for d in cur.description]
        rows = cur.fetchall()
    finally:
        con.close()
    assert len(rows) == 1, f"expected one load of {file_name}, found {len(rows)}"
    return dict(zip(cols, rows[0], strict=True))


# --------------------------------------------------------------------------------------------------
# Stages (module-scoped, chained: each builds on the previous one's warehouse)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_dir(scenarios_dir, tmp_path_factory) -> Path:
    """A copy of the scenarios data directory after its first run (warehouse, snapshot and files)."""
    dest = tmp_path_factory.mktemp("idempotency")
    shutil.copytree(scenarios_dir, dest, dirs_exist_ok=True)
    return dest


@pytest.fixture(scope="module")
def baseline(data_dir) -> dict:
    return _state(data_dir)


@pytest.fixture(scope="module")
def rerun(data_dir, baseline) -> dict:
    """A second run with no new file."""
    _run(data_dir)
    return _state(data_dir)


@pytest.fixture(scope="module")
def resent(data_dir, rerun) -> dict:
    """The fixture file again under another name, and a new file of 20 retried events."""
    events = data_dir / "landing" / "events"
    (events / RESENT_NAME).parent.mkdir(parents=True)
    shutil.copyfile(FIXTURE_EVENTS, events / RESENT_NAME)
    lines = FIXTURE_EVENTS.read_text().splitlines()
    (events / RETRIES_NAME).write_text("".join(lines[n - 1] + "\n" for n in reversed(RETRY_LINES)))
    _run(data_dir)
    return _state(data_dir)


@pytest.fixture(scope="module")
def late(data_dir, resent) -> dict:
    """Late usage after September was issued: one September event, one October event."""
    events = data_dir / "landing" / "events"
    (events / LATE_NAME).write_text("".join(json.dumps(e) + "\n" for e in LATE_EVENTS))
    _run(data_dir)
    return _state(data_dir)


# --------------------------------------------------------------------------------------------------
# 4. A re-run without new files changes nothing
# --------------------------------------------------------------------------------------------------


def test_the_starting_point_is_the_hand_computed_one(baseline):
    issued = {r[0]: r for r in baseline["issued_invoices"]}
    assert len(issued) == 18  # the 18 invoices of tests/test_scenarios.py
    # one load (load_id 1) of the fixture file, identified by its SHA-256
    sha = hashlib.sha256(FIXTURE_EVENTS.read_bytes()).hexdigest()
    assert [(r[0], r[2], r[3]) for r in baseline["event_loads"]] == [
        (1, "2026-09-usage.jsonl", sha)
    ]
    assert baseline["events_count"] == [(56,)]  # 62 lines - 6 quarantined


def test_a_rerun_without_new_files_changes_nothing(baseline, rerun):
    assert rerun["issued_invoices"] == baseline["issued_invoices"]
    assert rerun["issued_lines"] == baseline["issued_lines"]
    assert rerun["event_loads"] == baseline["event_loads"]
    assert rerun["events_count"] == baseline["events_count"]
    assert rerun["invoices"] == baseline["invoices"]
    assert rerun["invoice_lines"] == baseline["invoice_lines"]
    assert rerun["outcomes"] == baseline["outcomes"]
    assert rerun["accounting"] == baseline["accounting"]


# --------------------------------------------------------------------------------------------------
# 1. The same file under another name is skipped by the ledger
# --------------------------------------------------------------------------------------------------


def test_the_same_file_under_another_name_is_skipped(data_dir, rerun, resent):
    before = rerun["event_loads"]
    after = resent["event_loads"]
    # the ledger keeps its rows as they were and gains one row only: the retries file (new content)
    assert after[: len(before)] == before
    assert [r[2] for r in after[len(before) :]] == [RETRIES_NAME]
    assert RESENT_NAME not in {r[2] for r in after}
    # ... and no event row comes from the copy: raw.events grew by the 20 retries only
    assert query(
        data_dir / "warehouse.duckdb",
        "select count(*) from raw.events where file_name = ?",
        [RESENT_NAME],
    ) == [(0,)]
    assert resent["events_count"] == [(rerun["events_count"][0][0] + len(RETRY_LINES),)]
    assert query(
        data_dir / "warehouse.duckdb",
        "select count(*) from raw.quarantined_events where file_name = ?",
        [RESENT_NAME],
    ) == [(0,)]


def test_issued_invoices_are_byte_for_byte_unchanged_after_resending(rerun, resent):
    assert resent["issued_invoices"] == rerun["issued_invoices"]
    assert resent["issued_lines"] == rerun["issued_lines"]
    assert resent["invoices"] == rerun["invoices"]  # fct_invoices: every status, totals included


# --------------------------------------------------------------------------------------------------
# 2. A file of retries: all duplicates, accounted for, nothing billed twice
# --------------------------------------------------------------------------------------------------


def test_retries_are_duplicates(data_dir, rerun, resent):
    old_loads = {r[0] for r in rerun["event_loads"]}
    (retries_load,) = [r[0] for r in resent["event_loads"] if r[2] == RETRIES_NAME]
    new_rows = [r for r in resent["outcomes"] if r[0] == retries_load]
    assert len(new_rows) == len(RETRY_LINES) == 20
    assert {r[2] for r in new_rows} == RETRY_EVENT_IDS
    assert {r[3] for r in new_rows} == {"duplicate"}
    # the rows loaded before keep their outcome (the first versions stay billed)
    assert [r for r in resent["outcomes"] if r[0] in old_loads] == rerun["outcomes"]
    assert len(resent["outcomes"]) == len(rerun["outcomes"]) + 20


def test_the_retries_load_is_balanced(data_dir, resent):
    acc = _accounting(data_dir, RETRIES_NAME)
    assert acc["rows_read"] == 20
    assert acc["quarantined_rows"] == 0 and acc["ledger_rows_quarantined"] == 0
    assert acc["landed_rows"] == 20 and acc["ledger_rows_landed"] == 20
    assert acc["outcome_rows"] == 20
    assert acc["duplicate_rows"] == 20
    assert acc["billed_rows"] == 0 and acc["late_adjusted_rows"] == 0 and acc["conflict_rows"] == 0
    assert acc["is_balanced"] is True


def test_retries_change_no_invoice_issued_or_draft(rerun, resent):
    assert resent["issued_invoices"] == rerun["issued_invoices"]
    assert resent["issued_lines"] == rerun["issued_lines"]
    assert resent["invoices"] == rerun["invoices"]  # drafts included
    assert resent["invoice_lines"] == rerun["invoice_lines"]


# --------------------------------------------------------------------------------------------------
# 3. Late events after issue
# --------------------------------------------------------------------------------------------------


def test_late_events_leave_the_issued_invoice_unchanged(data_dir, resent, late):
    # nothing new is due at the pinned clock (next issue: Oct 15 + 72 h), so every issued row stays
    assert late["issued_invoices"] == resent["issued_invoices"]
    assert late["issued_lines"] == resent["issued_lines"]
    db = data_dir / "warehouse.duckdb"
    assert query(
        db,
        "select total_amount_cents from billing.fct_issued_invoices where invoice_id = 'inv_cus_basic_20261001'",
    ) == [(BASIC_SEPTEMBER_TOTAL,)]
    assert query(
        db,
        "select invoice_status, total_amount_cents from billing.fct_invoices "
        "where invoice_id = 'inv_cus_basic_20261001'",
    ) == [("issued", BASIC_SEPTEMBER_TOTAL)]
    # the issued api_calls line at the default price still holds its 4 events (b1, b3, b6 + b2's first version)
    rows = query(
        db,
        """
        select units, events_count, amount_cents from billing.fct_issued_invoice_lines
        where invoice_id = 'inv_cus_basic_20261001' and billable_metric_code = 'api_calls' and filter_id is null
        """,
    )
    assert [(int(u), n, int(c)) for u, n, c in rows] == [(4, 4, 6)]


def test_late_event_outcomes(data_dir, late):
    by_id = {r[2]: r[3] for r in late["outcomes"] if r[2] in {"late_sep", "late_oct"}}
    assert by_id == {"late_sep": "late_adjusted", "late_oct": "billed"}
    acc = _accounting(data_dir, LATE_NAME)
    assert acc["rows_read"] == acc["landed_rows"] == acc["outcome_rows"] == 2
    assert acc["quarantined_rows"] == 0
    assert (acc["late_adjusted_rows"], acc["billed_rows"]) == (1, 1)
    assert acc["is_balanced"] is True


def test_the_october_event_is_on_the_october_draft(data_dir, resent, late):
    def fee(state):
        return [(int(u), n, int(c)) for u, n, c in state["basic_october_api_calls"]]

    # before: no October api_calls usage for cus_basic, the draft's fee line is at zero, nothing pending
    assert fee(resent) == [(0, 0, 0)]
    assert resent["basic_october_adjustments"] == []
    # after: 1 us call x 0.015 = 0.015 -> 2 cents (half away from zero)
    assert fee(late) == [(1, 1, 2)]
    db = data_dir / "warehouse.duckdb"
    assert query(
        db,
        "select invoice_status from billing.fct_invoices where invoice_id = 'inv_cus_basic_20261101'",
    ) == [("draft",)]


def test_the_late_september_event_waits_on_the_october_draft_as_an_adjustment(data_dir, late):
    """September's default api_calls line is now 5 x 0.015 = 0.075 -> 8 cents; 6 were issued: +2 cents,
    pending on the customer's next invoice (the October draft), naming the issued invoice."""
    rows = [(o, m, f, int(u), int(c)) for o, m, f, u, c in late["basic_october_adjustments"]]
    assert rows == [("inv_cus_basic_20261001", "api_calls", None, 1, 2)]
    # October draft: base 100.00 + October's call 0.02 + September's adjustment 0.02
    assert query(
        data_dir / "warehouse.duckdb",
        "select total_amount_cents from billing.fct_invoices where invoice_id = 'inv_cus_basic_20261101'",
    ) == [(10000 + 2 + 2,)]
