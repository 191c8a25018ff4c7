"""DIR/taxes.yml: rates per customer, validated with messages that name the entry."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ingestion.taxes import TaxesError, load_taxes


def write(tmp_path, text):
    (tmp_path / "taxes.yml").write_text(text)
    return tmp_path


def test_no_file_means_nobody_is_taxed(tmp_path):
    taxes = load_taxes(tmp_path, ["c1"])
    assert (taxes.rates, taxes.customer_codes) == ([], {})


def test_rates_customers_and_default(tmp_path):
    write(
        tmp_path,
        'tax_rates:\n  - {code: vat_fr, name: TVA, rate: "20"}\n  - {code: ct, rate: "8.5"}\n'
        "customers: {c1: ct}\ndefault: vat_fr\n",
    )
    taxes = load_taxes(tmp_path, ["c1", "c2", "c3"])
    assert {t.code: t.rate for t in taxes.rates} == {"vat_fr": Decimal("20"), "ct": Decimal("8.5")}
    assert taxes.customer_codes == {"c1": "ct", "c2": "vat_fr", "c3": "vat_fr"}


def test_every_problem_is_named(tmp_path):
    write(
        tmp_path,
        'tax_rates:\n  - {code: vat, rate: "120"}\n  - {code: ok, rate: "5", percent: 5}\n'
        "customers: {ghost: ok, c1: nope}\ndefault: missing\nrates: []\n",
    )
    with pytest.raises(TaxesError) as info:
        load_taxes(tmp_path, ["c1"])
    assert info.value.problems == [
        "taxes.yml: rates: unknown key (expected tax_rates, customers, default)",
        "taxes.yml: tax_rates[0] (code 'vat'): rate must be a percentage from 0 to 100 (got '120')",
        "taxes.yml: tax_rates[1]: unknown key(s) percent",
        "taxes.yml: customers: 'ghost' is not in landing/customers.csv",
        "taxes.yml: customers: 'c1' -> 'nope' is not a tax rate code",
        "taxes.yml: default: 'missing' is not a tax rate code",
    ]
