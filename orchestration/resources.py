"""Resources: the data directory (settings, warehouse path, single-writer lock) and dbt."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from functools import cached_property
from importlib.metadata import version as distribution_version
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from packaging.version import Version

from ingestion.config import Settings, load_settings
from ingestion.warehouse import connect, write_run_context, writer_lock

from .project import dbt_project

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT / "data"


def stripe_client(settings: Settings):
    """A `stripe.StripeClient` for these settings (None without a key). The SDK's own retries are off:
    the publisher and the sync retry themselves, with lookups first (see ingestion/stripe_publish)."""
    key = settings.stripe.api_key()
    if not key:
        return None
    import stripe

    base = settings.stripe.api_base
    addresses = (
        {name: base for name in ("api", "files", "connect", "meter_events")} if base else None
    )
    return stripe.StripeClient(
        key,
        stripe_version=stripe.api_version,  # the one API version, pinned with the SDK (requirements.txt)
        base_addresses=addresses or {},
        max_network_retries=0,
    )


def data_dir_from_env() -> Path:
    return Path(os.environ.get("MH_DATA_DIR", DEFAULT_DATA_DIR)).resolve()


class Warehouse(dg.ConfigurableResource):
    """A Meterhouse data directory: settings, landing files, and the DuckDB warehouse (one writer)."""

    data_dir: str

    @property
    def path(self) -> Path:
        return Path(self.data_dir).resolve()

    @property
    def db_path(self) -> Path:
        return self.path / "warehouse.duckdb"

    @property
    def snapshot_path(self) -> Path:
        return self.path / "warehouse.read.duckdb"

    def settings(self) -> Settings:
        return load_settings(self.path)

    def clock(self) -> datetime:
        """ "Now" for billing, naive UTC: the pinned clock of meterhouse.yml, else the wall clock."""
        pinned = self.settings().clock
        now = pinned if pinned is not None else datetime.now(UTC)
        return now.astimezone(UTC).replace(tzinfo=None)

    def connect(self):
        return connect(self.db_path, memory_limit=self.settings().duckdb_memory_limit)

    def stripe_client(self):
        """The Stripe client of meterhouse.yml's `stripe` settings, or None when no key is set."""
        return stripe_client(self.settings())

    def stripe_not_configured(self) -> str:
        env = self.settings().stripe.api_key_env
        return (
            f"Stripe is not configured: set {env} (meterhouse.yml stripe.api_key_env) to a secret key, "
            "and stripe.api_base to the emulator's address for a local run; nothing was sent or read"
        )

    def writing(self):
        """Context manager: the single-writer lock of this data directory."""
        return writer_lock(self.path)

    def dbt_env(self) -> None:
        """dbt runs in a subprocess that reads the warehouse path from the environment (profiles.yml)."""
        os.environ["DUCKDB_PATH"] = str(self.db_path)
        os.environ["MH_DUCKDB_MEMORY_LIMIT"] = self.settings().duckdb_memory_limit

    def write_run_context(self, close_through_month: str | None = None) -> None:
        """What the next dbt build reads as its clock, grace period and month to close (call under the lock)."""
        settings = self.settings()
        con = self.connect()
        try:
            write_run_context(
                con,
                billing_clock=self.clock(),
                grace_period_hours=settings.grace_period_hours,
                future_margin_hours=settings.future_margin_hours,
                close_through_month=close_through_month,
                publish_from=settings.stripe.publish_from,
            )
        finally:
            con.close()


class OfflineDbtCliResource(DbtCliResource):
    """DbtCliResource without its `dbt --version` probe.

    dagster-dbt runs `dbt --version` once per run to learn the dbt version, and `dbt --version` asks
    pypi.org for the latest dbt-core and adapter releases (two HTTP calls, 1 s timeout each). Nothing here
    may reach the internet, so the version is read from the installed dbt-core package instead.
    """

    @cached_property
    def _cli_version(self) -> Version:
        return Version(distribution_version("dbt-core"))


def dbt_resource() -> DbtCliResource:
    return OfflineDbtCliResource(
        project_dir=dbt_project,
        profiles_dir=str(dbt_project.project_dir),
        dbt_executable=str(Path(sys.executable).parent / "dbt"),
    )
