"""What a quality check found, where it blocks publishing, and how it is recorded in the warehouse.

Two raw tables (``QUALITY_DDL``, created by ``ingestion.warehouse.ensure_raw_schema``):

``raw.check_failures`` — what each check found failing at its latest run, one row per customer x billing
month (or load) it blocks. Replaced per check at every run of that check, so a defect that is fixed
clears at the next run. ``billing.publish_blockers`` (a dbt view, always current) turns these rows into
the (customer, billing month) pairs publishing skips:

- ``customer_id`` null: every customer (a failure that cannot be pinned to customers);
- ``billing_month`` set: that month; ``since_loaded_at`` set instead (a defect in an event load): every
  month with a document issued with a load cut-off at or after it (the documents that saw the load);
  both null: every month.

``raw.check_runs`` — one row per check evaluation (append-only): when, which run, passed or not, how many
rows, and for the event checks the newest load validated (``max_load_id``): the next run validates the
loads after it, plus the loads that still have failures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

QUALITY_DDL = """
create schema if not exists raw;
create table if not exists raw.check_failures (
    check_name varchar not null,
    asset_key varchar not null,
    customer_id varchar,
    billing_month varchar,
    since_loaded_at timestamp,
    load_id bigint,
    failing_rows bigint not null,
    reason varchar not null,
    checked_at timestamp not null,
    run_id varchar
);
create table if not exists raw.check_runs (
    check_name varchar not null,
    asset_key varchar not null,
    run_id varchar,
    checked_at timestamp not null,
    passed boolean not null,
    rows_checked bigint not null,
    failing_rows bigint not null,
    blockers bigint not null,
    max_load_id bigint,
    scope varchar
);
"""

MAX_REASON_CHARS = 600


@dataclass(frozen=True)
class Pin:
    """Where a failure blocks publishing (see the module docstring)."""

    customer_id: str | None = None
    billing_month: str | None = None
    since_loaded_at: datetime | None = None
    load_id: int | None = None

    def describe(self) -> str:
        who = f"customer {self.customer_id}" if self.customer_id else "every customer"
        if self.billing_month:
            when = f"billing month {self.billing_month}"
        elif self.since_loaded_at is not None:
            when = (
                f"the billing months of documents issued with load {self.load_id} in their cut-off"
            )
        else:
            when = "every month"
        return f"{who}, {when}"


@dataclass(frozen=True)
class CheckFailure:
    """One row of raw.check_failures."""

    check_name: str
    asset_key: str
    pin: Pin
    failing_rows: int
    reason: str


@dataclass
class RuleOutcome:
    """One expectation's result: in words, with the failing rows' index labels and a few examples."""

    rule: str
    expectation: str
    success: bool
    frame: str = ""  # which DataFrame of the check it ran on (a check may validate several)
    element_count: int = 0
    unexpected_count: int = 0
    failing_index: list[Any] = field(default_factory=list)
    observed: str | None = None
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "expectation": self.expectation,
            "success": self.success,
            "rows": self.element_count,
            "failing_rows": self.unexpected_count,
            "observed": self.observed,
        }


@dataclass
class CheckReport:
    """A check's result: every expectation's outcome and the publish blockers its failures make."""

    check_name: str
    asset_key: str  # "billing/fct_invoices"
    rows_checked: int
    outcomes: list[RuleOutcome]
    failures: list[CheckFailure] = field(default_factory=list)
    scope: str = ""
    blocks_publishing: bool = True
    max_load_id: int | None = None

    @property
    def passed(self) -> bool:
        return all(o.success for o in self.outcomes)

    @property
    def failed_rules(self) -> list[RuleOutcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def failing_rows(self) -> int:
        """Distinct failing rows, plus one per failing table-level expectation (schema, row count)."""
        rows: set[Any] = set()
        table_level = 0
        for o in self.failed_rules:
            if o.failing_index:
                rows.update((o.frame, i) for i in o.failing_index)
            else:
                table_level += 1
        return len(rows) + table_level

    def summary(self) -> str:
        if self.passed:
            return f"{self.check_name}: passed ({self.rows_checked} rows; {self.scope})"
        rules = "; ".join(f"{o.rule} ({o.unexpected_count} rows)" for o in self.failed_rules)
        return f"{self.check_name}: FAILED on {self.rows_checked} rows ({self.scope}): {rules}"


def clip(text: str, limit: int = MAX_REASON_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def record_reports(
    con: duckdb.DuckDBPyConnection,
    reports: list[CheckReport],
    *,
    checked_at: datetime,
    run_id: str | None,
) -> None:
    """Replace each blocking check's rows in raw.check_failures and log every run in raw.check_runs
    (one transaction: publishing never sees half of a check's rows)."""
    con.execute(QUALITY_DDL)
    con.execute("begin transaction")
    try:
        for r in reports:
            if r.blocks_publishing:
                con.execute("delete from raw.check_failures where check_name = ?", [r.check_name])
                if r.failures:
                    con.executemany(
                        "insert into raw.check_failures values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [
                            [
                                f.check_name,
                                f.asset_key,
                                f.pin.customer_id,
                                f.pin.billing_month,
                                f.pin.since_loaded_at,
                                f.pin.load_id,
                                f.failing_rows,
                                f.reason,
                                checked_at,
                                run_id,
                            ]
                            for f in r.failures
                        ],
                    )
            con.execute(
                "insert into raw.check_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    r.check_name,
                    r.asset_key,
                    run_id,
                    checked_at,
                    r.passed,
                    r.rows_checked,
                    r.failing_rows,
                    len(r.failures),
                    r.max_load_id,
                    r.scope,
                ],
            )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
