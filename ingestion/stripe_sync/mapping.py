"""How Stripe objects map to Meterhouse: customers by metadata, subscriptions by plan code.

* A Stripe customer is the Meterhouse customer whose id is in its metadata key
  ``meterhouse_customer_id`` (``CUSTOMER_ID_METADATA_KEY``).
* A subscription item carries a catalog plan code when its price has a ``lookup_key`` (the plan
  code itself) or, failing that, the price metadata key ``meterhouse_plan_code``
  (``PLAN_CODE_METADATA_KEY``). The current price row in ``raw.stripe_prices`` is read
  first; the price embedded in the item (as it was when the item's version was stored) is the
  fallback, for prices not synced yet.

Both helpers read the raw tables only (run :func:`sync_stripe` first) and ignore deleted
customers and subscriptions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb


def unmapped_customers(
    con: duckdb.DuckDBPyConnection, known_customer_ids: set[str]
) -> dict[str, Any]:
    """What does not match between Stripe customers and the known Meterhouse customer ids.

    Returns a dict with:

    * ``stripe_without_key``: Stripe customers without ``metadata.meterhouse_customer_id``
      (``[{stripe_customer_id, email, name}]``);
    * ``stripe_unknown_id``: Stripe customers whose key names an id not in
      ``known_customer_ids`` (``[{stripe_customer_id, meterhouse_customer_id, email, name}]``);
    * ``stripe_duplicate_id``: Meterhouse ids claimed by several Stripe customers
      (``{meterhouse_customer_id: [stripe ids]}``), which makes the mapping ambiguous;
    * ``known_without_stripe``: known ids that no Stripe customer carries (sorted);
    * ``counts``: the size of each list and of the matched set (``mapped``).
    """
    rows = con.execute(
        "select id, meterhouse_customer_id, email, name from raw.stripe_customers "
        "where not deleted order by created, id"
    ).fetchall()
    without_key: list[dict[str, Any]] = []
    unknown: list[dict[str, Any]] = []
    by_mh: dict[str, list[str]] = {}
    for stripe_id, mh_id, email, name in rows:
        mh_id = (mh_id or "").strip() or None
        if mh_id is None:
            without_key.append({"stripe_customer_id": stripe_id, "email": email, "name": name})
            continue
        by_mh.setdefault(mh_id, []).append(stripe_id)
        if mh_id not in known_customer_ids:
            unknown.append(
                {
                    "stripe_customer_id": stripe_id,
                    "meterhouse_customer_id": mh_id,
                    "email": email,
                    "name": name,
                }
            )
    duplicates = {k: v for k, v in sorted(by_mh.items()) if len(v) > 1}
    known_without = sorted(set(known_customer_ids) - set(by_mh))
    mapped = sorted(set(known_customer_ids) & set(by_mh))
    return {
        "stripe_without_key": without_key,
        "stripe_unknown_id": unknown,
        "stripe_duplicate_id": duplicates,
        "known_without_stripe": known_without,
        "counts": {
            "mapped": len(mapped),
            "stripe_without_key": len(without_key),
            "stripe_unknown_id": len(unknown),
            "stripe_duplicate_id": len(duplicates),
            "known_without_stripe": len(known_without),
        },
    }


_SUBSCRIPTIONS_SQL = """
with items as (
    select
        i.subscription,
        coalesce(p.plan_code, i.plan_code) as plan_code,
        i.current_period_end
    from raw.stripe_subscription_items as i
    left join raw.stripe_prices as p on p.id = i.price and not p.deleted
),
per_sub as (
    select
        subscription,
        list(distinct plan_code order by plan_code) filter (where plan_code is not null)
            as plan_codes,
        max(current_period_end) as current_period_end
    from items
    group by subscription
)
select
    s.id,
    s.customer,
    c.id is not null as customer_synced,
    c.meterhouse_customer_id,
    s.status,
    s.start_date,
    s.ended_at,
    s.cancel_at,
    s.cancel_at_period_end,
    ps.current_period_end,
    ps.plan_codes
from raw.stripe_subscriptions as s
join per_sub as ps on ps.subscription = s.id
left join raw.stripe_customers as c on c.id = s.customer and not c.deleted
where not s.deleted and len(ps.plan_codes) > 0
order by s.start_date, s.id
"""


def stripe_subscriptions_for_meterhouse(
    con: duckdb.DuckDBPyConnection, known_plan_codes: set[str] | None = None
) -> list[dict[str, Any]]:
    """Stripe subscriptions that carry a catalog plan code, shaped like ``subscriptions.csv``.

    One dict per subscription with at least one item whose price has a plan code:
    ``external_subscription_id`` (the Stripe subscription id), ``external_customer_id`` (the
    customer's ``meterhouse_customer_id``, None when unmapped), ``plan_code``, ``started_at``
    (``start_date``), ``ending_at`` (``ended_at``, else ``cancel_at``, else the end of the
    current period when ``cancel_at_period_end``; None while open-ended), all times naive UTC;
    plus ``stripe_customer_id``, ``status`` and ``problems``.

    Nothing is dropped silently: a row that cannot be merged as is lists why in ``problems``
    (empty when it can): ``unmapped_customer`` (the customer has no metadata key),
    ``customer_not_synced`` (the customer is not in raw.stripe_customers),
    ``multiple_plan_codes`` (items with different plan codes: ``plan_code`` is None and
    ``plan_codes`` lists them), ``unknown_plan_code`` (when ``known_plan_codes`` is given and
    the code is not in it).
    """
    out: list[dict[str, Any]] = []
    for (
        sub_id,
        stripe_customer,
        customer_synced,
        mh_customer,
        status,
        start_date,
        ended_at,
        cancel_at,
        cancel_at_period_end,
        current_period_end,
        plan_codes,
    ) in con.execute(_SUBSCRIPTIONS_SQL).fetchall():
        problems: list[str] = []
        mh_customer = (mh_customer or "").strip() or None
        if not customer_synced:
            problems.append("customer_not_synced")
        elif mh_customer is None:
            problems.append("unmapped_customer")
        plan_code = plan_codes[0] if len(plan_codes) == 1 else None
        if plan_code is None:
            problems.append("multiple_plan_codes")
        elif known_plan_codes is not None and plan_code not in known_plan_codes:
            problems.append("unknown_plan_code")
        ending_at: datetime | None = ended_at or cancel_at
        if ending_at is None and cancel_at_period_end:
            ending_at = current_period_end
        out.append(
            {
                "external_subscription_id": sub_id,
                "external_customer_id": mh_customer,
                "plan_code": plan_code,
                "started_at": start_date,
                "ending_at": ending_at,
                "stripe_customer_id": stripe_customer,
                "status": status,
                "plan_codes": list(plan_codes),
                "problems": problems,
            }
        )
    return out
