"""Pricing scenarios: alternative price books over the live catalog, ``DIR/scenarios/*.yml`` -> ``raw``.

A scenario file (its name is the file's stem, e.g. ``scenarios/price_up.yml`` is ``price_up``) holds plans
in Lago's shapes, validated like the catalog's, plus an optional map of live plans to scenario plans::

    description: usage prices up 20%, base fees down   # optional
    plan_map:                                          # optional: live plan code -> scenario plan code
      starter_usd: starter_usd_v2
    plans:
      - code: starter_usd_v2
        interval: monthly          # the live plan's interval, currency, pay_in_advance, trial_period
        amount_cents: 3900         # may change: the base fee (and minimum_commitment)
        amount_currency: USD
        charges:                   # may change: charge models, prices, spending minimums
          - billable_metric_code: api_calls
            charge_model: graduated
            properties: {...}

Which scenario plan prices a live plan: the one ``plan_map`` names, else the scenario plan with the same
code, else the live plan unchanged. A scenario prices the same meters as the live catalog, so it keeps
what shapes them: the billable metrics (a scenario file has none), each charge's filters (the same sets
of values) and pricing group keys, and each plan's billing periods. A scenario charge is matched to the
live plan's charge on the same metric (by ``id`` when the live plan has several on that metric, else
in order); a live charge the scenario plan does not list is not billed in the scenario.

The rows written resolve all of that: for every scenario, one row per live plan (its base fee) and per
live charge and charge filter it prices (with the scenario's model and properties), so the rating models
rate the live catalog and every scenario in one pass over the same meters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import yaml

from ingestion.catalog import (
    Catalog,
    CatalogError,
    Charge,
    Plan,
    _validated,
    load_yaml,
    replace_tables,
    to_json,
    utc_naive,
)

SCENARIOS_DIR = "scenarios"
LIVE = "live"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

SCENARIO_COLUMNS: dict[str, tuple[str, ...]] = {
    "scenarios": ("scenario", "file_name", "description", "loaded_at"),
    "scenario_plans": (
        "scenario",
        "live_plan_code",
        "scenario_plan_code",
        "amount_cents",
        "minimum_commitment_cents",
    ),
    "scenario_charges": (
        "scenario",
        "live_charge_id",
        "charge_model",
        "invoiceable",
        "min_amount_cents",
        "properties",
    ),
    "scenario_charge_filters": ("scenario", "live_filter_id", "properties"),
}


@dataclass
class Scenario:
    name: str
    file_name: str
    description: str | None
    plans: Catalog  # the scenario's plans over the live metrics
    live_to_scenario: dict[str, str | None] = field(default_factory=dict)  # None = live unchanged


def _filter_key(values: dict[str, list[str]]) -> tuple:
    return tuple(sorted((k, tuple(sorted(v))) for k, v in values.items()))


def _match_charges(
    label: str, live: Plan, scen: Plan, plan_index: int
) -> tuple[list[tuple[str, Charge, str]], list[str]]:
    """(live charge id, scenario charge, live charge id) pairs, and the problems found."""
    problems: list[str] = []
    live_ids = dict(zip(live.charge_ids(), live.charges, strict=True))
    by_metric: dict[str, list[str]] = {}
    for cid, charge in live_ids.items():
        by_metric.setdefault(charge.billable_metric_code, []).append(cid)
    used: dict[str, int] = {}
    pairs = []
    for j, charge in enumerate(scen.charges):
        where = f"{label}: plans[{plan_index}] (code '{scen.code}') -> charges[{j}]"
        candidates = by_metric.get(charge.billable_metric_code, [])
        if not candidates:
            problems.append(
                f"{where}: live plan {live.code!r} has no charge on {charge.billable_metric_code!r}; "
                "a scenario prices the live meters only"
            )
            continue
        if charge.id is not None and charge.id in candidates:
            live_id = charge.id
        elif len(candidates) > 1 and charge.id is None:
            n = used.get(charge.billable_metric_code, 0)
            if n >= len(candidates):
                problems.append(
                    f"{where}: more charges on {charge.billable_metric_code!r} than the live plan has"
                )
                continue
            live_id = candidates[n]
        elif charge.id is not None and len(candidates) > 1:
            problems.append(
                f"{where}: id {charge.id!r} is none of the live charges on "
                f"{charge.billable_metric_code!r} ({', '.join(candidates)})"
            )
            continue
        else:
            live_id = candidates[0]
        used[charge.billable_metric_code] = used.get(charge.billable_metric_code, 0) + 1
        if any(p[0] == live_id for p in pairs):
            problems.append(f"{where}: live charge {live_id!r} is priced twice")
            continue
        live_charge = live_ids[live_id]
        if sorted(charge.properties.get("pricing_group_keys") or []) != sorted(
            live_charge.properties.get("pricing_group_keys") or []
        ):
            problems.append(
                f"{where}: pricing_group_keys must be the live charge's "
                f"({live_charge.properties.get('pricing_group_keys') or []}): they shape the meters"
            )
        live_filters = sorted(_filter_key(f.values) for f in live_charge.filters)
        scen_filters = sorted(_filter_key(f.values) for f in charge.filters)
        if live_filters != scen_filters:
            problems.append(
                f"{where}: filters must have the live charge's sets of values "
                f"({[dict((k, list(v)) for k, v in f) for f in live_filters]}): they shape the meters"
            )
        pairs.append((live_id, charge, live_id))
    return pairs, problems


def load_scenario(path: Path, live: Catalog) -> Scenario:
    """Read and validate one scenario file against the live catalog; ``CatalogError`` lists problems."""
    path = Path(path)
    label = f"{SCENARIOS_DIR}/{path.name}"
    name = path.stem
    if not _NAME.match(name):
        raise CatalogError(
            [
                f"{label}: a scenario's name is its file name: lower-case letters, digits and _ ({name!r})"
            ]
        )
    if name == LIVE:
        raise CatalogError([f"{label}: 'live' is the live catalog's name; rename the file"])
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CatalogError([f"{label}: not valid YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise CatalogError([f"{label}: expected a mapping with plans (and optionally plan_map)"])
    description = raw.get("description")
    plan_map = raw.get("plan_map") or {}
    problems: list[str] = []
    if description is not None and not isinstance(description, str):
        problems.append(f"{label}: description must be text")
    if not isinstance(plan_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in plan_map.items()
    ):
        problems.append(f"{label}: plan_map must map live plan codes to scenario plan codes")
        plan_map = {}
    try:
        plans = _validated(
            label, raw, base_metrics=live.billable_metrics, extra_keys=("description", "plan_map")
        )
    except CatalogError as exc:
        raise CatalogError(problems + exc.problems) from None

    live_plans = {p.code: p for p in live.plans}
    scen_plans = {p.code: (i, p) for i, p in enumerate(plans.plans)}
    for live_code, scen_code in plan_map.items():
        if live_code not in live_plans:
            problems.append(f"{label}: plan_map: {live_code!r} is not a live plan")
        if scen_code not in scen_plans:
            problems.append(f"{label}: plan_map: {scen_code!r} is not a plan of this scenario")
    mapping: dict[str, str | None] = {}
    for code, live_plan in live_plans.items():
        scen_code = plan_map.get(code, code if code in scen_plans else None)
        if scen_code not in scen_plans:
            mapping[code] = None
            continue
        mapping[code] = scen_code
        i, scen = scen_plans[scen_code]
        for attr in ("interval", "amount_currency", "pay_in_advance", "trial_period"):
            if getattr(scen, attr) != getattr(live_plan, attr):
                problems.append(
                    f"{label}: plans[{i}] (code {scen_code!r}): {attr} must be the live plan "
                    f"{code!r}'s ({getattr(live_plan, attr)!r}): a scenario changes prices, not billing "
                    "periods or currencies"
                )
        problems += _match_charges(label, live_plan, scen, i)[1]
    if problems:
        raise CatalogError(problems)
    return Scenario(name, label, description, plans, mapping)


def load_scenarios(data_dir: Path, live: Catalog) -> list[Scenario]:
    """Every ``DIR/scenarios/*.yml`` (sorted by name); none is fine. All problems raised together."""
    folder = Path(data_dir) / SCENARIOS_DIR
    if not folder.is_dir():
        return []
    scenarios, problems = [], []
    for path in sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml")):
        try:
            scenarios.append(load_scenario(path, live))
        except CatalogError as exc:
            problems += exc.problems
    if problems:
        raise CatalogError(problems)
    return scenarios


def scenario_rows(
    scenarios: list[Scenario], live: Catalog, loaded_at: datetime
) -> dict[str, list[tuple[Any, ...]]]:
    at = utc_naive(loaded_at)
    rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in SCENARIO_COLUMNS}
    for sc in scenarios:
        rows["scenarios"].append((sc.name, sc.file_name, sc.description, at))
        scen_plans = {p.code: p for p in sc.plans.plans}
        for live_plan in live.plans:
            scen_code = sc.live_to_scenario.get(live_plan.code)
            if scen_code is None:  # unchanged: the live prices, as rows, so dbt has one shape
                plan, pairs = (
                    live_plan,
                    [
                        (cid, c, cid)
                        for cid, c in zip(live_plan.charge_ids(), live_plan.charges, strict=True)
                    ],
                )
            else:
                plan = scen_plans[scen_code]
                pairs, _ = _match_charges(sc.file_name, live_plan, plan, 0)
            commitment = plan.minimum_commitment
            rows["scenario_plans"].append(
                (
                    sc.name,
                    live_plan.code,
                    plan.code,
                    plan.amount_cents,
                    None if commitment is None else commitment.amount_cents,
                )
            )
            live_charges = dict(zip(live_plan.charge_ids(), live_plan.charges, strict=True))
            for live_id, charge, _ in pairs:
                rows["scenario_charges"].append(
                    (
                        sc.name,
                        live_id,
                        charge.charge_model,
                        charge.invoiceable,
                        charge.min_amount_cents,
                        to_json(charge.properties),
                    )
                )
                by_values = {_filter_key(f.values): f for f in charge.filters}
                for n, live_filter in enumerate(live_charges[live_id].filters, start=1):
                    scen_filter = by_values[_filter_key(live_filter.values)]
                    rows["scenario_charge_filters"].append(
                        (sc.name, f"{live_id}#{n}", to_json(scen_filter.properties))
                    )
    return rows


def write_scenarios(
    con: duckdb.DuckDBPyConnection, scenarios: list[Scenario], live: Catalog, loaded_at: datetime
) -> None:
    """Replace the raw scenario tables (empty when there is no scenario), in one transaction."""
    replace_tables(con, SCENARIO_COLUMNS, scenario_rows(scenarios, live, loaded_at))


def price_derived_plans(scenarios: list[Scenario], derived: list) -> None:
    """Extend each scenario to the derived plans (``ingestion/plan_versions.py``, ``ingestion/overrides.py``).

    A scenario is a price book for the catalog's plans. A version of a plan is priced in a scenario by the
    scenario plan that prices the plan (the scenario replaces the plan's price over all its versions; its
    charges are matched to the version's, so a version whose charges or filters the scenario plan cannot
    price is an error naming both); a plan that the scenario leaves unchanged keeps each version's live
    prices. An overridden subscription's plan keeps its deal (live prices) in every scenario.
    ``derived``: ``DerivedPlan`` items (base_plan_code, subscription_id, price_version, plan)."""
    problems: list[str] = []
    for sc in scenarios:
        scen_plans = {p.code: (i, p) for i, p in enumerate(sc.plans.plans)}
        for d in derived:
            scen_code = sc.live_to_scenario.get(d.base_plan_code)
            if d.subscription_id is not None or scen_code is None:
                sc.live_to_scenario[d.plan.code] = None
                continue
            i, scen = scen_plans[scen_code]
            problems += [
                f"{problem} (pricing version {d.price_version!r} of plan {d.base_plan_code!r})"
                for problem in _match_charges(sc.file_name, d.plan, scen, i)[1]
            ]
            sc.live_to_scenario[d.plan.code] = scen_code
    if problems:
        raise CatalogError(problems)
