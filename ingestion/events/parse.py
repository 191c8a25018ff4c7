"""Per-row normalization of usage events (pure: no I/O, no DuckDB).

This module implements the "Events" section of ``docs/contracts.md``: it turns one decoded input row
(a dict from a JSON line, or a CSV/Parquet row) into either a :class:`ParsedEvent` (what lands in
``raw.events``) or a :class:`Rejection` (what lands in ``raw.quarantined_events``).

Rules, in the order they are checked (the first that fails is the row's single quarantine reason):

1. ``invalid_json``: the line is not JSON, or not a JSON *object* (see :func:`decode_json_line`).
   ``NaN``/``Infinity`` literals are not JSON and are rejected here too.
2. ``missing_field``: ``event_id``, ``customer_id``, ``metric`` or ``timestamp`` (or an alias) is
   absent, null, or an empty/blank string. Aliases: the first one whose value is not null wins, in the
   contract's order (canonical, then Lago, then CloudEvents). An empty string is *present*, so it does
   not fall back to the next alias; it is then reported as missing. (CSV/Parquet readers drop empty
   cells before calling this module: an empty cell is an absent value and does fall back.)
3. ``invalid_field_type``: ids are not a string or integer (bools, floats/decimals, objects and
   arrays are rejected; an integer id is kept as its text, ``123`` -> ``"123"``); ``metric`` or
   ``correction_type`` is not a string; ``timestamp`` is not a string or number.
4. ``invalid_timestamp``: a string that is neither epoch seconds nor ISO-8601, or ISO-8601 without an
   offset (``Z``/``+hh:mm`` required), or a non-finite number.
5. ``timestamp_out_of_range``: before ``2000-01-01T00:00:00Z`` or strictly later than
   ``loaded_at + future_margin`` (both bounds inclusive; an epoch value is compared exactly, an
   ISO-8601 value after its fraction is truncated to microseconds).
6. ``invalid_properties``: ``properties`` (alias ``data``) is not an object (absent/null -> ``{}``).
   With ``text_properties=True`` (CSV, Parquet string column) a string is JSON text to decode.
7. ``invalid_correction``: ``correction_type`` without ``correction_of`` or the reverse, a type other
   than ``void``/``replace`` (case-sensitive), or ``correction_of`` equal to the row's own event_id.

Optional ``subscription_id``, ``correction_of`` and ``correction_type`` that are empty strings are
treated as absent (NULL). Ids are otherwise kept exactly as sent (no trimming, no case folding).

Timestamps: epoch seconds are read exactly (``int``/``Decimal``, a numeric string through
``Decimal``; a float from Parquet through its shortest ``repr``) and *truncated* (floored) to the
microsecond, never rounded up, so an event never moves into the next second or period. ISO-8601 is
parsed with :meth:`datetime.fromisoformat` (extra fraction digits beyond microseconds are truncated)
and converted to UTC. ``event_at`` is a naive ``datetime`` holding UTC.

Properties: every scalar number, at any depth (``int``, ``Decimal``, ``float``), becomes a JSON
string of its exact decimal text without exponent (``12.50`` -> ``"12.50"``, ``1E+3`` -> ``"1000"``,
``12`` -> ``"12"``); strings, booleans and nulls are kept; keys are strings. ``properties_json`` is the
canonical text: ``sort_keys``, separators ``(",", ":")``, ``ensure_ascii=False``.

payload_hash: hex MD5 of the UTF-8 bytes of the canonical JSON array
``[customer_id, subscription_id, metric_code, event_at, properties, correction_of, correction_type]``
encoded like ``properties_json`` (compact, keys sorted, non-ASCII kept), where ``event_at`` is
``"YYYY-MM-DDTHH:MM:SS.ffffff"`` (UTC, always six fraction digits) and ``properties`` the normalized
object. ``event_id`` is not part of the hash (it is the idempotency key, with ``customer_id``).
"""

from __future__ import annotations

import json
import json.encoder as json_encoder
import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_FLOOR, Context, Decimal
from typing import Any, NamedTuple

__all__ = [
    "DEFAULT_FUTURE_MARGIN",
    "MIN_EVENT_AT",
    "EVENT_FILE_COLUMNS",
    "QUARANTINE_REASONS",
    "EventParser",
    "ParsedEvent",
    "Rejection",
    "decode_json_line",
    "parse_event",
]

