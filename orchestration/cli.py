"""`meterhouse`: the command line (generate sample data, run the pipeline, print the summary)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from .project import DBT_PROJECT_DIR


def _prepare_environment(data_dir: Path) -> None:
    """Everything a run needs in its environment: one absolute warehouse path, telemetry off."""
    from ingestion.config import load_settings

    os.environ["MH_DATA_DIR"] = str(data_dir)
    # the same profile values as the dbt builds of the run, so `dbt parse` here leaves a partial-parse
    # state they can reuse (a changed profile makes dbt re-parse the whole project)
    os.environ["DUCKDB_PATH"] = str(data_dir / "warehouse.duckdb")
    os.environ["MH_DUCKDB_MEMORY_LIMIT"] = load_settings(data_dir).duckdb_memory_limit
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def ensure_manifest() -> Path:
    """Parse the dbt project when target/manifest.json is missing or stale.

    Stale means older than a project file, or parsed with another profile (another warehouse path or
    memory limit): dbt's partial-parse state is only reused by builds with the same profile, so parsing
    here with the run's profile lets each of the run's dbt builds skip a full re-parse.
    """
    target = DBT_PROJECT_DIR / "target"
    manifest = target / "manifest.json"
    stamp = target / ".meterhouse_profile"
    profile = f"{os.environ.get('DUCKDB_PATH', '')}|{os.environ.get('MH_DUCKDB_MEMORY_LIMIT', '')}"
    sources = [
        p
        for sub in ("models", "macros", "seeds", "tests")
        for p in (DBT_PROJECT_DIR / sub).rglob("*")
        if p.is_file()
    ] + [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    newest = max(p.stat().st_mtime for p in sources)
    fresh = (
        manifest.exists()
        and manifest.stat().st_mtime >= newest
        and stamp.exists()
        and stamp.read_text() == profile
    )
    if not fresh:
        dbt = Path(sys.executable).parent / "dbt"
        subprocess.run([str(dbt), "parse", "--quiet"], cwd=DBT_PROJECT_DIR, check=True)
        stamp.write_text(profile)
    return manifest


JOBS = {
    # the full build: what the landing sensor and the daily close start (and `make demo`)
    "close": "close_month_job",
    # what the 15-minute schedule runs: new files in, meters and drafts current, snapshot; issues nothing
    "refresh": "refresh_usage_job",
}


def run_pipeline(data_dir: Path, *, raise_on_error: bool = True, job: str = "close"):
    """Materialize everything on DIR: load files, build, issue every due month, publish the snapshot.

    job="refresh" runs the refresh job instead: load new files, rebuild meters and the open periods'
    drafts, publish the snapshot; nothing is issued or sent to Stripe."""
    if job not in JOBS:
        raise ValueError(f"unknown job {job!r}: one of {', '.join(JOBS)}")
    data_dir = Path(data_dir).resolve()
    if not (data_dir / "catalog.yml").exists():
        raise SystemExit(
            f"{data_dir}/catalog.yml not found: a data directory needs a catalog, landing/customers.csv, "
            f"landing/subscriptions.csv and landing/events/ (see README, 'Files under DIR'); "
            f"`meterhouse generate --data-dir {data_dir}` writes a sample one"
        )
    _prepare_environment(data_dir)
    ensure_manifest()
    import dagster as dg

    from .definitions import build_defs
    from .partitions import billing_month_partitions

    defs = build_defs(data_dir)
    instance = (
        dg.DagsterInstance.get()
        if os.environ.get("DAGSTER_HOME")
        else dg.DagsterInstance.ephemeral()
    )
    job_def = defs.resolve_job_def(JOBS[job])
    # the close runs for the current billing month: closing it closes every earlier month too (the same
    # run the sensor starts); the refresh job is not partitioned
    partition_key = billing_month_partitions.get_last_partition_key() if job == "close" else None
    result = job_def.execute_in_process(
        instance=instance,
        partition_key=partition_key,
        tags={"meterhouse/source": "cli"},
        raise_on_error=raise_on_error,
    )
    return result


def _query(data_dir: Path, sql: str, fmt: str, max_rows: int) -> int:
    """Read-only SQL on the snapshot, so it never blocks (or is blocked by) a run that writes."""
    import duckdb

    from ingestion.warehouse import connect

    snapshot = Path(data_dir).resolve() / "warehouse.read.duckdb"
    if not snapshot.exists():
        print(
            f"{snapshot} does not exist yet: run `meterhouse run --data-dir {data_dir}` first",
            file=sys.stderr,
        )
        return 2
    con = connect(snapshot, read_only=True)
    try:
        rel = con.sql(sql)
        if fmt == "table":
            rel.show(max_rows=max_rows, max_width=200)
        else:
            df = rel.df()
            print(
                df.to_csv(index=False)
                if fmt == "csv"
                else df.to_json(orient="records", date_format="iso")
            )
    except duckdb.Error as exc:
        print(f"query failed: {exc}", file=sys.stderr)
        return 2
    finally:
        con.close()
    return 0


def _publish(args) -> int:
    """Publish one billing month (under the writer lock), or show what would be sent (--dry-run, from
    the read-only snapshot)."""
    import re
    from datetime import UTC, datetime

    from ingestion.config import load_settings
    from ingestion.stripe_publish import publish_month
    from ingestion.warehouse import connect, writer_lock

    from .resources import stripe_client

    data_dir = Path(args.data_dir).resolve()
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", args.month):
        print(f"meterhouse publish: --month {args.month!r} is not YYYY-MM", file=sys.stderr)
        return 2
    settings = load_settings(data_dir)
    client = stripe_client(settings)
    if client is None:
        print(
            f"meterhouse publish: Stripe is not configured: set {settings.stripe.api_key_env} to a secret "
            "key (and meterhouse.yml stripe.api_base for the local emulator)",
            file=sys.stderr,
        )
        return 2
    if args.dry_run:
        snapshot = data_dir / "warehouse.read.duckdb"
        if not snapshot.exists():
            print(
                f"meterhouse publish: {snapshot} does not exist yet: run the pipeline first",
                file=sys.stderr,
            )
            return 2
        con = connect(snapshot, read_only=True)
        try:
            report = publish_month(con, client, args.month, dry_run=True)
        finally:
            con.close()
    else:
        with writer_lock(data_dir):
            con = connect(data_dir / "warehouse.duckdb", memory_limit=settings.duckdb_memory_limit)
            try:
                report = publish_month(
                    con,
                    client,
                    args.month,
                    now=datetime.now(UTC).replace(tzinfo=None),
                    days_until_due=settings.stripe.days_until_due,
                )
            finally:
                con.close()
    print(report.render())
    return 0 if report.ok else 1


def _demo_customers(client, customer_ids: list[str]) -> int:
    """The demo's customers in the emulator, each with metadata meterhouse_customer_id: one list of what
    exists, then a create (idempotency key from the id) for each missing one. Returns how many were created."""
    from ingestion.stripe_publish import CUSTOMER_ID_METADATA_KEY

    mapped = {
        (c.metadata or {}).get(CUSTOMER_ID_METADATA_KEY)
        for c in client.v1.customers.list(params={"limit": 100}).auto_paging_iter()
    }
    missing = [cid for cid in customer_ids if cid not in mapped]
    for cid in missing:
        client.v1.customers.create(
            params={"name": cid, "metadata": {CUSTOMER_ID_METADATA_KEY: cid}},
            options={"idempotency_key": f"mh-demo-customer-{cid}"},
        )
    return len(missing)


def _invoice(args) -> int:
    """void / reissue under the writer lock (they write the publication ledger)."""
    from ingestion.config import load_settings
    from ingestion.stripe_publish import invoice_command
    from ingestion.warehouse import connect, writer_lock

    from .resources import stripe_client

    data_dir = Path(args.data_dir).resolve()
    settings = load_settings(data_dir)
    client = stripe_client(settings)
    if client is None:
        print(
            f"meterhouse invoice: Stripe is not configured: set {settings.stripe.api_key_env}",
            file=sys.stderr,
        )
        return 2
    with writer_lock(data_dir):
        con = connect(data_dir / "warehouse.duckdb", memory_limit=settings.duckdb_memory_limit)
        try:
            return invoice_command(con, client, args.action, args.invoice_id, args.reason)
        finally:
            con.close()


def _run_with_emulator(data_dir: Path):
    """run_pipeline with the local Stripe emulator up (the demo): customers created there first."""
    import csv
    from urllib.parse import urlparse

    from ingestion.config import load_settings
    from ingestion.stripe_emulator import EmulatorServer

    from .resources import stripe_client

    data_dir = Path(data_dir).resolve()
    settings = load_settings(data_dir)
    base = settings.stripe.api_base
    address = urlparse(base or "")
    if address.hostname not in ("127.0.0.1", "localhost") or not address.port:
        raise SystemExit(
            f"--stripe-emulator needs meterhouse.yml stripe.api_base on 127.0.0.1 with a port "
            f"(e.g. http://127.0.0.1:12111); it is {base!r}"
        )
    os.environ.setdefault(settings.stripe.api_key_env, "sk_test_emulator")
    server = EmulatorServer(
        data_dir / "stripe_emulator.json", host="127.0.0.1", port=address.port, save_interval=10.0
    )
    try:
        server.start()
    except OSError as exc:
        raise SystemExit(f"cannot start the Stripe emulator on {base}: {exc}") from None
    try:
        with (data_dir / "landing" / "customers.csv").open(newline="", encoding="utf-8") as fh:
            customer_ids = [row["external_customer_id"] for row in csv.DictReader(fh)]
        created = _demo_customers(stripe_client(settings), customer_ids)
        print(
            f"Stripe emulator on {base}: {len(customer_ids)} customers mapped ({created} created)",
            flush=True,
        )
        return run_pipeline(data_dir)
    finally:
        server.stop()


def _quote(args) -> int:
    from ingestion.accounts import AccountsError
    from ingestion.catalog import CatalogError

    from .quote import QuoteCase, QuoteError, quote_many, render_quote
    from .scratch import ScratchBuildError

    try:
        quotes = quote_many(
            args.catalog,
            [
                QuoteCase(
                    "quote",
                    args.plan,
                    args.usage,
                    args.period_start,
                    args.period_end,
                    args.timezone,
                )
            ],
        )
    except (QuoteError, CatalogError, AccountsError, ScratchBuildError, FileNotFoundError) as exc:
        print(f"meterhouse quote: {exc}", file=sys.stderr)
        return 2
    quote = quotes["quote"]
    print(json.dumps(quote.as_json(), indent=2) if args.format == "json" else render_quote(quote))
    return 0


def _preview(args) -> int:
    from ingestion.accounts import parse_timestamp

    from .preview import PreviewError, preview, render_preview
    from .scratch import ScratchBuildError

    try:
        as_of = None
        if args.as_of:
            try:
                as_of = parse_timestamp(args.as_of)
            except ValueError as exc:
                raise PreviewError(f"--as-of: {exc}") from None
        result = preview(args.data_dir, args.customer, as_of)
    except (PreviewError, ScratchBuildError) as exc:
        print(f"meterhouse preview: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if args.format == "json" else render_preview(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="meterhouse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write a deterministic sample data set under DIR")
    gen.add_argument("--data-dir", type=Path, required=True)
    gen.add_argument("--customers", type=int, default=1000)
    gen.add_argument("--months", type=int, default=3)
    gen.add_argument("--events", type=int, default=1_000_000)
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument(
        "--end-date",
        type=date.fromisoformat,
        default=date(2026, 11, 1),
        help="first day after the generated window (YYYY-MM-DD)",
    )

    run = sub.add_parser(
        "run", help="load DIR's files, build meters and invoices, print the summary"
    )
    run.add_argument("--data-dir", type=Path, required=True)
    run.add_argument("--format", choices=["text", "json"], default="text")
    run.add_argument(
        "--job",
        choices=list(JOBS),
        default="close",
        help="close (default): the full build, issuing what is due and publishing to Stripe, as the "
        "landing sensor and the daily close run it; refresh: only load new files and bring meters and "
        "the open periods' drafts up to date, as the 15-minute schedule does (issues and publishes nothing)",
    )
    run.add_argument(
        "--stripe-emulator",
        action="store_true",
        help="start the local Stripe emulator for this run (state in DIR/stripe_emulator.json, address from "
        "meterhouse.yml stripe.api_base), create the customers there, and publish to it",
    )

    summ = sub.add_parser(
        "summary", help="print the summary of DIR's last run (reads the snapshot)"
    )
    summ.add_argument("--data-dir", type=Path, required=True)
    summ.add_argument("--format", choices=["text", "json"], default="text")

    qry = sub.add_parser("query", help="run SQL on DIR's read-only snapshot and print the result")
    qry.add_argument("--data-dir", type=Path, required=True)
    qry.add_argument("sql")
    qry.add_argument("--format", choices=["table", "csv", "json"], default="table")
    qry.add_argument("--max-rows", type=int, default=50)

    quo = sub.add_parser(
        "quote",
        help="price a usage file (JSON Lines events) for one subscription period of a catalog's plan",
    )
    quo.add_argument("--catalog", type=Path, required=True)
    quo.add_argument(
        "--plan",
        required=True,
        help="the plan code (the period picks its price version, plan_versions.yml next to the catalog), "
        "or a version's code <plan>@<version>",
    )
    quo.add_argument(
        "--usage", type=Path, required=True, help="events in the event contract (.jsonl)"
    )
    quo.add_argument(
        "--period-start",
        help="ISO-8601 with offset; default: the calendar period of the first event",
    )
    quo.add_argument(
        "--period-end", help="ISO-8601 with offset; default: one full interval from the start"
    )
    quo.add_argument(
        "--timezone", default="UTC", help="the customer's IANA timezone (local days and periods)"
    )
    quo.add_argument("--format", choices=["text", "json"], default="text")

    pre = sub.add_parser(
        "preview",
        help="a customer's invoices not issued yet (the open period so far), with their lines",
    )
    pre.add_argument("--data-dir", type=Path, required=True)
    pre.add_argument("--customer", required=True, help="the external customer id")
    pre.add_argument(
        "--as-of",
        help="ISO-8601 with offset: use only events loaded up to this time (rebuilds on a scratch copy)",
    )
    pre.add_argument("--format", choices=["text", "json"], default="text")

    pub = sub.add_parser(
        "publish",
        help="publish a billing month's issued invoices and credit notes to Stripe, exactly once",
    )
    pub.add_argument("--data-dir", type=Path, required=True)
    pub.add_argument("--month", required=True, help="the billing month, YYYY-MM")
    pub.add_argument("--dry-run", action="store_true", help="show what would be sent; send nothing")

    inv = sub.add_parser(
        "invoice",
        help="operator actions on a published invoice: void it, or reissue a corrected one",
    )
    inv.add_argument("action", choices=["void", "reissue"])
    inv.add_argument("invoice_id", help="the Meterhouse invoice id (inv_...)")
    inv.add_argument("--data-dir", type=Path, required=True)
    inv.add_argument(
        "--reason", required=True, help="why (recorded in raw.stripe_invoice_operations)"
    )

    rep = sub.add_parser("report", help="reports: reconciliation, revenue")
    rep_sub = rep.add_subparsers(dest="report", required=True)
    recon = rep_sub.add_parser(
        "reconciliation",
        help="usage vs invoices vs Stripe per customer for a billing month (CSV + HTML)",
    )
    recon.add_argument("--data-dir", type=Path, required=True)
    recon.add_argument("--period", required=True, help="the billing month, YYYY-MM")
    recon.add_argument("--out", type=Path, help="output folder (default DIR/reports)")
    revenue = rep_sub.add_parser(
        "revenue",
        help="revenue KPIs of a month: MRR, movements, churn, NRR/GRR (reads the snapshot)",
    )
    revenue.add_argument("--data-dir", type=Path, required=True)
    revenue.add_argument("--month", required=True, help="the month, YYYY-MM")
    revenue.add_argument("--format", choices=["text", "json"], default="text")

    emu = sub.add_parser(
        "stripe-emulator",
        help="run the local Stripe-compatible server (state kept in DIR/stripe_emulator.json)",
    )
    emu.add_argument("--data-dir", type=Path, required=True)
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=12111)

    args = parser.parse_args(argv)

    if args.command == "publish":
        return _publish(args)

    if args.command == "invoice":
        return _invoice(args)

    if args.command == "report" and args.report == "revenue":
        from .revenue import RevenueReportError, revenue_report

        try:
            kpis = revenue_report(args.data_dir, args.month)
        except RevenueReportError as exc:
            print(f"meterhouse report revenue: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(kpis.as_json(), indent=2) if args.format == "json" else kpis.render())
        return 0

    if args.command == "report":
        from .reconciliation import ReportError, reconciliation_report

        try:
            report = reconciliation_report(args.data_dir, args.period, args.out)
        except ReportError as exc:
            print(f"meterhouse report reconciliation: {exc}", file=sys.stderr)
            return 2
        print(report.render())
        print(f"\nWrote {report.csv_path}\n      {report.html_path}")
        return 0

    if args.command == "stripe-emulator":
        from ingestion.stripe_emulator import serve

        args.data_dir.mkdir(parents=True, exist_ok=True)
        serve(args.data_dir.resolve() / "stripe_emulator.json", args.host, args.port)
        return 0

    if args.command == "preview":
        return _preview(args)

    if args.command == "quote":
        return _quote(args)

    if args.command == "generate":
        from ingestion.generate import generate

        manifest = generate(
            args.data_dir,
            customers=args.customers,
            months=args.months,
            events=args.events,
            seed=args.seed,
            end_date=args.end_date,
        )
        print(
            f"Wrote sample data to {args.data_dir.resolve()} "
            f"({manifest.get('total_rows', '?'):,} event rows; see generator_manifest.json)"
        )
        return 0

    if args.command == "query":
        return _query(args.data_dir, args.sql, args.format, args.max_rows)

    from .summary import collect, render

    if args.command == "run":
        if args.stripe_emulator and args.job != "close":
            parser.error("--stripe-emulator publishes to Stripe: only with --job close")
        if args.stripe_emulator:
            result = _run_with_emulator(args.data_dir)
        else:
            result = run_pipeline(args.data_dir, job=args.job)
        if not result.success:
            print("The run failed; see the messages above.", file=sys.stderr)
            return 1
    summary = collect(args.data_dir)
    print(json.dumps(summary, indent=2, default=str) if args.format == "json" else render(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
