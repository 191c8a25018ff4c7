"""A sensor that starts a run when event files land (it never opens the warehouse)."""

import hashlib
from pathlib import Path

import dagster as dg

from ingestion.events.intake import discover_event_files

from .jobs import close_month_job
from .partitions import billing_month_partitions
from .resources import data_dir_from_env


def landing_signature(events_dir: Path) -> tuple[str, int]:
    """A fingerprint of the finished files in the landing folder (names, sizes, mtimes).

    Files still being written (temporary names) are ignored by `discover_event_files`, so a writer's
    rename is what makes a file visible. The run itself decides what is new by content hash.
    """
    files = discover_event_files(events_dir) if events_dir.exists() else []
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(events_dir)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest(), len(files)


@dg.sensor(job=close_month_job, minimum_interval_seconds=30, name="landing_files_sensor")
def landing_files_sensor(context: dg.SensorEvaluationContext):
    events_dir = data_dir_from_env() / "landing" / "events"
    signature, count = landing_signature(events_dir)
    if count == 0 or signature == context.cursor:
        return dg.SkipReason(f"no new or changed files in {events_dir}")
    context.update_cursor(signature)
    # a run for the current billing month: load, rebuild, and issue whatever is due by now
    return dg.RunRequest(
        run_key=signature,
        partition_key=billing_month_partitions.get_last_partition_key(),
        tags={"meterhouse/landing_files": str(count)},
    )
