"""The text of each kind of line on the Stripe invoice (what a customer reads)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from ingestion.stripe_publish.source import InvoiceLine


def line(fee_type, units, unit_amount, group_key="", plan="pro_usd", metric=None, model=None):
    return InvoiceLine(
        "l", "inv", "fee", None, fee_type, plan, metric, model, "USD", unit_amount, units, 0,
        datetime(2026, 9, 1), datetime(2026, 10, 1), group_key,
    )  # fmt: skip


def test_line_texts():
    assert line("tax", Decimal("90.5"), Decimal("20"), "tax=vat_fr").description() == (
        "Tax vat_fr - 20% of 90.5 USD - service 2026-09-01 to 2026-09-30"
    )
    assert line("minimum_commitment", None, Decimal("500")).description() == (
        "Minimum commitment true-up pro_usd - commitment 500 USD per period - service 2026-09-01 to 2026-09-30"
    )
    assert line(
        "charge", Decimal("123456.789"), Decimal("0.00035"), metric="api_calls", model="standard"
    ).description() == (
        "api_calls (standard) - 123456.789 units x 0.00035 USD - service 2026-09-01 to 2026-09-30"
    )
    assert line("discount", None, Decimal("5"), "coupon=welcome5").description() == (
        "Discount welcome5 - coupon - service 2026-09-01 to 2026-09-30"
    )
    # a prepaid credit line names its grant (a commitment's term is <commitment>#<n>), no service period
    assert line("credit", None, None, "grant=acme_2026#2").description() == (
        "Prepaid credit acme_2026#2 - applied after tax"
    )
