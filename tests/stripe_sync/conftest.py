"""Fixtures: a fresh emulator (frozen clock) and a fresh DuckDB file per test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
import stripe

from ingestion.stripe_emulator import EmulatorServer, client_for

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z, the emulator clock's start
T0_DT = datetime.fromtimestamp(T0, tz=UTC).replace(tzinfo=None)


@pytest.fixture
def srv() -> Iterator[EmulatorServer]:
    with EmulatorServer(clock_start=T0) as server:
        yield server


@pytest.fixture
def client(srv: EmulatorServer) -> stripe.StripeClient:
    """No SDK retries: a fault injected in the emulator reaches the sync."""
    return client_for(srv.url, max_network_retries=0)


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    connection.execute("set TimeZone = 'UTC'")
    yield connection
    connection.close()


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> dict:
    found = rows(con, sql, params)
    assert len(found) == 1, found
    return found[0]


def versions(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, tuple[int, int]]:
    """id -> (version_no, sync_id) of every row of raw.stripe_<table>."""
    return {
        r[0]: (r[1], r[2])
        for r in con.execute(f"select id, version_no, sync_id from raw.stripe_{table}").fetchall()
    }
