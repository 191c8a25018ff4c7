"""Per-row event normalization (ingestion/events/parse.py) against docs/contracts.md.

Every expected value is written by hand: datetimes, normalized properties, canonical JSON texts and
messages. The payload hash is checked against the MD5 of a canonical text typed out here.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from ingestion.events.parse import (
    QUARANTINE_REASONS,
    EventParser,
    ParsedEvent,
    Rejection,
    decode_json_line,
    parse_event,
)

LOADED_AT = datetime(2026, 1, 15, 12, 0, 0)  # naive UTC; default margin 24 h -> 2026-01-16T12:00Z
PARSER = EventParser(LOADED_AT)
TEXT_PARSER = EventParser(LOADED_AT, text_properties=True)


def row(**overrides) -> dict:
    base = {
        "event_id": "evt_1",
        "customer_id": "cus_1",
        "metric": "api_calls",
        "timestamp": "2026-01-10T08:30:00Z",
        "properties": {"n": 1},
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()


def ok(r: dict, parser: EventParser = PARSER) -> ParsedEvent:
    result = parser.parse(r)
    assert isinstance(result, ParsedEvent), result
    return result


def rejected(r: dict, parser: EventParser = PARSER) -> Rejection:
    result = parser.parse(r)
    assert isinstance(result, Rejection), result
    return result


def line(text: str, parser: EventParser = PARSER) -> ParsedEvent | Rejection:
    decoded = decode_json_line(text)
    return decoded if isinstance(decoded, Rejection) else parser.parse(decoded)


def md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


# -- the well-formed event ------------------------------------------------------------------------


def test_well_formed_event_every_field():
    ev = ok(
        row(
            subscription_id="sub_1",
            properties={"region": "eu", "gb": Decimal("12.50")},
        )
    )
    assert ev.event_id == "evt_1"
    assert ev.customer_id == "cus_1"
    assert ev.subscription_id == "sub_1"
    assert ev.metric_code == "api_calls"
    assert ev.event_at == datetime(2026, 1, 10, 8, 30, 0)
    assert ev.event_at.tzinfo is None
    assert ev.properties == {"region": "eu", "gb": "12.50"}
    assert ev.properties_json == '{"gb":"12.50","region":"eu"}'
    assert ev.correction_of is None
    assert ev.correction_type is None
    assert ev.payload_hash == md5(
        '["cus_1","sub_1","api_calls","2026-01-10T08:30:00.000000",'
        '{"gb":"12.50","region":"eu"},null,null]'
    )


def test_parse_event_function_equals_parser():
    r = row()
    assert parse_event(r, LOADED_AT) == PARSER.parse(r)
    assert parse_event(r, LOADED_AT, timedelta(hours=1)) == PARSER.parse(r)


def test_aware_loaded_at_is_converted_to_utc():
    parser = EventParser(datetime(2026, 1, 15, 14, 0, tzinfo=timezone(timedelta(hours=2))))
    assert parser.loaded_at == LOADED_AT
    assert parser.max_event_at == datetime(2026, 1, 16, 12, 0)


# -- aliases --------------------------------------------------------------------------------------


def test_lago_aliases():
    ev = ok(
        {
            "transaction_id": "tx_9",
            "external_customer_id": "acme",
            "external_subscription_id": "sub_acme",
            "code": "storage",
            "timestamp": 1767225600,
            "properties": {"gb": 3},
        }
    )
    assert (ev.event_id, ev.customer_id, ev.subscription_id, ev.metric_code) == (
        "tx_9",
        "acme",
        "sub_acme",
        "storage",
    )
    assert ev.event_at == datetime(2026, 1, 1, 0, 0, 0)
    assert ev.properties == {"gb": "3"}


def test_cloudevents_aliases():
    ev = ok(
        {
            "specversion": "1.0",
            "source": "/api",
            "id": "ce-1",
            "subject": "acme",
            "type": "api_calls",
            "time": "2026-01-01T10:00:00+01:00",
            "data": {"region": "eu"},
        }
    )
    assert (ev.event_id, ev.customer_id, ev.subscription_id, ev.metric_code) == (
        "ce-1",
        "acme",
        None,
        "api_calls",
    )
    assert ev.event_at == datetime(2026, 1, 1, 9, 0, 0)
    assert ev.properties == {"region": "eu"}


def test_alias_precedence_first_present_wins():
    ev = ok(
        {
            "event_id": "canonical",
            "transaction_id": "lago",
            "id": "cloud",
            "customer_id": "c_canonical",
            "external_customer_id": "c_lago",
            "subject": "c_cloud",
            "subscription_id": "s_canonical",
            "external_subscription_id": "s_lago",
            "metric": "m_canonical",
            "code": "m_lago",
            "type": "m_cloud",
            "timestamp": "2026-01-02T00:00:00Z",
            "time": "2026-01-03T00:00:00Z",
            "properties": {"from": "properties"},
            "data": {"from": "data"},
        }
    )
    assert (ev.event_id, ev.customer_id, ev.subscription_id, ev.metric_code) == (
        "canonical",
        "c_canonical",
        "s_canonical",
        "m_canonical",
    )
    assert ev.event_at == datetime(2026, 1, 2)
    assert ev.properties == {"from": "properties"}

    ev = ok(
        {
            "transaction_id": "lago",
            "id": "cloud",
            "external_customer_id": "c_lago",
            "subject": "c_cloud",
            "code": "m_lago",
            "type": "m_cloud",
            "time": "2026-01-03T00:00:00Z",
        }
    )
    assert (ev.event_id, ev.customer_id, ev.metric_code) == ("lago", "c_lago", "m_lago")
    assert ev.event_at == datetime(2026, 1, 3)


def test_null_alias_is_absent_and_falls_back():
    ev = ok(row(event_id=None, id="cloud", properties=None, data={"a": "b"}))
    assert ev.event_id == "cloud"
    assert ev.properties == {"a": "b"}


# -- timestamps -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"timestamp": 1767225600', datetime(2026, 1, 1)),
        ('"timestamp": 1767225600.5', datetime(2026, 1, 1, 0, 0, 0, 500000)),
        ('"timestamp": 1767225600.000001', datetime(2026, 1, 1, 0, 0, 0, 1)),
        # beyond microseconds: truncated, never rounded up into the next second
        ('"timestamp": 1767225599.9999999', datetime(2025, 12, 31, 23, 59, 59, 999999)),
        ('"timestamp": 1.7672256E9', datetime(2026, 1, 1)),
        ('"timestamp": "1767225600"', datetime(2026, 1, 1)),
        ('"timestamp": "1767225600.5"', datetime(2026, 1, 1, 0, 0, 0, 500000)),
        ('"timestamp": "1767225600.123456789"', datetime(2026, 1, 1, 0, 0, 0, 123456)),
        ('"timestamp": "2026-01-10T10:30:00+02:00"', datetime(2026, 1, 10, 8, 30)),
        ('"timestamp": "2026-01-10T03:00:00-05:30"', datetime(2026, 1, 10, 8, 30)),
        ('"timestamp": "2026-01-10T08:30:00Z"', datetime(2026, 1, 10, 8, 30)),
        ('"timestamp": "2026-01-10T08:30:00.25Z"', datetime(2026, 1, 10, 8, 30, 0, 250000)),
        ('"timestamp": "2026-01-10T08:30:00.123456789Z"', datetime(2026, 1, 10, 8, 30, 0, 123456)),
        ('"timestamp": "2026-01-10 08:30:00+00:00"', datetime(2026, 1, 10, 8, 30)),
        ('"timestamp": "2026-01-01T01:00:00+01:00"', datetime(2026, 1, 1)),
    ],
)
def test_timestamp_forms(text, expected):
    ev = line('{"event_id": "e", "customer_id": "c", "metric": "m", ' + text + "}")
    assert isinstance(ev, ParsedEvent), ev
    assert ev.event_at == expected


def test_epoch_decimal_is_exact_not_float():
    # 1767225600.1 as a float is 1767225600.0999999046...; read from its text it is .100000
    ev = line('{"event_id": "e", "customer_id": "c", "metric": "m", "timestamp": 1767225600.1}')
    assert ev.event_at == datetime(2026, 1, 1, 0, 0, 0, 100000)


def test_iso_without_offset_is_invalid_timestamp():
    r = rejected(row(timestamp="2026-08-01 10:00:00"))
    assert r == Rejection(
        "invalid_timestamp", 'timestamp "2026-08-01 10:00:00" has no UTC offset; add Z or +hh:mm'
    )
    assert rejected(row(timestamp="2026-01-10T08:30:00")).reason == "invalid_timestamp"
    assert rejected(row(timestamp="2026-01-10")).reason == "invalid_timestamp"


@pytest.mark.parametrize(
    "value",
    [
        "yesterday at noon",
        "2026-02-30T10:00:00Z",
        "10/01/2026 08:30",
        "1767225600,5",
        "NaN",
        "12:00Z",
    ],
)
def test_unparseable_timestamp(value):
    r = rejected(row(timestamp=value))
    assert r.reason == "invalid_timestamp"
    assert f'"{value}"' in r.message


def test_unparseable_timestamp_message():
    assert rejected(row(timestamp="yesterday")).message == (
        'timestamp "yesterday" is neither Unix epoch seconds nor ISO-8601; '
        'send e.g. 1767225600 or "2026-01-01T00:00:00Z"'
    )


@pytest.mark.parametrize(
    "value",
    [
        "1999-12-31T23:59:59Z",
        "1999-12-31T23:59:59.999999Z",
        "2000-01-01T01:00:00+02:00",  # 1999-12-31T23:00Z
        946684799,
        "946684799",
        Decimal("946684799.999999"),
        86400,
        0,
        -5,
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    ],
)
def test_before_2000_is_out_of_range(value):
    assert rejected(row(timestamp=value)).reason == "timestamp_out_of_range"


@pytest.mark.parametrize("value", ["2000-01-01T00:00:00Z", 946684800, "946684800.0"])
def test_2000_itself_is_accepted(value):
    assert ok(row(timestamp=value)).event_at == datetime(2000, 1, 1)


def test_future_margin_boundary():
    # loaded_at 2026-01-15T12:00Z + 24 h = 2026-01-16T12:00Z = epoch 1768564800 (inclusive)
    assert ok(row(timestamp="2026-01-16T12:00:00Z")).event_at == datetime(2026, 1, 16, 12)
    assert ok(row(timestamp="2026-01-16T14:00:00+02:00")).event_at == datetime(2026, 1, 16, 12)
    assert ok(row(timestamp=1768564800)).event_at == datetime(2026, 1, 16, 12)
    assert ok(row(timestamp="1768564800")).event_at == datetime(2026, 1, 16, 12)
    for late in (
        "2026-01-16T12:00:00.000001Z",
        "2026-01-16T14:00:01+02:00",
        1768564801,
        Decimal("1768564800.000001"),
        "2099-01-01T00:00:00Z",
    ):
        assert rejected(row(timestamp=late)).reason == "timestamp_out_of_range", late


def test_custom_margin():
    parser = EventParser(LOADED_AT, timedelta(hours=1))
    assert ok(row(timestamp="2026-01-15T13:00:00Z"), parser).event_at == datetime(2026, 1, 15, 13)
    r = rejected(row(timestamp="2026-01-15T13:00:01Z"), parser)
    assert r.reason == "timestamp_out_of_range"
    assert r.message == (
        'timestamp "2026-01-15T13:00:01Z" (2026-01-15T13:00:01 UTC) is outside the accepted range '
        "[2000-01-01T00:00:00Z, load time + 1h = 2026-01-15T13:00:00Z]; "
        "fix the source clock or the value"
    )


def test_epoch_milliseconds_get_a_hint():
    r = rejected(row(timestamp=1767225600000))
    assert r.reason == "timestamp_out_of_range"
    assert "1767225600000" in r.message
    assert "this looks like milliseconds" in r.message


# -- properties -----------------------------------------------------------------------------------


def test_property_numbers_keep_their_exact_text():
    ev = line(
        '{"event_id": "e", "customer_id": "c", "metric": "m", "timestamp": 1767225600, '
        '"properties": {"big": 12345678901234567890.123456789, "price": 12.50, "n": 12, '
        '"exp": 1e3, "small": 1.5E-7, "neg": -0.0, "s": "7.10", "t": true, "f": false, '
        '"z": null, "nested": {"b": [1, 2.50, {"c": 3}], "a": "x"}}}'
    )
    assert isinstance(ev, ParsedEvent), ev
    assert ev.properties == {
        "big": "12345678901234567890.123456789",
        "price": "12.50",
        "n": "12",
        "exp": "1000",
        "small": "0.00000015",
        "neg": "-0.0",
        "s": "7.10",
        "t": True,
        "f": False,
        "z": None,
        "nested": {"b": ["1", "2.50", {"c": "3"}], "a": "x"},
    }
    assert ev.properties_json == (
        '{"big":"12345678901234567890.123456789","exp":"1000","f":false,"n":"12",'
        '"neg":"-0.0","nested":{"a":"x","b":["1","2.50",{"c":"3"}]},"price":"12.50",'
        '"s":"7.10","small":"0.00000015","t":true,"z":null}'
    )


def test_parquet_floats_and_non_ascii():
    ev = ok(row(properties={"x": 0.1, "y": 2.5, "big": 1e16, "name": "Zürich ☃"}))
    assert ev.properties == {"x": "0.1", "y": "2.5", "big": "10000000000000000", "name": "Zürich ☃"}
    assert ev.properties_json == '{"big":"10000000000000000","name":"Zürich ☃","x":"0.1","y":"2.5"}'


@pytest.mark.parametrize("props", [_DROP, None, {}])
def test_absent_or_null_properties_are_empty(props):
    ev = ok(row(properties=props))
    assert ev.properties == {}
    assert ev.properties_json == "{}"


@pytest.mark.parametrize(
    ("props", "shown"),
    [
        ([1, 2], "an array [1, 2]"),
        ("gb=12", 'a string "gb=12"'),
        (42, "an integer 42"),
        (True, "a boolean true"),
    ],
)
def test_properties_not_an_object(props, shown):
    assert rejected(row(properties=props)) == Rejection(
        "invalid_properties",
        f"properties must be a JSON object, got {shown}; "
        'wrap the values in an object such as {"key": value}',
    )


def test_non_finite_property_is_invalid():
    r = rejected(row(properties={"x": float("nan")}))
    assert r == Rejection("invalid_properties", "property x is nan; send a finite number or null")


def test_text_properties_for_csv_and_parquet():
    ev = ok(row(properties='{"gb": 12.50, "region": "eu"}'), TEXT_PARSER)
    assert ev.properties == {"gb": "12.50", "region": "eu"}
    assert ok(row(properties=""), TEXT_PARSER).properties == {}
    assert ok(row(properties="  "), TEXT_PARSER).properties == {}
    r = rejected(row(properties="{gb: 12}"), TEXT_PARSER)
    assert r == Rejection(
        "invalid_properties",
        'properties "{gb: 12}" is not valid JSON text; send a JSON object such as {"key": "value"}',
    )
    assert rejected(row(properties="[1, 2]"), TEXT_PARSER).reason == "invalid_properties"
    assert rejected(row(properties='{"x": NaN}'), TEXT_PARSER).reason == "invalid_properties"
    # a JSON line's string is never decoded
    assert rejected(row(properties='{"gb": 1}')).reason == "invalid_properties"


# -- ids and types --------------------------------------------------------------------------------


def test_integer_ids_are_kept_as_text():
    ev = line(
        '{"event_id": 123, "customer_id": 42, "subscription_id": 7, "metric": "m", '
        '"timestamp": 1767225600}'
    )
    assert (ev.event_id, ev.customer_id, ev.subscription_id) == ("123", "42", "7")
    assert ev.payload_hash == md5('["42","7","m","2026-01-01T00:00:00.000000",{},null,null]')


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("event_id", True, "event_id true is a boolean; send a non-empty string or an integer"),
        (
            "event_id",
            Decimal("1.5"),
            "event_id 1.5 is a decimal number; send a non-empty string or an integer",
        ),
        ("event_id", ["e1"], 'event_id ["e1"] is an array; send a non-empty string or an integer'),
        (
            "customer_id",
            False,
            "customer_id false is a boolean; send a non-empty string or an integer",
        ),
        (
            "customer_id",
            {"id": 1},
            'customer_id {"id": 1} is an object; send a non-empty string or an integer',
        ),
        ("metric", 42, "metric 42 is an integer; send a non-empty string"),
        (
            "subscription_id",
            {"id": "s"},
            'subscription_id {"id": "s"} is an object; send a string or an integer',
        ),
        ("subscription_id", True, "subscription_id true is a boolean; send a string or an integer"),
        (
            "correction_of",
            1.5,
            "correction_of 1.5 is a decimal number; send a string or an integer",
        ),
        ("correction_type", 1, 'correction_type 1 is an integer; send "void" or "replace"'),
        (
            "timestamp",
            True,
            "timestamp true is a boolean; send Unix epoch seconds (a number) or an ISO-8601 string "
            'with an offset, e.g. "2026-01-01T00:00:00Z"',
        ),
        (
            "timestamp",
            {"s": 1},
            'timestamp {"s": 1} is an object; send Unix epoch seconds (a number) or an ISO-8601 '
            'string with an offset, e.g. "2026-01-01T00:00:00Z"',
        ),
    ],
)
def test_invalid_field_type(field, value, message):
    assert rejected(row(**{field: value})) == Rejection("invalid_field_type", message)


def test_invalid_field_types_are_all_listed():
    r = rejected(row(event_id=True, metric=7))
    assert r.message == (
        "event_id true is a boolean; send a non-empty string or an integer; "
        "metric 7 is an integer; send a non-empty string"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"event_id": _DROP},
            'missing required field "event_id" (or "transaction_id" / "id") (absent, null or empty); '
            "add a value",
        ),
        (
            {"customer_id": ""},
            'missing required field "customer_id" (or "external_customer_id" / "subject") '
            "(absent, null or empty); add a value",
        ),
        (
            {"metric": "   "},
            'missing required field "metric" (or "code" / "type") (absent, null or empty); add a value',
        ),
        (
            {"timestamp": None},
            'missing required field "timestamp" (or "time") (absent, null or empty); add a value',
        ),
        (
            {"event_id": None, "timestamp": ""},
            'missing required fields "event_id" (or "transaction_id" / "id"), "timestamp" '
            '(or "time") (absent, null or empty); add a value',
        ),
    ],
)
def test_missing_field(overrides, message):
    assert rejected(row(**overrides)) == Rejection("missing_field", message)


def test_empty_optional_fields_are_absent():
    ev = ok(row(subscription_id="", correction_of="", correction_type=""))
    assert (ev.subscription_id, ev.correction_of, ev.correction_type) == (None, None, None)


# -- invalid_json ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"event_id": "e1", "customer_id": "c1", "metr',
        "event_id=e1 customer_id=c1",
        '{"event_id": "e1", }',
        "{'event_id': 'e1'}",
        '{"a": 1} trailing',
        '{"a": NaN}',
        '{"a": Infinity}',
        "",
    ],
)
def test_invalid_json(text):
    result = decode_json_line(text)
    assert isinstance(result, Rejection)
    assert result.reason == "invalid_json"


def test_invalid_json_message_points_at_the_error():
    assert decode_json_line('{"event_id": "e1", }') == Rejection(
        "invalid_json",
        "line is not valid JSON (Expecting property name enclosed in double quotes: column 20, "
        'near "{\\"event_id\\": \\"e1\\", }"); write one complete JSON object per line',
    )


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("[1, 2]", "an array ([1, 2])"),
        ("42", "an integer (42)"),
        ('"x"', 'a string ("x")'),
        ("null", "null (null)"),
    ],
)
def test_json_that_is_not_an_object(text, kind):
    assert decode_json_line(text) == Rejection(
        "invalid_json",
        f"line is {kind}, but each line must be one JSON object "
        '{"event_id": ..., "customer_id": ..., "metric": ..., "timestamp": ...}',
    )


def test_decode_keeps_numbers_exact_and_allows_surrounding_whitespace():
    assert decode_json_line('  {"a": 1.50, "b": 2}  \t') == {"a": Decimal("1.50"), "b": 2}


# -- corrections ----------------------------------------------------------------------------------


def test_valid_corrections():
    void = ok(row(event_id="evt_2", correction_of="evt_1", correction_type="void"))
    assert (void.correction_of, void.correction_type) == ("evt_1", "void")
    assert void.payload_hash == md5(
        '["cus_1",null,"api_calls","2026-01-10T08:30:00.000000",{"n":"1"},"evt_1","void"]'
    )
    replace = ok(row(event_id=124, correction_of=123, correction_type="replace"))
    assert (replace.event_id, replace.correction_of, replace.correction_type) == (
        "124",
        "123",
        "replace",
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"correction_type": "void"},
            'correction_type "void" has no correction_of; add the event_id of the event it '
            "corrects, or remove correction_type",
        ),
        (
            {"correction_of": "evt_0"},
            'correction_of "evt_0" has no correction_type; add correction_type "void" or "replace"',
        ),
        (
            {"correction_of": "evt_0", "correction_type": "undo"},
            'correction_type "undo" is not "void" or "replace"; use one of those (lowercase)',
        ),
        (
            {"correction_of": "evt_0", "correction_type": "VOID"},
            'correction_type "VOID" is not "void" or "replace"; use one of those (lowercase)',
        ),
        (
            {"correction_of": "evt_1", "correction_type": "replace"},
            'correction_of "evt_1" is the event\'s own event_id; a correction needs its own new '
            "event_id and must point to the original event's event_id",
        ),
    ],
)
def test_invalid_correction(overrides, message):
    assert rejected(row(**overrides)) == Rejection("invalid_correction", message)


def test_self_reference_with_integer_ids():
    assert rejected(row(event_id=5, correction_of="5", correction_type="void")).reason == (
        "invalid_correction"
    )


# -- precedence -----------------------------------------------------------------------------------


def test_reason_codes_in_contract_order():
    assert QUARANTINE_REASONS == (
        "invalid_json",
        "missing_field",
        "invalid_field_type",
        "invalid_timestamp",
        "timestamp_out_of_range",
        "invalid_properties",
        "invalid_correction",
    )


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        # missing beats a wrong type elsewhere
        ({"event_id": _DROP, "customer_id": True, "timestamp": "nope"}, "missing_field"),
        # a wrong type beats a bad timestamp, properties and correction
        (
            {"metric": 1, "timestamp": "nope", "properties": [1], "correction_type": "x"},
            "invalid_field_type",
        ),
        # a bad correction *type* (not a string) is a type error, before the timestamp
        ({"correction_type": 5, "timestamp": "nope"}, "invalid_field_type"),
        # an unparseable timestamp beats out-of-range logic, properties and correction
        ({"timestamp": "2099-01-01 00:00:00", "properties": [1]}, "invalid_timestamp"),
        (
            {"timestamp": "1999-01-01T00:00:00Z", "properties": [1], "correction_type": "x"},
            "timestamp_out_of_range",
        ),
        (
            {"properties": "x", "correction_of": "evt_1", "correction_type": "void"},
            "invalid_properties",
        ),
        ({"correction_of": "evt_1", "correction_type": "void"}, "invalid_correction"),
    ],
)
def test_first_reason_that_applies_wins(overrides, reason):
    assert rejected(row(**overrides)).reason == reason


def test_invalid_json_comes_first():
    # a line that is not JSON cannot be anything else
    assert line('{"event_id": true, "timestamp": "x"').reason == "invalid_json"


# -- payload hash ---------------------------------------------------------------------------------


def test_hash_ignores_key_order_aliases_and_timestamp_spelling():
    a = line(
        '{"event_id": "e1", "customer_id": "c1", "metric": "m", "timestamp": "2026-01-10T10:30:00+02:00", '
        '"properties": {"gb": 12.50, "region": "eu"}}'
    )
    b = line(
        '{"properties": {"region": "eu", "gb": 12.50}, "timestamp": 1768033800, "metric": "m", '
        '"customer_id": "c1", "event_id": "e1"}'
    )
    c = line(
        '{"transaction_id": "e1", "external_customer_id": "c1", "code": "m", '
        '"timestamp": "2026-01-10T08:30:00Z", "properties": {"region": "eu", "gb": 12.50}}'
    )
    expected = md5(
        '["c1",null,"m","2026-01-10T08:30:00.000000",{"gb":"12.50","region":"eu"},null,null]'
    )
    assert a.payload_hash == b.payload_hash == c.payload_hash == expected


def test_hash_changes_with_the_payload_not_the_event_id():
    base = ok(row(properties={"gb": Decimal("12.50")}))
    assert (
        ok(row(event_id="other", properties={"gb": Decimal("12.50")})).payload_hash
        == base.payload_hash
    )
    different = [
        row(properties={"gb": Decimal("12.5")}),  # exact text matters: 12.5 is not 12.50
        row(properties={"gb": Decimal("12.51")}),
        row(properties={"gb": Decimal("12.50"), "x": None}),
        row(properties={"gb": "12.50 "}),
        row(customer_id="cus_2", properties={"gb": Decimal("12.50")}),
        row(subscription_id="sub_1", properties={"gb": Decimal("12.50")}),
        row(metric="storage", properties={"gb": Decimal("12.50")}),
        row(timestamp="2026-01-10T08:30:00.000001Z", properties={"gb": Decimal("12.50")}),
        row(
            event_id="e9",
            correction_of="e1",
            correction_type="void",
            properties={"gb": Decimal("12.50")},
        ),
    ]
    hashes = {ok(r).payload_hash for r in different}
    assert len(hashes) == len(different)
    assert base.payload_hash not in hashes


def test_numbers_and_numeric_strings_hash_the_same():
    # properties are stored as strings, so 12.50 and "12.50" are the same payload
    assert (
        ok(row(properties={"gb": Decimal("12.50")})).payload_hash
        == ok(row(properties={"gb": "12.50"})).payload_hash
    )


# -- messages -------------------------------------------------------------------------------------


def test_long_values_are_truncated_in_messages():
    value = "x" * 500
    r = rejected(row(timestamp=value))
    quoted = '"' + "x" * 78 + "…"
    assert r.message == (
        f"timestamp {quoted} is neither Unix epoch seconds nor ISO-8601; "
        'send e.g. 1767225600 or "2026-01-01T00:00:00Z"'
    )


def test_typed_datetime_from_parquet():
    aware = datetime(2026, 1, 10, 10, 30, tzinfo=timezone(timedelta(hours=2)))
    assert ok(row(timestamp=aware)).event_at == datetime(2026, 1, 10, 8, 30)
    assert ok(row(timestamp=datetime(2026, 1, 10, 8, 30, tzinfo=UTC))).event_at == datetime(
        2026, 1, 10, 8, 30
    )
    r = rejected(row(timestamp=datetime(2026, 1, 10, 8, 30)))
    assert r.reason == "invalid_timestamp"
    assert "has no time zone" in r.message


def test_impossible_date_says_why():
    assert rejected(row(timestamp="2026-02-30T10:00:00Z")) == Rejection(
        "invalid_timestamp",
        'timestamp "2026-02-30T10:00:00Z" is not a valid date and time (day is out of range for '
        'month); send ISO-8601 with an offset, e.g. "2026-01-01T00:00:00Z"',
    )
