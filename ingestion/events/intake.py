"""Load event files from ``landing/events/`` into the raw tables, each file exactly once.

See ``docs/contracts.md`` ("Files under DIR", "Events", "Raw tables"). For every new file (by SHA-256
of its content) one transaction writes its ledger row in ``raw.event_loads``, its landed rows in
``raw.events`` and its rejected rows in ``raw.quarantined_events``: a failure mid-file rolls all of it
back, and a file whose content is already in the ledger is skipped (``skipped_duplicate_file``).

Row numbering (``row_number``, 1-based, per file, in file order):

* JSON Lines (``.jsonl``, ``.ndjson``, optionally ``.gz``): one row per non-blank line. A blank or
  whitespace-only line is skipped and is *not* a row (it is not counted in ``rows_read`` and does not
  consume a row number), so ``row_number`` is the line number only when the file has no blank lines.
  A UTF-8 BOM at the start is ignored; ``\\r\\n`` endings are accepted. ``payload`` is the line as
  received (without its line ending); a line that is not valid UTF-8 is ``invalid_json`` and its
  payload has the bad bytes replaced by U+FFFD.
* CSV: the first non-blank record is the header (names stripped of spaces; aliases accepted); blank
  records are skipped; every other record is a row. Empty cells are absent values. A record with more
  or fewer cells than the header is ``invalid_json`` (it cannot be decoded into an object).
  ``payload`` is the record as a JSON object ``{column: cell text}`` (extra cells under
  ``"_extra_cells"``).
* Parquet: every row is a row. ``properties`` may be a JSON text column, a struct (null struct fields
  are dropped, as a struct cannot omit a key) or a map. Nulls and empty strings are absent values;
  nanosecond timestamps are truncated to microseconds; a timestamp column must carry a time zone.
  ``payload`` is the row as JSON (decimals and timestamps as strings).

A file that cannot be read at all (corrupt gzip/Parquet, CSV syntax error) raises
:class:`EventFileError` after rolling that file back; files earlier in the batch stay loaded and
later files are not attempted (so load order keeps following file-name order).

Ids: ``load_id`` = max + 1 per loaded file, in relative-path order; ``batch_id`` = max + 1 per call
that loads at least one file (a call that loads nothing consumes no batch id). Skipped files report
zero rows.

Performance (1M JSON lines of ~200 bytes on 2 cores: ~14 s): rows are parsed in one lean loop, the
rows are inserted as Arrow tables of CHUNK_ROWS rows, each insert runs on a background thread while
the next chunk is parsed, and the cyclic garbage collector is paused during the load (see
``_gc_paused``).
"""

from __future__ import annotations

import csv
import gc
import gzip
import hashlib
import json
import logging
import os
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ingestion.events import parse as parse_module
from ingestion.events.parse import (
    DEFAULT_FUTURE_MARGIN,
    PROPERTIES_KEYS,
    QUARANTINE_REASONS,
    EventParser,
    ParsedEvent,
    Rejection,
    decode_json_line,
)
from ingestion.warehouse import ensure_raw_schema

__all__ = [
    "EVENT_FILE_SUFFIXES",
    "EventFileError",
    "FileLoad",
    "IntakeResult",
    "discover_event_files",
    "event_file_format",
    "is_ignored_name",
    "load_event_files",
]

log = logging.getLogger(__name__)

#: Recognized file name endings (lowercase) and their ``file_format``.
EVENT_FILE_SUFFIXES: dict[str, str] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".jsonl.gz": "jsonl",
    ".ndjson.gz": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
}
_TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".inprogress")

#: Rows buffered per insert (per table) inside a file's transaction.
CHUNK_ROWS = 100_000

STATUS_LOADED = "loaded"
STATUS_SKIPPED_DUPLICATE = "skipped_duplicate_file"

_BOM = b"\xef\xbb\xbf"


class EventFileError(Exception):
    """A whole event file cannot be read (nothing of it was written)."""

    def __init__(self, file_name: str, message: str) -> None:
        super().__init__(f"{file_name}: {message}")
        self.file_name = file_name


# -- results -------------------------------------------------------------------------------------


def _ordered_reasons(counts: Counter[str] | dict[str, int]) -> dict[str, int]:
    ordered = {r: counts[r] for r in QUARANTINE_REASONS if counts.get(r)}
    ordered.update({r: n for r, n in counts.items() if n and r not in ordered})
    return ordered


