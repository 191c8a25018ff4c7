"""Schedules: refresh usage every 15 minutes, issue what is due every day, and the month-end close after the
grace period."""

import math

import dagster as dg

from ingestion.config import load_settings

from .jobs import close_month_job, refresh_usage_job
from .partitions import billing_month_partitions
from .resources import data_dir_from_env


@dg.schedule(
    name="refresh_usage_schedule",
    job=refresh_usage_job,
    cron_schedule="*/15 * * * *",
    execution_timezone="UTC",
    description=(
        "Every 15 minutes: load new files and refresh meters and the current period's drafts. A tick is "
        "skipped while the previous refresh is still queued or running, so refreshes never pile up behind "
        "a long close."
    ),
)
def refresh_usage_schedule(context: dg.ScheduleEvaluationContext):
    busy = context.instance.get_run_records(
        dg.RunsFilter(
            job_name=refresh_usage_job.name,
            statuses=[
                dg.DagsterRunStatus.QUEUED,
                dg.DagsterRunStatus.NOT_STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
            ],
        ),
        limit=1,
    )
    if busy:
        return dg.SkipReason(
            f"refresh run {busy[0].dagster_run.run_id} is still queued or running; the next tick catches up"
        )
    return dg.RunRequest(run_key=f"refresh-{context.scheduled_execution_time:%Y-%m-%dT%H:%M}")


@dg.schedule(
    name="daily_close_schedule",
    job=close_month_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    description=(
        "Every day at 02:00 UTC: load new files, rebuild, and issue every invoice that is due, through the "
        "current billing month (invoices are issued once their period end + grace has passed)."
    ),
)
def daily_close_schedule(context: dg.ScheduleEvaluationContext):
    # the current billing month: the month that contains the tick
    key = billing_month_partitions.get_partition_key_for_timestamp(
        context.scheduled_execution_time.timestamp()
    )
    return dg.RunRequest(
        run_key=f"daily-{context.scheduled_execution_time:%Y-%m-%d}", partition_key=key
    )


def _close_day() -> int:
    """The first day after the grace period has passed for invoices issued on the 1st."""
    grace_hours = load_settings(data_dir_from_env()).grace_period_hours
    return min(28, 1 + math.ceil(grace_hours / 24) + 1)


monthly_close_schedule = dg.build_schedule_from_partitioned_job(
    close_month_job,
    name="monthly_close_schedule",
    description="The month-end close: the current billing month and every earlier one, after the grace period.",
    day_of_month=_close_day(),
    hour_of_day=6,
)
