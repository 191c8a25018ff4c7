"""The Dagster definitions, partitions, sensor, schedules, the single-writer lock and the read-only snapshot.

Fast: no pipeline run. Every expectation is worked out by hand from docs/contracts.md, SEMANTICS.md and the
scenarios fixture (issue instants of its invoices are the ones derived in tests/test_scenarios.py).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from .conftest import REPO

# --------------------------------------------------------------------------------------------------
# Definitions
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def defs(dbt_manifest):
    """`orchestration.definitions.defs` (needs the dbt manifest, parsed by the session fixture)."""
    from orchestration.definitions import defs

    return defs


def _key_named(keys, name: str) -> dg.AssetKey:
    """The one asset key whose last path element is `name` (dbt keys carry their schema as prefix)."""
    found = [k for k in keys if k.path[-1] == name]
    assert len(found) == 1, f"expected one asset named {name}, found {found}"
    return found[0]


def test_definitions_load_and_validate(defs):
    dg.Definitions.validate_loadable(defs)  # raises on any invalid definition

    jobs = {j.name for j in defs.resolve_all_job_defs()}
    assert "close_month_job" in jobs
    assert defs.resolve_job_def("close_month_job").name == "close_month_job"

    assert defs.resolve_sensor_def("landing_files_sensor").job_name == "close_month_job"
    assert defs.resolve_schedule_def("daily_close_schedule").job_name == "close_month_job"
    assert defs.resolve_schedule_def("monthly_close_schedule").job_name == "close_month_job"


def test_assets_form_one_graph_from_raw_files_to_invoices(defs):
    graph = defs.resolve_asset_graph()
    keys = set(graph.get_all_asset_keys())

    raw_events = dg.AssetKey(["raw", "events"])
    assert raw_events in keys
    # the Python ingestion asset materializes raw.events (it is not an external source)
    assert graph.get(raw_events).is_materializable

    fct_invoices = _key_named(keys, "fct_invoices")
    fct_issued = _key_named(keys, "fct_issued_invoices")
    assert graph.get(fct_invoices).is_materializable and graph.get(fct_issued).is_materializable

    # the dbt source raw.events *is* the Python asset: the staging model depends on that very key
    stg = _key_named(keys, "stg_events__usage_events")
    assert raw_events in graph.get(stg).parent_keys
    # ...and there is no second, dbt-only key for the source
    assert [k for k in keys if k.path[-1] == "events"] == [raw_events]

    # invoices are downstream of the raw events (one graph, no island)
    assert raw_events in graph.get_ancestor_asset_keys(fct_invoices)
    assert raw_events in graph.get_ancestor_asset_keys(fct_issued)


def test_the_close_job_loads_files_and_issues(defs):
    """Every run issues what is due: the reporting models read the ledger, so a job without the issuing
    step could not build them on a fresh warehouse."""
    from orchestration.assets.dbt import dbt_issued

    close = defs.resolve_job_def("close_month_job")
    close_keys = set(close.asset_layer.executable_asset_keys)
    assert set(dbt_issued.keys) <= close_keys
    assert dg.AssetKey(["raw", "events"]) in close_keys


# --------------------------------------------------------------------------------------------------
# Partitions
# --------------------------------------------------------------------------------------------------


def test_billing_month_partitions_are_monthly_in_utc(dbt_manifest):
    from orchestration.partitions import billing_month_partitions, month_label

    assert isinstance(billing_month_partitions, dg.MonthlyPartitionsDefinition)
    assert billing_month_partitions.timezone == "UTC"
    keys = billing_month_partitions.get_partition_keys(
        current_time=datetime(2026, 11, 25, 21, tzinfo=UTC)
    )
    # from the default start (2024-01) to the current month included (an invoice issued today belongs to it):
    # 2024: 12, 2025: 12, 2026 Jan..Nov: 11
    assert keys[0] == "2024-01-01"
    assert keys[-1] == "2026-11-01"
    assert len(keys) == 12 + 12 + 11
    assert keys[keys.index("2026-09-01") + 1] == "2026-10-01"
    assert month_label("2026-09-01") == "2026-09"


def test_only_issuing_and_publishing_are_partitioned(defs):
    from orchestration.assets.dbt import dbt_issued
    from orchestration.assets.stripe import PUBLISHED_KEY, stripe_publication
    from orchestration.partitions import billing_month_partitions

    assert dbt_issued.partitions_def == billing_month_partitions
    assert stripe_publication.partitions_def == billing_month_partitions
    graph = defs.resolve_asset_graph()
    partitioned = {k for k in graph.get_all_asset_keys() if graph.get(k).partitions_def is not None}
    assert partitioned == set(dbt_issued.keys) | {PUBLISHED_KEY}


# --------------------------------------------------------------------------------------------------
# Sensor
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def landing(tmp_path, monkeypatch):
    monkeypatch.setenv("MH_DATA_DIR", str(tmp_path))
    events = tmp_path / "landing" / "events"
    events.mkdir(parents=True)
    return events


def _tick(cursor: str | None = None):
    from orchestration.definitions import defs
    from orchestration.sensors import landing_files_sensor

    context = dg.build_sensor_context(cursor=cursor, repository_def=defs.get_repository_def())
    return landing_files_sensor.evaluate_tick(context)


LINE = '{"event_id":"s1","customer_id":"cus_basic","metric":"api_calls","timestamp":"2026-09-02T10:00:00Z"}\n'


def test_sensor_requests_a_run_only_for_new_finished_files(landing, dbt_manifest):
    from orchestration.sensors import landing_files_sensor

    assert landing_files_sensor.job_name == "close_month_job"

    # nothing landed yet: skip
    empty = _tick()
    assert empty.run_requests == [] and empty.skip_message

    # a finished file: one run request (for the sensor's job, close_month_job, the current month)
    (landing / "2026-09-a.jsonl").write_text(LINE)
    first = _tick()
    assert len(first.run_requests) == 1
    assert first.run_requests[0].job_name in (None, "close_month_job")
    assert first.run_requests[0].partition_key == datetime.now(UTC).strftime("%Y-%m-01")
    assert first.run_requests[0].tags["meterhouse/landing_files"] == "1"
    assert first.cursor

    # the same listing again with the cursor: skip, cursor kept
    again = _tick(first.cursor)
    assert again.run_requests == [] and again.skip_message
    assert again.cursor == first.cursor

    # files still being written next to it change nothing
    (landing / ".2026-09-b.jsonl.tmp").write_text(LINE)
    (landing / "_2026-09-c.jsonl").write_text(LINE)
    (landing / "2026-09-d.jsonl.part").write_text(LINE)
    assert _tick(first.cursor).run_requests == []

    # the writer renames its temp file when done: a new run request
    (landing / ".2026-09-b.jsonl.tmp").rename(landing / "2026-09-b.jsonl")
    second = _tick(first.cursor)
    assert len(second.run_requests) == 1
    assert second.run_requests[0].tags["meterhouse/landing_files"] == "2"
    assert second.cursor != first.cursor
    assert second.run_requests[0].run_key != first.run_requests[0].run_key


def test_sensor_ignores_a_temp_file_alone_until_it_is_renamed(landing, dbt_manifest):
    (landing / ".x.jsonl.tmp").write_text(LINE)
    (landing / "_x.jsonl").write_text(LINE)
    alone = _tick()
    assert alone.run_requests == [] and alone.skip_message

    (landing / ".x.jsonl.tmp").rename(landing / "x.jsonl")
    renamed = _tick(alone.cursor)
    assert len(renamed.run_requests) == 1
    assert renamed.run_requests[0].tags["meterhouse/landing_files"] == "1"


def test_sensor_sees_files_in_subfolders_but_not_in_staging_folders(landing, dbt_manifest):
    (landing / "_staging").mkdir()
    (landing / "_staging" / "y.jsonl").write_text(LINE)
    assert _tick().run_requests == []
    (landing / "2026" / "09").mkdir(parents=True)
    (landing / "2026" / "09" / "y.jsonl").write_text(LINE)
    assert len(_tick().run_requests) == 1


# --------------------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------------------


def _schedule_tick(schedule, at: datetime, defs=None):
    repository_def = defs.get_repository_def() if defs is not None else None
    return schedule.evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=at, repository_def=repository_def)
    )


@pytest.fixture(scope="module")
def monthly_close_schedule(defs):
    """Resolved against the definitions (a schedule built from an asset job is resolved with its graph)."""
    return defs.resolve_schedule_def("monthly_close_schedule")


@pytest.fixture(scope="module")
def daily_close_schedule(defs):
    return defs.resolve_schedule_def("daily_close_schedule")


def test_daily_close_schedule_issues_what_is_due_through_the_current_month(
    daily_close_schedule, defs
):
    assert daily_close_schedule.cron_schedule == "0 2 * * *"
    assert daily_close_schedule.execution_timezone == "UTC"
    result = _schedule_tick(daily_close_schedule, datetime(2026, 11, 20, 2, tzinfo=UTC), defs)
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.job_name in (None, "close_month_job")
    assert request.partition_key == "2026-11-01"


def test_monthly_close_runs_after_the_grace_period_of_invoices_issued_on_the_first(
    monthly_close_schedule,
):
    """Grace 72 h (the default; the data dir of the session has no other): an invoice issued on Nov 1 00:00
    UTC is due on Nov 4 00:00; the close runs the day after, Nov 5 at 06:00 UTC (room for customers west of
    UTC, whose Nov 1 local midnight is up to 14 h later).

    Its partition is the billing month of those invoices. Billing month = the UTC month of the invoice's issue
    instant (orchestration/partitions.py, dbt `billing_month`, test_scenarios: inv_cus_midmonth_20261001 is
    billing month 2026-10). October's usage of a UTC calendar customer is invoiced on 2026-11-01, so the
    close on 2026-11-05 must target partition '2026-11-01' (the previous *usage* month, October, is not a
    partition key here: '2026-10-01' holds the invoices issued in October, closed on 2026-10-05).
    """
    assert monthly_close_schedule.job_name == "close_month_job"
    assert monthly_close_schedule.cron_schedule == "0 6 5 * *"
    assert monthly_close_schedule.execution_timezone == "UTC"

    result = _schedule_tick(monthly_close_schedule, datetime(2026, 11, 5, 6, tzinfo=UTC))
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.job_name == "close_month_job"
    assert request.partition_key == "2026-11-01"
    # re-evaluating the same tick cannot start a second close
    assert request.run_key == "2026-11-01"

    # the invoices issued on Oct 1 00:00 UTC (September's usage, e.g. inv_cus_basic_20261001, and
    # inv_cus_midmonth_20261001 at Oct 1 04:00 UTC) are closed on Oct 5
    october = _schedule_tick(monthly_close_schedule, datetime(2026, 10, 5, 6, tzinfo=UTC))
    assert october.run_requests[0].partition_key == "2026-10-01"


def test_refresh_job_loads_and_rebuilds_drafts_but_never_issues_or_publishes(defs):
    from orchestration.assets.dbt import dbt_core, dbt_issued, dbt_reconciliation
    from orchestration.assets.stripe import PUBLISHED_KEY

    refresh = defs.resolve_job_def("refresh_usage_job")
    keys = set(refresh.asset_layer.executable_asset_keys)
    assert dg.AssetKey(["raw", "events"]) in keys
    assert set(dbt_core.keys) <= keys  # meters
    assert _key_named(keys, "fct_invoices") in keys  # the current period's drafts
    assert _key_named(keys, "warehouse_snapshot") in keys  # what previews and analysts read
    assert not set(dbt_issued.keys) & keys  # issuing is the close's
    assert PUBLISHED_KEY not in keys and not set(dbt_reconciliation.keys) & keys


def test_refresh_schedule_every_15_minutes_skips_while_a_refresh_is_still_pending(defs):
    schedule = defs.resolve_schedule_def("refresh_usage_schedule")
    assert schedule.cron_schedule == "*/15 * * * *"
    assert schedule.job_name == "refresh_usage_job"
    at = datetime(2026, 11, 26, 9, 45, tzinfo=UTC)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=at, repository_def=defs.get_repository_def()
        )
        first = schedule.evaluate_tick(context)
        assert [r.run_key for r in first.run_requests] == ["refresh-2026-11-26T09:45"]

        # the previous refresh is still running (slow behind a long close): this tick adds nothing
        run = instance.add_run(
            dg.DagsterRun(job_name="refresh_usage_job", status=dg.DagsterRunStatus.STARTED)
        )
        skipped = schedule.evaluate_tick(context)
        assert skipped.run_requests == [] and run.run_id in skipped.skip_message

        instance.report_run_canceled(run)
        assert len(schedule.evaluate_tick(context).run_requests) == 1


# Issue instants (UTC) of scenarios invoices, derived by hand in tests/test_scenarios.py.
GRACE = timedelta(hours=72)
FIRST_OF_MONTH_INVOICES = {
    "inv_cus_basic_20261001": datetime(2026, 10, 1, 0, tzinfo=UTC),
    # Oct 1 00:00 in New York (EDT)
    "inv_cus_midmonth_20261001": datetime(2026, 10, 1, 4, tzinfo=UTC),
    "inv_cus_pro_20260901": datetime(2026, 9, 1, 0, tzinfo=UTC),
}
MID_MONTH_INVOICES = {
    # Oct 1 00:00 JST: billing month 2026-09
    "inv_cus_yen_20261001": datetime(2026, 9, 30, 15, tzinfo=UTC),
    # anniversary Aug 15 -> Sep 15
    "inv_cus_anniv_20260915": datetime(2026, 9, 15, 0, tzinfo=UTC),
    # subscription ended Sep 20 at noon
    "inv_cus_ended_20260920": datetime(2026, 9, 20, 12, tzinfo=UTC),
    "inv_cus_anniv_20261015": datetime(2026, 10, 15, 0, tzinfo=UTC),
}


def _closing_tick(schedule, issue_at: datetime) -> datetime | None:
    """The first monthly-close tick (5th, 06:00 UTC, Sep 2026 .. Jan 2027) at or after the invoice is due
    (issue + grace) whose partition closes the invoice's billing month (UTC month of issue_at): a close of
    month M issues every due invoice of M and of the months before it. None if no close ever issues it."""
    billing_month = issue_at.strftime("%Y-%m-01")
    due_at = issue_at + GRACE
    for year, month in [(2026, 9), (2026, 10), (2026, 11), (2026, 12), (2027, 1)]:
        tick = datetime(year, month, 5, 6, tzinfo=UTC)
        key = _schedule_tick(schedule, tick).run_requests[0].partition_key
        if tick >= due_at and billing_month <= key:
            return tick
    return None


def test_the_monthly_close_issues_invoices_issued_on_the_first_of_a_month(monthly_close_schedule):
    closed = {
        inv: _closing_tick(monthly_close_schedule, at)
        for inv, at in FIRST_OF_MONTH_INVOICES.items()
    }
    assert closed == {
        "inv_cus_basic_20261001": datetime(2026, 10, 5, 6, tzinfo=UTC),
        "inv_cus_midmonth_20261001": datetime(2026, 10, 5, 6, tzinfo=UTC),
        "inv_cus_pro_20260901": datetime(2026, 9, 5, 6, tzinfo=UTC),
    }


def test_the_monthly_close_eventually_issues_every_due_invoice(monthly_close_schedule):
    never = [
        inv
        for inv, at in MID_MONTH_INVOICES.items()
        if _closing_tick(monthly_close_schedule, at) is None
    ]
    assert never == []


# --------------------------------------------------------------------------------------------------
# The single-writer lock
# --------------------------------------------------------------------------------------------------


def _lock_script(data_dir: Path, timeout_s: float, marker: Path) -> str:
    return textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from ingestion.warehouse import writer_lock
        try:
            with writer_lock({str(data_dir)!r}, timeout_s={timeout_s}, poll_s=0.05):
                Path({str(marker)!r}).write_text(repr(time.time()))  # when it got the lock
        except TimeoutError as exc:
            print(exc)
            sys.exit(3)
        """
    )