@dataclass
class FileLoad:
    """What happened to one file."""

    file_name: str  # path relative to the events directory, with "/"
    status: str  # "loaded" | "skipped_duplicate_file"
    file_format: str  # jsonl | csv | parquet
    file_sha256: str
    file_bytes: int
    load_id: int | None = None  # None when skipped
    rows_read: int = 0
    rows_landed: int = 0
    rows_quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    duplicate_of: str | None = None  # skipped: the file name that loaded this content first
    duplicate_of_load_id: int | None = None
    elapsed_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "file_name": self.file_name,
            "status": self.status,
            "file_format": self.file_format,
            "file_sha256": self.file_sha256,
            "file_bytes": self.file_bytes,
            "load_id": self.load_id,
            "rows_read": self.rows_read,
            "rows_landed": self.rows_landed,
            "rows_quarantined": self.rows_quarantined,
            "quarantined_by_reason": dict(self.quarantined_by_reason),
            "duplicate_of": self.duplicate_of,
            "duplicate_of_load_id": self.duplicate_of_load_id,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }


@dataclass
class IntakeResult:
    """One call of :func:`load_event_files` (a batch)."""

    batch_id: int | None  # None when no file was loaded
    loaded_at: datetime  # naive UTC, shared by every file of the batch
    files: list[FileLoad] = field(default_factory=list)

    @property
    def loaded(self) -> list[FileLoad]:
        return [f for f in self.files if f.status == STATUS_LOADED]

    @property
    def skipped(self) -> list[FileLoad]:
        return [f for f in self.files if f.status == STATUS_SKIPPED_DUPLICATE]

    @property
    def files_loaded(self) -> int:
        return len(self.loaded)

    @property
    def files_skipped(self) -> int:
        return len(self.skipped)

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_landed(self) -> int:
        return sum(f.rows_landed for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def quarantined_by_reason(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for f in self.files:
            total.update(f.quarantined_by_reason)
        return _ordered_reasons(total)

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "loaded_at": self.loaded_at.isoformat(),
            "files_loaded": self.files_loaded,
            "files_skipped": self.files_skipped,
            "rows_read": self.rows_read,
            "rows_landed": self.rows_landed,
            "rows_quarantined": self.rows_quarantined,
            "quarantined_by_reason": self.quarantined_by_reason,
            "files": [f.to_dict() for f in self.files],
        }


# -- discovery -----------------------------------------------------------------------------------


def event_file_format(name: str) -> str | None:
    """``jsonl`` / ``csv`` / ``parquet`` for a recognized file name, else None."""
    lower = name.lower()
    for suffix, fmt in EVENT_FILE_SUFFIXES.items():
        if lower.endswith(suffix):
            return fmt
    return None


def is_ignored_name(name: str) -> bool:
    """True for names of files still being written (``.x``, ``_x``, ``*.tmp``, ``*.part``...)."""
    return name.startswith((".", "_")) or name.lower().endswith(_TEMP_SUFFIXES)


def discover_event_files(events_dir: Path) -> list[Path]:
    """Event files under ``events_dir`` (recursive), sorted by relative path (``/``-separated).

    Skips ignored names (see :func:`is_ignored_name`), unrecognized extensions, and directories whose
    name starts with ``.`` or ``_`` (staging areas). Symlinked directories are not followed.
    """
    events_dir = Path(events_dir)
    if not events_dir.is_dir():
        return []
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(events_dir):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
        for name in filenames:
            if is_ignored_name(name) or event_file_format(name) is None:
                continue
            path = Path(dirpath) / name
            found.append((path.relative_to(events_dir).as_posix(), path))
    found.sort(key=lambda item: item[0])
    return [path for _, path in found]


def _relative_name(events_dir: Path, path: Path) -> str:
    try:
        return path.relative_to(events_dir).as_posix()
    except ValueError:
        try:
            return path.resolve().relative_to(events_dir.resolve()).as_posix()
        except ValueError:
            raise ValueError(f"{path} is not under the events directory {events_dir}") from None


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# -- readers ---------------------------------------------------------------------------------------
# A reader yields chunks (``Chunk``) of at most CHUNK_ROWS landed and CHUNK_ROWS rejected rows. A
# payload is bytes: the row as received, UTF-8 (always valid UTF-8 when the row parsed; a rejected
# row's payload may hold invalid bytes, stored with U+FFFD replacements).


class Chunk:
    """Parsed rows of one file, buffered for one insert per table."""

    __slots__ = ("ev_numbers", "ev_payloads", "events", "rejected")

    def __init__(self) -> None:
        self.ev_numbers: list[int] = []
        self.ev_payloads: list[bytes] = []
        self.events: list[ParsedEvent] = []
        self.rejected: list[
            tuple[int, bytes, str, str]
        ] = []  # row_number, payload, reason, message


Row = tuple[int, bytes, ParsedEvent | Rejection]


def _chunked(rows: Iterable[Row]) -> Iterator[Chunk]:
    """Group (row_number, payload, result) rows into chunks."""
    chunk = Chunk()
    for row_number, payload, result in rows:
        if type(result) is ParsedEvent:
            chunk.ev_numbers.append(row_number)
            chunk.ev_payloads.append(payload)
            chunk.events.append(result)
            if len(chunk.events) >= CHUNK_ROWS:
                yield chunk
                chunk = Chunk()
        else:
            chunk.rejected.append((row_number, payload, result.reason, result.message))
            if len(chunk.rejected) >= CHUNK_ROWS:
                yield chunk
                chunk = Chunk()
    if chunk.events or chunk.rejected:
        yield chunk


def _read_jsonl(path: Path, parser: EventParser) -> Iterator[Chunk]:
    # The hot loop of the intake: one pass per line, appending straight into the chunk.
    parse = parser.parse
    scan = parse_module._scan_once  # the C scanner; decode_json_line gives the errors' detail
    decode = decode_json_line
    chunk_rows = CHUNK_ROWS
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        chunk = Chunk()
        ev_numbers, ev_payloads, events = chunk.ev_numbers, chunk.ev_payloads, chunk.events
        row_number = 0
        for raw in fh:
            raw = raw.rstrip(b"\r\n")
            if not raw or raw.isspace():
                continue
            if row_number == 0 and raw.startswith(_BOM):
                raw = raw[3:]
                if not raw or raw.isspace():
                    continue
            row_number += 1
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = raw[exc.start : exc.start + 1].hex()
                result: Any = Rejection(
                    "invalid_json",
                    f"line is not valid UTF-8 (byte 0x{bad} at byte {exc.start + 1}); "
                    "save the file as UTF-8",
                )
            else:
                try:
                    obj, end = scan(line, 0)
                    if end != len(line):
                        obj = None
                except (StopIteration, ValueError, RecursionError):
                    obj = None
                if type(obj) is not dict:
                    obj = decode(line)
                result = obj if type(obj) is Rejection else parse(obj)
            if type(result) is ParsedEvent:
                ev_numbers.append(row_number)
                ev_payloads.append(raw)
                events.append(result)
                if len(events) < chunk_rows:
                    continue
            else:
                chunk.rejected.append((row_number, raw, result.reason, result.message))
                if len(chunk.rejected) < chunk_rows:
                    continue
            yield chunk
            chunk = Chunk()
            ev_numbers, ev_payloads, events = chunk.ev_numbers, chunk.ev_payloads, chunk.events
        if events or chunk.rejected:
            yield chunk


_payload_encode = json.JSONEncoder(ensure_ascii=False).encode


def _payload_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


_payload_encode_any = json.JSONEncoder(ensure_ascii=False, default=_payload_default).encode


def _read_csv(path: Path, parser: EventParser) -> Iterator[Chunk]:
    return _chunked(_csv_rows(path, parser))


def _csv_rows(path: Path, parser: EventParser) -> Iterator[Row]:
    parse = parser.parse
    # surrogateescape: undecodable bytes survive as lone surrogates, detected per row below.
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        reader = csv.reader(fh, strict=True)
        header: list[str] | None = None
        row_number = 0
        for cells in reader:
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if header is None:
                header = [name.strip() for name in cells]
                continue
            row_number += 1
            record = dict(zip(header, cells, strict=False))
            if len(cells) > len(header):
                record["_extra_cells"] = cells[len(header) :]  # type: ignore[assignment]
            text = _payload_encode(record)
            try:
                payload = text.encode("utf-8")
            except UnicodeEncodeError:
                payload = text.encode("utf-8", "surrogateescape")  # the original bytes
                yield (
                    row_number,
                    payload,
                    Rejection(
                        "invalid_json",
                        "CSV row is not valid UTF-8 (see U+FFFD in the payload); save the file as UTF-8",
                    ),
                )
                continue
            if len(cells) != len(header):
                yield (
                    row_number,
                    payload,
                    Rejection(
                        "invalid_json",
                        f"CSV row has {len(cells)} cells but the header has {len(header)} columns; "
                        "quote cells that contain commas or line breaks",
                    ),
                )
                continue
            values = {k: v for k, v in record.items() if v != ""}
            yield row_number, payload, parse(values)


def _us_timestamps(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Cast nanosecond timestamp columns to microseconds (truncating), keeping the time zone."""
    columns = []
    changed = False
    for column in batch.columns:
        t = column.type
        if pa.types.is_timestamp(t) and t.unit == "ns":
            column = column.cast(pa.timestamp("us", tz=t.tz), safe=False)
            changed = True
        columns.append(column)
    if not changed:
        return batch
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _read_parquet(path: Path, parser: EventParser) -> Iterator[Chunk]:
    return _chunked(_parquet_rows(path, parser))


def _parquet_rows(path: Path, parser: EventParser) -> Iterator[Row]:
    import pyarrow.parquet as pq

    parse = parser.parse
    pf = pq.ParquetFile(path)
    schema = pf.schema_arrow
    struct_keys = [
        key
        for key in PROPERTIES_KEYS
        if key in schema.names and pa.types.is_struct(schema.field(key).type)
    ]
    row_number = 0
    for batch in pf.iter_batches(batch_size=min(CHUNK_ROWS, 65_536)):
        for row in _us_timestamps(batch).to_pylist(maps_as_pydicts="lossy"):
            row_number += 1
            payload = _payload_encode_any(row).encode("utf-8", "replace")
            values = {
                k: v for k, v in row.items() if v is not None and not (type(v) is str and v == "")
            }
            for key in struct_keys:
                props = values.get(key)
                if type(props) is dict:
                    values[key] = {k: v for k, v in props.items() if v is not None}
            yield row_number, payload, parse(values)


_READERS = {"jsonl": _read_jsonl, "csv": _read_csv, "parquet": _read_parquet}

# Errors that mean "this file cannot be read", as opposed to a bug or a database failure.
_FILE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes gzip.BadGzipFile
    EOFError,
    zlib.error,
    csv.Error,
    UnicodeError,
    pa.ArrowException,
)


# -- writing -------------------------------------------------------------------------------------

_EVENTS_SQL = """
insert into raw.events (
    load_id, file_name, row_number, loaded_at, event_id, customer_id, subscription_id,
    metric_code, event_at, properties, correction_of, correction_type, payload_hash, payload
)
select
    $load_id, $file_name, row_number, $loaded_at, event_id, customer_id, subscription_id,
    metric_code, event_at, cast(properties as json), correction_of, correction_type, payload_hash,
    payload
from {view}
"""

_QUARANTINE_SQL = """
insert into raw.quarantined_events (load_id, file_name, row_number, loaded_at, reason, message, payload)
select $load_id, $file_name, row_number, $loaded_at, reason, message, payload
from {view}
"""

_LEDGER_SQL = """
insert into raw.event_loads (
    load_id, batch_id, file_name, file_sha256, file_format, file_bytes, rows_read, rows_landed,
    rows_quarantined, loaded_at
) values ($load_id, $batch_id, $file_name, $file_sha256, $file_format, $file_bytes, $rows_read,
    $rows_landed, $rows_quarantined, $loaded_at)
"""

_STR = pa.string()


def _events_table(
    row_numbers: list[int], payloads: list[bytes], events: list[ParsedEvent]
) -> pa.Table:
    (
        event_id,
        customer_id,
        subscription_id,
        metric_code,
        event_at,
        _properties,
        properties_json,
        correction_of,
        correction_type,
        payload_hash,
    ) = zip(*events, strict=True)
    return pa.table(
        {
            "row_number": pa.array(row_numbers, pa.int64()),
            "event_id": pa.array(event_id, _STR),
            "customer_id": pa.array(customer_id, _STR),
            "subscription_id": pa.array(subscription_id, _STR),
            "metric_code": pa.array(metric_code, _STR),
            "event_at": pa.array(event_at, pa.timestamp("us")),
            "properties": pa.array(properties_json, _STR),
            "correction_of": pa.array(correction_of, _STR),
            "correction_type": pa.array(correction_type, _STR),
            "payload_hash": pa.array(payload_hash, _STR),
            # Valid UTF-8 by construction; the cast checks it (cheaply) rather than trusting it.
            "payload": pa.array(payloads, pa.binary()).cast(_STR),
        }
    )


def _quarantine_table(rows: list[tuple[int, bytes, str, str]]) -> pa.Table:
    row_number, payload_bytes, reason, message = zip(*rows, strict=True)
    payload = [p.decode("utf-8", "replace") for p in payload_bytes]
    return pa.table(
        {
            "row_number": pa.array(row_number, pa.int64()),
            "reason": pa.array(reason, _STR),
            "message": pa.array(message, _STR),
            "payload": pa.array(payload, _STR),
        }
    )


def _insert_arrow(
    con: duckdb.DuckDBPyConnection, sql: str, table: pa.Table, params: dict[str, Any]
) -> None:
    view = "__meterhouse_intake_chunk"
    con.register(view, table)
    try:
        con.execute(sql.format(view=view), params)
    finally:
        con.unregister(view)


def _insert_events(con: duckdb.DuckDBPyConnection, table: pa.Table, params: dict[str, Any]) -> None:
    _insert_arrow(con, _EVENTS_SQL, table, params)


def _insert_quarantined(
    con: duckdb.DuckDBPyConnection, table: pa.Table, params: dict[str, Any]
) -> None:
    _insert_arrow(con, _QUARANTINE_SQL, table, params)


def _insert_ledger(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> None:
    con.execute(_LEDGER_SQL, params)


class _Inserter:
    """Runs the chunk inserts on one background thread, so DuckDB (which releases the GIL) writes
    chunk n while Python parses chunk n+1. At most one insert is in flight (bounded memory); an
    insert's error is raised in the caller at the next ``submit`` or at ``finish``. The connection is
    only ever used by one thread at a time."""

    def __init__(self, con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> None:
        self._con = con
        self._params = params
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="meterhouse-intake")
        self._pending: Future[None] | None = None

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def submit(self, insert: Any, table: pa.Table) -> None:
        self._wait()
        self._pending = self._pool.submit(insert, self._con, table, self._params)

    def finish(self) -> None:
        """Wait for the last insert (raising its error)."""
        self._wait()

    def close(self) -> None:
        """Wait for any insert in flight (ignoring its result) and stop the thread."""
        self._pool.shutdown(wait=True)


def _write_chunks(
    con: duckdb.DuckDBPyConnection, chunks: Iterable[Chunk], params: dict[str, Any]
) -> tuple[int, Counter[str]]:
    """Insert the chunks; returns (rows landed, rows quarantined by reason)."""
    landed = 0
    reasons: Counter[str] = Counter()
    inserter = _Inserter(con, params)
    try:
        for chunk in chunks:
            if chunk.events:
                table = _events_table(chunk.ev_numbers, chunk.ev_payloads, chunk.events)
                inserter.submit(_insert_events, table)
                landed += len(chunk.events)
            if chunk.rejected:
                inserter.submit(_insert_quarantined, _quarantine_table(chunk.rejected))
                reasons.update(reason for _, _, reason, _ in chunk.rejected)
        inserter.finish()
    finally:
        inserter.close()
    return landed, reasons


def _load_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    load: FileLoad,
    *,
    batch_id: int,
    loaded_at: datetime,
    future_margin: timedelta,
) -> None:
    """Load one new file in one transaction, filling ``load``'s counts."""
    parser = EventParser(loaded_at, future_margin, text_properties=load.file_format != "jsonl")
    params = {"load_id": load.load_id, "file_name": load.file_name, "loaded_at": loaded_at}
    con.begin()
    try:
        try:
            landed, reasons = _write_chunks(con, _READERS[load.file_format](path, parser), params)
            quarantined = sum(reasons.values())
        except _FILE_ERRORS as exc:
            if isinstance(exc, duckdb.Error):
                raise
            raise EventFileError(
                load.file_name, f"cannot read {load.file_format} file: {exc}"
            ) from exc
        load.rows_landed = landed
        load.rows_quarantined = quarantined
        load.rows_read = landed + quarantined
        load.quarantined_by_reason = _ordered_reasons(reasons)
        _insert_ledger(
            con,
            {
                **params,
                "batch_id": batch_id,
                "file_sha256": load.file_sha256,
                "file_format": load.file_format,
                "file_bytes": load.file_bytes,
                "rows_read": load.rows_read,
                "rows_landed": load.rows_landed,
                "rows_quarantined": load.rows_quarantined,
            },
        )
        con.commit()
    except BaseException:
        try:
            con.rollback()
        except duckdb.Error:  # pragma: no cover - the original error matters more
            log.exception("rollback of %s failed", load.file_name)
        raise


# -- entry point ---------------------------------------------------------------------------------


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while loading.

    Parsing allocates a few containers per row and keeps a chunk of them alive, which makes the
    collector re-scan the heap over and over (measured: ~40% of the load time). The intake creates
    no reference cycles, so nothing is lost; the collector is re-enabled (if it was on) afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_event_files(
    con: duckdb.DuckDBPyConnection,
    events_dir: Path,
    *,
    loaded_at: datetime | None = None,
    future_margin: timedelta = DEFAULT_FUTURE_MARGIN,
    files: list[Path] | None = None,
    on_file: Callable[[int, int, FileLoad], None] | None = None,
) -> IntakeResult:
    """Load every new event file under ``events_dir`` (or just ``files``) as one batch.

    ``on_file(i, n, load)`` is called after each file (1-based ``i`` of ``n``): progress for a caller that
    reports it (the Dagster asset logs one line per file).

    ``loaded_at`` (default: now, UTC) is stored naive UTC on every row of the batch; an aware value is
    converted to UTC. ``files`` (absolute, or relative to ``events_dir``) must lie under
    ``events_dir``; they are loaded in relative-path order whatever the order given. Each file is
    loaded in its own transaction, so this must not be called inside an open transaction. On an
    error the file at fault is rolled back, files before it stay loaded, and the error propagates.
    """
    events_dir = Path(events_dir)
    ensure_raw_schema(con)
    if loaded_at is None:
        loaded_at = datetime.now(UTC).replace(tzinfo=None)
    elif loaded_at.tzinfo is not None:
        loaded_at = loaded_at.astimezone(UTC).replace(tzinfo=None)

    if files is None:
        paths = discover_event_files(events_dir)
    else:
        named = []
        for f in files:
            p = Path(f)
            if not p.is_absolute():
                p = events_dir / p
            named.append((_relative_name(events_dir, p), p))
        named.sort(key=lambda item: item[0])
        paths = [p for _, p in named]

    known: dict[str, tuple[str, int]] = {
        sha: (name, load_id)
        for sha, name, load_id in con.execute(
            "select file_sha256, file_name, load_id from raw.event_loads"
        ).fetchall()
    }
    max_load_id, max_batch_id = con.execute(
        "select coalesce(max(load_id), 0), coalesce(max(batch_id), 0) from raw.event_loads"
    ).fetchone()
    batch_id = max_batch_id + 1
    result = IntakeResult(batch_id=None, loaded_at=loaded_at)
    with _gc_paused():
        for i, path in enumerate(paths, start=1):
            load = _intake_file(
                con,
                events_dir,
                path,
                known,
                load_id=max_load_id + 1 + result.files_loaded,
                batch_id=batch_id,
                loaded_at=loaded_at,
                future_margin=future_margin,
            )
            result.files.append(load)
            if load.status == STATUS_LOADED:
                result.batch_id = batch_id
            if on_file is not None:
                on_file(i, len(paths), load)
    return result


def _intake_file(
    con: duckdb.DuckDBPyConnection,
    events_dir: Path,
    path: Path,
    known: dict[str, tuple[str, int]],
    *,
    load_id: int,
    batch_id: int,
    loaded_at: datetime,
    future_margin: timedelta,
) -> FileLoad:
    """Skip one file (its content is in ``known``) or load it as ``load_id``; updates ``known``."""
    started = time.perf_counter()
    name = _relative_name(events_dir, path)
    fmt = event_file_format(path.name)
    if fmt is None:
        raise ValueError(f"{name}: not an event file (expected one of {list(EVENT_FILE_SUFFIXES)})")
    sha = _sha256(path)
    load = FileLoad(
        file_name=name,
        status=STATUS_LOADED,
        file_format=fmt,
        file_sha256=sha,
        file_bytes=path.stat().st_size,
    )
    if sha in known:
        load.status = STATUS_SKIPPED_DUPLICATE
        load.duplicate_of, load.duplicate_of_load_id = known[sha]
        log.info("%s: skipped, same content as %s (load %s)", name, *known[sha])
    else:
        load.load_id = load_id
        _load_file(
            con, path, load, batch_id=batch_id, loaded_at=loaded_at, future_margin=future_margin
        )
        known[sha] = (name, load_id)
        log.info(
            "%s: load %s, %s rows read, %s landed, %s quarantined %s",
            name,
            load_id,
            load.rows_read,
            load.rows_landed,
            load.rows_quarantined,
            load.quarantined_by_reason or "",
        )
    load.elapsed_seconds = time.perf_counter() - started
    return load
