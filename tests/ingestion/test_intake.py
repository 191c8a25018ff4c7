"""Loading event files into the raw tables exactly once (ingestion/events/intake.py).

Expected counts, row numbers, reasons and messages are written by hand from the file contents.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingestion.events import intake
from ingestion.events.intake import (
    EventFileError,
    discover_event_files,
    load_event_files,
)
from ingestion.warehouse import connect

LOADED_AT = datetime(2026, 1, 15, 12, 0, 0)

# One mixed file: good rows, a blank line (not a row), and bad rows.
MIXED_LINES = [
    '{"event_id": "e1", "customer_id": "c1", "subscription_id": "s1", "metric": "api_calls", '
    '"timestamp": "2026-01-10T10:30:00+02:00", "properties": {"region": "eu", "n": 3}}',
    "",
    '{"event_id": "e2", "customer_id": "c1", "metric": "api_ca',
    '{"transaction_id": 77, "external_customer_id": "c2", "code": "storage", '
    '"timestamp": 1767225600.5, "properties": {"gb": 12.50}}',
    '{"event_id": "e4", "metric": "api_calls", "timestamp": "2026-01-10T08:30:00Z"}',
    "   ",
    "[1, 2]",
    '{"event_id": "e6", "customer_id": "c1", "metric": "api_calls", "timestamp": "2026-01-10 10:00:00"}',
    '{"event_id": "e7", "customer_id": "c1", "metric": "api_calls", "timestamp": "2026-01-11T00:00:00Z", '
    '"correction_of": "e1", "correction_type": "void"}',
]
MIXED = "\n".join(MIXED_LINES) + "\n"

EVENT_COLUMNS = (
    "row_number, event_id, customer_id, subscription_id, metric_code, event_at, "
    "properties::varchar, correction_of, correction_type, payload_hash"
)


@pytest.fixture
def con(tmp_path):
    c = connect(tmp_path / "warehouse.duckdb")
    yield c
    c.close()


@pytest.fixture
def events_dir(tmp_path) -> Path:
    d = tmp_path / "landing" / "events"
    d.mkdir(parents=True)
    return d


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def counts(con) -> tuple[int, int, int]:
    return tuple(
        con.execute(f"select count(*) from raw.{t}").fetchone()[0]
        for t in ("event_loads", "events", "quarantined_events")
    )


def load(con, events_dir, **kw):
    return load_event_files(con, events_dir, loaded_at=kw.pop("loaded_at", LOADED_AT), **kw)


def md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


# -- a mixed file ---------------------------------------------------------------------------------


def test_mixed_jsonl_counts_rows_and_reasons(con, events_dir):
    path = write(events_dir / "batch-1.jsonl", MIXED)
    result = load(con, events_dir)

    assert result.batch_id == 1
    assert result.loaded_at == LOADED_AT
    [f] = result.files
    assert (f.file_name, f.status, f.load_id, f.file_format) == (
        "batch-1.jsonl",
        "loaded",
        1,
        "jsonl",
    )
    # 9 lines, 2 blank -> 7 rows: 3 landed, 4 quarantined
    assert (f.rows_read, f.rows_landed, f.rows_quarantined) == (7, 3, 4)
    assert f.rows_read == f.rows_landed + f.rows_quarantined
    assert f.quarantined_by_reason == {
        "invalid_json": 2,
        "missing_field": 1,
        "invalid_timestamp": 1,
    }
    assert list(f.quarantined_by_reason) == ["invalid_json", "missing_field", "invalid_timestamp"]
    assert (result.rows_read, result.rows_landed, result.rows_quarantined) == (7, 3, 4)

    ledger = con.execute(
        "select load_id, batch_id, file_name, file_sha256, file_format, file_bytes, rows_read, "
        "rows_landed, rows_quarantined, loaded_at from raw.event_loads"
    ).fetchall()
    data = path.read_bytes()
    assert ledger == [
        (
            1,
            1,
            "batch-1.jsonl",
            hashlib.sha256(data).hexdigest(),
            "jsonl",
            len(data),
            7,
            3,
            4,
            LOADED_AT,
        )
    ]

    events = con.execute(f"select {EVENT_COLUMNS} from raw.events order by row_number").fetchall()
    assert events == [
        (
            1,
            "e1",
            "c1",
            "s1",
            "api_calls",
            datetime(2026, 1, 10, 8, 30),
            '{"n":"3","region":"eu"}',
            None,
            None,
            md5(
                '["c1","s1","api_calls","2026-01-10T08:30:00.000000",{"n":"3","region":"eu"},null,null]'
            ),
        ),
        (
            3,
            "77",
            "c2",
            None,
            "storage",
            datetime(2026, 1, 1, 0, 0, 0, 500000),
            '{"gb":"12.50"}',
            None,
            None,
            md5('["c2",null,"storage","2026-01-01T00:00:00.500000",{"gb":"12.50"},null,null]'),
        ),
        (
            7,
            "e7",
            "c1",
            None,
            "api_calls",
            datetime(2026, 1, 11),
            "{}",
            "e1",
            "void",
            md5('["c1",null,"api_calls","2026-01-11T00:00:00.000000",{},"e1","void"]'),
        ),
    ]
    rows = con.execute(
        "select load_id, file_name, loaded_at, payload from raw.events order by row_number"
    ).fetchall()
    assert rows == [
        (1, "batch-1.jsonl", LOADED_AT, MIXED_LINES[0]),
        (1, "batch-1.jsonl", LOADED_AT, MIXED_LINES[3]),
        (1, "batch-1.jsonl", LOADED_AT, MIXED_LINES[8]),
    ]
    # the JSON column is queryable as JSON, numbers as exact strings
    assert con.execute(
        "select properties->>'gb', json_type(properties->'gb') from raw.events where event_id = '77'"
    ).fetchone() == ("12.50", "VARCHAR")

    quarantined = con.execute(
        "select load_id, file_name, row_number, loaded_at, reason, message, payload "
        "from raw.quarantined_events order by row_number"
    ).fetchall()
    assert quarantined == [
        (
            1,
            "batch-1.jsonl",
            2,
            LOADED_AT,
            "invalid_json",
            "line is not valid JSON (Unterminated string starting at: column 51, near "
            '"d\\": \\"c1\\", \\"metric\\": \\"api_ca"); write one complete JSON object per line',
            MIXED_LINES[2],
        ),
        (
            1,
            "batch-1.jsonl",
            4,
            LOADED_AT,
            "missing_field",
            'missing required field "customer_id" (or "external_customer_id" / "subject") '
            "(absent, null or empty); add a value",
            MIXED_LINES[4],
        ),
        (
            1,
            "batch-1.jsonl",
            5,
            LOADED_AT,
            "invalid_json",
            "line is an array ([1, 2]), but each line must be one JSON object "
            '{"event_id": ..., "customer_id": ..., "metric": ..., "timestamp": ...}',
            "[1, 2]",
        ),
        (
            1,
            "batch-1.jsonl",
            6,
            LOADED_AT,
            "invalid_timestamp",
            'timestamp "2026-01-10 10:00:00" has no UTC offset; add Z or +hh:mm',
            MIXED_LINES[7],
        ),
    ]


def test_crlf_bom_and_no_final_newline(con, events_dir):
    text = "\ufeff" + MIXED_LINES[0] + "\r\n\r\n" + MIXED_LINES[3]
    write(events_dir / "win.jsonl", text)
    [f] = load(con, events_dir).files
    assert (f.rows_read, f.rows_landed, f.rows_quarantined) == (2, 2, 0)
    assert con.execute("select row_number, payload from raw.events order by 1").fetchall() == [
        (1, MIXED_LINES[0]),
        (2, MIXED_LINES[3]),
    ]


def test_invalid_utf8_line_is_quarantined(con, events_dir):
    good = MIXED_LINES[0].encode()
    bad = b'{"event_id": "e\xff", "customer_id": "c1"}'
    (events_dir / "bytes.jsonl").write_bytes(good + b"\n" + bad + b"\n")
    [f] = load(con, events_dir).files
    assert (f.rows_read, f.rows_landed, f.quarantined_by_reason) == (2, 1, {"invalid_json": 1})
    assert con.execute(
        "select row_number, reason, message, payload from raw.quarantined_events"
    ).fetchall() == [
        (
            2,
            "invalid_json",
            "line is not valid UTF-8 (byte 0xff at byte 16); save the file as UTF-8",
            '{"event_id": "e\ufffd", "customer_id": "c1"}',
        )
    ]


def test_to_dict_is_json_friendly(con, events_dir):
    write(events_dir / "a.jsonl", MIXED)
    write(events_dir / "copy.jsonl", MIXED)
    d = load(con, events_dir).to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["batch_id"] == 1
    assert d["loaded_at"] == "2026-01-15T12:00:00"
    assert (d["files_loaded"], d["files_skipped"]) == (1, 1)
    assert (d["rows_read"], d["rows_landed"], d["rows_quarantined"]) == (7, 3, 4)
    assert d["quarantined_by_reason"] == {
        "invalid_json": 2,
        "missing_field": 1,
        "invalid_timestamp": 1,
    }
    assert [f["status"] for f in d["files"]] == ["loaded", "skipped_duplicate_file"]
    assert d["files"][1]["duplicate_of"] == "a.jsonl"
    assert d["files"][1]["load_id"] is None


# -- exactly once ---------------------------------------------------------------------------------


def test_same_file_twice_is_skipped(con, events_dir):
    write(events_dir / "a.jsonl", MIXED)
    load(con, events_dir)
    before = counts(con)
    assert before == (1, 3, 4)
    snapshot = con.execute("select * from raw.events order by row_number").fetchall()

    again = load(con, events_dir, loaded_at=LOADED_AT + timedelta(hours=1))
    [f] = again.files
    assert f.status == "skipped_duplicate_file"
    assert (f.duplicate_of, f.duplicate_of_load_id, f.load_id) == ("a.jsonl", 1, None)
    assert (f.rows_read, f.rows_landed, f.rows_quarantined) == (0, 0, 0)
    assert again.batch_id is None
    assert counts(con) == before
    assert con.execute("select * from raw.events order by row_number").fetchall() == snapshot


def test_progress_is_reported_after_each_file(con, events_dir):
    """on_file(i, n, load) after each file, in load order: a same-content copy reports as skipped."""
    write(events_dir / "a.jsonl", MIXED)
    write(events_dir / "b.jsonl", MIXED)  # same content as a.jsonl
    seen = []
    load(
        con,
        events_dir,
        on_file=lambda i, n, f: seen.append((i, n, f.file_name, f.status, f.rows_read)),
    )
    assert seen == [
        (1, 2, "a.jsonl", "loaded", 7),
        (2, 2, "b.jsonl", "skipped_duplicate_file", 0),
    ]


def test_renamed_copy_is_skipped(con, events_dir):
    write(events_dir / "a.jsonl", MIXED)
    load(con, events_dir)
    shutil.copy(events_dir / "a.jsonl", write(events_dir / "sub" / "renamed.jsonl", ""))
    result = load(con, events_dir)
    assert [(f.file_name, f.status, f.duplicate_of) for f in result.files] == [
        ("a.jsonl", "skipped_duplicate_file", "a.jsonl"),
        ("sub/renamed.jsonl", "skipped_duplicate_file", "a.jsonl"),
    ]
    assert counts(con) == (1, 3, 4)


def test_duplicate_content_within_one_batch(con, events_dir):
    write(events_dir / "b.jsonl", MIXED)
    write(events_dir / "a.jsonl", MIXED)
    result = load(con, events_dir)
    assert [(f.file_name, f.status, f.load_id, f.duplicate_of) for f in result.files] == [
        ("a.jsonl", "loaded", 1, None),
        ("b.jsonl", "skipped_duplicate_file", None, "a.jsonl"),
    ]
    assert counts(con) == (1, 3, 4)


def test_load_ids_consecutive_across_batches(con, events_dir):
    write(events_dir / "b.jsonl", MIXED_LINES[0])
    write(events_dir / "a.jsonl", MIXED_LINES[3])
    first = load(con, events_dir)
    assert [(f.file_name, f.load_id) for f in first.files] == [("a.jsonl", 1), ("b.jsonl", 2)]
    assert first.batch_id == 1

    nothing = load(con, events_dir)
    assert nothing.batch_id is None
    assert [f.status for f in nothing.files] == ["skipped_duplicate_file"] * 2

    write(events_dir / "0-early-name.jsonl", MIXED_LINES[8])
    write(events_dir / "c.jsonl", MIXED)
    third = load(con, events_dir, loaded_at=LOADED_AT + timedelta(days=1))
    assert [(f.file_name, f.status, f.load_id) for f in third.files] == [
        ("0-early-name.jsonl", "loaded", 3),
        ("a.jsonl", "skipped_duplicate_file", None),
        ("b.jsonl", "skipped_duplicate_file", None),
        ("c.jsonl", "loaded", 4),
    ]
    assert third.batch_id == 2
    assert con.execute(
        "select load_id, batch_id, file_name, loaded_at from raw.event_loads order by load_id"
    ).fetchall() == [
        (1, 1, "a.jsonl", LOADED_AT),
        (2, 1, "b.jsonl", LOADED_AT),
        (3, 2, "0-early-name.jsonl", LOADED_AT + timedelta(days=1)),
        (4, 2, "c.jsonl", LOADED_AT + timedelta(days=1)),
    ]
    assert con.execute(
        "select load_id, count(*) from raw.events group by 1 order by 1"
    ).fetchall() == [(1, 1), (2, 1), (3, 1), (4, 3)]


def test_explicit_files_are_loaded_in_name_order(con, events_dir):
    write(events_dir / "b.jsonl", MIXED_LINES[0])
    write(events_dir / "a.jsonl", MIXED_LINES[3])
    write(events_dir / "z.jsonl", MIXED_LINES[8])
    result = load(con, events_dir, files=[events_dir / "b.jsonl", Path("a.jsonl")])
    assert [(f.file_name, f.load_id) for f in result.files] == [("a.jsonl", 1), ("b.jsonl", 2)]
    with pytest.raises(ValueError, match="not under the events directory"):
        load(con, events_dir, files=[events_dir.parent / "elsewhere.jsonl"])


def test_default_loaded_at_is_now_utc(con, events_dir):
    write(events_dir / "a.jsonl", MIXED_LINES[0])
    before = datetime.now(UTC).replace(tzinfo=None)
    result = load_event_files(con, events_dir)
    after = datetime.now(UTC).replace(tzinfo=None)
    assert before <= result.loaded_at <= after
    assert result.loaded_at.tzinfo is None
    assert con.execute("select loaded_at from raw.event_loads").fetchone()[0] == result.loaded_at


def test_future_margin_is_applied(con, events_dir):
    write(
        events_dir / "a.jsonl",
        '{"event_id": "e", "customer_id": "c", "metric": "m", "timestamp": "2026-01-15T13:00:01Z"}\n',
    )
    result = load(con, events_dir, future_margin=timedelta(hours=1))
    assert result.files[0].quarantined_by_reason == {"timestamp_out_of_range": 1}


# -- discovery ------------------------------------------------------------------------------------


def test_discovery_ignores_temporary_names(events_dir):
    names = [
        "a.jsonl",
        "b.ndjson",
        "c.jsonl.gz",
        "d.ndjson.gz",
        "e.csv",
        "f.parquet",
        "sub/deeper/g.jsonl",
        "sub/h.JSONL",
        # ignored
        ".hidden.jsonl",
        "_underscore.jsonl",
        "x.jsonl.tmp",
        "x.jsonl.part",
        "x.jsonl.partial",
        "x.jsonl.inprogress",
        "x.tmp",
        "notes.txt",
        "x.json",
        "x.csv.gz",
        "_staging/i.jsonl",
        ".git/j.jsonl",
    ]
    for name in names:
        write(events_dir / name, "")
    found = [p.relative_to(events_dir).as_posix() for p in discover_event_files(events_dir)]
    assert found == [
        "a.jsonl",
        "b.ndjson",
        "c.jsonl.gz",
        "d.ndjson.gz",
        "e.csv",
        "f.parquet",
        "sub/deeper/g.jsonl",
        "sub/h.JSONL",
    ]
    assert discover_event_files(events_dir / "missing") == []


def test_temporary_names_are_not_loaded(con, events_dir):
    write(events_dir / "a.jsonl.tmp", MIXED)
    write(events_dir / ".a.jsonl", MIXED)
    write(events_dir / "_a.jsonl", MIXED)
    result = load(con, events_dir)
    assert result.files == []
    assert counts(con) == (0, 0, 0)


# -- formats --------------------------------------------------------------------------------------

# The same events in every format. JSON values are written the way each format carries them.
EVENTS = [
    {
        "event_id": "e1",
        "customer_id": "c1",
        "subscription_id": "s1",
        "metric": "storage",
        "timestamp": "2026-01-10T10:30:00+02:00",
        "properties": {"gb": "12.50", "region": "eu"},
    },
    {
        "event_id": "e2",
        "customer_id": "c1",
        "subscription_id": None,
        "metric": "api_calls",
        "timestamp": "1767225600.25",
        "properties": None,
    },
    {
        "event_id": "e3",
        "customer_id": "c2",
        "subscription_id": "s2",
        "metric": "storage",
        "timestamp": "2026-01-12T00:00:00Z",
        "properties": {"gb": "7", "region": "us"},
        "correction_of": "e9",
        "correction_type": "replace",
    },
    {  # quarantined everywhere
        "event_id": "e4",
        "customer_id": "c2",
        "subscription_id": None,
        "metric": "storage",
        "timestamp": "2026-01-12 00:00:00",
        "properties": {"gb": "1", "region": "us"},
    },
]
COLUMNS = [
    "event_id",
    "customer_id",
    "subscription_id",
    "metric",
    "timestamp",
    "properties",
    "correction_of",
    "correction_type",
]
EXPECTED_EVENTS = [
    (
        1,
        "e1",
        "c1",
        "s1",
        "storage",
        datetime(2026, 1, 10, 8, 30),
        '{"gb":"12.50","region":"eu"}',
        None,
        None,
        md5(
            '["c1","s1","storage","2026-01-10T08:30:00.000000",{"gb":"12.50","region":"eu"},null,null]'
        ),
    ),
    (
        2,
        "e2",
        "c1",
        None,
        "api_calls",
        datetime(2026, 1, 1, 0, 0, 0, 250000),
        "{}",
        None,
        None,
        md5('["c1",null,"api_calls","2026-01-01T00:00:00.250000",{},null,null]'),
    ),
    (
        3,
        "e3",
        "c2",
        "s2",
        "storage",
        datetime(2026, 1, 12),
        '{"gb":"7","region":"us"}',
        "e9",
        "replace",
        md5(
            '["c2","s2","storage","2026-01-12T00:00:00.000000",{"gb":"7","region":"us"},"e9","replace"]'
        ),
    ),
]


def _jsonl_text() -> str:
    # numbers as JSON numbers: gb 12.50 and 7, epoch 1767225600.25
    lines = [
        '{"event_id": "e1", "customer_id": "c1", "subscription_id": "s1", "metric": "storage", '
        '"timestamp": "2026-01-10T10:30:00+02:00", "properties": {"region": "eu", "gb": 12.50}}',
        '{"event_id": "e2", "customer_id": "c1", "metric": "api_calls", "timestamp": 1767225600.25}',
        '{"event_id": "e3", "customer_id": "c2", "subscription_id": "s2", "metric": "storage", '
        '"timestamp": "2026-01-12T00:00:00Z", "properties": {"gb": 7, "region": "us"}, '
        '"correction_of": "e9", "correction_type": "replace"}',
        '{"event_id": "e4", "customer_id": "c2", "metric": "storage", '
        '"timestamp": "2026-01-12 00:00:00", "properties": {"gb": 1, "region": "us"}}',
    ]
    return "\n".join(lines) + "\n"


def _write_csv(path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for e in EVENTS:
            props = e["properties"]
            w.writerow(
                [
                    e["event_id"],
                    e["customer_id"],
                    e["subscription_id"] or "",
                    e["metric"],
                    e["timestamp"],
                    "" if props is None else json.dumps(props).replace('"12.50"', "12.50"),
                    e.get("correction_of", ""),
                    e.get("correction_type", ""),
                ]
            )


def _column(name: str) -> list:
    return [e.get(name) for e in EVENTS]


def _write_parquet_text(path: Path) -> None:
    table = pa.table(
        {
            **{c: pa.array(_column(c), pa.string()) for c in COLUMNS if c != "properties"},
            "properties": pa.array(
                [None if p is None else json.dumps(p) for p in _column("properties")], pa.string()
            ),
        }
    )
    pq.write_table(table, path)


def _write_parquet_struct(path: Path) -> None:
    # typed columns: a UTC timestamp column, a struct of a decimal and a string
    stamps = [
        datetime(2026, 1, 10, 8, 30, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 0, 0, 250000, tzinfo=UTC),
        datetime(2026, 1, 12, tzinfo=UTC),
        datetime(2026, 1, 12),  # will be a UTC timestamp too: quarantine it by content instead
    ]
    props_type = pa.struct([("gb", pa.decimal128(10, 2)), ("region", pa.string())])
    props = [
        {"gb": Decimal("12.50"), "region": "eu"},
        None,
        {"gb": None, "region": "us"},
        {"gb": Decimal("1.00"), "region": "us"},
    ]
    table = pa.table(
        {
            "event_id": pa.array(_column("event_id"), pa.string()),
            "customer_id": pa.array(_column("customer_id"), pa.string()),
            "subscription_id": pa.array(_column("subscription_id"), pa.string()),
            "metric": pa.array(_column("metric"), pa.string()),
            "timestamp": pa.array(stamps, pa.timestamp("ns", tz="UTC")),
            "properties": pa.array(props, props_type),
            "correction_of": pa.array(_column("correction_of"), pa.string()),
            "correction_type": pa.array(_column("correction_type"), pa.string()),
            "extra": pa.array([1, 2, 3, 4], pa.int64()),
        }
    )
    pq.write_table(table, path)


def _normalized_events(con, load_id: int) -> list[tuple]:
    return con.execute(
        f"select {EVENT_COLUMNS} from raw.events where load_id = ? order by row_number", [load_id]
    ).fetchall()


def test_jsonl_gz_csv_parquet_land_the_same_events(con, events_dir):
    write(events_dir / "1.jsonl", _jsonl_text())
    with gzip.open(events_dir / "2.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(_jsonl_text())
    _write_csv(events_dir / "3.csv")
    _write_parquet_text(events_dir / "4.parquet")

    result = load(con, events_dir)
    assert [(f.file_name, f.file_format, f.load_id) for f in result.files] == [
        ("1.jsonl", "jsonl", 1),
        ("2.jsonl.gz", "jsonl", 2),
        ("3.csv", "csv", 3),
        ("4.parquet", "parquet", 4),
    ]
    for f in result.files:
        assert (f.rows_read, f.rows_landed, f.rows_quarantined) == (4, 3, 1), f.file_name
        assert f.quarantined_by_reason == {"invalid_timestamp": 1}
    for load_id in (1, 2, 3, 4):
        assert _normalized_events(con, load_id) == EXPECTED_EVENTS, load_id
    assert con.execute(
        "select load_id, row_number, reason, message from raw.quarantined_events order by load_id"
    ).fetchall() == [
        (
            i,
            4,
            "invalid_timestamp",
            'timestamp "2026-01-12 00:00:00" has no UTC offset; add Z or +hh:mm',
        )
        for i in (1, 2, 3, 4)
    ]
    # payload: the JSON line as received; a CSV/Parquet row as a JSON object of its columns
    payloads = dict(
        con.execute("select load_id, payload from raw.events where row_number = 2").fetchall()
    )
    assert payloads[1] == payloads[2] == _jsonl_text().splitlines()[1]
    assert json.loads(payloads[3]) == {
        "event_id": "e2",
        "customer_id": "c1",
        "subscription_id": "",
        "metric": "api_calls",
        "timestamp": "1767225600.25",
        "properties": "",
        "correction_of": "",
        "correction_type": "",
    }
    assert json.loads(payloads[4]) == {
        "event_id": "e2",
        "customer_id": "c1",
        "subscription_id": None,
        "metric": "api_calls",
        "timestamp": "1767225600.25",
        "properties": None,
        "correction_of": None,
        "correction_type": None,
    }


def test_parquet_struct_properties_and_typed_timestamps(con, events_dir):
    _write_parquet_struct(events_dir / "typed.parquet")
    [f] = load(con, events_dir).files
    # the 4th row's timestamp is a proper UTC timestamp here, so it lands
    assert (f.rows_read, f.rows_landed, f.rows_quarantined) == (4, 4, 0)
    rows = _normalized_events(con, 1)
    assert rows[:2] == EXPECTED_EVENTS[:2]
    # a null struct field is an absent key
    assert rows[2] == (
        3,
        "e3",
        "c2",
        "s2",
        "storage",
        datetime(2026, 1, 12),
        '{"region":"us"}',
        "e9",
        "replace",
        md5('["c2","s2","storage","2026-01-12T00:00:00.000000",{"region":"us"},"e9","replace"]'),
    )
    assert rows[3][5:7] == (datetime(2026, 1, 12), '{"gb":"1.00","region":"us"}')
    payload = json.loads(
        con.execute("select payload from raw.events where row_number = 1").fetchone()[0]
    )
    assert payload["properties"] == {"gb": "12.50", "region": "eu"}
    assert payload["extra"] == 1


def test_parquet_naive_timestamp_column_is_rejected(con, events_dir):
    table = pa.table(
        {
            "event_id": ["e1"],
            "customer_id": ["c1"],
            "metric": ["m"],
            "timestamp": pa.array([datetime(2026, 1, 10)], pa.timestamp("us")),
        }
    )
    pq.write_table(table, events_dir / "naive.parquet")
    [f] = load(con, events_dir).files
    assert f.quarantined_by_reason == {"invalid_timestamp": 1}
    message = con.execute("select message from raw.quarantined_events").fetchone()[0]
    assert message == (
        'timestamp "2026-01-10T00:00:00" has no time zone; write the column as a UTC timestamp '
        "(tz='UTC') or as epoch seconds"
    )


def test_parquet_integer_ids_and_map_properties(con, events_dir):
    table = pa.table(
        {
            "transaction_id": pa.array([123], pa.int64()),
            "external_customer_id": pa.array([42], pa.int64()),
            "code": ["m"],
            "timestamp": pa.array([1767225600], pa.int64()),
            "properties": pa.array([[("b", "2"), ("a", "1")]], pa.map_(pa.string(), pa.string())),
        }
    )
    pq.write_table(table, events_dir / "ids.parquet")
    load(con, events_dir)
    assert _normalized_events(con, 1) == [
        (
            1,
            "123",
            "42",
            None,
            "m",
            datetime(2026, 1, 1),
            '{"a":"1","b":"2"}',
            None,
            None,
            md5('["42",null,"m","2026-01-01T00:00:00.000000",{"a":"1","b":"2"},null,null]'),
        )
    ]


def test_csv_alias_headers_empty_cells_and_bad_rows(con, events_dir):
    text = (
        "transaction_id, external_customer_id ,code,timestamp,properties,external_subscription_id\n"
        'tx1,acme,api_calls,1767225600,"{""region"": ""eu"", ""n"": 2.0}",\n'
        "\n"
        "tx2,,api_calls,1767225600,,\n"
        "tx3,acme,api_calls,1767225600,{bad json},\n"
        "tx4,acme,api_calls,1767225600,,sub_1,extra\n"
        "tx5,acme,api_calls\n"
        "tx6,acme,storage,2026-01-01T00:00:00Z,,sub_1\n"
    )
    write(events_dir / "lago.csv", text)
    [f] = load(con, events_dir).files
    assert (f.rows_read, f.rows_landed, f.rows_quarantined) == (6, 2, 4)
    assert f.quarantined_by_reason == {
        "invalid_json": 2,
        "missing_field": 1,
        "invalid_properties": 1,
    }
    assert con.execute(
        "select row_number, event_id, customer_id, subscription_id, metric_code, properties::varchar "
        "from raw.events order by 1"
    ).fetchall() == [
        (1, "tx1", "acme", None, "api_calls", '{"n":"2.0","region":"eu"}'),
        (6, "tx6", "acme", "sub_1", "storage", "{}"),
    ]
    assert con.execute(
        "select row_number, reason, message from raw.quarantined_events order by 1"
    ).fetchall() == [
        (
            2,
            "missing_field",
            'missing required field "customer_id" (or "external_customer_id" / "subject") '
            "(absent, null or empty); add a value",
        ),
        (
            3,
            "invalid_properties",
            'properties "{bad json}" is not valid JSON text; send a JSON object such as {"key": "value"}',
        ),
        (
            4,
            "invalid_json",
            "CSV row has 7 cells but the header has 6 columns; quote cells that contain commas or line breaks",
        ),
        (
            5,
            "invalid_json",
            "CSV row has 3 cells but the header has 6 columns; quote cells that contain commas or line breaks",
        ),
    ]
    payload = con.execute(
        "select payload from raw.quarantined_events where row_number = 4"
    ).fetchone()[0]
    assert json.loads(payload) == {
        "transaction_id": "tx4",
        "external_customer_id": "acme",
        "code": "api_calls",
        "timestamp": "1767225600",
        "properties": "",
        "external_subscription_id": "sub_1",
        "_extra_cells": ["extra"],
    }


def test_empty_files(con, events_dir):
    write(events_dir / "empty.jsonl", "")
    write(events_dir / "header-only.csv", "event_id,customer_id,metric,timestamp\n")
    result = load(con, events_dir)
    assert [(f.file_name, f.status, f.rows_read) for f in result.files] == [
        ("empty.jsonl", "loaded", 0),
        ("header-only.csv", "loaded", 0),
    ]
    assert counts(con) == (2, 0, 0)


# -- atomicity ------------------------------------------------------------------------------------


def test_failure_mid_file_leaves_nothing_and_retry_loads(con, events_dir, monkeypatch):
    write(events_dir / "a.jsonl", MIXED)
    write(events_dir / "b.jsonl", "\n".join(MIXED_LINES[:1] * 2 + MIXED_LINES[3:4] * 3) + "\n")
    monkeypatch.setattr(intake, "CHUNK_ROWS", 2)  # several inserts per file
    original = intake._insert_events
    calls = []

    def failing_insert(con_, table, params):
        calls.append(params["file_name"])
        if params["file_name"] == "b.jsonl" and calls.count("b.jsonl") == 2:
            raise RuntimeError("disk on fire")
        original(con_, table, params)

    monkeypatch.setattr(intake, "_insert_events", failing_insert)
    with pytest.raises(RuntimeError, match="disk on fire"):
        load(con, events_dir)
    # a.jsonl (its own transaction) stays; nothing of b.jsonl, though one chunk of it was inserted
    assert calls.count("b.jsonl") == 2
    assert counts(con) == (1, 3, 4)
    assert con.execute("select distinct file_name from raw.events").fetchall() == [("a.jsonl",)]

    monkeypatch.setattr(intake, "_insert_events", original)
    retry = load(con, events_dir)
    assert [(f.file_name, f.status, f.load_id) for f in retry.files] == [
        ("a.jsonl", "skipped_duplicate_file", None),
        ("b.jsonl", "loaded", 2),
    ]
    assert retry.batch_id == 2
    assert counts(con) == (2, 8, 4)


def test_failure_after_the_ledger_insert_leaves_nothing(con, events_dir, monkeypatch):
    write(events_dir / "a.jsonl", MIXED)
    original = intake._insert_ledger

    def insert_then_fail(con_, params):
        original(con_, params)
        assert con_.execute("select count(*) from raw.event_loads").fetchone()[0] == 1
        raise KeyboardInterrupt  # even an interrupt rolls back

    monkeypatch.setattr(intake, "_insert_ledger", insert_then_fail)
    with pytest.raises(KeyboardInterrupt):
        load(con, events_dir)
    assert counts(con) == (0, 0, 0)

    monkeypatch.setattr(intake, "_insert_ledger", original)
    [f] = load(con, events_dir).files
    assert (f.status, f.load_id, f.rows_read) == ("loaded", 1, 7)
    assert counts(con) == (1, 3, 4)


def test_unreadable_file_raises_and_rolls_back(con, events_dir):
    data = gzip.compress((_jsonl_text() * 50).encode())
    (events_dir / "a.jsonl.gz").write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(EventFileError, match="a.jsonl.gz: cannot read jsonl file"):
        load(con, events_dir)
    assert counts(con) == (0, 0, 0)
    (events_dir / "b.parquet").write_bytes(b"PAR1 not really")
    (events_dir / "a.jsonl.gz").unlink()
    with pytest.raises(EventFileError, match="b.parquet"):
        load(con, events_dir)
    assert counts(con) == (0, 0, 0)


def test_many_chunks_keep_row_order(con, events_dir, monkeypatch):
    monkeypatch.setattr(intake, "CHUNK_ROWS", 3)
    lines = []
    for i in range(1, 11):
        if i % 4 == 0:
            lines.append("not json")
        else:
            lines.append(
                f'{{"event_id": "e{i}", "customer_id": "c", "metric": "m", "timestamp": {1767225600 + i}}}'
            )
    write(events_dir / "a.jsonl", "\n".join(lines))
    [f] = load(con, events_dir).files
    assert (f.rows_read, f.rows_landed, f.rows_quarantined) == (10, 8, 2)
    assert con.execute("select row_number, event_id from raw.events order by 1").fetchall() == [
        (i, f"e{i}") for i in (1, 2, 3, 5, 6, 7, 9, 10)
    ]
    assert con.execute("select row_number from raw.quarantined_events order by 1").fetchall() == [
        (4,),
        (8,),
    ]
