"""Settings from ``DIR/meterhouse.yml`` (see docs/contracts.md).

The file is optional; absent, every setting takes its default. It is our own file, so an unknown key
is an error (a misspelt ``grace_period_hour`` must not silently fall back to 72).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
)

SETTINGS_FILE = "meterhouse.yml"

# What `set memory_limit = '...'` accepts; checked because warehouse.connect() puts it in SQL text.
_MEMORY_LIMIT = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)$", re.IGNORECASE)


class SettingsError(ValueError):
    """meterhouse.yml is unreadable or invalid; the message names the file and each bad key."""


class StripeSettings(BaseModel):
    """Where Meterhouse publishes invoices and reads Stripe objects from.

    Stripe is used only when the environment variable named by ``api_key_env`` holds a key: without
    it, the Stripe assets report "not configured" and change nothing. ``api_base`` None means Stripe
    itself (https://api.stripe.com); the demo and the tests point it at the local emulator."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key_env: str = "STRIPE_API_KEY"
    api_base: str | None = None
    # days_until_due of the invoices published (collection_method send_invoice)
    days_until_due: Annotated[StrictInt, Field(ge=0)] = 30
    # The first billing month published (YYYY-MM): earlier months were billed before Meterhouse went
    # live (or, in the demo, are not worth the time). None = every month.
    publish_from: str | None = None
    # At most this many documents sent per run (Stripe's rate limits: 25 requests/s in test mode,
    # ~11 requests per invoice); the rest go out with the next runs. None = no limit.
    publish_batch_size: Annotated[StrictInt, Field(gt=0)] | None = None

    @field_validator("publish_from")
    @classmethod
    def _month(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
            raise ValueError(f"{value!r} is not a billing month YYYY-MM")
        return value

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+/?$", value):
            raise ValueError(f"{value!r} is not a base address such as http://127.0.0.1:12111")
        return None if value is None else value.rstrip("/")

    def api_key(self) -> str | None:
        import os

        return os.environ.get(self.api_key_env) or None


class QualitySettings(BaseModel):
    """Thresholds of the freshness checks (warnings in the Dagster UI; they never block publishing).

    ``events_max_silence_hours``: warn when no event has landed for this long (by load time).
    ``usage_change_factor`` and ``usage_min_daily_events``: warn when a subscription's daily billable
    events for a metric drop to zero, or rise or fall by this factor or more, from one day to the next
    while the subscription runs (its first and last days are ignored), unless both days have fewer
    events than the minimum (small volumes swing by themselves)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    events_max_silence_hours: Annotated[StrictInt, Field(gt=0)] = 24
    usage_change_factor: Annotated[StrictInt, Field(ge=2)] = 10
    usage_min_daily_events: Annotated[StrictInt, Field(ge=1)] = 50


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # An invoice is issued when its period end + grace has passed.
    grace_period_hours: Annotated[StrictInt, Field(ge=0)] = 72
    # Event timestamps later than load time + margin are quarantined.
    future_margin_hours: Annotated[StrictInt, Field(ge=0)] = 24
    # None = wall clock; an aware timestamp pins "now" (kept in UTC).
    clock: AwareDatetime | None = None
    duckdb_memory_limit: str = "4GB"
    stripe: StripeSettings = StripeSettings()
    quality: QualitySettings = QualitySettings()

    @field_validator("clock")
    @classmethod
    def _clock_in_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    @field_validator("duckdb_memory_limit")
    @classmethod
    def _memory_limit(cls, value: str) -> str:
        value = value.strip()
        if not _MEMORY_LIMIT.match(value):
            raise ValueError(f"{value!r} is not a DuckDB memory size such as '4GB' or '512MiB'")
        return value

    def now(self) -> datetime:
        """The pinned clock if set, else the wall clock (aware, UTC)."""
        return self.clock if self.clock is not None else datetime.now(UTC)


def load_settings(data_dir: Path) -> Settings:
    """Read ``data_dir/meterhouse.yml``; defaults when the file is absent or empty."""
    path = Path(data_dir) / SETTINGS_FILE
    if not path.exists():
        return Settings()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path.name}: not valid YAML: {exc}") from exc
    if data is None:
        return Settings()
    if not isinstance(data, dict):
        raise SettingsError(
            f"{path.name}: expected a mapping of settings, got {type(data).__name__}"
        )
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError("\n".join(_describe(path, err) for err in exc.errors())) from exc


def _describe(path: Path, err: Any) -> str:
    key = ".".join(str(part) for part in err["loc"]) or "(file)"
    kind = err["type"]
    if kind == "extra_forbidden":
        nested = {"stripe": StripeSettings, "quality": QualitySettings}
        model = nested.get(str(err["loc"][0]), Settings) if len(err["loc"]) > 1 else Settings
        known = ", ".join(model.model_fields)
        message = f"unknown key; the known keys are {known}"
    elif kind == "timezone_aware":
        message = f"timestamp {str(err['input'])!r} has no UTC offset; add Z or +hh:mm"
    else:
        message = err["msg"].removeprefix("Value error, ")
        if kind != "value_error":
            message += f" (got {err['input']!r})"
    return f"{path.name}: {key}: {message}"
