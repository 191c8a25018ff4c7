"""Shared fixtures. Nothing here reaches the network: telemetry is off before anything is imported."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DBT_DIR = REPO / "dbt_project"


def _worker_dbt_project() -> Path:
    """Under pytest-xdist each worker parses and builds in its own copy of the dbt project (dbt writes its
    manifest, partial-parse state and target folders inside the project): set before orchestration loads."""
    import atexit
    import tempfile

    parent = Path(tempfile.mkdtemp(prefix=f"mh_dbt_{os.environ['PYTEST_XDIST_WORKER']}_"))
    atexit.register(shutil.rmtree, parent, ignore_errors=True)
    copy = parent / "dbt_project"
    shutil.copytree(DBT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    os.environ["MH_DBT_PROJECT_DIR"] = str(copy)
    return copy


if os.environ.get("PYTEST_XDIST_WORKER"):
    DBT_DIR = _worker_dbt_project()
DBT = str(Path(sys.executable).parent / "dbt")


def run_dbt(args: list[str], db_path: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "DUCKDB_PATH": str(db_path)}
    proc = subprocess.run([DBT, *args], cwd=DBT_DIR, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"dbt {' '.join(args)} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
        )
    return proc


@pytest.fixture(scope="session", autouse=True)
def _dagster_home(tmp_path_factory):
    """An isolated Dagster instance for the whole session, telemetry off."""
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(REPO / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    yield home


@pytest.fixture(scope="session")
def dbt_manifest():
    from orchestration.cli import ensure_manifest

    return ensure_manifest()


def copy_fixture(name: str, dest: Path) -> Path:
    shutil.copytree(FIXTURES / name, dest, dirs_exist_ok=True)
    return dest


@pytest.fixture(scope="session")
def scenarios_run(tmp_path_factory, dbt_manifest) -> tuple[Path, str]:
    """The hand-computed scenarios, run once through the whole Dagster pipeline (the integration test):
    the data directory and the Dagster run id (on the session's instance)."""
    from orchestration.cli import run_pipeline

    data_dir = copy_fixture("scenarios", tmp_path_factory.mktemp("scenarios"))
    result = run_pipeline(data_dir)
    assert result.success
    return data_dir, result.run_id


@pytest.fixture(scope="session")
def scenarios_dir(scenarios_run) -> Path:
    return scenarios_run[0]


def copy_raw_schema(src: Path, dest: Path) -> Path:
    """A new warehouse holding only src's raw tables: what a rebuild from scratch starts from."""
    import duckdb

    con = duckdb.connect(str(dest))
    try:
        con.execute(f"attach '{src}' as src (read_only)")
        con.execute("create schema raw")
        tables = con.execute(
            "select table_name from duckdb_tables() where database_name = 'src' and schema_name = 'raw'"
        ).fetchall()
        for (table,) in tables:
            con.execute(f"create table raw.{table} as select * from src.raw.{table}")
        con.execute("detach src")
    finally:
        con.close()
    return dest


def query(db_path: Path, sql: str, params: list | None = None) -> list[tuple]:
    from ingestion.warehouse import connect

    con = connect(db_path, read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
