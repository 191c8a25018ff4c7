"""Tax rates per customer: ``DIR/taxes.yml`` (optional) -> ``raw.tax_rates``, ``raw.customer_taxes``.

::

    tax_rates:
      - code: vat_fr
        name: TVA 20%          # optional
        rate: "20"             # percent, an exact decimal (0..100)
      - code: ct_jp
        rate: "10"
    customers:                 # external customer id -> tax rate code
      cus_001: vat_fr
    default: null              # optional: the code for customers not listed (null = untaxed)

SEMANTICS.md (Invoices, Lago): tax is computed per line on the line's amount (after discounts, when
there are any) and the invoice's tax is the rounded sum of the unrounded line taxes: one tax line per
invoice (int_fees). The file is our own, so an unknown key, an unknown code or an unknown customer is
an error naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import yaml

from ingestion.catalog import load_yaml, replace_tables, utc_naive

TAXES_FILE = "taxes.yml"
_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

TAX_COLUMNS: dict[str, tuple[str, ...]] = {
    "tax_rates": ("code", "name", "rate", "loaded_at"),
    "customer_taxes": ("external_customer_id", "tax_code"),
}


class TaxesError(ValueError):
    """taxes.yml is invalid; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class TaxRate:
    code: str
    name: str | None
    rate: Decimal  # percent


@dataclass
class Taxes:
    rates: list[TaxRate]
    customer_codes: dict[str, str]  # every known customer with a rate (the default applied)


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except ArithmeticError:
            return None
    return None


def load_taxes(data_dir: Path, customer_ids: list[str]) -> Taxes:
    """Read ``DIR/taxes.yml`` (absent: nobody is taxed); every problem raised together."""
    path = Path(data_dir) / TAXES_FILE
    if not path.exists():
        return Taxes([], {})
    label = TAXES_FILE
    try:
        raw = load_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise TaxesError([f"{label}: not valid YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise TaxesError([f"{label}: expected a mapping with tax_rates and customers"])
    problems: list[str] = []
    for key in raw:
        if key not in ("tax_rates", "customers", "default"):
            problems.append(f"{label}: {key}: unknown key (expected tax_rates, customers, default)")
    rates: dict[str, TaxRate] = {}
    entries = raw.get("tax_rates") or []
    if not isinstance(entries, list):
        problems.append(f"{label}: tax_rates must be a list")
        entries = []
    for i, entry in enumerate(entries):
        where = f"{label}: tax_rates[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected code, rate (and name)")
            continue
        extra = set(entry) - {"code", "name", "rate"}
        if extra:
            problems.append(f"{where}: unknown key(s) {', '.join(sorted(map(str, extra)))}")
        code = entry.get("code")
        if not isinstance(code, str) or not _CODE.match(code):
            problems.append(f"{where}: code must be letters, digits, _ . - (got {code!r})")
            continue
        if code in rates:
            problems.append(f"{where}: duplicate code {code!r}")
        rate = _decimal(entry.get("rate"))
        if rate is None or not Decimal(0) <= rate <= Decimal(100):
            problems.append(
                f"{where} (code {code!r}): rate must be a percentage from 0 to 100 (got {entry.get('rate')!r})"
            )
            continue
        name = entry.get("name")
        if name is not None and not isinstance(name, str):
            problems.append(f"{where} (code {code!r}): name must be text")
            name = None
        rates[code] = TaxRate(code, name, rate)
    known = set(customer_ids)
    mapping = raw.get("customers") or {}
    if not isinstance(mapping, dict):
        problems.append(f"{label}: customers must map customer ids to tax rate codes")
        mapping = {}
    for customer, code in mapping.items():
        if str(customer) not in known:
            problems.append(f"{label}: customers: {customer!r} is not in landing/customers.csv")
        if code not in rates:
            problems.append(f"{label}: customers: {customer!r} -> {code!r} is not a tax rate code")
    default = raw.get("default")
    if default is not None and default not in rates:
        problems.append(f"{label}: default: {default!r} is not a tax rate code")
    if problems:
        raise TaxesError(problems)
    codes = {c: default for c in customer_ids if default is not None}
    codes.update({str(k): v for k, v in mapping.items()})
    return Taxes(list(rates.values()), codes)


def write_taxes(con: duckdb.DuckDBPyConnection, taxes: Taxes, loaded_at: datetime) -> None:
    """Replace raw.tax_rates and raw.customer_taxes, in one transaction."""
    at = utc_naive(loaded_at)
    rows = {
        "tax_rates": [(t.code, t.name, format(t.rate.normalize(), "f"), at) for t in taxes.rates],
        "customer_taxes": sorted(taxes.customer_codes.items()),
    }
    replace_tables(con, TAX_COLUMNS, rows)
