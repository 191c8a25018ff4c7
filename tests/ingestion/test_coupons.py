"""DIR/coupons.yml: coupons in Lago's shapes and the customers they apply to, validated by name."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from ingestion.coupons import CouponsError, load_coupons

CUSTOMERS = {"c1": "USD", "c2": "EUR"}


def write(tmp_path, text):
    (tmp_path / "coupons.yml").write_text(text)
    return tmp_path


def test_no_file_means_no_coupon(tmp_path):
    coupons = load_coupons(tmp_path, CUSTOMERS)
    assert (coupons.coupons, coupons.applied) == ([], [])


def test_fixed_and_percentage_coupons(tmp_path):
    write(
        tmp_path,
        "coupons:\n"
        "  - {code: welcome, coupon_type: fixed_amount, amount_cents: 5000, amount_currency: USD, frequency: once}\n"
        '  - {code: launch, coupon_type: percentage, percentage_rate: "12.5", frequency: recurring,'
        " frequency_duration: 3}\n"
        "applied_coupons:\n"
        "  - {external_customer_id: c1, coupon_code: welcome, applied_at: '2026-09-01T00:00:00+02:00'}\n"
        "  - {external_customer_id: c2, coupon_code: launch}\n",
    )
    coupons = load_coupons(tmp_path, CUSTOMERS)
    by_code = {c.code: c for c in coupons.coupons}
    assert (by_code["welcome"].amount_cents, by_code["welcome"].frequency_duration) == (5000, None)
    assert (by_code["launch"].percentage_rate, by_code["launch"].frequency_duration) == (
        Decimal("12.5"),
        3,
    )
    assert [(a.external_customer_id, a.applied_at) for a in coupons.applied] == [
        ("c1", datetime(2026, 8, 31, 22)),
        ("c2", None),
    ]


def test_every_problem_is_named(tmp_path):
    write(
        tmp_path,
        "coupons:\n"
        "  - {code: a, coupon_type: fixed_amount, amount_cents: 0, amount_currency: USD}\n"
        "  - {code: b, coupon_type: percentage, percentage_rate: 150}\n"
        "  - {code: c, coupon_type: percentage, percentage_rate: 10, frequency: recurring}\n"
        "  - {code: d, coupon_type: fixed_amount, amount_cents: 100, amount_currency: USD}\n"
        "  - {code: e, coupon_type: free_lunch}\n"
        "applied_coupons:\n"
        "  - {external_customer_id: ghost, coupon_code: d}\n"
        "  - {external_customer_id: c2, coupon_code: d}\n"
        "  - {external_customer_id: c1, coupon_code: d}\n"
        "  - {external_customer_id: c1, coupon_code: d}\n"
        "  - {external_customer_id: c1, coupon_code: zzz}\n",
    )
    with pytest.raises(CouponsError) as info:
        load_coupons(tmp_path, CUSTOMERS)
    assert info.value.problems == [
        "coupons.yml: coupons[0] (code 'a'): amount_cents must be a whole number of minor units > 0",
        "coupons.yml: coupons[1] (code 'b'): percentage_rate must be a percentage above 0, at most 100",
        "coupons.yml: coupons[2] (code 'c'): a recurring coupon needs frequency_duration, a number of invoices >= 1",
        "coupons.yml: coupons[4] (code 'e'): coupon_type must be one of fixed_amount, percentage (got 'free_lunch')",
        "coupons.yml: applied_coupons[0]: customer 'ghost' is not in landing/customers.csv",
        "coupons.yml: applied_coupons[1]: coupon 'd' is in USD, customer 'c2' is billed in EUR",
        "coupons.yml: applied_coupons[3]: coupon 'd' is already applied to customer 'c1' "
        "(applied_coupons[2]); a coupon applies once per customer",
        "coupons.yml: applied_coupons[4]: coupon 'zzz' is not defined under coupons",
    ]


def test_a_customer_holds_several_coupons_applied_oldest_first(tmp_path):
    """applied_order: an entry without applied_at applies from the first invoice (the oldest), then by
    applied_at, file order breaking ties; numbered per customer."""
    write(
        tmp_path,
        "coupons:\n"
        "  - {code: five, coupon_type: fixed_amount, amount_cents: 500, amount_currency: USD}\n"
        "  - {code: tenpct, coupon_type: percentage, percentage_rate: 10, frequency: forever}\n"
        "  - {code: late, coupon_type: percentage, percentage_rate: 5}\n"
        "  - {code: tie, coupon_type: percentage, percentage_rate: 1}\n"
        "applied_coupons:\n"
        "  - {external_customer_id: c1, coupon_code: late, applied_at: '2026-10-01T00:00:00Z'}\n"
        "  - {external_customer_id: c1, coupon_code: five, applied_at: '2026-09-01T00:00:00Z'}\n"
        "  - {external_customer_id: c2, coupon_code: tenpct}\n"
        "  - {external_customer_id: c1, coupon_code: tenpct}\n"
        "  - {external_customer_id: c1, coupon_code: tie, applied_at: '2026-10-01T00:00:00Z'}\n",
    )
    applied = load_coupons(tmp_path, {"c1": "USD", "c2": "USD"}).applied
    assert [(a.external_customer_id, a.coupon_code, a.applied_order) for a in applied] == [
        ("c1", "late", 3),
        ("c1", "five", 2),
        ("c2", "tenpct", 1),
        ("c1", "tenpct", 1),
        ("c1", "tie", 4),
    ]
