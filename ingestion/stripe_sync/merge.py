"""Stripe subscriptions that carry a catalog plan code become Meterhouse subscriptions.

A company that sells a plan in Stripe (its price's ``lookup_key`` is the catalog plan code, else the price's
``meterhouse_plan_code`` metadata; see :mod:`ingestion.stripe_sync.mapping`) still meters its usage here.
Such a subscription is billed next to the ones of ``landing/subscriptions.csv`` with one difference:
Stripe bills the subscription's own prices (the base fee) itself, so Meterhouse bills only the plan's
usage charges for it (``source = 'stripe'``: no base fee and no minimum-commitment true-up, which is
measured against the base fee; spending minimums of charges still apply).

The merge reads what the last Stripe sync stored (``raw.stripe_*``): a subscription created in Stripe is
billed from the first run after the sync that saw it. Every Stripe subscription with a plan code ends in
``raw.stripe_subscription_merge`` as ``merged`` or ``rejected`` with a reason code and a sentence saying
what to do; a rejected one is not billed by Meterhouse (nothing is dropped silently):

    customer_not_synced     its Stripe customer is not in raw.stripe_customers
    unmapped_customer       its Stripe customer has no ``meterhouse_customer_id`` metadata
    unknown_customer        the metadata names a customer that landing/customers.csv does not have
    multiple_plan_codes     its items carry different plan codes
    unknown_plan_code       the plan code is not in catalog.yml
    currency_mismatch       the plan's currency is not the customer's
    not_activated           Stripe never activated it (status incomplete or incomplete_expired)
    subscription_id_clash   landing/subscriptions.csv has a subscription with the same id: ids must be
                            unique across sources; the file's subscription is billed, the Stripe one is not
    ends_before_start       its end is before its start
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import duckdb

from .mapping import stripe_subscriptions_for_meterhouse
from .tables import CUSTOMER_ID_METADATA_KEY

if TYPE_CHECKING:
    from ingestion.accounts import Accounts
    from ingestion.catalog import Catalog

NOT_ACTIVATED = {"incomplete", "incomplete_expired"}

MERGE_DDL = """
create table if not exists raw.stripe_subscription_merge (
    stripe_subscription_id varchar primary key,
    stripe_customer_id varchar,
    customer_id varchar,
    plan_code varchar,
    stripe_status varchar,
    outcome varchar not null,   -- merged | rejected
    reason_code varchar,        -- null when merged
    reason varchar,
    loaded_at timestamp not null
);
"""


@dataclass(frozen=True)
class MergeOutcome:
    stripe_subscription_id: str
    stripe_customer_id: str | None
    customer_id: str | None
    plan_code: str | None
    stripe_status: str | None
    reason_code: str | None  # None = merged
    reason: str | None

    @property
    def merged(self) -> bool:
        return self.reason_code is None


def merge_stripe_subscriptions(
    con: duckdb.DuckDBPyConnection, accounts: Accounts, catalog: Catalog
) -> list[MergeOutcome]:
    """Append the mergeable Stripe subscriptions to ``accounts.subscriptions`` (``source='stripe'``) and
    return one outcome per Stripe subscription with a plan code."""
    from ingestion.accounts import Subscription

    customers = {c.external_customer_id: c for c in accounts.customers}
    plans = {p.code: p for p in catalog.plans}
    file_ids = {s.external_subscription_id for s in accounts.subscriptions}
    outcomes: list[MergeOutcome] = []
    for sub in stripe_subscriptions_for_meterhouse(con):
        sid, stripe_customer = sub["external_subscription_id"], sub["stripe_customer_id"]
        customer_id, plan_code = sub["external_customer_id"], sub["plan_code"]
        reason_code, reason = _rejection(sub, customers, plans, file_ids)
        outcomes.append(
            MergeOutcome(
                sid, stripe_customer, customer_id, plan_code, sub["status"], reason_code, reason
            )
        )
        if reason_code is None:
            accounts.subscriptions.append(
                Subscription(
                    external_subscription_id=sid,
                    external_customer_id=customer_id,
                    plan_code=plan_code,
                    started_at=sub["started_at"],
                    ending_at=sub["ending_at"],
                    source="stripe",
                )
            )
    return outcomes


def _rejection(
    sub: dict, customers: dict, plans: dict, file_ids: set[str]
) -> tuple[str | None, str | None]:
    sid, stripe_customer = sub["external_subscription_id"], sub["stripe_customer_id"]
    customer_id, plan_code = sub["external_customer_id"], sub["plan_code"]
    if sid in file_ids:
        return (
            "subscription_id_clash",
            f"landing/subscriptions.csv also has subscription {sid}: subscription ids must be unique across "
            "sources; the file's subscription is billed, the Stripe one is not (rename the file's id)",
        )
    if "customer_not_synced" in sub["problems"]:
        return (
            "customer_not_synced",
            f"its Stripe customer {stripe_customer} is not in raw.stripe_customers: run the Stripe sync again",
        )
    if "unmapped_customer" in sub["problems"]:
        return (
            "unmapped_customer",
            f"Stripe customer {stripe_customer} has no metadata {CUSTOMER_ID_METADATA_KEY}: set it to the "
            "customer's external_customer_id",
        )
    if customer_id not in customers:
        return (
            "unknown_customer",
            f"Stripe customer {stripe_customer} names {CUSTOMER_ID_METADATA_KEY}={customer_id!r}, which "
            "landing/customers.csv does not have: add the customer or correct the metadata",
        )
    if "multiple_plan_codes" in sub["problems"]:
        return (
            "multiple_plan_codes",
            f"its items carry different plan codes {sub['plan_codes']}: one plan per subscription",
        )
    if plan_code not in plans:
        return (
            "unknown_plan_code",
            f"plan code {plan_code!r} (price lookup_key or meterhouse_plan_code metadata) is not in "
            "catalog.yml",
        )
    plan_currency, customer_currency = (
        plans[plan_code].amount_currency,
        customers[customer_id].currency,
    )
    if plan_currency != customer_currency:
        return (
            "currency_mismatch",
            f"plan {plan_code} is in {plan_currency} but customer {customer_id} is billed in "
            f"{customer_currency}: a customer only takes plans in their own currency",
        )
    if sub["status"] in NOT_ACTIVATED:
        return (
            "not_activated",
            f"Stripe never activated it (status {sub['status']}): it is billed once it is active",
        )
    if sub["ending_at"] is not None and sub["ending_at"] < sub["started_at"]:
        return (
            "ends_before_start",
            f"it ends ({sub['ending_at']}) before it starts ({sub['started_at']})",
        )
    return None, None


def write_merge_outcomes(
    con: duckdb.DuckDBPyConnection, outcomes: list[MergeOutcome], loaded_at: datetime
) -> None:
    """Replace raw.stripe_subscription_merge (the state of the last merge), in one transaction."""
    con.execute(MERGE_DDL)
    con.begin()
    try:
        con.execute("delete from raw.stripe_subscription_merge")
        if outcomes:
            con.executemany(
                "insert into raw.stripe_subscription_merge values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        o.stripe_subscription_id,
                        o.stripe_customer_id,
                        o.customer_id,
                        o.plan_code,
                        o.stripe_status,
                        "merged" if o.merged else "rejected",
                        o.reason_code,
                        o.reason,
                        loaded_at,
                    )
                    for o in outcomes
                ],
            )
        con.commit()
    except BaseException:
        con.rollback()
        raise
