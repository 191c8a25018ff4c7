"""Scratch warehouses: the pipeline's own dbt models run on a throwaway DuckDB file, never the live one.

`meterhouse quote` and `meterhouse preview --as-of` price with exactly the SQL the warehouse bills with
(issue 3: rating lives in SQL and nowhere else), on a database of their own, so they never wait for or
disturb the single writer of DIR/warehouse.duckdb.

dbt runs in-process (dbtRunner) with a manifest parsed once per call into `dbt_project/target/scratch_state`
under a fixed profile, so partial parsing keeps that step to a second or two; the build itself then points
the same manifest at the scratch file. Models are addressed as "warehouse"."schema"."table": the scratch
file is always named warehouse.duckdb, like the live one, so the manifest's database name matches.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .project import DBT_PROJECT_DIR

STATE_DIR = DBT_PROJECT_DIR / "target" / "scratch_state"


class ScratchBuildError(RuntimeError):
    """A dbt step on the scratch warehouse failed; the message holds dbt's own errors."""


def _telemetry_off() -> None:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


def _common_args(target_path: Path) -> list[str]:
    return [
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target_path),
        "--log-path",
        str(target_path / "logs"),
        "--quiet",
    ]


def parsed_manifest():
    """The project's manifest, parsed under a fixed profile (partial parsing makes repeats cheap)."""
    from dbt.cli.main import dbtRunner

    _telemetry_off()
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with open(STATE_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two quotes at once share this parse state
        saved = os.environ.get("DUCKDB_PATH")
        os.environ["DUCKDB_PATH"] = str(STATE_DIR / "warehouse.duckdb")  # never opened by a parse
        try:
            result = dbtRunner().invoke(["parse", *_common_args(STATE_DIR)])
        finally:
            if saved is None:
                os.environ.pop("DUCKDB_PATH", None)
            else:
                os.environ["DUCKDB_PATH"] = saved
    if not result.success:
        raise ScratchBuildError(f"dbt parse failed: {result.exception}")
    return result.result


class ScratchWarehouse:
    """A temporary directory holding warehouse.duckdb, with a dbt build of selected models on it."""

    def __init__(self, root: Path):
        self.root = root
        self.db_path = root / "warehouse.duckdb"

    def connect(self, read_only: bool = False):
        from ingestion.warehouse import connect

        return connect(self.db_path, read_only=read_only)

    def build(
        self, select: str, *, exclude: str | None = None, vars_: dict | None = None, manifest=None
    ) -> None:
        """`dbt build --select <select> [--exclude <exclude>]` (models and seeds, no tests) on the
        scratch file; an excluded model is read as the table already in the file."""
        import json

        from dbt.cli.main import dbtRunner

        manifest = manifest if manifest is not None else parsed_manifest()
        args = [
            "build",
            "--select",
            select,
            "--exclude-resource-type",
            "test",
            "--exclude-resource-type",
            "unit_test",
            *_common_args(self.root / "target"),
        ]
        if exclude:
            args += ["--exclude", exclude]
        if vars_:
            args += ["--vars", json.dumps(vars_)]
        saved = os.environ.get("DUCKDB_PATH")
        os.environ["DUCKDB_PATH"] = str(self.db_path)
        try:
            result = dbtRunner(manifest=manifest).invoke(args)
        finally:
            if saved is None:
                os.environ.pop("DUCKDB_PATH", None)
            else:
                os.environ["DUCKDB_PATH"] = saved
        if not result.success:
            failures = []
            for r in getattr(result.result, "results", None) or []:
                if str(r.status) in ("error", "fail", "RunStatus.Error"):
                    failures.append(f"{r.node.name}: {r.message}")
            detail = "\n".join(failures) or str(result.exception)
            raise ScratchBuildError(f"dbt build on the scratch warehouse failed:\n{detail}")


@contextmanager
def scratch_warehouse(keep: Path | None = None) -> Iterator[ScratchWarehouse]:
    """A fresh scratch warehouse; removed afterwards unless `keep` names a directory to build it in."""
    _telemetry_off()
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield ScratchWarehouse(keep)
        return
    root = Path(tempfile.mkdtemp(prefix="meterhouse_scratch_"))
    try:
        yield ScratchWarehouse(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
