"""The quality checks on the Dagster definitions: dbt's tests of every kind are asset checks (dagster-dbt), the
GX suites are asset checks of the assets they check, and the close job runs the publish gates after the marts
they read and before publishing. No run: the definitions only (needs the dbt manifest)."""

from __future__ import annotations

import dagster as dg
import pytest


@pytest.fixture(scope="module")
def defs(dbt_manifest):
    from orchestration.definitions import defs

    return defs


@pytest.fixture(scope="module")
def checks(defs) -> set[str]:
    return {k.to_user_string() for k in defs.resolve_asset_graph().asset_check_keys}


@pytest.mark.parametrize(
    "check",
    [
        # generic tests: unique, not_null, relationships, accepted_values, money expressions
        "billing/fct_invoices:unique_fct_invoices_invoice_id",
        "billing/fct_invoices:not_null_fct_invoices_customer_id",
        "billing/fct_invoice_lines:relationships_fct_invoice_lines_invoice_id__invoice_id__ref_fct_invoices_",
        "billing/fct_invoices:relationships_fct_invoices_customer_id__customer_id__ref_stg_accounts__customers_",
        "billing/fct_invoice_lines:accepted_values_fct_invoice_lines_fee_type__subscription__charge__"
        "spending_minimum__minimum_commitment__discount__tax__credit",
        "billing/fct_billing_ledger:accepted_values_fct_billing_ledger_fee_type__subscription__charge__"
        "spending_minimum__minimum_commitment__discount__tax__credit",
        "billing/fct_invoice_lines:expression_is_true_fct_invoice_lines_fee_type_discount_or_amount_cents_0",
        "billing/fct_credit_notes:expression_is_true_fct_credit_notes_total_amount_cents_0",
        "usage/rpt_load_accounting:accepted_values_rpt_load_accounting_is_balanced__True",
        # singular tests, each on the asset its meta names (or its one model)
        "billing/fct_issued_invoices:issued_invoices_match_their_lines",
        "billing/fct_invoice_lines:invoice_lines_are_rounded_once",
        "billing/fct_invoices:no_double_money_columns",
        "staging/stg_stripe__invoices:published_invoices_match_stripe",
    ],
)
def test_dbt_tests_are_asset_checks(checks, check):
    assert check in checks


def test_the_gx_suites_and_freshness_checks_are_asset_checks_of_what_they_check(checks):
    assert {
        "raw/events:event_batch_suite",
        "raw/events:events_freshness",
        "usage/rpt_load_accounting:load_accounting_suite",
        "billing/fct_invoices:invoice_suite",
        "billing/fct_invoice_lines:invoice_line_suite",
        "usage/rpt_daily_usage:usage_day_over_day",
        "stripe/stripe_invoices:stripe_invoices_suite",
        "stripe/stripe_customers:stripe_customers_suite",
        "stripe/stripe_refunds:stripe_refunds_suite",
    } <= checks


def test_the_close_job_runs_the_gates_after_the_marts_and_before_publishing(defs):
    job = defs.resolve_job_def("close_month_job")
    deps = job.graph.dependency_structure

    def upstream(node: str) -> set[str]:
        return {o.node.name for o in deps.all_upstream_outputs_from_node(node)}

    assert {"dbt_reporting", "event_files"} <= upstream("publish_gates")
    assert "publish_gates" in upstream("stripe__stripe_published_documents")
    assert upstream("stripe_raw_checks") == {"stripe_objects"}
    # every gate check is part of the job's plan (executed by the publish_gates step)
    plan_checks = {k.name for k in job.asset_layer.asset_graph.asset_check_keys}
    assert {
        "event_batch_suite",
        "load_accounting_suite",
        "invoice_suite",
        "invoice_line_suite",
    } <= (plan_checks)


def test_the_gate_checks_target_the_checked_assets_not_the_gate(defs):
    """publish_gates relies on a hidden multi_asset parameter (allow_arbitrary_check_specs) that dagster-dbt
    uses too; an upgrade that stops honouring it fails here."""
    from orchestration.checks.gates import GATE_KEY, publish_gates

    targets = {k.asset_key for k in publish_gates.check_keys}
    assert GATE_KEY not in targets
    assert targets == {
        dg.AssetKey(["raw", "events"]),
        dg.AssetKey(["usage", "rpt_load_accounting"]),
        dg.AssetKey(["billing", "fct_invoices"]),
        dg.AssetKey(["billing", "fct_invoice_lines"]),
    }
