"""Schedules: a daily refresh and the monthly close after the grace period."""

import math

import dagster as dg

from ingestion.config import load_settings

from .jobs import close_month_job, refresh_job
from .resources import data_dir_from_env

daily_refresh_schedule = dg.ScheduleDefinition(
    name="daily_refresh_schedule",
    job=refresh_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
)


def _close_day() -> int:
    """Close on the first day after the grace period has passed for invoices issued on the 1st."""
    grace_hours = load_settings(data_dir_from_env()).grace_period_hours
    return min(28, 1 + math.ceil(grace_hours / 24) + 1)


monthly_close_schedule = dg.build_schedule_from_partitioned_job(
    close_month_job,
    name="monthly_close_schedule",
    day_of_month=_close_day(),
    hour_of_day=6,
)
