"""Floors: what DuckDB alone needs for the same landing files, with no validation and no billing.

(a) load: every event file (JSONL/JSONL.gz, CSV, Parquet) into one on-disk table ``floor_events``
    with DuckDB's own readers (``read_json``, ``read_csv``, ``read_parquet``), the field aliases of the
    contract folded in, malformed JSON lines skipped;
(b) scan: one plain scan of that table summing a numeric property (``properties.gb``).

Run as ``python -m benchmarks.floor --db PATH --memory-limit 4GB --json-out OUT FILE...`` (the driver
runs it in a subprocess, so its memory is measured like the pipeline's). Times exclude Python start-up.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import duckdb

from ingestion.events.parse import EVENT_FILE_COLUMNS

COLUMNS = EVENT_FILE_COLUMNS

CREATE_SQL = """
create or replace table floor_events (
    file_name varchar, event_id varchar, customer_id varchar, subscription_id varchar,
    metric varchar, "timestamp" varchar, properties json, correction_of varchar,
    correction_type varchar
)
"""

# JSON: read every alias as text, then take the first present (docs/contracts.md, "Events").
JSON_SQL = """
insert into floor_events
select
    filename, coalesce(event_id, transaction_id, id), coalesce(customer_id, external_customer_id, subject),
    coalesce(subscription_id, external_subscription_id), coalesce(metric, code, "type"),
    coalesce("timestamp", "time"), coalesce(properties, data), correction_of, correction_type
from read_json(
    $files, format = 'newline_delimited', ignore_errors = true, filename = true,
    columns = {
        event_id: 'VARCHAR', transaction_id: 'VARCHAR', id: 'VARCHAR',
        customer_id: 'VARCHAR', external_customer_id: 'VARCHAR', subject: 'VARCHAR',
        subscription_id: 'VARCHAR', external_subscription_id: 'VARCHAR',
        metric: 'VARCHAR', code: 'VARCHAR', "type": 'VARCHAR',
        "timestamp": 'VARCHAR', "time": 'VARCHAR', properties: 'JSON', data: 'JSON',
        correction_of: 'VARCHAR', correction_type: 'VARCHAR'
    }
)
"""

CSV_SQL = """
insert into floor_events
select
    filename, event_id, customer_id, subscription_id, metric, "timestamp",
    case when json_valid(properties) then properties::json end, correction_of, correction_type
from read_csv($files, header = true, all_varchar = true, ignore_errors = true, filename = true)
"""

PARQUET_SQL = """
insert into floor_events
select
    filename, event_id, customer_id, subscription_id, metric, "timestamp"::varchar,
    case when json_valid(properties::varchar) then properties::varchar::json end,
    correction_of, correction_type
from read_parquet($files, filename = true, union_by_name = true)
"""

SCAN_SQL = """
select count(*), sum(try_cast(properties ->> 'gb' as double)) from floor_events
"""


def _format(path: str) -> str:
    lower = path.lower()
    if lower.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")):
        return "json"
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith(".parquet"):
        return "parquet"
    raise ValueError(f"{path}: not an event file")


def run_floor(db: Path, files: list[str], memory_limit: str, threads: int | None = None) -> dict:
    db = Path(db)
    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)
    by_format: dict[str, list[str]] = {"json": [], "csv": [], "parquet": []}
    for f in files:
        by_format[_format(f)].append(str(Path(f).resolve()))
    con = duckdb.connect(str(db))
    con.execute("set TimeZone = 'UTC'")
    con.execute("set autoinstall_known_extensions = false")
    con.execute(f"set memory_limit = '{memory_limit}'")
    if threads:
        con.execute(f"set threads = {int(threads)}")
    out: dict = {"threads": con.execute("select current_setting('threads')").fetchone()[0]}
    started = time.perf_counter()
    con.execute(CREATE_SQL)
    per_format = {}
    for fmt, sql in (("json", JSON_SQL), ("csv", CSV_SQL), ("parquet", PARQUET_SQL)):
        if not by_format[fmt]:
            continue
        t = time.perf_counter()
        con.execute(sql, {"files": by_format[fmt]})
        per_format[fmt] = {"files": len(by_format[fmt]), "seconds": time.perf_counter() - t}
    con.execute("checkpoint")
    out["load_s"] = time.perf_counter() - started
    out["load_by_format"] = per_format
    t = time.perf_counter()
    rows, gb = con.execute(SCAN_SQL).fetchone()
    out["scan_s"] = time.perf_counter() - t
    out["rows"] = rows
    out["sum_gb"] = gb
    out["rows_by_format"] = dict(
        con.execute(
            """select case when file_name like '%.csv' then 'csv' when file_name like '%.parquet'
                      then 'parquet' else 'json' end, count(*) from floor_events group by 1"""
        ).fetchall()
    )
    con.close()
    out["db_bytes"] = db.stat().st_size
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json-out", type=Path, required=True)
    ap.add_argument("--keep", action="store_true", help="keep the floor database afterwards")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args(argv)
    result = run_floor(args.db, args.files, args.memory_limit, args.threads)
    args.json_out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    if not args.keep:
        for p in (args.db, args.db.with_name(args.db.name + ".wal")):
            p.unlink(missing_ok=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