def _python(script: str) -> list[str]:
    return [sys.executable, "-c", script]


def test_writer_lock_times_out_in_another_process_with_an_actionable_message(tmp_path):
    from ingestion.warehouse import writer_lock

    marker = tmp_path / "acquired"
    with writer_lock(tmp_path):
        proc = subprocess.run(
            _python(_lock_script(tmp_path, 1.0, marker)),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 3, proc.stderr
    assert not marker.exists()
    message = proc.stdout.strip()
    assert "another process" in message
    assert str(tmp_path) in message  # names the data directory
    assert "wait for its run to finish" in message and "try again" in message
    assert "1 s" in message  # how long it waited

    # once released, another process gets the lock at once
    proc = subprocess.run(
        _python(_lock_script(tmp_path, 1.0, marker)),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert marker.exists()


def test_writer_lock_blocks_another_process_until_released(tmp_path):
    from ingestion.warehouse import writer_lock

    marker = tmp_path / "acquired"
    with writer_lock(tmp_path):
        waiter = subprocess.Popen(
            _python(_lock_script(tmp_path, 30.0, marker)),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            time.sleep(1.5)  # the other process has started and is polling
            assert waiter.poll() is None, waiter.communicate()
            assert not marker.exists()
        except BaseException:
            waiter.kill()
            raise
        released_at = time.time()  # the lock is released right after this line
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 0, out + err
    acquired_at = float(marker.read_text())
    # it got the lock after the release, promptly
    assert released_at <= acquired_at < released_at + 10


# --------------------------------------------------------------------------------------------------
# The read-only snapshot
# --------------------------------------------------------------------------------------------------


def _tables(con) -> list[tuple]:
    return sorted(
        con.execute(
            "select table_schema, table_name from information_schema.tables where table_catalog = current_database()"
        ).fetchall()
    )


def _count_in_new_process(snapshot: Path) -> int:
    script = textwrap.dedent(
        f"""
        from ingestion.warehouse import connect
        con = connect({str(snapshot)!r}, read_only=True)
        print(con.execute("select count(*) from billing.fct_invoices").fetchone()[0])
        """
    )
    proc = subprocess.run(_python(script), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip())


def test_publish_snapshot_copies_every_table_read_only(tmp_path):
    from ingestion.warehouse import connect, ensure_raw_schema, publish_snapshot

    db, snap = tmp_path / "warehouse.duckdb", tmp_path / "warehouse.read.duckdb"
    con = connect(db)
    ensure_raw_schema(con)
    con.execute("create schema billing")
    con.execute("create table billing.fct_invoices (invoice_id varchar, total_amount_cents bigint)")
    con.execute("insert into billing.fct_invoices values ('inv_a', 10107), ('inv_b', 5335)")
    con.execute(
        "create view billing.v_totals as select sum(total_amount_cents) as s from billing.fct_invoices"
    )
    expected_tables = _tables(con)
    con.close()

    assert publish_snapshot(db, snap) == snap
    ro = connect(snap, read_only=True)
    try:
        assert _tables(ro) == expected_tables
        assert ("raw", "events") in expected_tables and ("billing", "v_totals") in expected_tables
        assert ro.execute("select * from billing.fct_invoices order by 1").fetchall() == [
            ("inv_a", 10107),
            ("inv_b", 5335),
        ]
        assert ro.execute("select s from billing.v_totals").fetchone()[0] == 15442
        with pytest.raises(Exception, match="(?i)read.only"):
            ro.execute("insert into billing.fct_invoices values ('x', 1)")
    finally:
        ro.close()
    # the swap leaves no temp file and the snapshot carries no WAL
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "warehouse.duckdb",
        "warehouse.read.duckdb",
    ]


def test_a_reader_keeps_its_snapshot_while_a_new_one_is_published(tmp_path):
    from ingestion.warehouse import connect, publish_snapshot, writer_lock

    db, snap = tmp_path / "warehouse.duckdb", tmp_path / "warehouse.read.duckdb"
    con = connect(db)
    con.execute("create schema billing")
    con.execute(
        "create table billing.fct_invoices as select 'inv_' || i as invoice_id from range(50000) t(i)"
    )
    con.close()
    with writer_lock(tmp_path):
        publish_snapshot(db, snap)

    old_reader = connect(snap, read_only=True)  # opened, nothing read yet
    try:
        con = connect(db)
        con.execute("insert into billing.fct_invoices values ('inv_new')")
        con.close()
        with writer_lock(tmp_path):
            publish_snapshot(db, snap)

        # the reader that opened the old snapshot keeps answering from it, consistently
        assert (
            old_reader.execute("select count(*) from billing.fct_invoices").fetchone()[0] == 50000
        )
        assert (
            old_reader.execute(
                "select count(*) from billing.fct_invoices where invoice_id = 'inv_new'"
            ).fetchone()[0]
            == 0
        )
        # a new reader (another process, as analysts' notebooks and reports are) sees the new data
        assert _count_in_new_process(snap) == 50001
    finally:
        old_reader.close()
    # once the old reader is gone, a new connection in this process sees the new snapshot too
    new_reader = connect(snap, read_only=True)
    try:
        assert (
            new_reader.execute("select count(*) from billing.fct_invoices").fetchone()[0] == 50001
        )
    finally:
        new_reader.close()


def test_a_dbt_step_that_stops_early_stops_its_dbt_process():
    """_build releases the writer lock on the way out, so the dbt subprocess must be gone by then."""
    import subprocess

    from orchestration.assets.dbt import _stop

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    _stop(proc, grace_s=5)
    assert proc.poll() is not None

    # a process that ignores SIGTERM is killed after the grace period
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)",
        ]
    )
    import time

    time.sleep(0.5)  # let it install its handler
    _stop(stubborn, grace_s=0.5)
    assert stubborn.poll() is not None


def test_only_the_newest_dbt_invocation_folders_are_kept(tmp_path):
    import os

    from orchestration.assets.dbt import _prune_invocation_dirs

    for i in range(5):
        d = tmp_path / f"dbt_core-run{i}-abc"
        d.mkdir()
        os.utime(d, (1_000_000 + i, 1_000_000 + i))
    (tmp_path / "manifest.json").write_text("{}")
    _prune_invocation_dirs(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dbt_core-run3-abc",
        "dbt_core-run4-abc",
        "manifest.json",
    ]


def test_the_dbt_resource_never_runs_dbt_version(monkeypatch):
    """`dbt --version` asks pypi.org for the latest releases; nothing here may reach the internet."""
    from importlib.metadata import version

    import dagster_dbt.core.resource as dagster_dbt_resource

    from orchestration.resources import dbt_resource

    def no_subprocess(*args, **kwargs):
        raise AssertionError(f"spawned {args}")

    monkeypatch.setattr(dagster_dbt_resource, "check_output", no_subprocess)
    assert str(dbt_resource()._cli_version) == version("dbt-core")