#: The columns of a CSV or Parquet event file (contracts.md), in their documented order.
EVENT_FILE_COLUMNS: tuple[str, ...] = (
    "event_id",
    "customer_id",
    "subscription_id",
    "metric",
    "timestamp",
    "properties",
    "correction_of",
    "correction_type",
)

#: Quarantine reason codes, in the order they are checked (contracts.md).
QUARANTINE_REASONS: tuple[str, ...] = (
    "invalid_json",
    "missing_field",
    "invalid_field_type",
    "invalid_timestamp",
    "timestamp_out_of_range",
    "invalid_properties",
    "invalid_correction",
)

DEFAULT_FUTURE_MARGIN = timedelta(hours=24)
MIN_EVENT_AT = datetime(2000, 1, 1)  # naive UTC, inclusive
CORRECTION_TYPES = ("void", "replace")

_EPOCH = datetime(1970, 1, 1)
_MIN_EPOCH_SECONDS = 946_684_800  # 2000-01-01T00:00:00Z
_MAX_SHOWN = 80

# Aliases, first non-null wins (contracts.md, "Events").
EVENT_ID_KEYS = ("event_id", "transaction_id", "id")
CUSTOMER_ID_KEYS = ("customer_id", "external_customer_id", "subject")
SUBSCRIPTION_ID_KEYS = ("subscription_id", "external_subscription_id")
METRIC_KEYS = ("metric", "code", "type")
TIMESTAMP_KEYS = ("timestamp", "time")
PROPERTIES_KEYS = ("properties", "data")


class ParsedEvent(NamedTuple):
    """A normalized event, one row of ``raw.events`` (without load columns and payload)."""

    event_id: str
    customer_id: str
    subscription_id: str | None
    metric_code: str
    event_at: datetime  # naive UTC, microseconds
    properties: dict[str, Any]  # normalized: numbers are strings of their exact text
    properties_json: str  # canonical JSON text of ``properties`` (what is stored)
    correction_of: str | None
    correction_type: str | None
    payload_hash: str


class Rejection(NamedTuple):
    """Why a row is quarantined: a reason code from :data:`QUARANTINE_REASONS` and a message."""

    reason: str
    message: str


class _BadProperty(ValueError):
    pass


_MISSING = object()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON; send a number, a string or null")


try:  # the builtin module is faster than OpenSSL's for short inputs
    from _md5 import md5
except ImportError:  # pragma: no cover
    from hashlib import md5

_new_tuple = tuple.__new__

_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)
_decode = _DECODER.decode
_scan_once = _DECODER.scan_once
# The canonical encoding (properties_json and the hash input): the same output as
# json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False), but built once
# (json.dumps with options builds an encoder per call, which costs more than the encoding).
_encode_str = json_encoder.encode_basestring
_encode_canonical = (
    json_encoder.c_make_encoder(None, None, _encode_str, None, ":", ",", True, False, False)
    if json_encoder.c_make_encoder is not None
    else lambda value, _level: (
        json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
    )
)
_show_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode

_NUMERIC = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z").match
# Big enough that floor-rounding a product never differs from the floor of the exact product.
_US_CONTEXT = Context(prec=60, rounding=ROUND_FLOOR)
_MILLION = Decimal(1_000_000)


def _show(value: Any) -> str:
    """The offending value for a message: JSON-ish text, truncated to about 80 characters."""
    if isinstance(value, Decimal):
        text = str(value)
    elif isinstance(value, datetime):
        text = f'"{value.isoformat()}"'
    else:
        try:
            text = _show_encode(value)
        except (TypeError, ValueError):
            text = repr(value)
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 1] + "…"
    return text


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float | Decimal):
        return "a decimal number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return f"a {type(value).__name__}"


def decode_json_line(line: str) -> dict[str, Any] | Rejection:
    """Decode one JSON line (numbers keep their exact text as ``int``/``Decimal``).

    Returns the object, or an ``invalid_json`` rejection when the line is not JSON or not an object.
    """
    try:
        # Fast path: the C scanner without JSONDecoder.decode's whitespace regexes.
        obj, end = _scan_once(line, 0)
        if end != len(line) and not line[end:].isspace():
            obj = _MISSING
    except (StopIteration, ValueError, RecursionError):
        obj = _MISSING
    if obj is _MISSING:  # slow path, for the error's detail (or leading whitespace)
        try:
            obj = _decode(line)
        except json.JSONDecodeError as exc:
            return Rejection(
                "invalid_json",
                f"line is not valid JSON ({exc.msg}: column {exc.colno}, near "
                f"{_show(line[max(exc.pos - 20, 0) : exc.pos + 20])}); "
                "write one complete JSON object per line",
            )
        except (ValueError, RecursionError) as exc:
            msg = str(exc) if isinstance(exc, ValueError) else "it is nested too deeply"
            return Rejection("invalid_json", f"line is not valid JSON: {msg}")
    if type(obj) is not dict:
        return Rejection(
            "invalid_json",
            f"line is {_type_name(obj)} ({_show(obj)}), but each line must be one JSON object "
            '{"event_id": ..., "customer_id": ..., "metric": ..., "timestamp": ...}',
        )
    return obj


