"""Data quality gates: Great Expectations suites on pandas DataFrames, plain Python (no dagster).

What is checked (each a Dagster asset check, see orchestration/checks):

- ``events.event_batch_suite``: each new batch of landed events keeps the raw contract (schema and types,
  required fields, timestamps within bounds, corrections well formed);
- ``events.load_accounting_suite``: per load, rows read = quarantined + outcomes (SEMANTICS.md
  "Accounting identity"), and the ledger's counts are the rows found;
- ``invoices.invoice_suite`` / ``invoice_line_suite``: the invoices mart (currencies ISO 4217, totals =
  sum of lines, amounts non-negative where they must be, lines rounded once, ...);
- ``stripe.stripe_suites``: the raw Stripe tables (required ids, currencies, amounts);
- ``freshness``: no events for too long, a customer's daily usage dropping to zero or changing by an order
  of magnitude (warnings only).

A failing check's rows go to ``raw.check_failures`` (``results.record_reports``), which the dbt view
``billing.publish_blockers`` turns into the customers and billing months publishing skips.
"""

from .results import QUALITY_DDL, CheckFailure, CheckReport, Pin, RuleOutcome, record_reports

__all__ = ["QUALITY_DDL", "CheckFailure", "CheckReport", "Pin", "RuleOutcome", "record_reports"]
