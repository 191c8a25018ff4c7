from datetime import UTC, datetime

import pytest

from ingestion.config import Settings, SettingsError, load_settings


def test_defaults_when_the_file_is_absent(tmp_path):
    settings = load_settings(tmp_path)
    assert settings == Settings(
        grace_period_hours=72, future_margin_hours=24, clock=None, duckdb_memory_limit="4GB"
    )


def test_empty_file_gives_defaults(tmp_path):
    (tmp_path / "meterhouse.yml").write_text("# nothing set\n")
    assert load_settings(tmp_path) == Settings()


def test_values_from_the_file(tmp_path):
    (tmp_path / "meterhouse.yml").write_text(
        "grace_period_hours: 0\n"
        "future_margin_hours: 6\n"
        'clock: "2026-04-01T02:00:00+02:00"\n'
        'duckdb_memory_limit: "512MiB"\n'
    )
    settings = load_settings(tmp_path)
    assert settings.grace_period_hours == 0
    assert settings.future_margin_hours == 6
    assert settings.clock == datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
    assert settings.clock.utcoffset().total_seconds() == 0
    assert settings.duckdb_memory_limit == "512MiB"
    assert settings.now() == datetime(2026, 4, 1, 0, 0, tzinfo=UTC)


def test_unquoted_yaml_timestamp_with_z_is_accepted(tmp_path):
    (tmp_path / "meterhouse.yml").write_text("clock: 2026-04-01T00:00:00Z\n")
    assert load_settings(tmp_path).clock == datetime(2026, 4, 1, tzinfo=UTC)


@pytest.mark.parametrize("clock", ['"2026-04-01T00:00:00"', "2026-04-01 10:00:00", "2026-04-01"])
def test_naive_clock_is_rejected(tmp_path, clock):
    (tmp_path / "meterhouse.yml").write_text(f"clock: {clock}\n")
    with pytest.raises(SettingsError) as info:
        load_settings(tmp_path)
    message = str(info.value)
    assert message.startswith("meterhouse.yml: clock: timestamp ")
    assert message.endswith("has no UTC offset; add Z or +hh:mm")


def test_unknown_key_is_rejected(tmp_path):
    (tmp_path / "meterhouse.yml").write_text("grace_period_hour: 12\n")
    with pytest.raises(SettingsError) as info:
        load_settings(tmp_path)
    assert str(info.value) == (
        "meterhouse.yml: grace_period_hour: unknown key; the known keys are grace_period_hours, "
        "future_margin_hours, clock, duckdb_memory_limit, stripe, quality"
    )


def test_stripe_settings(tmp_path, monkeypatch):
    (tmp_path / "meterhouse.yml").write_text(
        'stripe:\n  api_base: "http://127.0.0.1:12111/"\n  publish_from: "2026-10"\n  api_key_env: MY_KEY\n'
    )
    stripe = load_settings(tmp_path).stripe
    assert (stripe.api_base, stripe.publish_from, stripe.days_until_due) == (
        "http://127.0.0.1:12111",
        "2026-10",
        30,
    )
    monkeypatch.delenv("MY_KEY", raising=False)
    assert stripe.api_key() is None  # no key: Stripe is not used
    monkeypatch.setenv("MY_KEY", "sk_test_x")
    assert stripe.api_key() == "sk_test_x"
    (tmp_path / "meterhouse.yml").write_text(
        'stripe:\n  publish_from: "2026-13"\n  api_key: sk_live_x\n'
    )
    with pytest.raises(SettingsError) as info:
        load_settings(tmp_path)
    assert sorted(str(info.value).splitlines()) == [
        "meterhouse.yml: stripe.api_key: unknown key; the known keys are api_key_env, api_base, "
        "days_until_due, publish_from, publish_batch_size",
        "meterhouse.yml: stripe.publish_from: '2026-13' is not a billing month YYYY-MM",
    ]


def test_quality_settings(tmp_path):
    assert (
        Settings().quality.events_max_silence_hours,
        Settings().quality.usage_change_factor,
        Settings().quality.usage_min_daily_events,
    ) == (24, 10, 50)
    (tmp_path / "meterhouse.yml").write_text(
        "quality:\n  events_max_silence_hours: 6\n  usage_min_daily_events: 200\n"
    )
    quality = load_settings(tmp_path).quality
    assert (quality.events_max_silence_hours, quality.usage_change_factor) == (6, 10)
    assert quality.usage_min_daily_events == 200
    (tmp_path / "meterhouse.yml").write_text(
        "quality:\n  usage_change_factor: 1\n  silence_hours: 6\n"
    )
    with pytest.raises(SettingsError) as info:
        load_settings(tmp_path)
    assert sorted(str(info.value).splitlines()) == [
        "meterhouse.yml: quality.silence_hours: unknown key; the known keys are "
        "events_max_silence_hours, usage_change_factor, usage_min_daily_events",
        "meterhouse.yml: quality.usage_change_factor: Input should be greater than or equal to 2 "
        "(got 1)",
    ]


def test_every_bad_key_is_named(tmp_path):
    (tmp_path / "meterhouse.yml").write_text(
        'grace_period_hours: -1\nfuture_margin_hours: yes\nduckdb_memory_limit: "4GB\'; drop"\n'
    )
    with pytest.raises(SettingsError) as info:
        load_settings(tmp_path)
    lines = str(info.value).splitlines()
    assert lines == [
        "meterhouse.yml: grace_period_hours: Input should be greater than or equal to 0 (got -1)",
        "meterhouse.yml: future_margin_hours: Input should be a valid integer (got True)",
        'meterhouse.yml: duckdb_memory_limit: "4GB\'; drop" is not a DuckDB memory size such as '
        "'4GB' or '512MiB'",
    ]


def test_not_a_mapping(tmp_path):
    (tmp_path / "meterhouse.yml").write_text("- 72\n")
    with pytest.raises(SettingsError, match=r"^meterhouse.yml: expected a mapping"):
        load_settings(tmp_path)


def test_invalid_yaml(tmp_path):
    (tmp_path / "meterhouse.yml").write_text("clock: [\n")
    with pytest.raises(SettingsError, match=r"^meterhouse.yml: not valid YAML"):
        load_settings(tmp_path)
