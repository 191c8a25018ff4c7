"""`meterhouse report revenue` on the hand-computed scenarios (the session's `scenarios_dir` warehouse).

Every figure is worked out by hand from tests/fixtures/scenarios (the invoices of tests/test_scenarios.py) with
the rules of SEMANTICS.md "Revenue (MRR)": a line's MRR is its exact amount after discounts, tax excluded, x days
of the full period / days it was prorated by; committed and usage MRR are rounded once per customer. The
billing clock is 2026-10-05; the reporting currency USD; JPY -> USD is 0.0068 for September
(dbt_project/seeds/fx_rates.csv). Only the division of two hand-computed amounts into a 12-decimal ratio is
done in Python (Fraction, rounded half away from zero), as an independent reference.

End of August (4 customers, 800.54):
  cus_pro        300.00 + storage 5.161290322581 GB x 0.1 = 0.516.. -> 0.52        300.52
  cus_upgrade    basic 100.00                                                     100.00
  cus_downgrade  pro 300.00                                                       300.00
  cus_anniv      Aug 15 - Sep 15: 100.00 + an1 0.015 -> 0.02                      100.02
End of September (customers' local months):
  cus_basic      100.00 + api 0.06 + eu 0.04 + gb 0.96875 = 1.06875 -> 1.07        101.07   new business
  cus_midmonth   16 of 30 days: 53.333333333333 x 30/16 -> 100.00; 0.015 x 30/16 = 0.028125 -> 0.03
                                                                                  100.03   new business
  cus_pro        300.00 + 4 + 40 + 18.75 + 2.3333333333334 + 1 = 66.0833.. -> 66.08 366.08   expansion +65.56
  cus_yen        5000 + 1.5 -> 2 = 5002 JPY x 0.0068 = 34.0136 USD (tax excluded)  34.0136  new business
  cus_group      usage-only: 2 + 3 + 1.5                                             6.50   new business
  cus_upgrade    Sep 1: basic 33.333333333333 x 30/10 -> 100.00, usage 0.015 x 3 = 0.045 -> 0.05: +0.05;
                 Sep 11: pro 200.00 x 30/20 = 300.00, usage 0.0005 x 30/20 -> 0.00: +199.95
                                                                                  300.00   expansion +200.00
  cus_downgrade  still pro until the end of September                             300.00
  cus_adv        120.00 + 0.03 (plan_versions.yml's adv_usd@2026-10 prices October's period, not September's)
                                                                                  120.03   new business
  cus_trial      in force from the trial's end (Sep 11); coupons.yml: 5.00 (welcome5) and 10% of what is left
                 15.67 = 1.567 -> 1.57 (loyal10), one discount line each: the invoice's discount 6.57 goes to
                 its one fee line: (62/3 - 6.57) x 30/20 = 42.29/2 = 21.145 -> 21.15 (half away)
                                                                                   21.15   new business
  cus_ended      Sep 1 - Sep 20 12:00: 66.666666666667 x 30/20 -> 100.00, then no line in force
                                                                                    0.00   new business
                                                                                           +100.00, churn -100.00
  cus_ambiguous  sub_a 100.00 + sub_b's deal (overrides.yml) 80.00 + am2 at the deal's 0.01
                                                                                  180.01   new business
  cus_anniv      Sep 15 - Oct 15: 100.00 + 0.015 -> 0.02 (no change on Sep 15)    100.02
  cus_corr       100.00 + 6 GB x 0.25                                             101.50   new business
  USD 1696.39 + 34.0136 = 1730.4036; committed 1621.15 + 5000 x 0.0068 = 1655.15; usage 75.2536.
  (101.07 + 100.03 + 366.08 + 6.50 + 300.00 + 300.00 + 120.03 + 21.15 + 0 + 180.01 + 100.02 + 101.50 = 1696.39;
  committed: 100 + 100 + 300 + 300 + 300 + 120 + 21.15 + 180 + 100 + 100 = 1621.15.)
  new business 101.07 + 100.03 + 34.0136 + 6.50 + 120.03 + 21.15 + 100.00 (cus_ended) + 180.01 + 101.50
  = 764.3036; 800.54 + 764.3036 + expansion 265.56 - churn 100.00 = 1730.4036.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

import pytest

from orchestration.cli import main

pytestmark = pytest.mark.slow


def ratio12(num: str, den: str) -> str:
    """num / den rounded half away from zero at 12 decimals, as the report's exact text."""
    q = Fraction(Decimal(num)) / Fraction(Decimal(den)) * 10**12
    sign = -1 if q < 0 else 1
    n = abs(q)
    whole = n.numerator // n.denominator
    if (n - whole) * 2 >= 1:
        whole += 1
    text = format(Decimal(sign * whole).scaleb(-12), "f").rstrip("0").rstrip(".")
    return text


