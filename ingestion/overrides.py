"""Per-subscription overrides of a plan's prices (custom deals): ``DIR/overrides.yml`` (optional).

::

    overrides:
      - subscription_id: sub_acme      # a subscription of landing/subscriptions.csv
        plan_code: pro_usd             # optional when the subscription is only ever on one plan
        effective_from: 2026-10-01     # optional: from the first billing period starting on or after it
        amount_cents: 25000            # optional: the base fee
        minimum_commitment: {amount_cents: 50000}   # optional (null: none)
        charges:                       # optional: each changes one of the plan's charges
          - billable_metric_code: api_calls   # which charge: its metric (and `id` when the plan has
            id: pro_usd.api_calls.2           #   several charges on it: the catalog charge id)
            properties: {amount: "0.0004"}    # replaces the charge's properties
            charge_model: graduated           # optional; a new model needs its properties (and filters)
            filters: [...]                    # optional: replaces the charge's filters
            min_amount_cents: 10000           # optional; also invoiceable, prorated, invoice_display_name

As Lago's plan overrides and Orb's price overrides: the deal replaces what it names and keeps the rest of
the plan; a charge it does not name keeps the plan's price. One override per subscription and plan (a
subscription that changes plan may have one per plan it is on).

**When it applies.** While the subscription is on that plan, from its first billing period that starts on
or after ``effective_from`` (00:00 in the customer's timezone; without it, from the subscription's
start), as plan versions: a deal never splits a period. It rides on the plan's price versions
(``plan_versions.yml``): on each version, the deal's keys replace the version's, so a price change of
what the deal does not name reaches the subscription too.

**How it is stored.** As derived plans of the catalog tables, one per version of the plan, validated by the
same models as catalog.yml: ``<plan>~<subscription>`` and ``<plan>@<version>~<subscription>``, charge ids
``<code>.<metric>`` under that code (or ``<id>[@<version>]~<subscription>``), with a row each in
``raw.plan_derivations`` naming the subscription; ``int_billing_periods`` gives the subscription's windows
that plan code, and the other subscriptions on the plan keep the catalog's. In pricing scenarios
(``DIR/scenarios/``) an overridden subscription keeps its deal: a scenario changes the price book, not
the contracts signed on it.

Errors name the entry and what is wrong (an unknown subscription, a plan the subscription is not on, a
charge the plan does not have, a property the charge model does not take); all are raised together as one
``CatalogError``.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ingestion.accounts import Accounts, load_accounts
from ingestion.catalog import (
    Catalog,
    CatalogError,
    Plan,
    _cross_problems,
    _message,
)
from ingestion.plan_versions import (
    DerivedPlan,
    PlanVersion,
    charge_keys,
    derived_fields,
    drop_charge_lago_keys,
    load_plan_versions,
    parse_date,
    read_entries,
    warn_lago_keys,
)

OVERRIDES_FILE = "overrides.yml"
PLAN_KEYS = frozenset(
    {"amount_cents", "minimum_commitment", "charges", "name", "description", "invoice_display_name"}
)
CHARGE_KEYS = frozenset(
    {"charge_model", "properties", "filters", "min_amount_cents", "invoiceable", "prorated",
     "invoice_display_name"}
)  # fmt: skip


@dataclass
class Override:
    subscription_id: str
    plan_code: str
    effective_from: date | None
    derived: list[DerivedPlan]  # one per price version of the plan (the catalog's first)


def subscription_plans(accounts: Accounts) -> dict[str, list[str]]:
    """Each subscription of the account files -> the plans it is on (its first, then its changes')."""
    plans = {s.external_subscription_id: [s.plan_code] for s in accounts.subscriptions}
    for change in sorted(accounts.subscription_changes, key=lambda c: c.changed_at):
        on = plans.get(change.external_subscription_id)
        if on is not None and change.plan_code not in on:
            on.append(change.plan_code)
    return plans


def _charge_index(fields: dict[str, Any], wanted: dict[str, Any]) -> tuple[int | None, str | None]:
    """The index in ``fields['charges']`` of the charge an override entry names, or a problem."""
    keys = Plan.model_validate(fields).charge_ids()
    charges = fields.get("charges") or []
    metric, cid = wanted.get("billable_metric_code"), wanted.get("id")
    on_metric = [j for j, c in enumerate(charges) if c.get("billable_metric_code") == metric]
    if not on_metric:
        priced = sorted({c.get("billable_metric_code") for c in charges})
        return None, (
            f"plan {fields['code']!r} has no charge on {metric!r} (it prices {', '.join(priced) or 'nothing'}); "
            "an override changes the plan's charges, it does not add any"
        )
    if cid is not None:
        match = [j for j in on_metric if keys[j] == cid or charges[j].get("id") == cid]
        if not match:
            shown = ", ".join(keys[j] for j in on_metric)
            return (
                None,
                f"id {cid!r} is none of plan {fields['code']!r}'s charges on {metric!r} ({shown})",
            )
        return match[0], None
    if len(on_metric) > 1:
        shown = ", ".join(keys[j] for j in on_metric)
        return None, (
            f"plan {fields['code']!r} has {len(on_metric)} charges on {metric!r} ({shown}): give the id "
            "of the one this override changes"
        )
    return on_metric[0], None


def _overridden(
    fields: dict[str, Any], entry: dict[str, Any]
) -> tuple[dict[str, Any], dict[int, int], list[tuple[tuple[str | int, ...], str]]]:
    """The plan ``fields`` with the override applied; plan charge index -> override charge index; problems."""
    out = {**fields, **{k: v for k, v in entry.items() if k in PLAN_KEYS - {"charges"}}}
    charges = [dict(c) for c in fields.get("charges") or []]
    named: dict[int, int] = {}  # plan charge index -> the override charge naming it
    where: dict[int, int] = {}  # the same, for the charges changed
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for k, wanted in enumerate(entry.get("charges") or []):
        loc: tuple[str | int, ...] = ("charges", k)
        j, problem = _charge_index(fields, wanted)
        if problem is not None or j is None:
            problems.append((loc, problem or "no such charge"))
            continue
        if j in named:
            problems.append((loc, f"changes the same charge as charges[{named[j]}]"))
            continue
        named[j] = k
        new_model = wanted.get("charge_model", charges[j]["charge_model"])
        if new_model != charges[j]["charge_model"]:
            if "properties" not in wanted:
                problems.append(
                    (
                        loc + ("properties",),
                        f"a new charge_model ({new_model}) needs its properties",
                    )
                )
                continue
            if charges[j].get("filters") and "filters" not in wanted:
                problems.append(
                    (
                        loc + ("filters",),
                        f"a new charge_model ({new_model}) needs its filters' properties: give filters",
                    )
                )
                continue
        charges[j].update({key: value for key, value in wanted.items() if key in CHARGE_KEYS})
        where[j] = k
    out["charges"] = charges
    return out, where, problems


def load_overrides(
    data_dir: Path,
    catalog: Catalog,
    versions: list[PlanVersion],
    subscriptions: dict[str, list[str]] | None = None,
) -> list[Override]:
    """Read and validate ``DIR/overrides.yml`` (absent: no override) against the catalog, its versions
    and ``subscriptions`` (subscription id -> the plans it is on, see ``subscription_plans``; None: read
    from DIR/landing, whose own problems are reported by the account load)."""
    path = Path(data_dir) / OVERRIDES_FILE
    if not path.exists():
        return []
    if subscriptions is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the account load warns about its files itself
            subscriptions = subscription_plans(load_accounts(Path(data_dir) / "landing", catalog))
    label = OVERRIDES_FILE
    loader, entries = read_entries(path, label, "overrides")

    base_fields = {p.code: p.model_dump() for p in catalog.plans}
    plan_versions: dict[str, list[PlanVersion]] = {}
    for v in versions:
        plan_versions.setdefault(v.plan_code, []).append(v)
    metrics = list(enumerate(catalog.billable_metrics))
    overrides: list[Override] = []
    seen: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(entries):
        loc: tuple[str | int, ...] = ("overrides", i)
        if not isinstance(entry, dict):
            loader.problems.append(
                loader.line(loc, "expected a mapping (subscription_id, charges, ...)")
            )
            continue
        count = len(loader.problems)
        for key in entry:
            if key not in PLAN_KEYS | {"subscription_id", "plan_code", "effective_from"}:
                expected = ", ".join(sorted(PLAN_KEYS | {"plan_code", "effective_from"}))
                loader.problems.append(
                    loader.line(loc + (str(key),), f"unknown key (an override gives {expected})")
                )
        charges = entry.get("charges") or []
        if not isinstance(charges, list) or not all(isinstance(c, dict) for c in charges):
            loader.problems.append(loader.line(loc + ("charges",), "must be a list of charges"))
            charges = []
        for k, charge in enumerate(charges):
            drop_charge_lago_keys(loader, charge, loc + ("charges", k))
            for key in charge:
                if key not in CHARGE_KEYS | {"billable_metric_code", "id"}:
                    expected = ", ".join(sorted(CHARGE_KEYS))
                    loader.problems.append(
                        loader.line(
                            loc + ("charges", k, str(key)),
                            f"unknown key (a charge override names billable_metric_code (and id) and "
                            f"changes {expected})",
                        )
                    )
            if not isinstance(charge.get("billable_metric_code"), str):
                loader.problems.append(
                    loader.line(
                        loc + ("charges", k, "billable_metric_code"),
                        "required: the metric of the plan's charge this changes",
                    )
                )
        sub = entry.get("subscription_id")
        on = subscriptions.get(sub) if isinstance(sub, str) else None
        if on is None:
            loader.problems.append(
                loader.line(
                    loc + ("subscription_id",),
                    f"unknown subscription {sub!r} (not in landing/subscriptions.csv)",
                )
            )
            continue
        plan_code = entry.get("plan_code")
        if plan_code is None:
            if len(on) > 1:
                loader.problems.append(
                    loader.line(
                        loc + ("plan_code",),
                        f"subscription {sub!r} is on several plans ({', '.join(on)}): say which plan "
                        "this override prices",
                    )
                )
                continue
            plan_code = on[0]
        elif plan_code not in on:
            loader.problems.append(
                loader.line(
                    loc + ("plan_code",),
                    f"subscription {sub!r} is never on plan {plan_code!r} (its plans: {', '.join(on)})",
                )
            )
            continue
        if (sub, plan_code) in seen:
            loader.problems.append(
                loader.line(
                    loc,
                    f"subscription {sub!r} already has an override of plan {plan_code!r} "
                    f"(overrides[{seen[sub, plan_code]}]); one deal per subscription and plan",
                )
            )
            continue
        seen[sub, plan_code] = i
        effective = None
        if entry.get("effective_from") is not None:
            try:
                effective = parse_date(entry["effective_from"])
            except ValueError as exc:
                loader.problems.append(loader.line(loc + ("effective_from",), str(exc)))
        if len(loader.problems) > count:
            continue

        priced_by = [(None, None, base_fields[plan_code])] + [
            (v.version, v.effective_from, v.fields) for v in plan_versions.get(plan_code, [])
        ]
        derived: list[DerivedPlan] = []
        for version, version_from, fields in priced_by:
            note = "" if version is None else f" (on plan {plan_code!r}'s version {version!r})"
            merged, where, problems = _overridden(fields, {**entry, "charges": charges})
            problems_at = [(loc + tuple(at), message + note) for at, message in problems]
            prefix = plan_code if version is None else f"{plan_code}@{version}"
            suffix = ("" if version is None else f"@{version}") + f"~{sub}"
            # validated even after a problem above (a charge it could not apply is left as the plan's),
            # so one run names every problem of the entry
            plan = None
            try:
                plan = Plan.model_validate(derived_fields(merged, f"{prefix}~{sub}", suffix))
            except ValidationError as exc:
                problems_at += [
                    (loc + _entry_loc(tuple(err["loc"]), where), _message(err) + note)
                    for err in exc.errors()
                ]
            if plan is not None:
                problems_at += [
                    (loc + _entry_loc(tuple(at[2:]), where), message + note)
                    for at, message in _cross_problems(metrics, [(0, plan)])
                ]
            for at, message in problems_at:
                loader.problems.append(loader.line(at, message))
            if problems_at or plan is None:
                break  # the catalog plan's problems first; its versions would repeat them
            derived.append(
                DerivedPlan(
                    plan=plan,
                    base_plan_code=plan_code,
                    price_version=version,
                    version_effective_from=version_from,
                    subscription_id=sub,
                    override_effective_from=effective,
                    source_file=OVERRIDES_FILE,
                    charge_keys=charge_keys(merged, plan),
                )
            )
        else:
            overrides.append(Override(sub, plan_code, effective, derived))
    if loader.problems:
        raise CatalogError(loader.problems)
    warn_lago_keys(loader)
    return overrides


def _entry_loc(loc: tuple[str | int, ...], where: dict[int, int]) -> tuple[str | int, ...]:
    """A location in the derived plan -> the same place in the override entry (a charge's index in the
    plan -> its index among the override's charges)."""
    if len(loc) >= 2 and loc[0] == "charges" and isinstance(loc[1], int) and loc[1] in where:
        return ("charges", where[loc[1]]) + loc[2:]
    return loc


def derived_plans(versions: list[PlanVersion], overrides: list[Override]) -> list[DerivedPlan]:
    """Every derived plan: the versions', then the overrides' (one per version of the overridden plan)."""
    out = [v.derived for v in versions]
    for o in overrides:
        out += o.derived
    codes = Counter(d.plan.code for d in out)
    repeated = sorted(code for code, n in codes.items() if n > 1)
    if repeated:
        raise CatalogError([f"derived plan codes {repeated} are made twice"])
    return out


def load_derived_plans(data_dir: Path, catalog: Catalog) -> list[DerivedPlan]:
    """The derived plans of ``DIR/plan_versions.yml`` and ``DIR/overrides.yml`` (none without them)."""
    versions = load_plan_versions(data_dir, catalog)
    return derived_plans(versions, load_overrides(data_dir, catalog, versions))
