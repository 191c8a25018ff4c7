"""Billing months: the UTC month that contains an invoice's period end (its issue instant)."""

import os

import dagster as dg

billing_month_partitions = dg.MonthlyPartitionsDefinition(
    start_date=os.environ.get("MH_BILLING_START", "2024-01-01"),
    end_offset=1,  # the current month too: an invoice issued today belongs to it
)


def month_label(partition_key: str) -> str:
    """'2026-09-01' -> '2026-09' (the dbt models' billing_month)."""
    return partition_key[:7]
