"""Plan versions (price changes with an effective date): ``DIR/plan_versions.yml`` (optional).

::

    plan_versions:
      - plan_code: pro_usd            # a plan of catalog.yml
        version: "2026-09"            # the version's name: letters, digits, '.', '_', '-'
        effective_from: 2026-08-20    # a date, read in each customer's timezone
        amount_cents: 32000           # optional: the new base fee
        minimum_commitment: {amount_cents: 30000}   # optional (null: none from this version on)
        charges:                      # optional: ALL the version's charges, in catalog.yml's shape
          - billable_metric_code: users
            charge_model: standard
            properties: {amount: "3"}
          - ...

A version is the plan as it was before it (the catalog's plan, or the plan's previous version by
effective_from) with the keys it gives replaced: ``amount_cents``, ``minimum_commitment``, ``charges``
(the whole list), and the display keys ``name``, ``description``, ``invoice_display_name``.

**When it takes effect.** From the first billing period of a subscription that starts on or after
``effective_from`` at 00:00 in the customer's timezone: a period that started before keeps the earlier
price to its end, so no period is ever split by a price change (Orb's "at the end of the current billing
period" migration; every subscription of the plan moves, without a plan change). Which period a window
belongs to is its full billing period's start, so a subscription started mid-period (calendar billing)
is priced by the version in force at that period's start. An upgrade or downgrade is still told apart by
the catalog plans' base fees (``landing/subscription_changes.csv`` names catalog plan codes). A version
dated into periods already invoiced reprices them as late usage does: the issued invoice stays, its old
lines are credited and the new ones billed as adjustments on the next invoice.

**What a version keeps.** Its plan's currency, interval, pay_in_advance and trial_period (giving another
is an error naming the entry: they shape billing periods and invoices, not prices), and its billable
metrics: a version's charges price the same set of metrics as the plan (attribution of events to a
subscription depends on which metrics its plan prices). Charges, filters and pricing groups may change.

**How it is stored.** Each version becomes a derived plan of the catalog tables, validated by the same
pydantic models as catalog.yml: code ``<plan>@<version>`` (``pro_usd@2026-09``), charge ids
``<plan>@<version>.<metric>`` (or ``<id>@<version>`` for a charge with an explicit ``id``), so every
invoice line names the price version that made it in its ``plan_code`` and ``charge_id``.
``raw.plan_derivations`` has one row per plan code of ``raw.plans``: its catalog plan, version and
effective date, and the subscription override it carries (``ingestion/overrides.py``), and
``int_billing_periods`` picks the derived plan of each service window from it.

Errors name the file, the entry and the path, as catalog.yml's (``plan_versions.yml: plan_versions[0]
(plan_code 'pro_usd', version '2026-09') -> charges[1] (billable_metric_code 'users') -> properties.amount:
...``); all problems are raised together as one ``CatalogError``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import yaml
from pydantic import ValidationError

from ingestion.catalog import (
    CATALOG_COLUMNS,
    Catalog,
    CatalogError,
    CatalogWarning,
    Plan,
    _cross_problems,
    _Loader,
    catalog_rows,
    load_yaml,
    replace_tables,
    utc_naive,
)

PLAN_VERSIONS_FILE = "plan_versions.yml"
_VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
# keys a version may give, and keys it may only repeat (equal to the plan's)
VERSION_KEYS = frozenset(
    {"amount_cents", "minimum_commitment", "charges", "name", "description", "invoice_display_name"}
)
KEPT_KEYS = ("interval", "amount_currency", "pay_in_advance", "trial_period")

DERIVATION_COLUMNS: dict[str, tuple[str, ...]] = {
    "plan_derivations": (
        "plan_code",
        "base_plan_code",
        "price_version",
        "version_effective_from",
        "subscription_id",
        "override_effective_from",
        "source_file",
        "loaded_at",
    ),
}


@dataclass
class DerivedPlan:
    """A plan of the catalog tables made from a catalog plan by a version and/or a subscription override."""

    plan: Plan  # validated; code and charge ids are the derived ones
    base_plan_code: str
    price_version: str | None = None
    version_effective_from: date | None = None
    subscription_id: str | None = None
    override_effective_from: date | None = None
    source_file: str = PLAN_VERSIONS_FILE
    # derived charge id -> the charge's key in its catalog plan (its id, else <plan>.<metric>[.n])
    charge_keys: dict[str, str] = field(default_factory=dict)


@dataclass
class PlanVersion:
    """A validated version: ``fields`` is the whole plan as of this version (catalog code, charges with
    the ids they are written with), the source of its derived plan and of the next version's."""

    plan_code: str
    version: str
    effective_from: date
    fields: dict[str, Any]
    derived: DerivedPlan


