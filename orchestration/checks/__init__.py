"""Data quality as Dagster asset checks (the checks themselves are plain Python in ingestion/quality).

- `publish_gates` (an asset in the close job, between the dbt marts and `stripe_publication`): the event
  batch, load accounting and invoices mart suites; what fails holds documents back from Stripe.
- `stripe_raw_checks`: the raw Stripe tables after each sync; what fails holds back the next publication.
- `events_freshness_check`, `usage_day_over_day_check`: warnings only.
- dbt's own tests are asset checks too (dagster-dbt, orchestration/assets/dbt.py).
"""

from .freshness import events_freshness_check, usage_day_over_day_check
from .gates import GATE_KEY, publish_gates
from .stripe import stripe_raw_checks

QUALITY_ASSETS = [publish_gates]
ASSET_CHECKS = [stripe_raw_checks, events_freshness_check, usage_day_over_day_check]

__all__ = ["ASSET_CHECKS", "GATE_KEY", "QUALITY_ASSETS", "publish_gates"]
