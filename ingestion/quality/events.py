"""Checks on each new batch of landed events: the rows (``event_batch_suite``) and the accounting identity
of each load (``load_accounting_suite``, SEMANTICS.md "Accounting identity").

"New" = the loads after the newest load the check validated before (``raw.check_runs.max_load_id``), plus
the loads that still have failures in ``raw.check_failures`` (so a fixed load is seen again and clears).
The first run validates every load. Rows are read one load at a time into pandas and validated with GX.

The parser quarantines malformed rows before they land (ingestion/events/parse.py); these checks verify,
independently, that what did land keeps the raw contract (docs/contracts.md), so a loader bug or a row
written to raw.events by hand cannot reach an invoice unnoticed. A failing row blocks its customer's
documents issued with that load in their cut-off; a load that does not balance blocks every customer's.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import duckdb
import pandas as pd

from .gx_suite import (
    Pinning,
    Rule,
    pin_failures,
    read_frame,
    run_rules,
    run_rules_in_chunks,
    schema_frame,
    schema_rules,
)
from .results import CheckReport, Pin

EVENT_BATCH_CHECK = "event_batch_suite"
LOAD_ACCOUNTING_CHECK = "load_accounting_suite"
EVENTS_ASSET = "raw/events"
LOAD_ACCOUNTING_ASSET = "usage/rpt_load_accounting"

MIN_EVENT_AT = datetime(2000, 1, 1)  # SEMANTICS.md "Events": before 2000 is absurd

# raw.events as docs/contracts.md defines it (ingestion/warehouse.py RAW_DDL)
EVENT_COLUMNS = {
    "load_id": "BIGINT",
    "file_name": "VARCHAR",
    "row_number": "BIGINT",
    "loaded_at": "TIMESTAMP",
    "event_id": "VARCHAR",
    "customer_id": "VARCHAR",
    "subscription_id": "VARCHAR",
    "metric_code": "VARCHAR",
    "event_at": "TIMESTAMP",
    "properties": "JSON",
    "correction_of": "VARCHAR",
    "correction_type": "VARCHAR",
    "payload_hash": "VARCHAR",
    "payload": "VARCHAR",
}
LOAD_COLUMNS = {
    "load_id": "BIGINT",
    "batch_id": "BIGINT",
    "file_name": "VARCHAR",
    "file_sha256": "VARCHAR",
    "file_format": "VARCHAR",
    "file_bytes": "BIGINT",
    "rows_read": "BIGINT",
    "rows_landed": "BIGINT",
    "rows_quarantined": "BIGINT",
    "loaded_at": "TIMESTAMP",
}

EVENT_ACTION = (
    "The customer's documents issued with this load in their cut-off are not published: fix or remove "
    "the rows (raw.events) and run the close again"
)
LOAD_ACTION = (
    "Every document issued with this load in its cut-off is held back: compare the file with "
    "raw.event_loads, raw.quarantined_events and usage.fct_event_outcomes, fix the load and run again"
)


def loads_to_check(con: duckdb.DuckDBPyConnection, check_name: str) -> tuple[list[int], int | None]:
    """The loads a check validates now (new since its last run, or still failing) and the newest load."""
    watermark = con.execute(
        "select max(max_load_id) from raw.check_runs where check_name = ?", [check_name]
    ).fetchall()[0][0]
    newest = con.execute("select max(load_id) from raw.event_loads").fetchall()[0][0]
    rows = con.execute(
        """
        select load_id from raw.event_loads where load_id > ?
        union
        select load_id from raw.check_failures where check_name = ? and load_id is not null
        order by 1
        """,
        [watermark if watermark is not None else -1, check_name],
    ).fetchall()
    known = [x for x in (watermark, newest) if x is not None]
    return [int(r[0]) for r in rows], (max(known) if known else None)


def _scope_text(loads: list[int]) -> str:
    if not loads:
        return "no new load"
    if len(loads) == 1:
        return f"load {loads[0]}"
    return f"{len(loads)} loads ({loads[0]}..{loads[-1]})"


def _first_load_pin(con: duckdb.DuckDBPyConnection, loads: list[int]) -> Pin:
    """Where a table-level failure blocks: every document issued with the first load checked in its
    cut-off (every month when there is none)."""
    rows = con.execute(
        "select load_id, loaded_at from raw.event_loads where list_contains(?, load_id) "
        "order by load_id limit 1",
        [loads],
    ).fetchall()
    if not rows:
        return Pin()
    return Pin(since_loaded_at=rows[0][1], load_id=int(rows[0][0]))


CHUNK_ROWS = 500_000  # rows of raw.events validated at a time (a first run validates every load)

EVENT_ROWS_SQL = """
select
    load_id, row_number, file_name, loaded_at, event_id, customer_id, subscription_id,
    metric_code, event_at, cast(properties as varchar) as properties, correction_of,
    correction_type, payload_hash, strlen(payload) as payload_bytes,
    (correction_of is null) = (correction_type is null) as correction_fields_agree,
    correction_of is distinct from event_id as corrects_another_event
