"""One generated data set through the close job with the Stripe emulator, a defect planted for one customer
and then fixed: the session fixture every quality test reads (one full Dagster run, one small one).

`meterhouse generate --customers 30 --months 2 --events 2000` (its malformed rows are quarantined by the
loader, before any check sees them), the emulator with a Stripe customer for each of the 30, and publishing
from the clock's month (2026-11, the generator's setting). Before the run, a load is planted in raw.events
the way a loader bug would write it: one event of customer X timestamped 1999-12-31 23:00 UTC, which the
parser would have quarantined (timestamp_out_of_range). X is the first customer billed on the calendar in
Europe/London, UTC or America/* with a subscription open since before 2026-10-01: its October invoice is
issued at 2026-11-01 00:00 local, in billing month 2026-11 (the UTC month of the issue instant).

Run 1 (the close job): the event batch check fails on that row and pins it to X and the months of X's
documents issued with the planted load in their cut-off (every document of this run, 2026-11 included);
publishing skips X's invoice, every other 2026-11 invoice goes out. Fix: the planted load is deleted (as an
operator would remove a bad load). Run 2 (publish_gates with its checks and stripe_publication: nothing else changed):
the check re-validates the loads it failed on, passes, its rows in raw.check_failures are replaced by
none, and X's invoice goes out, the others are not sent again.

The warehouse is left fixed: the tests of each check on clean data read it.
"""

from __future__ import annotations

import csv
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

CUSTOMERS, MONTHS, EVENTS = 30, 2, 2000
MONTH = "2026-11"  # the generator's clock month (clock 2026-11-05) and publish_from
PLANTED_LOAD = 1
PLANTED_EVENT_AT = datetime(1999, 12, 31, 23, 0)
KEY_ENV = "MH_QUALITY_TEST_STRIPE_KEY"  # a variable no other test's settings name


@dataclass
class RunRecord:
    success: bool
    checks: dict[tuple[str, str], Any]  # (asset key, check name) -> AssetCheckEvaluation
    publication_metadata: dict[str, Any]
    stripe_invoice_ids: set[str]  # Meterhouse invoice ids with a Stripe invoice after the run
    stripe_invoice_posts: int  # POST /v1/invoices during the run
    blockers: list[tuple]  # billing.publish_blockers after the run


@dataclass
class QualityRun:
    data_dir: Path
    customer: str  # X, the customer of the planted row
    issued: dict[str, str] = field(default_factory=dict)  # 2026-11 invoice id -> customer
    first: RunRecord | None = None
    fixed: RunRecord | None = None

    @property
    def db_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"


def _pick_customer(landing: Path) -> str:
    with (landing / "customers.csv").open(newline="") as fh:
        customers = {
            r["external_customer_id"]: r
            for r in csv.DictReader(fh)
            if r["billing_time"] == "calendar"
            and (r["timezone"] in ("UTC", "Europe/London") or r["timezone"].startswith("America/"))
        }
    with (landing / "subscriptions.csv").open(newline="") as fh:
        open_since = sorted(
            r["external_customer_id"]
            for r in csv.DictReader(fh)
            if r["external_customer_id"] in customers
            and not r["ending_at"]
            and datetime.fromisoformat(r["started_at"]) < datetime(2026, 10, 1, tzinfo=UTC)
        )
    assert open_since, "the generated set has no calendar customer in UTC/London/America"
    return open_since[0]


def _configure_stripe(data_dir: Path, url: str) -> None:
    path = data_dir / "meterhouse.yml"
    settings = yaml.safe_load(path.read_text())
    settings["stripe"] = {"api_base": url, "api_key_env": KEY_ENV, "publish_from": MONTH}
    path.write_text(yaml.safe_dump(settings))


def _plant(db_path: Path, customer: str) -> None:
    from ingestion.warehouse import connect, ensure_raw_schema

    loaded_at = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1)
    con = connect(db_path)
    try:
        ensure_raw_schema(con)
        con.execute(
            "insert into raw.event_loads values (?, 1, 'planted/loader-bug.jsonl', 'planted', 'jsonl', "
            "120, 1, 1, 0, ?)",
            [PLANTED_LOAD, loaded_at],
        )
        con.execute(
            """insert into raw.events values (?, 'planted/loader-bug.jsonl', 1, ?, 'evt_planted', ?, null,
            'api_calls', ?, '{}', null, null, '0123456789abcdef0123456789abcdef',
            '{"event_id": "evt_planted"}')""",
            [PLANTED_LOAD, loaded_at, customer, PLANTED_EVENT_AT],
        )
    finally:
        con.close()