def parse_date(value: Any) -> date:
    """A YAML date (``2026-09-01``) or its text; a timestamp is refused (prices change at a period's
    start, in each customer's own timezone, so the date carries no time)."""
    timed = "has a time of day: give a date (YYYY-MM-DD), read in each customer's timezone"
    if isinstance(value, datetime):
        raise ValueError(f"{value.isoformat()} {timed}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
        try:
            datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            raise ValueError(f"{value!r} {timed}")
    raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")


def derived_fields(fields: dict[str, Any], code: str, suffix: str) -> dict[str, Any]:
    """A plan dict under a derived ``code``: explicit charge ids get ``suffix`` (``@2026-09``), the others
    follow the code (``<code>.<metric>``), so every derived charge id is new."""
    out = {**fields, "code": code}
    out["charges"] = [
        {**c, "id": None if c.get("id") is None else f"{c['id']}{suffix}"}
        for c in fields.get("charges") or []
    ]
    return out


def charge_keys(fields: dict[str, Any], derived: Plan) -> dict[str, str]:
    """Derived charge id -> the charge's key under its catalog plan code (what an override names)."""
    base = Plan.model_validate(fields)
    return dict(zip(derived.charge_ids(), base.charge_ids(), strict=True))


def drop_charge_lago_keys(loader: _Loader, charge: Any, loc: tuple[str | int, ...]) -> None:
    """Drop the Lago keys of a charge, its properties and its filters, as catalog.yml's (warned)."""
    loader.drop_lago_keys(charge, "charge", loc)
    if not isinstance(charge, dict):
        return
    loader.drop_lago_keys(charge.get("properties"), "properties", loc + ("properties",))
    filters = charge.get("filters")
    for k, flt in enumerate(filters if isinstance(filters, list) else []):
        loader.drop_lago_keys(flt, "charge_filter", loc + ("filters", k))
        if isinstance(flt, dict):
            loader.drop_lago_keys(
                flt.get("properties"), "properties", loc + ("filters", k, "properties")
            )


def warn_lago_keys(loader: _Loader) -> None:
    for message in loader.warnings:
        warnings.warn(message, CatalogWarning, stacklevel=3)


def _metrics_of(fields: dict[str, Any]) -> set[str]:
    return {
        c.get("billable_metric_code") for c in fields.get("charges") or [] if isinstance(c, dict)
    }


def read_entries(path: Path, label: str, key: str) -> tuple[_Loader, list[Any]]:
    """The YAML file at ``path`` as ``{key: [entries]}``: its loader (problems so far: unknown top-level
    keys) and the entries. Invalid YAML, a non-mapping or a non-list is a ``CatalogError`` naming ``label``."""
    try:
        raw = load_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise CatalogError([f"{label}: not valid YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise CatalogError([f"{label}: expected a mapping with {key}"])
    loader = _Loader(label, raw)
    for name in raw:
        if name != key:
            loader.problems.append(
                loader.line((str(name),), f"unknown top-level key (expected {key})")
            )
    entries = raw.get(key) or []
    if not isinstance(entries, list):
        raise CatalogError(loader.problems + [loader.line((key,), "must be a list")])
    return loader, entries


def load_plan_versions(data_dir: Path, catalog: Catalog) -> list[PlanVersion]:
    """Read and validate ``DIR/plan_versions.yml`` (absent: no version) against ``catalog``."""
    path = Path(data_dir) / PLAN_VERSIONS_FILE
    if not path.exists():
        return []
    loader, entries = read_entries(path, PLAN_VERSIONS_FILE, "plan_versions")

    plans = {p.code: p for p in catalog.plans}
    checked: list[tuple[int, str, str, date, dict[str, Any]]] = []
    seen: dict[tuple[str, str, Any], int] = {}
    for i, entry in enumerate(entries):
        loc: tuple[str | int, ...] = ("plan_versions", i)
        if not isinstance(entry, dict):
            loader.problems.append(
                loader.line(loc, "expected a mapping (plan_code, version, effective_from, ...)")
            )
            continue
        problems_before = len(loader.problems)
        for j, charge in enumerate(
            entry.get("charges") or [] if isinstance(entry.get("charges"), list) else []
        ):
            drop_charge_lago_keys(loader, charge, loc + ("charges", j))
        code, name = entry.get("plan_code"), entry.get("version")
        plan = plans.get(code) if isinstance(code, str) else None
        if plan is None:
            known = ", ".join(sorted(plans)) or "none"
            loader.problems.append(
                loader.line(
                    loc + ("plan_code",), f"unknown plan {code!r} (catalog.yml plans: {known})"
                )
            )
        if not isinstance(name, str) or not _VERSION_NAME.match(name):
            loader.problems.append(
                loader.line(
                    loc + ("version",),
                    f"{name!r}: a version's name is text of letters, digits, '.', '_' or '-' "
                    '(up to 40), e.g. "2026-09"',
                )
            )
        try:
            effective = parse_date(entry.get("effective_from"))
        except ValueError as exc:
            loader.problems.append(loader.line(loc + ("effective_from",), str(exc)))
            effective = None
        for key in entry:
            if key in ("plan_code", "version", "effective_from") or key in VERSION_KEYS:
                continue
            if key in KEPT_KEYS:
                if plan is not None and entry[key] != getattr(plan, key):
                    loader.problems.append(
                        loader.line(
                            loc + (key,),
                            f"a version keeps its plan's {key} ({getattr(plan, key)!r}): it changes prices, "
                            "not billing periods, currencies or trials; make a new plan instead",
                        )
                    )
            else:
                expected = ", ".join(sorted(VERSION_KEYS))
                loader.problems.append(
                    loader.line(loc + (str(key),), f"unknown key (a version gives {expected})")
                )
        if plan is not None and isinstance(name, str):
            for what, value in (("version", name), ("effective_from", effective)):
                if value is None:
                    continue
                if (code, what, value) in seen:
                    loader.problems.append(
                        loader.line(
                            loc + (what,),
                            f"plan {code!r} already has a version with this {what} "
                            f"(plan_versions[{seen[code, what, value]}])",
                        )
                    )
                seen.setdefault((code, what, value), i)
        if len(loader.problems) == problems_before and plan is not None and effective is not None:
            checked.append((i, code, name, effective, entry))

    versions: list[PlanVersion] = []
    previous: dict[str, dict[str, Any]] = {p.code: p.model_dump() for p in catalog.plans}
    for i, code, name, effective, entry in sorted(checked, key=lambda c: (c[1], c[3])):
        loc = ("plan_versions", i)
        fields = {**previous[code], **{k: v for k, v in entry.items() if k in VERSION_KEYS}}
        if "charges" in entry and entry["charges"] is None:
            fields["charges"] = []
        missing = sorted(_metrics_of(previous[code]) - _metrics_of(fields))
        added = sorted(
            m for m in _metrics_of(fields) - _metrics_of(previous[code]) if isinstance(m, str)
        )
        if missing or added:
            loader.problems.append(
                loader.line(
                    loc + ("charges",),
                    "a version keeps its plan's billable metrics (they decide which subscription an event "
                    "belongs to): "
                    + "; ".join(
                        part
                        for part in (
                            f"no charge on {', '.join(map(repr, missing))}" if missing else "",
                            f"{', '.join(map(repr, added))} not priced by plan {code!r}"
                            if added
                            else "",
                        )
                        if part
                    ),
                )
            )
            continue
        suffix = f"@{name}"
        try:
            plan = Plan.model_validate(derived_fields(fields, f"{code}{suffix}", suffix))
        except ValidationError as exc:
            loader.add_errors(exc, loc)
            continue
        cross = _cross_problems(list(enumerate(catalog.billable_metrics)), [(0, plan)])
        for where, message in cross:
            loader.problems.append(loader.line(loc + tuple(where[2:]), message))
        if cross:
            continue
        previous[code] = fields
        derived = DerivedPlan(
            plan=plan,
            base_plan_code=code,
            price_version=name,
            version_effective_from=effective,
            charge_keys=charge_keys(fields, plan),
        )
        versions.append(PlanVersion(code, name, effective, fields, derived))
    if loader.problems:
        raise CatalogError(loader.problems)
    warn_lago_keys(loader)
    return versions


# --------------------------------------------------------------------------- the catalog tables


def priced_catalog(catalog: Catalog, derived: list[DerivedPlan]) -> Catalog:
    """The catalog plus every derived plan, checked together (charge ids unique across all of them)."""
    plans = list(catalog.plans) + [d.plan for d in derived]
    try:
        priced = Catalog(billable_metrics=catalog.billable_metrics, plans=plans)
    except ValidationError as exc:
        names = [p.code for p in plans]
        raise CatalogError(
            [
                f"derived plans: {' -> '.join(str(part) for part in err['loc'][1:])} "
                f"(plan {names[err['loc'][1]]!r}): {err['msg']}"
                if len(err["loc"]) > 1 and isinstance(err["loc"][1], int)
                else f"derived plans: {err['msg']}"
                for err in exc.errors()
            ]
        ) from None
    return priced


def derivation_rows(
    catalog: Catalog, derived: list[DerivedPlan], loaded_at: datetime
) -> dict[str, list[tuple[Any, ...]]]:
    """One row per plan code of the catalog tables: the catalog's own, then the derived ones."""
    at = utc_naive(loaded_at)
    rows = [(p.code, p.code, None, None, None, None, "catalog.yml", at) for p in catalog.plans]
    rows += [
        (
            d.plan.code,
            d.base_plan_code,
            d.price_version,
            d.version_effective_from,
            d.subscription_id,
            d.override_effective_from,
            d.source_file,
            at,
        )
        for d in derived
    ]
    return {"plan_derivations": rows}


def write_priced_catalog(
    con: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    derived: list[DerivedPlan],
    loaded_at: datetime,
) -> Catalog:
    """Replace the raw catalog tables with ``catalog`` and its derived plans, and raw.plan_derivations,
    in one transaction; returns the catalog with the derived plans (what the scenarios price)."""
    priced = priced_catalog(catalog, derived)
    replace_tables(
        con,
        {**CATALOG_COLUMNS, **DERIVATION_COLUMNS},
        {**catalog_rows(priced, loaded_at), **derivation_rows(catalog, derived, loaded_at)},
    )
    return priced