from raw.events
where {where}
order by load_id, row_number
"""


def event_chunks(
    con: duckdb.DuckDBPyConnection,
    loads: list[int],
    future_margin_hours: int,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """The rows of raw.events of these loads, one load and at most ``chunk_rows`` row numbers at a time
    (payload, which is large, as its length), with the cross-column facts the rules test. Rows sharing a
    (load_id, row_number) always fall in one chunk. Yields one empty frame when there is nothing."""
    spans = con.execute(
        "select load_id, min(row_number), max(row_number) from raw.events "
        "where list_contains(?, load_id) group by load_id order by load_id",
        [loads],
    ).fetchall()
    ranges = [
        (load_id, lo, min(lo + chunk_rows, high + 1))
        for load_id, low, high in spans
        for lo in range(low, high + 1, chunk_rows)
    ]
    if not ranges:
        ranges = [(None, 0, 0)]
    for load_id, lo, hi in ranges:
        rows = read_frame(
            con,
            EVENT_ROWS_SQL.format(where="load_id = ? and row_number >= ? and row_number < ?"),
            [load_id, lo, hi],
        )
        rows["latest_allowed_event_at"] = rows["loaded_at"] + timedelta(hours=future_margin_hours)
        yield rows


def event_rules() -> list[Rule]:
    rules = []
    for column in ("event_id", "customer_id", "metric_code"):
        rules += [
            Rule(f"{column} is present", "ExpectColumnValuesToNotBeNull", {"column": column}),
            Rule(
                f"{column} is not blank",
                "ExpectColumnValuesToMatchRegex",
                {"column": column, "regex": r"\S"},
            ),
        ]
    return rules + [
        Rule("event_at is present", "ExpectColumnValuesToNotBeNull", {"column": "event_at"}),
        Rule("loaded_at is present", "ExpectColumnValuesToNotBeNull", {"column": "loaded_at"}),
        Rule(
            "event_at is on or after 2000-01-01",
            "ExpectColumnValuesToBeBetween",
            {"column": "event_at", "min_value": MIN_EVENT_AT},
        ),
        Rule(
            "event_at is at most load time + future margin",
            "ExpectColumnPairValuesAToBeGreaterThanB",
            {"column_A": "latest_allowed_event_at", "column_B": "event_at", "or_equal": True},
        ),
        Rule(
            "(load_id, row_number) is unique",
            "ExpectCompoundColumnsToBeUnique",
            {"column_list": ["load_id", "row_number"]},
        ),
        Rule(
            "row_number is 1 or more",
            "ExpectColumnValuesToBeBetween",
            {"column": "row_number", "min_value": 1},
        ),
        Rule(
            "properties is a JSON object",
            "ExpectColumnValuesToMatchRegex",
            {"column": "properties", "regex": r"^\{"},
        ),
        Rule("properties is present", "ExpectColumnValuesToNotBeNull", {"column": "properties"}),
        Rule(
            "payload_hash is an MD5 hex digest",
            "ExpectColumnValuesToMatchRegex",
            {"column": "payload_hash", "regex": r"^[0-9a-f]{32}$"},
        ),
        Rule(
            "payload_hash is present", "ExpectColumnValuesToNotBeNull", {"column": "payload_hash"}
        ),
        Rule(
            "payload (the row as received) is kept",
            "ExpectColumnValuesToBeBetween",
            {"column": "payload_bytes", "min_value": 2},
        ),
        Rule(
            "correction_type is void or replace",
            "ExpectColumnValuesToBeInSet",
            {"column": "correction_type", "value_set": ["void", "replace"]},
        ),
        Rule(
            "correction_of and correction_type come together",
            "ExpectColumnValuesToBeInSet",
            {"column": "correction_fields_agree", "value_set": [True]},
        ),
        Rule(
            "a correction corrects another event",
            "ExpectColumnValuesToBeInSet",
            {"column": "corrects_another_event", "value_set": [True]},
        ),
    ]


def _event_label(row: pd.Series) -> str:
    return (
        f"load {row['load_id']} row {row['row_number']} of {row['file_name']}: "
        f"event {row['event_id']!r} at {row['event_at']}"
    )


def event_batch_suite(
    con: duckdb.DuckDBPyConnection,
    *,
    future_margin_hours: int,
    loads: list[int] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> CheckReport:
    """Validate the rows of the loads to check (``loads``; default: new or still failing), ``chunk_rows``
    at a time."""
    high = None
    if loads is None:
        loads, high = loads_to_check(con, EVENT_BATCH_CHECK)
    schema = schema_frame(con, "raw", "events", EVENT_COLUMNS)
    outcomes = run_rules("raw.events schema", schema, schema_rules("raw.events", exact=True))
    table_pin = _first_load_pin(con, loads)
    frames = {"raw.events schema": schema}
    rows_checked = 0
    if all(o.success for o in outcomes):  # a table off its contract is not read row by row
        row_outcomes, failing, rows_checked = run_rules_in_chunks(
            "raw.events rows",
            event_chunks(con, loads, future_margin_hours, chunk_rows),
            event_rules(),
        )
        outcomes += row_outcomes
        frames["raw.events rows"] = failing
    failures = pin_failures(
        EVENT_BATCH_CHECK,
        EVENTS_ASSET,
        outcomes,
        frames,
        {
            "raw.events schema": Pinning(table=table_pin, label=lambda r: r["column_name"]),
            "raw.events rows": Pinning(
                customer="customer_id",
                since="loaded_at",
                load="load_id",
                table=table_pin,
                label=_event_label,
            ),
        },
        EVENT_ACTION,
    )
    return CheckReport(
        check_name=EVENT_BATCH_CHECK,
        asset_key=EVENTS_ASSET,
        rows_checked=rows_checked,
        outcomes=outcomes,
        failures=failures,
        scope=_scope_text(loads),
        max_load_id=high,
    )


def load_accounting_rows(con: duckdb.DuckDBPyConnection, loads: list[int]) -> pd.DataFrame:
    """Per load: the ledger's counts next to the rows actually found in each place, counted here."""
    return read_frame(
        con,
        """
        with
        q as (select load_id, count(*) as n from raw.quarantined_events
              where list_contains($loads, load_id) group by load_id),
        e as (select load_id, count(*) as n from raw.events
              where list_contains($loads, load_id) group by load_id),
        o as (select load_id, count(*) as n, count(*) filter (where outcome = 'duplicate') as d
              from usage.fct_event_outcomes where list_contains($loads, load_id) group by load_id)
        select
            l.load_id, l.batch_id, l.file_name, l.loaded_at, l.file_bytes,
            l.rows_read, l.rows_landed, l.rows_quarantined,
            coalesce(q.n, 0) as quarantined_rows,
            coalesce(e.n, 0) as landed_rows,
            coalesce(o.n, 0) as outcome_rows,
            coalesce(o.d, 0) as duplicate_rows,
            coalesce(q.n, 0) + coalesce(o.n, 0) as accounted_rows
        from raw.event_loads as l
        left join q using (load_id)
        left join e using (load_id)
        left join o using (load_id)
        where list_contains($loads, l.load_id)
        order by l.load_id
        """,
        {"loads": loads},
    )