@contextmanager
def _stripe_key():
    before = os.environ.get(KEY_ENV)
    os.environ[KEY_ENV] = "sk_test_quality"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(KEY_ENV, None)
        else:
            os.environ[KEY_ENV] = before


def _record(result, srv, db_path: Path, posts_before: int) -> RunRecord:
    from ingestion.warehouse import connect
    from orchestration.assets.stripe import PUBLISHED_KEY

    checks = {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
    }
    publication = [
        m for m in result.get_asset_materialization_events() if m.asset_key == PUBLISHED_KEY
    ]
    metadata = (
        {k: v.value for k, v in publication[0].materialization.metadata.items()}
        if publication
        else {}
    )
    con = connect(db_path)
    try:
        blockers = con.execute(
            "select customer_id, billing_month, check_name, reason from billing.publish_blockers "
            "order by all"
        ).fetchall()
    finally:
        con.close()
    posts = [e for e in srv.request_log if e.method == "POST" and e.path == "/v1/invoices"]
    return RunRecord(
        success=result.success,
        checks=checks,
        publication_metadata=metadata,
        stripe_invoice_ids={
            i["metadata"].get("meterhouse_invoice_id") for i in srv.objects("invoice")
        },
        stripe_invoice_posts=len(posts) - posts_before,
        blockers=blockers,
    )


@pytest.fixture(scope="session")
def quality_run(tmp_path_factory, dbt_manifest) -> QualityRun:
    import dagster as dg
    import stripe

    from ingestion.generate import generate
    from ingestion.stripe_emulator import EmulatorServer, client_for
    from ingestion.warehouse import connect
    from orchestration.assets.stripe import PUBLISHED_KEY
    from orchestration.checks import GATE_KEY
    from orchestration.checks.gates import CHECKED
    from orchestration.cli import run_pipeline
    from orchestration.definitions import build_defs
    from orchestration.partitions import billing_month_partitions

    data_dir = tmp_path_factory.mktemp("quality") / "data"
    generate(data_dir, customers=CUSTOMERS, months=MONTHS, events=EVENTS)
    run = QualityRun(data_dir=data_dir, customer=_pick_customer(data_dir / "landing"))
    with EmulatorServer() as srv, _stripe_key():
        _configure_stripe(data_dir, srv.url)
        client: stripe.StripeClient = client_for(srv.url, max_network_retries=0, timeout=10)
        with (data_dir / "landing" / "customers.csv").open(newline="") as fh:
            for row in csv.DictReader(fh):
                cid = row["external_customer_id"]
                client.v1.customers.create(
                    params={"name": cid, "metadata": {"meterhouse_customer_id": cid}}
                )
        _plant(run.db_path, run.customer)

        result = run_pipeline(data_dir, raise_on_error=False)
        run.first = _record(result, srv, run.db_path, 0)
        con = connect(run.db_path)
        try:
            run.issued = dict(
                con.execute(
                    "select invoice_id, customer_id from billing.fct_issued_invoices "
                    "where billing_month = ?",
                    [MONTH],
                ).fetchall()
            )
            # the fix: the bad load goes (its row and its ledger entry)
            con.execute("delete from raw.events where load_id = ?", [PLANTED_LOAD])
            con.execute("delete from raw.event_loads where load_id = ?", [PLANTED_LOAD])
        finally:
            con.close()

        posts_before = len(
            [e for e in srv.request_log if e.method == "POST" and e.path == "/v1/invoices"]
        )
        # the gates and their checks, then publishing: what a re-run of the close after the fix changes
        gates = dg.AssetSelection.assets(GATE_KEY, PUBLISHED_KEY) | dg.AssetSelection.checks(
            *(dg.AssetCheckKey(key, name) for name, key in CHECKED.items())
        )
        defs = dg.Definitions.merge(
            build_defs(data_dir),
            dg.Definitions(jobs=[dg.define_asset_job("gates_and_publish", selection=gates)]),
        )
        job = defs.resolve_job_def("gates_and_publish")
        fixed = job.execute_in_process(
            instance=dg.DagsterInstance.get(),
            partition_key=billing_month_partitions.get_last_partition_key(),
            raise_on_error=False,
        )
        run.fixed = _record(fixed, srv, run.db_path, posts_before)
    return run
