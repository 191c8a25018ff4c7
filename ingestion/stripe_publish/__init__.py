"""Publish issued Meterhouse invoices and credit notes to Stripe, exactly once.

Usage::

    from ingestion.stripe_publish import publish_month

    report = publish_month(con, stripe_client, "2026-01")  # con: DuckDB, writes the ledger
    print(report.render())

What is sent (SEMANTICS.md "Invoices", "Money"): for each invoice of ``billing.fct_issued_invoices``
in the billing month, a Stripe invoice (draft, ``auto_advance=false``, ``send_invoice`` with
``days_until_due``, the invoice's currency, ``metadata[meterhouse_invoice_id]`` and
``[meterhouse_billing_month]``), one invoice item per line of ``billing.fct_issued_invoice_lines``
with the line's integer ``amount`` in minor units (already rounded once by Meterhouse; never
quantity x unit price, which Stripe's integer quantity would re-round), a description with units,
unit price and service period, ``period[start|end]`` and ``metadata[meterhouse_invoice_line_id]``;
lines of amount 0 are not sent (reported ``skipped_zero``). Then the invoice is finalized, once its
Stripe total equals ``total_amount_cents`` (checked before and after finalizing; a difference
stops the invoice, ``total_mismatch``, with both amounts). Then each credit note of
``billing.fct_credit_notes`` in the month becomes a Stripe credit note of ``amount =
total_amount_cents`` against its original invoice's Stripe invoice
(``metadata[meterhouse_credit_note_id]``), skipped ``original_not_published`` until that exists.

Customers are never created by publishing: the Stripe customer is the one whose
``metadata[meterhouse_customer_id]`` is the Meterhouse customer id (``unmapped_customer``
otherwise). ``ensure_demo_customers`` creates them for the demo, against the emulator.

When ``billing.publish_blockers`` (customer_id, billing_month, check_name, reason) exists, a
document whose customer has a row for the month is ``blocked`` with the check and reason; a row
with customer_id NULL blocks the whole month (a row with billing_month NULL, every month).

An operator voids a published invoice and reissues a corrected one with ``void_invoice`` and
``reissue_invoice`` (``invoice_command`` for the CLI), each with a reason, recorded in
``raw.stripe_invoice_operations``; see ``operations``.

Exactly once: see ``publisher`` (lookup before every write, resume from what exists) and
``ledger`` (tables, idempotency keys and their rotation). Retries: see ``calls``.
"""

from __future__ import annotations

from .calls import RetryPolicy, StripeCallFailed, classify
from .ledger import (
    DOCUMENTS,
    OPERATIONS,
    PUBLICATIONS,
    PUBLISH_DDL,
    Ledger,
    ensure_publish_schema,
    idempotency_key,
)
from .operations import (
    REISSUE_OF_METADATA_KEY,
    OperationResult,
    invoice_command,
    reissue_invoice,
    void_invoice,
)
from .publisher import (
    BILLING_MONTH_METADATA_KEY,
    CREDIT_NOTE_ID_METADATA_KEY,
    CUSTOMER_ID_METADATA_KEY,
    INVOICE_ID_METADATA_KEY,
    LINE_ID_METADATA_KEY,
    ensure_demo_customers,
    publish_month,
)
from .report import DocumentOutcome, LineOutcome, PublishReport

__all__ = [
    "BILLING_MONTH_METADATA_KEY",
    "CREDIT_NOTE_ID_METADATA_KEY",
    "CUSTOMER_ID_METADATA_KEY",
    "DOCUMENTS",
    "INVOICE_ID_METADATA_KEY",
    "LINE_ID_METADATA_KEY",
    "OPERATIONS",
    "PUBLICATIONS",
    "PUBLISH_DDL",
    "REISSUE_OF_METADATA_KEY",
    "DocumentOutcome",
    "Ledger",
    "LineOutcome",
    "OperationResult",
    "PublishReport",
    "RetryPolicy",
    "StripeCallFailed",
    "classify",
    "ensure_demo_customers",
    "ensure_publish_schema",
    "idempotency_key",
    "invoice_command",
    "publish_month",
    "reissue_invoice",
    "void_invoice",
]