def load_accounting_rules() -> list[Rule]:
    rules = [
        Rule("load_id is unique", "ExpectColumnValuesToBeUnique", {"column": "load_id"}),
        Rule("loaded_at is present", "ExpectColumnValuesToNotBeNull", {"column": "loaded_at"}),
        Rule("file_name is present", "ExpectColumnValuesToNotBeNull", {"column": "file_name"}),
    ]
    for column in ("file_bytes", "rows_read", "rows_landed", "rows_quarantined"):
        rules.append(
            Rule(
                f"{column} is not negative",
                "ExpectColumnValuesToBeBetween",
                {"column": column, "min_value": 0},
            )
        )
    pairs = [
        (
            "rows_read",
            "accounted_rows",
            "rows read = quarantined + outcomes (billed, duplicates, ...)",
        ),
        (
            "rows_quarantined",
            "quarantined_rows",
            "rows_quarantined = rows in raw.quarantined_events",
        ),
        ("rows_landed", "landed_rows", "rows_landed = rows in raw.events"),
        ("landed_rows", "outcome_rows", "every landed event has exactly one outcome"),
    ]
    for a, b, text in pairs:
        rules.append(Rule(text, "ExpectColumnPairValuesToBeEqual", {"column_A": a, "column_B": b}))
    return rules


