"""The benchmark's reading of a run's output (benchmarks/logparse.py): rows read and step times."""

from __future__ import annotations

from benchmarks.logparse import parse_run_log

RUN = "close_month_job - 8166f87c-b0ad-41bd-a08c-a33b08cdaca0"
LOG = f"""\
2026-11-26 04:15:17 +0000 - dagster - DEBUG - {RUN} - 10993 - event_files - STEP_START - Started execution of step "event_files".
2026-11-26 04:15:18 +0000 - dagster - INFO - {RUN} - event_files - [1/3] bench-incremental-1.jsonl: 10,000 rows read, 9,990 landed, 10 quarantined, in 0.2 s
2026-11-26 04:15:18 +0000 - dagster - INFO - {RUN} - event_files - [2/3] events-2025-11.jsonl.gz: skipped, same content already loaded
2026-11-26 04:15:18 +0000 - dagster - INFO - {RUN} - event_files - [3/3] small.csv: 7 rows read, 7 landed, 0 quarantined, in 0.0 s
2026-11-26 04:15:19 +0000 - dagster - DEBUG - {RUN} - 10993 - event_files - STEP_SUCCESS - Finished execution of step "event_files" in 1.5s.
2026-11-26 04:15:19 +0000 - dagster - DEBUG - {RUN} - 10993 - publish_gates - STEP_START - Started execution of step "publish_gates".
2026-11-26 04:15:23 +0000 - dagster - DEBUG - {RUN} - 10993 - publish_gates - STEP_SUCCESS - Finished execution of step "publish_gates" in 4.25s.
2026-11-26 04:15:24 +0000 - dagster - DEBUG - {RUN} - 10993 - RUN_SUCCESS - Finished execution of job "close_month_job".
"""


def test_rows_read_with_progress_prefix_and_thousands_separators():
    out = parse_run_log(LOG)
    assert (out.rows_read, out.rows_landed, out.rows_quarantined) == (10_007, 9_997, 10)
    assert (out.files_loaded, out.files_skipped) == (2, 1)


def test_each_step_once_with_dagster_s_duration():
    out = parse_run_log(LOG)
    assert [(s.name, s.status, s.seconds) for s in out.steps] == [
        ("event_files", "success", 1.5),
        ("publish_gates", "success", 4.25),
    ]
    assert out.run_status == "success"