def _decimal_text(d: Decimal) -> str:
    text = str(d)
    if "E" in text:
        text = format(d, "f")
    return text


def _normalize_value(value: Any, path: str) -> Any:
    """Normalize one property value (any depth); raises _BadProperty with a message."""
    t = type(value)
    if t is str or t is bool or value is None:
        return value
    if t is int:
        return str(value)
    if t is Decimal:
        if not value.is_finite():
            raise _BadProperty(f"property {path} is {value}; send a finite number or null")
        return _decimal_text(value)
    if t is dict:
        return {str(k): _normalize_value(v, f"{path}.{k}") for k, v in value.items()}
    if t is list or t is tuple:
        return [_normalize_value(v, f"{path}[{i}]") for i, v in enumerate(value)]
    # Less common types (Parquet structs/maps, subclasses).
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _BadProperty(f"property {path} is {value}; send a finite number or null")
        return _decimal_text(Decimal(repr(value)))
    if isinstance(value, Decimal):
        return _normalize_value(Decimal(value), path)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _normalize_value(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise _BadProperty(f"property {path} is binary, not UTF-8 text") from None
    raise _BadProperty(
        f"property {path} has unsupported type {type(value).__name__}; "
        "use strings, numbers, booleans, null, objects or arrays"
    )


def _normalize_properties(props: dict) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in props.items():
        t = type(v)
        if t is str or t is bool or v is None:
            pass
        elif t is int:
            v = str(v)
        elif t is Decimal and v.is_finite():
            v = str(v)
            if "E" in v:
                v = format(Decimal(v), "f")
        else:
            v = _normalize_value(v, str(k))
        out[k if type(k) is str else str(k)] = v
    return out


def _first(row: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str, Any]:
    """(key, value) of the first alias whose value is not null; (keys[0], None) if none."""
    for key in keys:
        value = row.get(key)
        if value is not None:
            return key, value
    return keys[0], None


def _aliases(keys: tuple[str, ...]) -> str:
    names = [f'"{k}"' for k in keys]
    if len(names) == 1:
        return names[0]
    return f"{names[0]} (or {' / '.join(names[1:])})"


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _id_type_error(key: str, value: Any, *, required: bool) -> str | None:
    """None if ``value`` is a valid id (string or integer), else the message."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return None
    what = "a non-empty string" if required else "a string"
    return f"{key} {_show(value)} is {_type_name(value)}; send {what} or an integer"


def _id_text(value: Any) -> str:
    return value if type(value) is str else str(int(value))


class EventParser:
    """Normalizes rows against one load time and future margin (reuse it for a whole file).

    ``text_properties=True`` (CSV, Parquet) decodes a string ``properties`` value as JSON text;
    for JSON lines a string is not an object and is rejected.
    """

    __slots__ = (
        "loaded_at",
        "future_margin",
        "max_event_at",
        "text_properties",
        "_max_epoch",
        "_max_epoch_int",
    )

    def __init__(
        self,
        loaded_at: datetime,
        future_margin: timedelta = DEFAULT_FUTURE_MARGIN,
        *,
        text_properties: bool = False,
    ) -> None:
        if loaded_at.tzinfo is not None:
            loaded_at = loaded_at.astimezone(UTC).replace(tzinfo=None)
        self.loaded_at = loaded_at
        self.future_margin = future_margin
        self.max_event_at = loaded_at + future_margin
        self.text_properties = text_properties
        delta = self.max_event_at - _EPOCH
        self._max_epoch = (
            Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / _MILLION
        )
        self._max_epoch_int = delta.days * 86400 + delta.seconds  # largest int epoch accepted

    def __call__(self, row: Mapping[str, Any]) -> ParsedEvent | Rejection:
        return self.parse(row)

    # -- timestamps ---------------------------------------------------------------------------

    def _out_of_range(self, shown: str, utc: str | None, *, epoch_number: Any = None) -> Rejection:
        hint = ""
        if epoch_number is not None and epoch_number > 100_000_000_000:
            hint = "; epoch timestamps must be in seconds (this looks like milliseconds)"
        where = f" ({utc} UTC)" if utc else ""
        return Rejection(
            "timestamp_out_of_range",
            f"timestamp {shown}{where} is outside the accepted range "
            f"[2000-01-01T00:00:00Z, load time + {_margin_text(self.future_margin)} = "
            f"{self.max_event_at.isoformat()}Z]{hint}; fix the source clock or the value",
        )

    def _from_epoch(self, seconds: int | Decimal, shown: str) -> datetime | Rejection:
        if seconds < _MIN_EPOCH_SECONDS or seconds > self._max_epoch:
            utc = None
            if -1e12 < seconds < 1e12:
                try:
                    utc = (_EPOCH + timedelta(seconds=int(seconds))).isoformat()
                except OverflowError:
                    utc = None
            return self._out_of_range(shown, utc, epoch_number=seconds)
        if type(seconds) is int:
            return _EPOCH + timedelta(seconds=seconds)
        micros = int(_US_CONTEXT.multiply(seconds, _MILLION).to_integral_value(ROUND_FLOOR))
        return _EPOCH + timedelta(microseconds=micros)

    def _timestamp(self, value: Any) -> datetime | Rejection:
        """Parse a timestamp of an accepted type (checked before) into naive UTC."""
        t = type(value)
        if t is str:
            text = value.strip()
            if not (text[:4].isdigit() and text[4:5] == "-") and _NUMERIC(text):
                return self._from_epoch(Decimal(text), _show(value))
            try:
                dt = datetime.fromisoformat(text)
            except ValueError as exc:
                detail = str(exc)
                if text[:4].isdigit() and text[4:5] == "-" and not detail.startswith("Invalid"):
                    # ISO-shaped but impossible, e.g. "day is out of range for month"
                    return Rejection(
                        "invalid_timestamp",
                        f"timestamp {_show(value)} is not a valid date and time ({detail}); "
                        'send ISO-8601 with an offset, e.g. "2026-01-01T00:00:00Z"',
                    )
                return Rejection(
                    "invalid_timestamp",
                    f"timestamp {_show(value)} is neither Unix epoch seconds nor ISO-8601; "
                    'send e.g. 1767225600 or "2026-01-01T00:00:00Z"',
                )
            return self._from_datetime(dt, _show(value))
        if t is int:
            return self._from_epoch(value, str(value))
        if t is Decimal:
            if not value.is_finite():
                return Rejection(
                    "invalid_timestamp",
                    f"timestamp {value} is not a finite number; send Unix epoch seconds",
                )
            return self._from_epoch(value, str(value))
        if isinstance(value, datetime):
            return self._from_datetime(value, _show(value), typed=True)
        if isinstance(value, float):
            if not math.isfinite(value):
                return Rejection(
                    "invalid_timestamp",
                    f"timestamp {value} is not a finite number; send Unix epoch seconds",
                )
            return self._from_epoch(Decimal(repr(value)), repr(value))
        if isinstance(value, int):  # int subclass other than bool
            return self._from_epoch(int(value), str(int(value)))
        return self._from_epoch(Decimal(value), _show(value))  # Decimal subclass

    def _from_datetime(
        self, dt: datetime, shown: str, *, typed: bool = False
    ) -> datetime | Rejection:
        offset = dt.utcoffset()
        if offset is None:
            if typed:
                return Rejection(
                    "invalid_timestamp",
                    f"timestamp {shown} has no time zone; write the column as a UTC timestamp "
                    "(tz='UTC') or as epoch seconds",
                )
            return Rejection(
                "invalid_timestamp", f"timestamp {shown} has no UTC offset; add Z or +hh:mm"
            )
        try:
            naive = dt.replace(tzinfo=None) - offset if offset else dt.replace(tzinfo=None)
        except OverflowError:
            return self._out_of_range(shown, None)
        if naive < MIN_EVENT_AT or naive > self.max_event_at:
            return self._out_of_range(shown, naive.isoformat())
        return naive

    # -- the row ------------------------------------------------------------------------------

    def parse(self, row: Mapping[str, Any]) -> ParsedEvent | Rejection:
        """Normalize one decoded row: a :class:`ParsedEvent` or a :class:`Rejection`."""
        get = row.get
        # Canonical names first (the common case), then aliases.
        event_id = get("event_id")
        if event_id is None:
            event_id = _first(row, EVENT_ID_KEYS)[1]
        customer_id = get("customer_id")
        if customer_id is None:
            customer_id = _first(row, CUSTOMER_ID_KEYS)[1]
        metric = get("metric")
        if metric is None:
            metric = _first(row, METRIC_KEYS)[1]
        ts_key = "timestamp"
        ts = get("timestamp")
        if ts is None:
            ts_key, ts = _first(row, TIMESTAMP_KEYS)
        subscription_id = get("subscription_id")
        if subscription_id is None:
            subscription_id = get("external_subscription_id")
        props = get("properties")
        if props is None:
            props = get("data")
        correction_of = get("correction_of")
        correction_type = get("correction_type")
        tt = type(ts)

        # Fast path: canonical types that need no further checks before the timestamp.
        if not (
            type(event_id) is str
            and type(customer_id) is str
            and type(metric) is str
            and (tt is int or (tt is str and ts[4:5] == "-"))  # epoch int or ISO-8601
            and (subscription_id is None or type(subscription_id) is str)
            and correction_of is None
            and correction_type is None
            and event_id.strip()
            and customer_id.strip()
            and metric.strip()
        ):
            # 2. missing_field, 3. invalid_field_type
            rejection = _check_fields(
                event_id,
                customer_id,
                metric,
                ts_key,
                ts,
                subscription_id,
                correction_of,
                correction_type,
            )
            if rejection is not None:
                return rejection
            event_id = _id_text(event_id)
            customer_id = _id_text(customer_id)
            if subscription_id is not None:
                subscription_id = _id_text(subscription_id)
                if not subscription_id.strip():
                    subscription_id = None

        # 4. invalid_timestamp, 5. timestamp_out_of_range
        event_at: Any = None
        if tt is str:
            if ts[-1:] == "Z" and ts[10:11] == "T":
                # Fast path for the common "...THH:MM:SS[.f]Z": parsed without the "Z" it is
                # directly the naive UTC datetime we store.
                try:
                    event_at = datetime.fromisoformat(ts[:-1])
                except ValueError:
                    pass
                else:
                    if (
                        event_at.tzinfo is not None
                    ):  # an offset *and* a Z: let the slow path reject it
                        event_at = None
                    elif event_at < MIN_EVENT_AT or event_at > self.max_event_at:
                        event_at = self._out_of_range(_show(ts), event_at.isoformat())
        elif tt is int and _MIN_EPOCH_SECONDS <= ts <= self._max_epoch_int:
            event_at = _EPOCH + timedelta(0, ts)
        if event_at is None:
            event_at = self._timestamp(ts)
        if type(event_at) is Rejection:
            return event_at

        # 6. invalid_properties
        if props is None:
            props = {}
        elif type(props) is not dict:
            props = self._properties_object(props)
            if type(props) is Rejection:
                return props
        try:
            props = _normalize_properties(props)
        except _BadProperty as exc:
            return Rejection("invalid_properties", str(exc))

        # 7. invalid_correction
        if correction_of is not None or correction_type is not None:
            correction = _check_correction(event_id, correction_of, correction_type)
            if type(correction) is Rejection:
                return correction
            correction_of, correction_type = correction

        # The landed event and its canonical hash.
        props_json = "".join(_encode_canonical(props, 0))
        canonical = (
            f"[{_encode_str(customer_id)},"
            f"{'null' if subscription_id is None else _encode_str(subscription_id)},"
            f'{_encode_str(metric)},"{event_at.isoformat("T", "microseconds")}",{props_json},'
        )
        if correction_of is None:
            canonical += "null,null]"
        else:
            canonical += f"{_encode_str(correction_of)},{_encode_str(correction_type)}]"
        return _new_tuple(
            ParsedEvent,
            (
                event_id,
                customer_id,
                subscription_id,
                metric,
                event_at,
                props,
                props_json,
                correction_of,
                correction_type,
                md5(canonical.encode()).hexdigest(),
            ),
        )

    def _properties_object(self, props: Any) -> dict | Rejection:
        """A non-dict ``properties`` value as a dict (JSON text, mapping), or the rejection."""
        if isinstance(props, str) and self.text_properties:
            if not props.strip():
                return {}
            try:
                decoded = _decode(props)
            except (ValueError, RecursionError):
                return Rejection(
                    "invalid_properties",
                    f"properties {_show(props)} is not valid JSON text; "
                    'send a JSON object such as {"key": "value"}',
                )
            if type(decoded) is dict:
                return decoded
            props = decoded
        if isinstance(props, Mapping):
            return dict(props)
        return Rejection(
            "invalid_properties",
            f"properties must be a JSON object, got {_type_name(props)} {_show(props)}; "
            'wrap the values in an object such as {"key": value}',
        )


def _check_fields(
    event_id: Any,
    customer_id: Any,
    metric: Any,
    ts_key: str,
    ts: Any,
    subscription_id: Any,
    correction_of: Any,
    correction_type: Any,
) -> Rejection | None:
    """The ``missing_field`` and ``invalid_field_type`` checks, in that order."""
    missing = [
        _aliases(keys)
        for keys, value in (
            (EVENT_ID_KEYS, event_id),
            (CUSTOMER_ID_KEYS, customer_id),
            (METRIC_KEYS, metric),
            (TIMESTAMP_KEYS, ts),
        )
        if _is_blank(value)
    ]
    if missing:
        fields = "fields" if len(missing) > 1 else "field"
        return Rejection(
            "missing_field",
            f"missing required {fields} {', '.join(missing)} (absent, null or empty); add a value",
        )
    problems = [
        _id_type_error("event_id", event_id, required=True),
        _id_type_error("customer_id", customer_id, required=True),
    ]
    if not isinstance(metric, str):
        problems.append(f"metric {_show(metric)} is {_type_name(metric)}; send a non-empty string")
    if isinstance(ts, bool) or not isinstance(ts, str | int | float | Decimal | datetime):
        problems.append(
            f"{ts_key} {_show(ts)} is {_type_name(ts)}; send Unix epoch seconds (a number) "
            'or an ISO-8601 string with an offset, e.g. "2026-01-01T00:00:00Z"'
        )
    if subscription_id is not None:
        problems.append(_id_type_error("subscription_id", subscription_id, required=False))
    if correction_of is not None:
        problems.append(_id_type_error("correction_of", correction_of, required=False))
    if correction_type is not None and not isinstance(correction_type, str):
        problems.append(
            f"correction_type {_show(correction_type)} is {_type_name(correction_type)}; "
            'send "void" or "replace"'
        )
    problems = [p for p in problems if p]
    if problems:
        return Rejection("invalid_field_type", "; ".join(problems))
    return None


def _check_correction(
    event_id: str, correction_of: Any, correction_type: Any
) -> tuple[str | None, str | None] | Rejection:
    """Normalized (correction_of, correction_type), or the ``invalid_correction`` rejection."""
    if correction_of is not None:
        correction_of = _id_text(correction_of)
        if not correction_of.strip():
            correction_of = None
    if correction_type is not None and not correction_type.strip():
        correction_type = None
    if correction_of is not None and correction_type is None:
        return Rejection(
            "invalid_correction",
            f"correction_of {_show(correction_of)} has no correction_type; "
            'add correction_type "void" or "replace"',
        )
    if correction_type is not None and correction_of is None:
        return Rejection(
            "invalid_correction",
            f"correction_type {_show(correction_type)} has no correction_of; add the event_id of "
            "the event it corrects, or remove correction_type",
        )
    if correction_type is not None and correction_type not in CORRECTION_TYPES:
        return Rejection(
            "invalid_correction",
            f'correction_type {_show(correction_type)} is not "void" or "replace"; '
            "use one of those (lowercase)",
        )
    if correction_of is not None and correction_of == event_id:
        return Rejection(
            "invalid_correction",
            f"correction_of {_show(correction_of)} is the event's own event_id; a correction "
            "needs its own new event_id and must point to the original event's event_id",
        )
    return correction_of, correction_type


def _margin_text(margin: timedelta) -> str:
    seconds = int(margin.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return str(margin)


def parse_event(
    row: Mapping[str, Any],
    loaded_at: datetime,
    future_margin: timedelta = DEFAULT_FUTURE_MARGIN,
    *,
    text_properties: bool = False,
) -> ParsedEvent | Rejection:
    """Normalize one decoded row (convenience wrapper; use :class:`EventParser` for many rows)."""
    return EventParser(loaded_at, future_margin, text_properties=text_properties).parse(row)