def _load_label(row: pd.Series) -> str:
    return (
        f"load {row['load_id']} ({row['file_name']}): {row['rows_read']} read, "
        f"{row['quarantined_rows']} quarantined, {row['outcome_rows']} outcomes "
        f"({row['duplicate_rows']} duplicates), {row['landed_rows']} in raw.events"
    )


def load_accounting_suite(
    con: duckdb.DuckDBPyConnection,
    *,
    loads: list[int] | None = None,
) -> CheckReport:
    """The accounting identity of every load to check (default: new or still failing), and the ledger's
    own schema."""
    high = None
    if loads is None:
        loads, high = loads_to_check(con, LOAD_ACCOUNTING_CHECK)
    schema = schema_frame(con, "raw", "event_loads", LOAD_COLUMNS)
    outcomes = run_rules(
        "raw.event_loads schema", schema, schema_rules("raw.event_loads", exact=True)
    )
    frames = {"raw.event_loads schema": schema}
    rows_checked = 0
    if all(o.success for o in outcomes):
        table_pin = _first_load_pin(con, loads)
        rows = load_accounting_rows(con, loads)
        outcomes += run_rules("load accounting", rows, load_accounting_rules())
        frames["load accounting"] = rows
        rows_checked = len(rows)
    else:  # the ledger itself is off its contract: which loads are concerned is unknown
        table_pin = Pin()
    failures = pin_failures(
        LOAD_ACCOUNTING_CHECK,
        LOAD_ACCOUNTING_ASSET,
        outcomes,
        frames,
        {
            "raw.event_loads schema": Pinning(table=table_pin, label=lambda r: r["column_name"]),
            "load accounting": Pinning(
                since="loaded_at", load="load_id", table=table_pin, label=_load_label
            ),
        },
        LOAD_ACTION,
    )
    return CheckReport(
        check_name=LOAD_ACCOUNTING_CHECK,
        asset_key=LOAD_ACCOUNTING_ASSET,
        rows_checked=rows_checked,
        outcomes=outcomes,
        failures=failures,
        scope=_scope_text(loads),
        max_load_id=high,
    )