def report(scenarios_dir, capsys, month: str, fmt: str = "json"):
    code = main(
        ["report", "revenue", "--data-dir", str(scenarios_dir), "--month", month, "--format", fmt]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out) if fmt == "json" else out


def test_september_kpis_are_the_hand_computed_ones(scenarios_dir, capsys):
    k = report(scenarios_dir, capsys, "2026-09")
    assert k["reporting_currency"] == "USD"
    # cus_anniv's Sep 15 - Oct 15 lines are drafts on Oct 5: September is not final yet
    assert k["is_final"] is False
    assert (k["mrr"], k["committed_mrr"], k["usage_mrr"]) == ("1730.4036", "1655.15", "75.2536")
    assert k["arr"] == "20764.8432"  # 1730.4036 x 12
    assert (k["customers"], k["customers_at_start"]) == (12, 4)  # 13 customers, cus_ended churned
    assert k["arpa"] == "144.2003"  # 1730.4036 / 12
    assert k["mrr_at_start"] == "800.54"
    assert (k["new_business_mrr"], k["new_customers"]) == ("764.3036", 9)
    assert (k["expansion_mrr"], k["expanded_customers"]) == ("265.56", 2)
    assert (k["contraction_mrr"], k["reactivation_mrr"], k["fx_impact"]) == ("0", "0", "0")
    assert (k["churn_mrr"], k["churned_customers"]) == ("-100", 1)
    assert k["net_mrr_change"] == "929.8636"  # 1730.4036 - 800.54
    assert k["customer_churn_rate"] == "0.25"  # 1 / 4 (cus_ended was not a customer at start)
    assert k["gross_mrr_churn_rate"] == ratio12("100", "800.54")  # (churn 100 + contraction 0)
    assert k["net_mrr_churn_rate"] == ratio12("-165.56", "800.54")  # 100 - 265.56
    assert k["nrr"] == ratio12("966.10", "800.54")  # 800.54 + 265.56 - 100
    assert k["grr"] == ratio12("700.54", "800.54")  # 800.54 - 100
    # nobody was paying in September 2025
    assert k["customers_12m_ago"] == 0
    assert k["nrr_trailing_12m"] is None and k["grr_trailing_12m"] is None


def test_august_is_final_and_all_new_business(scenarios_dir, capsys):
    k = report(scenarios_dir, capsys, "2026-08")
    # every line in force in August is issued (Sep 1, and Sep 15 for the anniversary customer)
    assert k["is_final"] is True
    assert (k["mrr"], k["customers"], k["customers_at_start"]) == ("800.54", 4, 0)
    assert (k["new_business_mrr"], k["new_customers"]) == ("800.54", 4)
    assert k["customer_churn_rate"] is None and k["nrr"] is None  # nothing at start


def test_the_text_report_rounds_for_display(scenarios_dir, capsys):
    out = report(scenarios_dir, capsys, "2026-09", fmt="text")
    assert out.startswith("Revenue 2026-09 in USD (not final")
    lines = {
        line.split("  ")[1].strip(): line for line in out.splitlines() if line.startswith("  ")
    }
    assert "1,730.40" in lines["MRR"] and "committed 1,655.15, usage 75.25" in lines["MRR"]
    assert "+764.30" in lines["New business"]
    assert "-100.00" in lines["Churn"]
    assert "25.00 %" in lines["Customer churn rate"]
    assert "12.49 %" in lines["Gross MRR churn"]  # 100 / 800.54 = 0.124916
    assert "120.68 %" in lines["NRR"]  # 966.10 / 800.54 = 1.206810


def test_bad_months_are_refused_with_what_to_do(scenarios_dir, capsys, tmp_path):
    assert main(["report", "revenue", "--data-dir", str(scenarios_dir), "--month", "2026-13"]) == 2
    assert "--month must be YYYY-MM" in capsys.readouterr().err
    assert main(["report", "revenue", "--data-dir", str(scenarios_dir), "--month", "2025-01"]) == 2
    assert "months with revenue: 2026-08 to 2026-10" in capsys.readouterr().err
    assert main(["report", "revenue", "--data-dir", str(tmp_path), "--month", "2026-09"]) == 2
    assert "run `meterhouse run --data-dir DIR` first" in capsys.readouterr().err
