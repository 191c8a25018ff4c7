"""A backfill of one billing month, run as an operator runs it from the UI: the close job's partition for
September 2026 on a warehouse holding only the raw tables (events, accounts, catalog) of the scenarios run.

It must issue exactly the invoices that run issued for September, line for line, and nothing of October.
Totals are also checked against the hand-computed ones of tests/test_scenarios.py.
"""

from __future__ import annotations

import shutil

import pytest

from .conftest import copy_raw_schema, query
from .test_scenarios import EXPECTED_ISSUED_TOTALS
from .test_scenarios import SEPTEMBER_INVOICES as SEPTEMBER

pytestmark = pytest.mark.slow

LEDGER_COLUMNS = (
    "ledger_line_id, document_id, fee_id, line_kind, units, precise_amount, amount_cents, currency, "
    "cutoff_loaded_at, billing_month"
)


def test_a_backfill_of_one_month_issues_the_same_invoices(scenarios_dir, tmp_path):
    import dagster as dg

    from orchestration.definitions import build_defs

    data_dir = tmp_path / "backfill"
    shutil.copytree(
        scenarios_dir,
        data_dir,
        ignore=shutil.ignore_patterns("warehouse*.duckdb*", "stripe*", "reports"),
    )
    copy_raw_schema(scenarios_dir / "warehouse.duckdb", data_dir / "warehouse.duckdb")

    job = build_defs(data_dir).resolve_job_def("close_month_job")
    result = job.execute_in_process(
        # its own instance: the session's keeps the scenarios run as the latest materializations
        instance=dg.DagsterInstance.ephemeral(),
        partition_key="2026-09-01",
        tags={"dagster/backfill": "test-one-month"},
    )
    assert result.success

    original = query(
        scenarios_dir / "warehouse.duckdb",
        f"select {LEDGER_COLUMNS} from billing.fct_billing_ledger where billing_month = '2026-09' order by 1",
    )
    backfilled = query(
        data_dir / "warehouse.duckdb",
        f"select {LEDGER_COLUMNS} from billing.fct_billing_ledger order by 1",
    )
    assert len(original) > 20  # every line of eight invoices: not a vacuous comparison
    assert backfilled == original  # and nothing of October was issued

    totals = dict(
        query(
            data_dir / "warehouse.duckdb",
            "select invoice_id, total_amount_cents from billing.fct_invoices where invoice_status = 'issued'",
        )
    )
    assert totals == {k: v for k, v in EXPECTED_ISSUED_TOTALS.items() if k in SEPTEMBER}
