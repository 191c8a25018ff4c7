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
