"""Deterministic sample data for Meterhouse: catalog, customers, subscriptions and usage events.

``generate(data_dir)`` writes everything a demo run needs under ``data_dir`` (formats in
``docs/contracts.md``) plus ``generator_manifest.json``, an independent record of what was planted
(exact retries, conflicts, corrections, malformed rows by expected quarantine reason, ...), so tests can
check the pipeline against something it did not compute itself.

Same arguments give byte-identical files: one ``numpy.random.default_rng(seed)`` drives every
choice, in a fixed order; no wall clock; gzip with ``mtime=0``; parquet written by pyarrow with fixed
options. Plain Python (numpy, pyarrow, pyyaml): never imports dagster.

Window: ``months`` calendar months ending at ``end_date`` (exclusive), in UTC. Event files:
month ``k`` is written as ``events-YYYY-MM.jsonl.gz``, ``.csv`` or ``.parquet`` (cycling in that
order), then ``corrections-<end_date + 1 day>.jsonl`` and ``late-<end_date + 2 days>.jsonl``.
"""

from __future__ import annotations

import calendar
import csv
import gzip
import hashlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from ingestion.events.parse import EVENT_FILE_COLUMNS, QUARANTINE_REASONS

__all__ = ["generate", "EVENT_COLUMNS", "QUARANTINE_REASONS"]

EVENT_COLUMNS = EVENT_FILE_COLUMNS

GRACE_PERIOD_HOURS = 72
FUTURE_MARGIN_HOURS = 24
CLOCK_DAYS_AFTER_END = 4
DAY = 86_400

# --------------------------------------------------------------------------------------------------
# Catalog
# --------------------------------------------------------------------------------------------------

# code, name, aggregation_type, field_name, recurring
METRICS = (
    ("api_calls", "API calls", "count_agg", None, False),
    ("data_processed", "Data processed (GB)", "sum_agg", "gb", False),
    ("peak_connections", "Peak concurrent connections", "max_agg", "connections", False),
    ("active_users", "Active users", "unique_count_agg", "user_id", False),
    ("seats", "Seats", "latest_agg", "seats", False),
    ("storage", "Storage (GB-month)", "weighted_sum_agg", "gb_delta", True),
)
METRIC_CODES = tuple(m[0] for m in METRICS)
METRIC_INDEX = {code: i for i, code in enumerate(METRIC_CODES)}
# Relative event frequency of each metric, in METRIC_CODES order.
METRIC_WEIGHTS = np.array([60.0, 14.0, 6.0, 12.0, 2.0, 6.0])
REGIONS = ("us", "eu", "apac")
UNKNOWN_METRICS = ("api_request", "bandwidth_gb", "gpu_seconds")

CURRENCIES = ("USD", "EUR", "GBP", "JPY")
CURRENCY_WEIGHTS = (0.55, 0.22, 0.13, 0.10)
FX_FROM_USD = {
    "USD": Decimal(1),
    "EUR": Decimal("0.92"),
    "GBP": Decimal("0.79"),
    "JPY": Decimal(150),
}

FAMILIES = ("starter", "growth", "scale", "enterprise")
FAMILY_WEIGHTS = (0.40, 0.30, 0.20, 0.10)
FAMILY_NAMES = {
    "starter": "Starter",
    "growth": "Growth",
    "scale": "Scale",
    "enterprise": "Enterprise platform",
}
FAMILY_INTERVAL = {
    "starter": "monthly",
    "growth": "monthly",
    "scale": "monthly",
    "enterprise": "yearly",
}
FAMILY_PAY_IN_ADVANCE = {"starter": False, "growth": True, "scale": False, "enterprise": False}
# Base fee in major units (JPY: whole yen), per currency.
BASE_FEES = {
    "starter": {"USD": 29, "EUR": 27, "GBP": 24, "JPY": 4_400},
    "growth": {"USD": 199, "EUR": 185, "GBP": 159, "JPY": 29_800},
    "scale": {"USD": 899, "EUR": 829, "GBP": 709, "JPY": 134_800},
    "enterprise": {"USD": 24_000, "EUR": 22_000, "GBP": 19_000, "JPY": 3_600_000},
}
# Unit prices in USD; other currencies are the exact product with FX_FROM_USD.
# starter and enterprise price disjoint metrics (customers with two concurrent subscriptions hold
# one of each, so events without a subscription_id are attributable by metric).
UNIT_PRICES_USD = {
    "starter": {"api_calls": "0.0005", "data_processed": "0.12"},
    "growth": {
        "api_calls": "0.00042",
        "data_processed": "0.10",
        "active_users": "4.00",
        "peak_connections": "0.50",
    },
    "scale": {
        "api_calls": "0.0003",
        "data_processed": "0.08",
        "peak_connections": "0.40",
        "seats": "12.00",
        "storage": "0.023",
    },
    "enterprise": {
        "active_users": "3.00",
        "seats": "10.00",
        "storage": "0.020",
        "peak_connections": "0.30",
    },
}
GROWTH_EU_API_PRICE_USD = "0.00046"
SCALE_API_MIN_AMOUNT_CENTS = {"USD": 5_000, "EUR": 4_600, "GBP": 3_900, "JPY": 7_500}
UPGRADE_TO = {"starter": "growth", "growth": "scale"}
DOWNGRADE_TO = {"scale": "growth", "growth": "starter"}

TIMEZONES_BY_CURRENCY = {
    "USD": (
        ("America/New_York", 0.34),
        ("America/Los_Angeles", 0.24),
        ("America/Chicago", 0.14),
        ("UTC", 0.10),
        ("Asia/Singapore", 0.06),
        ("Australia/Sydney", 0.07),
        ("Pacific/Auckland", 0.05),
    ),
    "EUR": (
        ("Europe/Paris", 0.45),
        ("Europe/Berlin", 0.35),
        ("Europe/Amsterdam", 0.12),
        ("UTC", 0.08),
    ),
    "GBP": (("Europe/London", 0.90), ("UTC", 0.10)),
    "JPY": (("Asia/Tokyo", 1.0),),
}
TIMEZONES = tuple(sorted({tz for opts in TIMEZONES_BY_CURRENCY.values() for tz, _ in opts}))

NAME_FIRST = (
    "Acme", "Blue Harbor", "Northwind", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli",
    "Pied Piper", "Vandelay", "Soylent", "Cyberdyne", "Tyrell", "Wonka", "Aperture", "Black Mesa",
    "Oscorp", "Dunder", "Sterling", "Bluth", "Prestige", "Massive", "Vehement", "Monarch", "Gringotts",
    "Nakatomi", "Zorg", "Octan", "Rekall",
)  # fmt: skip
NAME_SECOND = (
    "Labs", "Analytics", "Systems", "Cloud", "Data", "Logistics", "Health", "Robotics", "Media",
    "Payments", "Foods", "Energy", "Studios", "Networks", "Security",
)  # fmt: skip
NAME_LEGAL = ("", "", "", " Ltd", " LLC", ", Inc.")
NAME_LOCAL = {
    "EUR": (
        "Société Générale de Données",
        "Müller Logistik GmbH",
        "Café Ångström SARL",
        "Zürich Ölwerke AG",
    ),
    "JPY": ("株式会社サクラ", "富士データ株式会社", "Kōbe Robotics K.K."),
    "GBP": ("O'Brien & Sons Ltd",),
}

# Relative event rate by local hour (business hours peak), and on weekends.
HOUR_WEIGHTS = np.array(
    [0.10, 0.07, 0.05, 0.05, 0.05, 0.08, 0.15, 0.30, 0.60, 0.90, 1.00, 1.00,
     0.85, 0.95, 1.00, 1.00, 0.90, 0.70, 0.45, 0.35, 0.30, 0.25, 0.20, 0.14]
)  # fmt: skip
WEEKEND_FACTOR = 0.45

# Timestamp styles: ISO Z, ISO Z with ms, ISO with the customer's local offset, epoch int, epoch
# with ms, epoch with us, epoch as a numeric string (JSON only; same text as epoch int elsewhere).
TS_ISO_Z, TS_ISO_Z_MS, TS_ISO_LOCAL, TS_EPOCH, TS_EPOCH_MS, TS_EPOCH_US, TS_EPOCH_STR = range(7)
TS_STYLE_WEIGHTS = (0.40, 0.15, 0.15, 0.17, 0.08, 0.03, 0.02)

ALIAS_CANONICAL, ALIAS_LAGO, ALIAS_CLOUDEVENTS = 0, 1, 2

FORMATS = ("jsonl.gz", "csv", "parquet")

# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def _add_months(d: date, k: int) -> date:
    y, m = divmod(d.month - 1 + k, 12)
    y += d.year
    m += 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def _epoch(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


def _iso_z(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_local(ts: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, tz).isoformat()


def _local_ts(d: date, seconds: int, tz: ZoneInfo) -> int:
    """UTC epoch of local date ``d`` at ``seconds`` after local midnight."""
    h, rem = divmod(int(seconds), 3600)
    return int(datetime(d.year, d.month, d.day, h, rem // 60, rem % 60, tzinfo=tz).timestamp())


def _fmt_milli(m: int) -> str:
    """Exact decimal text of ``m`` thousandths: 12500 -> "12.5", 3000 -> "3", -250 -> "-0.25"."""
    sign = "-" if m < 0 else ""
    q, r = divmod(abs(int(m)), 1000)
    if r == 0:
        return f"{sign}{q}"
    return f"{sign}{q}.{r:03d}".rstrip("0")


def _dec(x: Decimal) -> str:
    return format(x.normalize(), "f")


def _offset_suffix(off: int) -> str:
    sign = "+" if off >= 0 else "-"
    h, m = divmod(abs(int(off)) // 60, 60)
    return f"{sign}{h:02d}:{m:02d}"


def _hex_ids(rng: np.random.Generator, n: int, prefix: str, taken: set[str]) -> list[str]:
    """``n`` new distinct ids ``prefix`` + 16 hex digits; adds them to ``taken`` (membership only)."""
    out: list[str] = []
    while len(out) < n:
        vals = rng.integers(0, 2**63, size=n - len(out), dtype=np.int64)
        for v in vals.tolist():
            s = f"{prefix}{v:016x}"
            if s not in taken:
                taken.add(s)
                out.append(s)
    return out


def _json_obj(pairs: list[tuple[str, str]]) -> str:
    """A JSON object from (key, already-encoded JSON token) pairs, in the given order."""
    return "{" + ", ".join(f'"{k}": {v}' for k, v in pairs) + "}"


def _q(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


# --------------------------------------------------------------------------------------------------
# Catalog, settings
# --------------------------------------------------------------------------------------------------


def _price(usd: str, ccy: str) -> str:
    return _dec(Decimal(usd) * FX_FROM_USD[ccy])


def build_catalog() -> dict:
    """The catalog as a plain dict in Lago's shapes (billable_metrics, plans with charges)."""
    metrics = []
    for code, name, agg, field_name, recurring in METRICS:
        m: dict = {"name": name, "code": code, "aggregation_type": agg}
        if field_name:
            m["field_name"] = field_name
        m["recurring"] = recurring
        if code == "api_calls":
            m["filters"] = [{"key": "region", "values": list(REGIONS)}]
        metrics.append(m)
    plans = []
    for family in FAMILIES:
        for ccy in CURRENCIES:
            charges = []
            for metric in METRIC_CODES:
                usd = UNIT_PRICES_USD[family].get(metric)
                if usd is None:
                    continue
                charge: dict = {
                    "billable_metric_code": metric,
                    "charge_model": "standard",
                    "invoice_display_name": dict((m[0], m[1]) for m in METRICS)[metric],
                    "properties": {"amount": _price(usd, ccy)},
                }
                if family == "growth" and metric == "api_calls":
                    charge["filters"] = [
                        {
                            "invoice_display_name": "API calls (EU region)",
                            "values": {"region": ["eu"]},
                            "properties": {"amount": _price(GROWTH_EU_API_PRICE_USD, ccy)},
                        }
                    ]
                if family == "scale" and metric == "data_processed":
                    charge["properties"]["pricing_group_keys"] = ["region"]
                if family == "scale" and metric == "api_calls":
                    charge["min_amount_cents"] = SCALE_API_MIN_AMOUNT_CENTS[ccy]
                charges.append(charge)
            plans.append(
                {
                    "name": f"{FAMILY_NAMES[family]} ({ccy})",
                    "code": f"{family}_{ccy.lower()}",
                    "interval": FAMILY_INTERVAL[family],
                    "amount_cents": BASE_FEES[family][ccy] * (1 if ccy == "JPY" else 100),
                    "amount_currency": ccy,
                    "pay_in_advance": FAMILY_PAY_IN_ADVANCE[family],
                    "trial_period": 0,
                    "charges": charges,
                }
            )
    return {"billable_metrics": metrics, "plans": plans}


def build_scenarios(catalog: dict) -> dict[str, dict]:
    """Two candidate price books over the sample catalog (DIR/scenarios/<name>.yml), for the pricing
    experiments notebook: ``usage_up`` raises every usage price by 20% and keeps the base fees;
    ``tiered_calls`` prices API calls on a graduated ladder (the first 100,000 calls of a period free,
    then the live price, then half of it past 10 million) and cuts the base fees by 10%."""
    import copy

    usage_up = {
        "description": "every usage price +20%, base fees unchanged",
        "plans": copy.deepcopy(catalog["plans"]),
    }
    for plan in usage_up["plans"]:
        plan.pop("name", None)
        for charge in plan["charges"]:
            charge.pop("invoice_display_name", None)
            charge["properties"]["amount"] = _dec(
                Decimal(charge["properties"]["amount"]) * Decimal("1.2")
            )
            for flt in charge.get("filters", []):
                flt.pop("invoice_display_name", None)
                flt["properties"]["amount"] = _dec(
                    Decimal(flt["properties"]["amount"]) * Decimal("1.2")
                )
    tiered = {
        "description": "API calls: first 100,000 free, then the live price, half price past 10 million; "
        "base fees -10%",
        "plans": copy.deepcopy(catalog["plans"]),
    }
    for plan in tiered["plans"]:
        plan.pop("name", None)
        plan["amount_cents"] = int(Decimal(plan["amount_cents"]) * Decimal("0.9"))
        for charge in plan["charges"]:
            charge.pop("invoice_display_name", None)
            for flt in charge.get("filters", []):
                flt.pop("invoice_display_name", None)
            if charge["billable_metric_code"] != "api_calls":
                continue

            def ladder(price: str) -> dict:
                half = _dec(Decimal(price) / 2)
                return {
                    "graduated_ranges": [
                        {
                            "from_value": "0",
                            "to_value": "100000",
                            "per_unit_amount": "0",
                            "flat_amount": "0",
                        },
                        {
                            "from_value": "100001",
                            "to_value": "10000000",
                            "per_unit_amount": price,
                            "flat_amount": "0",
                        },
                        {
                            "from_value": "10000001",
                            "to_value": None,
                            "per_unit_amount": half,
                            "flat_amount": "0",
                        },
                    ]
                }

            group_keys = charge["properties"].get("pricing_group_keys")
            charge["charge_model"] = "graduated"
            charge["properties"] = ladder(charge["properties"]["amount"])
            if group_keys:
                charge["properties"]["pricing_group_keys"] = group_keys
            for flt in charge.get("filters", []):
                flt["properties"] = ladder(flt["properties"]["amount"])
    return {"usage_up": usage_up, "tiered_calls": tiered}


def _catalog_yaml(catalog: dict) -> str:
    header = (
        "# Meterhouse sample catalog (written by ingestion/generate.py), Lago shapes.\n"
        "# Amounts are quoted strings so they stay exact decimals; amount_cents is in minor units\n"
        "# (JPY has no minor unit: amount_cents is whole yen).\n"
    )
    body = yaml.safe_dump(
        catalog,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )
    return header + body


def _settings_yaml(clock: str) -> str:
    return (
        "# Meterhouse settings (written by ingestion/generate.py)\n"
        f"grace_period_hours: {GRACE_PERIOD_HOURS}\n"
        f"future_margin_hours: {FUTURE_MARGIN_HOURS}\n"
        f'clock: "{clock}"\n'
        'duckdb_memory_limit: "4GB"\n'
        "# Stripe: used only when STRIPE_API_KEY is set; `meterhouse run --stripe-emulator` (make demo)\n"
        "# starts the local emulator at this address and sets a test key.\n"
        "stripe:\n"
        '  api_base: "http://127.0.0.1:12111"\n'
        "  # the demo publishes the latest billing month only (earlier ones count as billed before)\n"
        f'  publish_from: "{clock[:7]}"\n'
        "  # and at most 150 documents per run (each run sends the next ones), to stay a short demo\n"
        "  publish_batch_size: 150\n"
    )


# --------------------------------------------------------------------------------------------------
# Customers and subscriptions
# --------------------------------------------------------------------------------------------------


@dataclass
class _Sub:
    sub_id: str
    cust: int
    family: str
    start: int
    start_str: str
    end: int | None = None
    end_str: str = ""
    change_family: str | None = None
    change_at: int | None = None
    change_str: str = ""


@dataclass
class _World:
    window_start: int
    window_end: int
    month_starts: list[int]
    cust_ids: list[str]
    cust_ccy: np.ndarray
    cust_tz: np.ndarray
    cust_weight: np.ndarray
    cust_region: np.ndarray
    cust_user_pool: np.ndarray
    cust_seats: np.ndarray
    subs: list[_Sub] = field(default_factory=list)
    offsets: np.ndarray | None = None  # [tz, hour since offsets_base] -> UTC offset seconds
    offsets_base: int = 0


def _home_region(tz_name: str) -> int:
    """Index in REGIONS of a customer's usual ``region`` property, from its timezone."""
    area = tz_name.split("/")[0]
    return 1 if area == "Europe" else 2 if area in ("Asia", "Australia", "Pacific") else 0


def _make_customers(rng: np.random.Generator, n: int) -> dict:
    width = max(5, len(str(n)))
    ccy = rng.choice(len(CURRENCIES), size=n, p=CURRENCY_WEIGHTS)
    u_tz = rng.random(n)
    tz = np.empty(n, dtype=np.int64)
    for ci, c in enumerate(CURRENCIES):
        names = [t for t, _ in TIMEZONES_BY_CURRENCY[c]]
        cum = np.cumsum([w for _, w in TIMEZONES_BY_CURRENCY[c]])
        cum /= cum[-1]
        sel = ccy == ci
        pick = np.minimum(np.searchsorted(cum, u_tz[sel], side="right"), len(names) - 1)
        tz[sel] = [TIMEZONES.index(names[p]) for p in pick]
    anniversary = rng.random(n) < 0.15
    first = rng.integers(0, len(NAME_FIRST), n)
    second = rng.integers(0, len(NAME_SECOND), n)
    legal = rng.integers(0, len(NAME_LEGAL), n)
    local = rng.random(n)
    local_pick = rng.integers(0, 1_000, n)
    names = []
    for i in range(n):
        c = CURRENCIES[ccy[i]]
        if c in NAME_LOCAL and local[i] < 0.12:
            opts = NAME_LOCAL[c]
            base = opts[local_pick[i] % len(opts)]
        else:
            base = f"{NAME_FIRST[first[i]]} {NAME_SECOND[second[i]]}{NAME_LEGAL[legal[i]]}"
        names.append(base)
    # Heavy-tailed volume: Zipf-like by a random rank, with some noise.
    ranks = rng.permutation(n) + 1
    weight = ranks.astype(np.float64) ** -1.1 * rng.lognormal(0.0, 0.3, n)
    region = np.array([_home_region(TIMEZONES[t]) for t in tz.tolist()], dtype=np.int64)
    return {
        "ids": [f"cus_{i + 1:0{width}d}" for i in range(n)],
        "names": names,
        "ccy": ccy,
        "tz": tz,
        "anniversary": anniversary,
        "weight": weight,
        "region": region,
        "user_pool": rng.integers(5, 400, n),
        "seats": rng.integers(3, 250, n),
    }


def _make_subscriptions(
    rng: np.random.Generator, cust: dict, w0: date, w1: date
) -> tuple[list[_Sub], dict]:
    n = len(cust["ids"])
    zones = [ZoneInfo(t) for t in TIMEZONES]
    window_days = (w1 - w0).days
    w0_ts, w1_ts = _epoch(w0), _epoch(w1)

    family = rng.choice(len(FAMILIES), size=n, p=FAMILY_WEIGHTS)
    perm = rng.permutation(n)
    n_role = (
        (max(1, round(0.025 * n)), max(1, round(0.025 * n)), max(1, round(0.01 * n)))
        if n >= 10
        else (0, 0, 0)
    )
    concurrent = set(perm[: n_role[0]].tolist())
    sequential = set(perm[n_role[0] : n_role[0] + n_role[1]].tolist())
    churn = set(perm[n_role[0] + n_role[1] : sum(n_role)].tolist())

    # Pre-drawn randomness, one array per decision, so the stream does not depend on branches.
    in_window = rng.random(n) < 0.20
    days_before = rng.integers(1, 180, n)  # history before the event window: base fees only
    snap_first = rng.random(n) < 0.5
    at_midnight = rng.random(n) < 0.65
    secs = rng.integers(0, DAY, n)
    in_day = rng.random(n)
    z_format = rng.random(n) < 0.2
    end_day = rng.random(n)
    end_secs = rng.integers(0, DAY, n)
    second_family = rng.integers(1, len(FAMILIES), n)
    second_in_window = rng.random(n) < 0.4
    second_day = rng.random(n)
    second_days_before = rng.integers(1, 120, n)

    def fmt(ts: int, tz: ZoneInfo, z: bool) -> str:
        return _iso_z(ts) if z else _iso_local(ts, tz)

    subs: list[_Sub] = []
    width = max(5, len(str(2 * n)))

    def new_sub(c: int, fam: str, start: int, start_str: str) -> _Sub:
        s = _Sub(f"sub_{len(subs) + 1:0{width}d}", c, fam, start, start_str)
        subs.append(s)
        return s

    for c in range(n):
        tz = zones[cust["tz"][c]]
        fam = FAMILIES[family[c]]
        if c in concurrent:
            fam = "starter"
        before = (not in_window[c]) or c in concurrent or c in sequential or c in churn
        if before:
            d = w0 - timedelta(days=int(days_before[c]))
            if snap_first[c] and not cust["anniversary"][c]:
                d = d.replace(day=1)
        else:
            d = w0 + timedelta(days=int(in_day[c] * max(1, window_days - 5)))
        start = _local_ts(d, 0 if at_midnight[c] else secs[c], tz)
        s1 = new_sub(c, fam, start, fmt(start, tz, bool(z_format[c])))
        if c in churn or c in sequential:
            lo, hi = 7, max(8, window_days - 2)
            if c in sequential:
                lo, hi = (
                    min(10, window_days // 3),
                    max(min(10, window_days // 3) + 1, window_days - 10),
                )
            ed = w0 + timedelta(days=lo + int(end_day[c] * (hi - lo)))
            end = _local_ts(ed, 0 if (c in sequential or at_midnight[c]) else end_secs[c], tz)
            s1.end, s1.end_str = end, fmt(end, tz, bool(z_format[c]))
            if c in sequential:
                fam2 = FAMILIES[(FAMILIES.index(fam) + int(second_family[c])) % len(FAMILIES)]
                new_sub(c, fam2, end, s1.end_str)
        elif c in concurrent:
            if second_in_window[c]:
                d2 = w0 + timedelta(days=int(second_day[c] * max(1, window_days - 5)))
            else:
                d2 = w0 - timedelta(days=int(second_days_before[c]))
            start2 = _local_ts(d2, 0, tz)
            new_sub(c, "enterprise", start2, fmt(start2, tz, bool(z_format[c])))

    # Plan changes: ~5% of subscriptions, among single-subscription customers on monthly plans.
    eligible = []
    for i, s in enumerate(subs):
        if s.cust in concurrent or s.cust in sequential or s.family == "enterprise":
            continue
        a, b = max(s.start, w0_ts), min(s.end if s.end is not None else w1_ts, w1_ts)
        if b - a >= 12 * DAY:
            eligible.append(i)
    n_changes = min(len(eligible), max(1, round(0.05 * len(subs)))) if eligible else 0
    chosen = (
        sorted(
            rng.choice(np.array(eligible, dtype=np.int64), size=n_changes, replace=False).tolist()
        )
        if n_changes
        else []
    )
    change_u = rng.random(max(1, n_changes))
    change_secs = rng.integers(0, DAY, max(1, n_changes))
    upgrades = downgrades = 0
    for k, i in enumerate(chosen):
        s = subs[i]
        want_up = k % 2 == 0
        if s.family not in (UPGRADE_TO if want_up else DOWNGRADE_TO):
            want_up = not want_up
        s.change_family = (UPGRADE_TO if want_up else DOWNGRADE_TO)[s.family]
        if want_up:
            upgrades += 1
        else:
            downgrades += 1
        a, b = max(s.start, w0_ts), min(s.end if s.end is not None else w1_ts, w1_ts)
        tz = zones[cust["tz"][s.cust]]
        t = a + 4 * DAY + int(change_u[k] * (b - a - 8 * DAY))
        local_day = datetime.fromtimestamp(t, tz).date()
        s.change_at = _local_ts(local_day, change_secs[k], tz)
        s.change_str = _iso_local(s.change_at, tz)
    stats = {
        "customers_with_concurrent_subscriptions": len(concurrent),
        "customers_with_sequential_subscriptions": len(sequential),
        "subscriptions_ending_in_window": sum(
            1 for s in subs if s.end is not None and w0_ts <= s.end < w1_ts
        ),
        "subscriptions_starting_in_window": sum(1 for s in subs if w0_ts <= s.start < w1_ts),
        "plan_changes": {"upgrade": upgrades, "downgrade": downgrades},
    }
    return subs, stats


# --------------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------------


@dataclass
class _Events:
    """Columns of all event rows, one list per field (None = absent)."""

    eid: list
    cust: list
    sub: list
    metric: list
    ts_text: list
    ts_tok: list
    props: list
    corr_of: list
    corr_type: list
    alias: list
    raw_json: list  # a malformed row's JSON line (or None)
    file: list
    pos: list

    @classmethod
    def empty(cls) -> _Events:
        return cls(*([] for _ in range(13)))

    def append(self, **kw) -> None:
        for k in self.__dataclass_fields__:
            getattr(self, k).append(kw.get(k))

    def extend(self, other: _Events) -> None:
        for k in self.__dataclass_fields__:
            getattr(self, k).extend(getattr(other, k))

    def row(self, i: int) -> dict:
        return {k: getattr(self, k)[i] for k in self.__dataclass_fields__}


def _tz_offsets(start: int, end: int) -> tuple[np.ndarray, int]:
    """UTC offset (seconds) of every zone in TIMEZONES at every hour of [start - 2 days, end + 2 days).

    Every zone used changes offset on a whole UTC hour, so an hourly table is exact.
    """
    base = start - 2 * DAY
    hours = (end - start) // 3600 + 96
    out = np.empty((len(TIMEZONES), hours), dtype=np.int64)
    for zi, name in enumerate(TIMEZONES):
        tz = ZoneInfo(name)
        out[zi] = [
            int(datetime.fromtimestamp(base + h * 3600, tz).utcoffset().total_seconds())
            for h in range(hours)
        ]
    return out, base


def _offset_at(world: _World, tz: np.ndarray, t: np.ndarray) -> np.ndarray:
    idx = (t - world.offsets_base) // 3600
    idx = np.clip(idx, 0, world.offsets.shape[1] - 1)
    return world.offsets[tz, idx]


def _sample_times(
    rng: np.random.Generator, world: _World, a: np.ndarray, b: np.ndarray, tz: np.ndarray
) -> np.ndarray:
    """Integer UTC seconds in [a, b), denser in local working hours and on weekdays."""
    n = a.size
    t = np.empty(n, dtype=np.int64)
    todo = np.arange(n)
    span = (b - a).astype(np.float64)
    for _ in range(200):
        if todo.size == 0:
            break
        cand = a[todo] + np.floor(rng.random(todo.size) * span[todo]).astype(np.int64)
        local = cand + _offset_at(world, tz[todo], cand)
        hour = (local // 3600) % 24
        weekday = (local // DAY + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        w = HOUR_WEIGHTS[hour] * np.where(weekday >= 5, WEEKEND_FACTOR, 1.0)
        ok = rng.random(todo.size) < w
        t[todo[ok]] = cand[ok]
        todo = todo[~ok]
    if todo.size:
        t[todo] = a[todo]
    return t


def _format_ts(
    world: _World, t: np.ndarray, frac_us: np.ndarray, style: np.ndarray, tz: np.ndarray
) -> tuple[list, list]:
    """(text, JSON token) per timestamp. ``t`` integer UTC seconds, ``frac_us`` microseconds."""
    iso = np.datetime_as_string(t.astype("datetime64[s]"), unit="s").tolist()
    off = _offset_at(world, tz, t)
    local = np.datetime_as_string((t + off).astype("datetime64[s]"), unit="s").tolist()
    suffixes = {int(o): _offset_suffix(int(o)) for o in np.unique(off).tolist()}
    texts: list[str] = []
    toks: list[str] = []
    for ti, fr, st, iso_s, loc_s, o in zip(
        t.tolist(), frac_us.tolist(), style.tolist(), iso, local, off.tolist(), strict=True
    ):
        if st == TS_ISO_Z:
            s = iso_s + "Z"
        elif st == TS_ISO_Z_MS:
            s = f"{iso_s}.{fr // 1000:03d}Z"
        elif st == TS_ISO_LOCAL:
            s = loc_s + suffixes[o]
        elif st == TS_EPOCH_MS:
            s = f"{ti}.{fr // 1000:03d}"
        elif st == TS_EPOCH_US:
            s = f"{ti}.{fr:06d}"
        else:  # TS_EPOCH, TS_EPOCH_STR
            s = str(ti)
        texts.append(s)
        toks.append(s if st in (TS_EPOCH, TS_EPOCH_MS, TS_EPOCH_US) else f'"{s}"')
    return texts, toks


def _draw_ts_style(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    style = rng.choice(len(TS_STYLE_WEIGHTS), size=n, p=TS_STYLE_WEIGHTS).astype(np.int64)
    frac = rng.integers(0, 1_000_000, n)
    frac = np.where(np.isin(style, (TS_ISO_Z_MS, TS_EPOCH_MS)), frac // 1000 * 1000, frac)
    frac = np.where(np.isin(style, (TS_ISO_Z_MS, TS_EPOCH_MS, TS_EPOCH_US)), frac, 0)
    return style, frac


def _gen_props(
    rng: np.random.Generator, world: _World, metric: np.ndarray, cust: np.ndarray
) -> list:
    """Properties JSON text per event (None = no properties key), by metric, in METRIC_CODES order."""
    out = np.empty(metric.size, dtype=object)
    for mi, code in enumerate(METRIC_CODES):
        idx = np.nonzero(metric == mi)[0]
        n = idx.size
        if n == 0:
            continue
        c = cust[idx]
        region = world.cust_region[c].copy()
        other = rng.random(n) < 0.2
        region[other] = rng.integers(0, 3, int(other.sum()))
        if code == "api_calls":
            missing = rng.random(n)
            code_ = np.where(missing < 0.02, 3, np.where(missing < 0.04, 4, region))
            texts = np.array([*(f'{{"region": "{r}"}}' for r in REGIONS), "{}", None], dtype=object)
            out[idx] = texts[code_]
        elif code == "data_processed":
            milli = np.round(np.exp(rng.normal(1.2, 1.3, n)) * 1000)
            coarse = rng.random(n) < 0.5
            milli = np.where(coarse, np.maximum(np.round(milli / 100) * 100, 100), milli)
            milli = np.clip(milli, 1, 5_000_000).astype(np.int64)
            as_str = rng.random(n) < 0.5
            no_region = rng.random(n) < 0.1
            out[idx] = [
                f'{{"gb": "{_fmt_milli(m)}"' + ("}" if nr else f', "region": "{REGIONS[r]}"}}')
                if s
                else f'{{"gb": {_fmt_milli(m)}' + ("}" if nr else f', "region": "{REGIONS[r]}"}}')
                for m, s, nr, r in zip(
                    milli.tolist(),
                    as_str.tolist(),
                    no_region.tolist(),
                    region.tolist(),
                    strict=True,
                )
            ]
        elif code == "peak_connections":
            v = np.clip(np.round(rng.lognormal(3.0, 1.0, n)), 1, 20_000).astype(np.int64)
            out[idx] = [f'{{"connections": {x}}}' for x in v.tolist()]
        elif code == "active_users":
            k = np.floor(rng.random(n) * world.cust_user_pool[c]).astype(np.int64)
            op = rng.random(n)
            ops = np.where(op < 0.65, 0, np.where(op < 0.93, 1, 2)).tolist()
            tails = ("}", ', "operation_type": "add"}', ', "operation_type": "remove"}')
            out[idx] = [
                f'{{"user_id": "usr_{cc + 1:05d}_{kk:04d}"{tails[o]}'
                for cc, kk, o in zip(c.tolist(), k.tolist(), ops, strict=True)
            ]
        elif code == "seats":
            v = np.maximum(world.cust_seats[c] + rng.integers(-3, 4, n), 1)
            as_str = rng.random(n) < 0.4
            out[idx] = [
                f'{{"seats": "{x}"}}' if s else f'{{"seats": {x}}}'
                for x, s in zip(v.tolist(), as_str.tolist(), strict=True)
            ]
        elif code == "storage":
            # GB added: positive deltas only, so the stored level never goes below zero whatever the
            # order events arrive in (a negative level would bill a negative GB-month).
            milli = np.maximum(np.round(rng.lognormal(1.5, 1.0, n) * 1000), 1).astype(np.int64)
            as_str = rng.random(n) < 0.5
            out[idx] = [
                f'{{"gb_delta": "{_fmt_milli(m)}"}}' if s else f'{{"gb_delta": {_fmt_milli(m)}}}'
                for m, s in zip(milli.tolist(), as_str.tolist(), strict=True)
            ]
    return out.tolist()


def _jsonl_line(eid, cust, sub, metric, tok, props, corr_of, corr_type, alias) -> str:
    if alias == ALIAS_LAGO:
        s = f'{{"transaction_id": "{eid}", "external_customer_id": "{cust}"'
        if sub is not None:
            s += f', "external_subscription_id": "{sub}"'
        s += f', "code": "{metric}", "timestamp": {tok}'
        p_key = "properties"
    elif alias == ALIAS_CLOUDEVENTS:
        s = f'{{"id": "{eid}", "subject": "{cust}"'
        if sub is not None:
            s += f', "subscription_id": "{sub}"'
        s += f', "type": "{metric}", "time": {tok}'
        p_key = "data"
    else:
        s = f'{{"event_id": "{eid}", "customer_id": "{cust}"'
        if sub is not None:
            s += f', "subscription_id": "{sub}"'
        s += f', "metric": "{metric}", "timestamp": {tok}'
        p_key = "properties"
    if props is not None:
        s += f', "{p_key}": {props}'
    if corr_of is not None:
        s += f', "correction_of": "{corr_of}"'
    if corr_type is not None:
        s += f', "correction_type": "{corr_type}"'
    return s + "}"


# Malformed rows: (reason, variant name, JSON-only?). One defect each, everything else valid.
MALFORMED_VARIANTS = (
    ("invalid_json", "truncated", True),
    ("invalid_json", "not_json", True),
    ("invalid_json", "trailing_comma", True),
    ("invalid_json", "single_quotes", True),
    ("missing_field", "no_event_id", False),
    ("missing_field", "no_customer_id", False),
    ("missing_field", "no_metric", False),
    ("missing_field", "no_timestamp", False),
    ("invalid_field_type", "event_id_array", True),
    ("invalid_field_type", "customer_id_bool", True),
    ("invalid_field_type", "metric_number", True),
    ("invalid_field_type", "subscription_id_object", True),
    ("invalid_timestamp", "space_no_offset", False),
    ("invalid_timestamp", "iso_no_offset", False),
    ("invalid_timestamp", "words", False),
    ("invalid_timestamp", "impossible_date", False),
    ("invalid_timestamp", "day_first", False),
    ("timestamp_out_of_range", "iso_1999", False),
    ("timestamp_out_of_range", "epoch_1999", False),
    ("timestamp_out_of_range", "epoch_1970", False),
    ("timestamp_out_of_range", "iso_2099", False),
    ("timestamp_out_of_range", "after_clock", False),
    ("invalid_properties", "array", False),
    ("invalid_properties", "string", False),
    ("invalid_properties", "number", False),
    ("invalid_correction", "type_without_of", False),
    ("invalid_correction", "of_without_type", False),
    ("invalid_correction", "unknown_type", False),
    ("invalid_correction", "self_reference", False),
)


def _malformed(variant: str, r: dict, other_eid: str, clock_ts: int) -> tuple[str, dict | None]:
    """(JSON line, CSV/Parquet column values or None if the defect only exists in JSON)."""
    cols = {
        "event_id": r["eid"],
        "customer_id": r["cust"],
        "subscription_id": r["sub"],
        "metric": r["metric"],
        "timestamp": r["ts_text"],
        "properties": r["props"],
        "correction_of": None,
        "correction_type": None,
    }
    toks = {
        "event_id": _q(r["eid"]),
        "customer_id": _q(r["cust"]),
        "subscription_id": None if r["sub"] is None else _q(r["sub"]),
        "metric": _q(r["metric"]),
        "timestamp": r["ts_tok"],
        "properties": r["props"],
        "correction_of": None,
        "correction_type": None,
    }

    def set_(key: str, text: str | None, tok: str | None) -> None:
        cols[key] = text
        toks[key] = tok

    iso = r["ts_text"]
    year = _iso_z(clock_ts)[:4]
    json_only = False
    if variant in ("truncated", "not_json", "trailing_comma", "single_quotes"):
        line = _json_obj([(k, v) for k, v in toks.items() if v is not None])
        if variant == "truncated":
            return line[: max(10, len(line) * 3 // 5)], None
        if variant == "not_json":
            return (
                f"event_id={r['eid']} customer_id={r['cust']} metric={r['metric']} ts={iso}",
                None,
            )
        if variant == "trailing_comma":
            return line[:-1] + ", }", None
        return line.replace('"', "'"), None
    if variant == "no_event_id":
        set_("event_id", None, None)
    elif variant == "no_customer_id":
        set_("customer_id", None, None)
    elif variant == "no_metric":
        set_("metric", None, None)
    elif variant == "no_timestamp":
        set_("timestamp", None, None)
    elif variant == "event_id_array":
        toks["event_id"], json_only = f'["{r["eid"]}"]', True
    elif variant == "customer_id_bool":
        toks["customer_id"], json_only = "true", True
    elif variant == "metric_number":
        toks["metric"], json_only = "42", True
    elif variant == "subscription_id_object":
        toks["subscription_id"], json_only = f'{{"id": "{r["sub"] or "sub_1"}"}}', True
    elif variant in ("space_no_offset", "iso_no_offset", "words", "impossible_date", "day_first"):
        base = _iso_z(r["t"])[:19]
        text = {
            "space_no_offset": base.replace("T", " "),
            "iso_no_offset": base,
            "words": "yesterday at noon",
            "impossible_date": f"{year}-02-30T10:00:00Z",
            "day_first": f"{base[8:10]}/{base[5:7]}/{base[:4]} {base[11:16]}",
        }[variant]
        set_("timestamp", text, _q(text))
    elif variant == "iso_1999":
        set_("timestamp", "1999-12-31T23:59:59Z", '"1999-12-31T23:59:59Z"')
    elif variant == "epoch_1999":
        set_("timestamp", "946684799", "946684799")
    elif variant == "epoch_1970":
        set_("timestamp", "86400", "86400")
    elif variant == "iso_2099":
        set_("timestamp", "2099-01-01T00:00:00Z", '"2099-01-01T00:00:00Z"')
    elif variant == "after_clock":
        text = datetime.fromtimestamp(clock_ts + 30 * DAY, ZoneInfo("Europe/Paris")).isoformat()
        set_("timestamp", text, _q(text))
    elif variant == "array":
        set_("properties", "[1, 2]", "[1, 2]")
    elif variant == "string":
        set_("properties", '"gb=12"', '"gb=12"')
    elif variant == "number":
        set_("properties", "42", "42")
    elif variant == "type_without_of":
        set_("correction_type", "void", '"void"')
    elif variant == "of_without_type":
        set_("correction_of", other_eid, _q(other_eid))
    elif variant == "unknown_type":
        set_("correction_of", other_eid, _q(other_eid))
        set_("correction_type", "undo", '"undo"')
    elif variant == "self_reference":
        set_("correction_of", r["eid"], _q(r["eid"]))
        set_("correction_type", "replace", '"replace"')
    else:  # pragma: no cover
        raise ValueError(variant)
    line = _json_obj([(k, v) for k, v in toks.items() if v is not None])
    return line, None if json_only else cols


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


def _write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _csv_bytes(header: list[str], rows: list) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


_GENERATED_EVENT_FILE = re.compile(
    r"(events-\d{4}-\d{2}\.(jsonl\.gz|jsonl|csv|parquet)|(late|corrections)-\d{4}-\d{2}-\d{2}\.jsonl)(\.tmp)?"
)


def _clean_events_dir(events_dir: Path) -> None:
    for p in sorted(events_dir.iterdir()):
        if p.is_file() and _GENERATED_EVENT_FILE.fullmatch(p.name):
            p.unlink()


# --------------------------------------------------------------------------------------------------
# Price versions, deals and prepaid credits
# --------------------------------------------------------------------------------------------------

# The pricing files draw from their own stream of the seed, after everything else is decided, so every
# other file is byte-identical to what the same arguments wrote before these files existed.
PRICING_STREAM = 0x70726963  # "pric"
MINOR_DIGITS = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0}
MONTHLY_FAMILIES = tuple(f for f in FAMILIES if FAMILY_INTERVAL[f] == "monthly")
# A version's new base fee, a version's new API calls price (x the catalog's)
VERSION_BASE_FEE_FACTORS = (Decimal("1.05"), Decimal("1.08"), Decimal("1.10"), Decimal("1.15"))
VERSION_USAGE_FACTORS = (Decimal("1.10"), Decimal("1.15"), Decimal("1.20"), Decimal("1.25"))
# Deals: base fee and unit price as a fraction of the plan's
DEAL_BASE_FEE_FACTORS = (Decimal("0.80"), Decimal("0.85"), Decimal("0.90"))
DEAL_UNIT_PRICE_FACTORS = (Decimal("0.70"), Decimal("0.75"), Decimal("0.80"))
# Grants, in USD (converted with FX_FROM_USD, exact in the currency's minor unit)
PAID_GRANTS_USD = (500, 1_000, 2_500, 5_000)
PROMO_GRANTS_USD = (50, 100, 200, 250, 500)
# A commitment per term month, x the base fee of the customer's plan
COMMITMENT_FACTORS = (Decimal("1.5"), Decimal(2), Decimal(3))
ROLLOVER_PERCENTS = ("25", "50", "100")


def _plan_code(family: str, ccy: str) -> str:
    return f"{family}_{ccy.lower()}"


def _major(amount: Decimal, ccy: str) -> str:
    """An exact amount in ``ccy``'s major unit, as text with the currency's decimals ("197.50", "37500")."""
    q = Decimal(1).scaleb(-MINOR_DIGITS[ccy])
    out = amount.quantize(q)
    assert out == amount, f"{amount} is not a whole number of {ccy} minor units"
    return f"{out:f}"


def _whole_major(amount: Decimal) -> Decimal:
    """Rounded half up to a whole major unit (a price list's round figure)."""
    return amount.quantize(Decimal(1), rounding="ROUND_HALF_UP")


def _cents(major: Decimal, ccy: str) -> int:
    return int(major.scaleb(MINOR_DIGITS[ccy]))


def _base_fee(family: str, ccy: str) -> Decimal:
    return Decimal(BASE_FEES[family][ccy])


def build_pricing(
    rng: np.random.Generator,
    catalog: dict,
    cust: dict,
    subs: list[_Sub],
    month_dates: list[date],
) -> tuple[dict, dict, dict]:
    """(plan_versions.yml, overrides.yml, credits.yml) as plain dicts, for the generated customers,
    subscriptions and window (``month_dates``: the first day of each month of the window, then its end).

    - price versions: the monthly plan held by the most subscriptions in the window's last month gets a
      base fee 5 to 15% higher from the first day of that month; the next one (if any holds a
      subscription) a 10 to 25% higher price for API calls from the first day of the window's middle
      month;
    - deals: about 1.5% of the subscriptions (at least one) on a monthly plan in the last month: a lower
      base fee, a lower unit price on one charge, or both, on the plan they start on;
    - prepaid credits: about 5% of the customers (at least one) get one or two grants (paid and/or
      promotional; the promotions expire; the first of them gets both), and one commitment (two from 100
      customers) of monthly or quarterly terms over a year from the window's start, for customers with an
      open monthly subscription since before the window.
    """
    import copy

    w0, w1 = month_dates[0], month_dates[-1]
    w0_ts, w1_ts = _epoch(w0), _epoch(w1)
    last_month = month_dates[-2]
    last_ts = _epoch(last_month)
    ccy_of = [CURRENCIES[c] for c in cust["ccy"].tolist()]
    plans = {p["code"]: p for p in catalog["plans"]}

    def in_last_month(s: _Sub) -> bool:
        return s.start < w1_ts and (s.end is None or s.end > last_ts)

    def family_at_end(s: _Sub) -> str:
        return s.change_family or s.family

    # ---- price versions -------------------------------------------------------------------------
    # monthly plan -> subscriptions on it in the last month
    held = {(fam, ccy): 0 for fam in MONTHLY_FAMILIES for ccy in CURRENCIES}
    for s in subs:
        fam = family_at_end(s)
        if fam in MONTHLY_FAMILIES and in_last_month(s):
            held[fam, ccy_of[s.cust]] += 1
    ranked = sorted((k for k, n in held.items() if n), key=lambda k: (-held[k], k))
    if not ranked:  # nothing on a monthly plan: still one version, of the first monthly plan
        ranked = [(MONTHLY_FAMILIES[0], CURRENCIES[0])]
    versions = []
    fee_up, usage_up = rng.integers(0, 4, 2)
    fam, ccy = ranked[0]
    new_fee = _whole_major(_base_fee(fam, ccy) * VERSION_BASE_FEE_FACTORS[fee_up])
    versions.append(
        {
            "plan_code": _plan_code(fam, ccy),
            "version": f"{last_month:%Y-%m}",
            "effective_from": last_month,
            "amount_cents": _cents(new_fee, ccy),
        }
    )
    if len(ranked) > 1:
        fam, ccy = ranked[1]
        middle = month_dates[(len(month_dates) - 1) // 2]
        charges = copy.deepcopy(plans[_plan_code(fam, ccy)]["charges"])
        for charge in charges:
            if charge["billable_metric_code"] != "api_calls":
                continue
            for props in [charge["properties"]] + [
                f["properties"] for f in charge.get("filters", [])
            ]:
                props["amount"] = _dec(Decimal(props["amount"]) * VERSION_USAGE_FACTORS[usage_up])
        versions.append(
            {
                "plan_code": _plan_code(fam, ccy),
                "version": f"{middle:%Y-%m}",
                "effective_from": middle,
                "charges": charges,
            }
        )

    # ---- deals ----------------------------------------------------------------------------------
    eligible = [i for i, s in enumerate(subs) if s.family in MONTHLY_FAMILIES and in_last_month(s)]
    n_deals = min(len(eligible), max(1, round(0.015 * len(subs))))
    chosen = (
        sorted(rng.choice(len(eligible), size=n_deals, replace=False).tolist()) if n_deals else []
    )
    kind = rng.integers(0, 3, max(1, n_deals))  # 0 base fee, 1 unit price, 2 both
    fee_factor = rng.integers(0, len(DEAL_BASE_FEE_FACTORS), max(1, n_deals))
    price_factor = rng.integers(0, len(DEAL_UNIT_PRICE_FACTORS), max(1, n_deals))
    charge_pick = rng.random(max(1, n_deals))
    dated = rng.random(max(1, n_deals)) < 0.5
    from_month = rng.integers(0, len(month_dates) - 1, max(1, n_deals))
    overrides = []
    for k, j in enumerate(chosen):
        s = subs[eligible[j]]
        ccy = ccy_of[s.cust]
        code = _plan_code(s.family, ccy)
        deal: dict = {"subscription_id": s.sub_id, "plan_code": code}
        if dated[k] and not s.change_family:
            deal["effective_from"] = month_dates[int(from_month[k])]
        if kind[k] in (0, 2):
            fee = _whole_major(_base_fee(s.family, ccy) * DEAL_BASE_FEE_FACTORS[fee_factor[k]])
            deal["amount_cents"] = _cents(fee, ccy)
        if kind[k] in (1, 2):
            # a charge on a metric the subscription is billed for on both its plans (its events')
            metrics = set(UNIT_PRICES_USD[s.family])
            if s.change_family:
                metrics &= set(UNIT_PRICES_USD[s.change_family])
            charges = [c for c in plans[code]["charges"] if c["billable_metric_code"] in metrics]
            charge = charges[int(charge_pick[k] * len(charges))]
            props = dict(charge["properties"])
            props["amount"] = _dec(
                Decimal(props["amount"]) * DEAL_UNIT_PRICE_FACTORS[price_factor[k]]
            )
            deal["charges"] = [
                {"billable_metric_code": charge["billable_metric_code"], "properties": props}
            ]
        overrides.append(deal)

    # ---- prepaid credits ------------------------------------------------------------------------
    n = len(cust["ids"])
    in_window = sorted(
        {s.cust for s in subs if s.start < w1_ts and (s.end is None or s.end > w0_ts)}
    )
    n_grantees = min(len(in_window), max(1, round(0.05 * n)))
    grantees = sorted(rng.choice(in_window, size=n_grantees, replace=False).tolist())
    two = rng.random(n_grantees) < 0.4
    two[0] = True  # so that every data set has both kinds, two priorities and an expiry
    first_paid = rng.random(n_grantees) < 0.5
    paid_usd = rng.integers(0, len(PAID_GRANTS_USD), n_grantees)
    promo_usd = rng.integers(0, len(PROMO_GRANTS_USD), n_grantees)
    paid_from = rng.integers(0, len(month_dates) - 1, n_grantees)
    promo_from = rng.integers(0, len(month_dates) - 1, n_grantees)
    promo_months = rng.integers(1, 4, n_grantees)
    paid_expires = rng.random(n_grantees) < 0.5
    paid_priority = rng.integers(2, 4, n_grantees)
    grants = []
    for k, c in enumerate(grantees):
        ccy, cid = ccy_of[c], cust["ids"][c]
        kinds = ["paid", "promotional"] if first_paid[k] else ["promotional", "paid"]
        for kind_ in kinds[: 2 if two[k] else 1]:
            if kind_ == "paid":
                start = month_dates[int(paid_from[k])]
                grants.append(
                    {
                        "id": f"{cid}_prepaid",
                        "external_customer_id": cid,
                        "name": "Prepaid balance",
                        "type": "paid",
                        "amount": _major(PAID_GRANTS_USD[paid_usd[k]] * FX_FROM_USD[ccy], ccy),
                        "currency": ccy,
                        "priority": int(paid_priority[k]),
                        "effective_date": start,
                        **({"expiry_date": _add_months(start, 12)} if paid_expires[k] else {}),
                    }
                )
            else:
                start = month_dates[int(promo_from[k])]
                grants.append(
                    {
                        "id": f"{cid}_promo",
                        "external_customer_id": cid,
                        "name": "Promotional credit",
                        "type": "promotional",
                        "amount": _major(PROMO_GRANTS_USD[promo_usd[k]] * FX_FROM_USD[ccy], ccy),
                        "currency": ccy,
                        "priority": 1,
                        "effective_date": start,
                        "expiry_date": _add_months(start, int(promo_months[k])),
                    }
                )
    # commitments: customers on a monthly plan open through the window (not the grantees)
    committed_pool = sorted(
        {
            s.cust
            for s in subs
            if s.end is None and s.start < w0_ts and family_at_end(s) in MONTHLY_FAMILIES
        }
        - set(grantees)
    )
    n_commit = min(len(committed_pool), 1 if n < 100 else 2)
    committed = (
        sorted(rng.choice(committed_pool, size=n_commit, replace=False).tolist())
        if n_commit
        else []
    )
    factor = rng.integers(0, len(COMMITMENT_FACTORS), max(1, n_commit))
    rollover = rng.integers(0, len(ROLLOVER_PERCENTS), max(1, n_commit))
    family_of = {  # the customer's open monthly plan (a concurrent one is yearly)
        s.cust: family_at_end(s)
        for s in subs
        if s.end is None and family_at_end(s) in MONTHLY_FAMILIES
    }
    commitments = []
    for k, c in enumerate(committed):
        ccy, cid = ccy_of[c], cust["ids"][c]
        term = ("monthly", "quarterly")[k % 2]
        term_months = 1 if term == "monthly" else 3
        amount = _whole_major(
            _base_fee(family_of[c], ccy) * COMMITMENT_FACTORS[factor[k]] * term_months
        )
        commitments.append(
            {
                "id": f"{cid}_commit",
                "external_customer_id": cid,
                "name": f"Annual commitment, {term} terms",
                "amount": _major(amount, ccy),
                "currency": ccy,
                "priority": 1,
                "term": term,
                "start_date": w0,
                "end_date": _add_months(w0, 12),
                "rollover_percent": ROLLOVER_PERCENTS[rollover[k]],
            }
        )
    return (
        {"plan_versions": versions},
        {"overrides": overrides},
        {"grants": grants, "commitments": commitments},
    )


class _PlainDumper(yaml.SafeDumper):
    """Safe YAML without anchors: a date shared by two entries is written out twice."""

    def ignore_aliases(self, data) -> bool:
        return True


def _pricing_yaml(header: str, data: dict) -> str:
    return header + yaml.dump(
        data, Dumper=_PlainDumper, sort_keys=False, default_flow_style=False, width=100
    )


# --------------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------------


def generate(
    data_dir: Path,
    *,
    customers: int = 1000,
    months: int = 3,
    events: int = 1_000_000,
    seed: int = 42,
    end_date: date = date(2026, 11, 1),
) -> dict:
    """Write a deterministic sample data set under ``data_dir``; return the manifest dict.

    Writes ``meterhouse.yml``, ``catalog.yml``, ``landing/customers.csv``,
    ``landing/subscriptions.csv``, ``landing/subscription_changes.csv``, ``landing/events/*``,
    ``plan_versions.yml``, ``overrides.yml``, ``credits.yml`` (see ``build_pricing``) and
    ``generator_manifest.json``. The event files hold exactly ``events`` rows in total (valid events
    plus the planted retries, conflicts, corrections and malformed rows).
    """
    if isinstance(end_date, datetime):
        end_date = end_date.date()
    if customers < 1:
        raise ValueError("customers must be >= 1")
    if months < 1:
        raise ValueError("months must be >= 1")
    if events < 500:
        raise ValueError("events must be >= 500 (room for the planted rows)")
    data_dir = Path(data_dir)
    rng = np.random.default_rng(seed)

    w0, w1 = _add_months(end_date, -months), end_date
    month_dates = [_add_months(w0, k) for k in range(months)] + [w1]
    month_starts = [_epoch(d) for d in month_dates]
    w0_ts, w1_ts = month_starts[0], month_starts[-1]
    clock_ts = w1_ts + CLOCK_DAYS_AFTER_END * DAY
    clock = _iso_z(clock_ts)

    # ---- customers, subscriptions -------------------------------------------------------------
    cust = _make_customers(rng, customers)
    subs, sub_stats = _make_subscriptions(rng, cust, w0, w1)
    offsets, offsets_base = _tz_offsets(w0_ts, w1_ts)
    world = _World(
        window_start=w0_ts,
        window_end=w1_ts,
        month_starts=month_starts,
        cust_ids=cust["ids"],
        cust_ccy=cust["ccy"],
        cust_tz=cust["tz"],
        cust_weight=cust["weight"],
        cust_region=cust["region"],
        cust_user_pool=cust["user_pool"],
        cust_seats=cust["seats"],
        subs=subs,
        offsets=offsets,
        offsets_base=offsets_base,
    )

    # ---- planned counts (the event files hold exactly `events` rows) --------------------------
    k_var = 1 + events // 250_000
    n_malformed = len(MALFORMED_VARIANTS) * k_var
    n_retry = round(events * 0.01)
    n_conflict = max(3, events // 10_000)
    n_void = max(3, events // 2_000)
    n_replace = max(3, events // 2_000)
    n_orphan = max(1, events // 500_000)
    n_unknown_metric = max(3, events // 20_000)
    n_unknown_customer = max(3, events // 20_000)
    n_invalid_value = max(2, events // 100_000)
    n_late = max(5, events // 200)
    n_extra = (
        n_malformed + n_retry + n_conflict + n_void + n_replace + n_orphan
        + n_unknown_metric + n_unknown_customer + n_invalid_value
    )  # fmt: skip
    n_base = events - n_extra
    if n_base < 2 * (n_retry + n_conflict + n_void + n_replace + n_late):
        raise ValueError("events too small for the planted rows")

    # ---- segments: (subscription, plan metrics, active range inside the window) ---------------
    seg_sub, seg_cust, seg_a, seg_b, seg_metrics = [], [], [], [], []
    for si, s in enumerate(subs):
        a = max(s.start, w0_ts)
        b = min(s.end if s.end is not None else w1_ts, w1_ts)
        if b - a < 3600:
            continue
        allowed = set(UNIT_PRICES_USD[s.family])
        if s.change_family:
            allowed &= set(UNIT_PRICES_USD[s.change_family])
        mask = np.array([m in allowed for m in METRIC_CODES])
        seg_sub.append(si)
        seg_cust.append(s.cust)
        seg_a.append(a)
        seg_b.append(b)
        seg_metrics.append(mask)
    if not seg_sub:
        raise ValueError("no subscription is active inside the window")
    seg_sub_a = np.array(seg_sub, dtype=np.int64)
    seg_cust_a = np.array(seg_cust, dtype=np.int64)
    seg_a_a = np.array(seg_a, dtype=np.int64)
    seg_b_a = np.array(seg_b, dtype=np.int64)
    seg_w = world.cust_weight[seg_cust_a] * (seg_b_a - seg_a_a)
    counts = rng.multinomial(n_base, seg_w / seg_w.sum())
    ev_seg = np.repeat(np.arange(len(seg_sub)), counts)
    ev_cust = seg_cust_a[ev_seg]
    ev_tz = world.cust_tz[ev_cust]

    # metric: per segment's allowed set, weighted
    ev_metric = np.empty(n_base, dtype=np.int64)
    mask_keys = [tuple(m.tolist()) for m in seg_metrics]
    distinct_masks = list(dict.fromkeys(mask_keys))
    seg_mask_id = np.array([distinct_masks.index(k) for k in mask_keys], dtype=np.int64)
    ev_mask_id = seg_mask_id[ev_seg]
    for mid, mask in enumerate(distinct_masks):
        idx = np.nonzero(ev_mask_id == mid)[0]
        if idx.size == 0:
            continue
        p = METRIC_WEIGHTS * np.array(mask, dtype=np.float64)
        ev_metric[idx] = rng.choice(len(METRIC_CODES), size=idx.size, p=p / p.sum())

    ev_t = _sample_times(rng, world, seg_a_a[ev_seg], seg_b_a[ev_seg], ev_tz)
    style, frac = _draw_ts_style(rng, n_base)
    ts_text, ts_tok = _format_ts(world, ev_t, frac, style, ev_tz)
    props = _gen_props(rng, world, ev_metric, ev_cust)
    has_sub = rng.random(n_base) < 0.6
    alias_u = rng.random(n_base)
    iso_style = np.isin(style, (TS_ISO_Z, TS_ISO_Z_MS, TS_ISO_LOCAL))
    alias = np.where(
        alias_u < 0.02, ALIAS_LAGO, np.where((alias_u < 0.04) & iso_style, ALIAS_CLOUDEVENTS, 0)
    )
    taken: set[str] = set()
    eids = _hex_ids(rng, n_base, "evt_", taken)

    sub_ids = [s.sub_id for s in subs]
    ev_sub_id = seg_sub_a[ev_seg]
    month_of = np.searchsorted(np.array(month_starts), ev_t, side="right") - 1

    # files: months, then corrections, then late
    fmt_of_month = [FORMATS[k % len(FORMATS)] for k in range(months)]
    files = [f"events-{month_dates[k]:%Y-%m}.{fmt_of_month[k]}" for k in range(months)]
    f_corr = len(files)
    files.append(f"corrections-{w1 + timedelta(days=1):%Y-%m-%d}.jsonl")
    f_late = len(files)
    files.append(f"late-{w1 + timedelta(days=2):%Y-%m-%d}.jsonl")
    file_format = [
        ("parquet" if f.endswith(".parquet") else "csv" if f.endswith(".csv") else "jsonl")
        for f in files
    ]
    jsonl_files = [i for i, f in enumerate(file_format) if f == "jsonl"]
    file_range = [(month_starts[k], month_starts[k + 1]) for k in range(months)] + [
        (w0_ts, w1_ts)
    ] * 2

    ev_file = month_of.copy()
    # late arrivals: moved from months whose invoices are issued before the late file arrives
    late_pool = np.nonzero(month_of < max(1, months - 1))[0]
    late_idx = np.sort(rng.choice(late_pool, size=min(n_late, late_pool.size), replace=False))
    ev_file[late_idx] = f_late
    # originals of retries, conflicts, voids and replaces: disjoint, from the monthly files
    rest = np.setdiff1d(np.arange(n_base), late_idx)
    need = n_retry + n_conflict + n_void + n_replace
    picked = rng.choice(rest, size=need, replace=False)
    retry_src = np.sort(picked[:n_retry])
    conflict_src = np.sort(picked[n_retry : n_retry + n_conflict])
    void_src = np.sort(picked[n_retry + n_conflict : n_retry + n_conflict + n_void])
    replace_src = np.sort(picked[n_retry + n_conflict + n_void :])

    ev = _Events(
        eid=eids,
        cust=[world.cust_ids[c] for c in ev_cust.tolist()],
        sub=[
            sub_ids[s] if h else None
            for s, h in zip(ev_sub_id.tolist(), has_sub.tolist(), strict=True)
        ],
        metric=[METRIC_CODES[m] for m in ev_metric.tolist()],
        ts_text=ts_text,
        ts_tok=ts_tok,
        props=props,
        corr_of=[None] * n_base,
        corr_type=[None] * n_base,
        alias=alias.tolist(),
        raw_json=[None] * n_base,
        file=ev_file.tolist(),
        pos=(ev_t + frac / 1e6).tolist(),
    )
    extra = _Events.empty()

    def clone(i: int, **changes) -> None:
        row = ev.row(int(i))
        row.update(changes)
        extra.append(**row)

    def random_pos(f: int, u: float) -> float:
        lo, hi = file_range[f]
        return lo + u * (hi - lo)

    def next_file(f: int) -> int:
        return f + 1 if f + 1 < months else f_late

    # exact retries: 75% later in the same file, 25% in the next file
    u = rng.random((n_retry, 3))
    cross_file = 0
    for j, i in enumerate(retry_src.tolist()):
        f = ev.file[i]
        if u[j, 0] < 0.25:
            cross_file += 1
            clone(i, file=next_file(f), pos=random_pos(next_file(f), u[j, 1]))
        else:
            clone(i, pos=ev.pos[i] + 1 + u[j, 2] * 7200)

    # conflicts: same key, different properties; later in the same file or in the next file
    new_props = _gen_props(rng, world, ev_metric[conflict_src], ev_cust[conflict_src])
    u = rng.random((n_conflict, 3))
    for j, i in enumerate(conflict_src.tolist()):
        p = new_props[j]
        old = ev.props[i]
        if p == old or p is None or p == "{}":
            base = old if old not in (None, "{}") else None
            p = (base[:-1] + ', "attempt": 2}') if base else '{"attempt": 2}'
        f = ev.file[i]
        if u[j, 0] < 0.5:
            clone(i, props=p, file=next_file(f), pos=random_pos(next_file(f), u[j, 1]))
        else:
            clone(i, props=p, pos=ev.pos[i] + 1 + u[j, 2] * 7200)

    # corrections: voids keep the original's time and properties; replaces get new ones
    corr_ids = _hex_ids(rng, n_void + n_replace + n_orphan, "evt_", taken)
    for j, i in enumerate(void_src.tolist()):
        clone(
            i,
            eid=corr_ids[j],
            corr_of=ev.eid[i],
            corr_type="void",
            alias=0,
            file=f_corr,
            pos=ev.pos[i],
        )
    rep_props = _gen_props(rng, world, ev_metric[replace_src], ev_cust[replace_src])
    u = rng.random((n_replace, 3))
    rep_t = np.empty(n_replace, dtype=np.int64)
    moved = 0
    for j, i in enumerate(replace_src.tolist()):
        sg = ev_seg[i]
        a, b = int(seg_a_a[sg]), int(seg_b_a[sg])
        k = int(month_of[i])
        t = int(ev_t[i])
        if u[j, 0] < 0.35:  # move to another month of the same subscription (away from edges)
            options = []
            for kk in range(months):
                if kk == k:
                    continue
                lo = max(a, month_starts[kk] + 2 * DAY)
                hi = min(b, month_starts[kk + 1] - 2 * DAY)
                if hi > lo:
                    options.append((lo, hi))
            if options:
                lo, hi = options[int(u[j, 1] * len(options))]
                t = lo + int(u[j, 2] * (hi - lo))
        if t == int(ev_t[i]):  # same month: shift by up to +-3 hours, inside month and subscription
            lo = max(a, month_starts[k])
            hi = min(b, month_starts[k + 1]) - 1
            t = min(max(t + int((u[j, 2] - 0.5) * 6 * 3600), lo), hi)
        rep_t[j] = t
    rep_style, rep_frac = _draw_ts_style(rng, n_replace)
    rep_style = np.where(rep_style == TS_EPOCH_STR, TS_EPOCH, rep_style)
    rep_text, rep_tok = _format_ts(world, rep_t, rep_frac, rep_style, ev_tz[replace_src])
    rep_month = np.searchsorted(np.array(month_starts), rep_t, side="right") - 1
    moved = int((rep_month != month_of[replace_src]).sum())
    for j, i in enumerate(replace_src.tolist()):
        clone(
            i,
            eid=corr_ids[n_void + j],
            ts_text=rep_text[j],
            ts_tok=rep_tok[j],
            props=rep_props[j],
            corr_of=ev.eid[i],
            corr_type="replace",
            alias=0,
            file=f_corr,
            pos=ev.pos[i],
        )
    orphan_of = _hex_ids(rng, n_orphan, "evt_", taken)
    tmpl = rng.choice(rest, size=n_orphan + n_unknown_metric + n_unknown_customer + n_malformed)
    for j in range(n_orphan):
        i = int(tmpl[j])
        clone(
            i,
            eid=corr_ids[n_void + n_replace + j],
            corr_of=orphan_of[j],
            corr_type="void",
            alias=0,
            file=f_corr,
            pos=ev.pos[i],
        )
    tmpl = tmpl[n_orphan:]

    # unknown metric / unknown customer / invalid value: valid rows that cannot be billed
    n_ids = n_unknown_metric + n_unknown_customer + n_invalid_value + n_malformed * 2
    misc_ids = _hex_ids(rng, n_ids, "evt_", taken)
    id_iter = iter(misc_ids)
    u = rng.random(n_unknown_metric)
    for j in range(n_unknown_metric):
        i = int(tmpl[j])
        clone(
            i,
            eid=next(id_iter),
            metric=UNKNOWN_METRICS[int(u[j] * len(UNKNOWN_METRICS))],
            pos=ev.pos[i] + 0.5,
        )
    for j in range(n_unknown_customer):
        i = int(tmpl[n_unknown_metric + j])
        clone(i, eid=next(id_iter), cust=f"cus_unknown_{j + 1:04d}", sub=None, pos=ev.pos[i] + 0.5)
    tmpl = tmpl[n_unknown_metric + n_unknown_customer :]
    field_metrics = [METRIC_INDEX[c] for c in ("data_processed", "peak_connections", "seats")]
    iv_pool = np.nonzero(np.isin(ev_metric, field_metrics))[0]
    iv_pool = np.setdiff1d(iv_pool, late_idx)
    invalid_value = 0
    if iv_pool.size:
        iv_src = rng.choice(iv_pool, size=n_invalid_value)
        for j, i in enumerate(iv_src.tolist()):
            fld = {"data_processed": "gb", "peak_connections": "connections", "seats": "seats"}[
                ev.metric[i]
            ]
            p = f'{{"{fld}": "n/a"}}' if j % 2 == 0 else '{"note": "value missing"}'
            clone(i, eid=next(id_iter), props=p, pos=ev.pos[i] + 0.5)
            invalid_value += 1

    # malformed rows, one defect each; JSON-only defects go to JSONL files
    u = rng.random((n_malformed, 2))
    malformed_counts = dict.fromkeys(QUARANTINE_REASONS, 0)
    for j in range(n_malformed):
        reason, variant, json_only = MALFORMED_VARIANTS[j % len(MALFORMED_VARIANTS)]
        i = int(tmpl[j])
        r = ev.row(i)
        r["eid"] = next(id_iter)
        r["t"] = int(ev_t[i])
        other = next(id_iter)
        line, cols = _malformed(variant, r, other, clock_ts)
        candidates = jsonl_files if (json_only or cols is None) else list(range(len(files)))
        f = candidates[int(u[j, 0] * len(candidates))]
        if file_format[f] == "jsonl":
            extra.append(raw_json=line, file=f, pos=random_pos(f, u[j, 1]))
        else:
            extra.append(
                eid=cols["event_id"],
                cust=cols["customer_id"],
                sub=cols["subscription_id"],
                metric=cols["metric"],
                ts_text=cols["timestamp"],
                ts_tok=None,
                props=cols["properties"],
                corr_of=cols["correction_of"],
                corr_type=cols["correction_type"],
                alias=0,
                raw_json=None,
                file=f,
                pos=random_pos(f, u[j, 1]),
            )
        malformed_counts[reason] += 1

    ev.extend(extra)
    total = len(ev.eid)
    assert (
        total
        == n_base
        + n_retry
        + n_conflict
        + n_void
        + n_replace
        + n_orphan
        + n_unknown_metric
        + n_unknown_customer
        + invalid_value
        + n_malformed
    )

    # ---- write ---------------------------------------------------------------------------------
    landing = data_dir / "landing"
    events_dir = landing / "events"
    events_dir.mkdir(parents=True, exist_ok=True)
    _clean_events_dir(events_dir)

    _write_bytes(data_dir / "meterhouse.yml", _settings_yaml(clock).encode())
    catalog = build_catalog()
    _write_bytes(data_dir / "catalog.yml", _catalog_yaml(catalog).encode("utf-8"))
    (data_dir / "scenarios").mkdir(exist_ok=True)
    for name, scenario in build_scenarios(catalog).items():
        text = yaml.safe_dump(scenario, sort_keys=False, default_flow_style=False, width=100)
        _write_bytes(
            data_dir / "scenarios" / f"{name}.yml",
            f"# Sample pricing scenario (ingestion/generate.py): {scenario['description']}\n{text}".encode(),
        )
    tz_names = TIMEZONES
    _write_bytes(
        landing / "customers.csv",
        _csv_bytes(
            ["external_customer_id", "name", "currency", "timezone", "billing_time"],
            [
                (cid, cust["names"][i], CURRENCIES[cust["ccy"][i]], tz_names[cust["tz"][i]],
                 "anniversary" if cust["anniversary"][i] else "calendar")
                for i, cid in enumerate(cust["ids"])
            ],
        ),
    )  # fmt: skip
    _write_bytes(
        landing / "subscriptions.csv",
        _csv_bytes(
            [
                "external_subscription_id",
                "external_customer_id",
                "plan_code",
                "started_at",
                "ending_at",
            ],
            [
                (
                    s.sub_id,
                    cust["ids"][s.cust],
                    f"{s.family}_{CURRENCIES[cust['ccy'][s.cust]].lower()}",
                    s.start_str,
                    s.end_str,
                )
                for s in subs
            ],
        ),
    )
    _write_bytes(
        landing / "subscription_changes.csv",
        _csv_bytes(
            ["external_subscription_id", "plan_code", "changed_at"],
            [
                (
                    s.sub_id,
                    f"{s.change_family}_{CURRENCIES[cust['ccy'][s.cust]].lower()}",
                    s.change_str,
                )
                for s in subs
                if s.change_family
            ],
        ),
    )

    versions, deals, credits = build_pricing(
        np.random.default_rng([seed, PRICING_STREAM]), catalog, cust, subs, month_dates
    )
    for name, data, what in (
        ("plan_versions.yml", versions, "price changes of catalog plans"),
        ("overrides.yml", deals, "per-subscription deals"),
        ("credits.yml", credits, "prepaid credit grants and commitments"),
    ):
        header = f"# Sample {what} (written by ingestion/generate.py); amounts exact, quoted.\n"
        _write_bytes(data_dir / name, _pricing_yaml(header, data).encode("utf-8"))

    file_arr = np.array(ev.file, dtype=np.int64)
    pos_arr = np.array(ev.pos, dtype=np.float64)
    file_info: dict[str, dict] = {}
    for f, name in enumerate(files):
        idx = np.nonzero(file_arr == f)[0]
        idx = idx[np.argsort(pos_arr[idx], kind="stable")].tolist()
        fmt = file_format[f]
        if fmt == "jsonl":
            lines = [
                ev.raw_json[i]
                if ev.raw_json[i] is not None
                else _jsonl_line(ev.eid[i], ev.cust[i], ev.sub[i], ev.metric[i], ev.ts_tok[i], ev.props[i],
                                 ev.corr_of[i], ev.corr_type[i], ev.alias[i])
                for i in idx
            ]  # fmt: skip
            data = ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
            del lines
            if name.endswith(".gz"):
                data = gzip.compress(data, compresslevel=6, mtime=0)
        else:
            cols = {
                "event_id": [ev.eid[i] for i in idx],
                "customer_id": [ev.cust[i] for i in idx],
                "subscription_id": [ev.sub[i] for i in idx],
                "metric": [ev.metric[i] for i in idx],
                "timestamp": [ev.ts_text[i] for i in idx],
                "properties": [ev.props[i] for i in idx],
                "correction_of": [ev.corr_of[i] for i in idx],
                "correction_type": [ev.corr_type[i] for i in idx],
            }
            if fmt == "csv":
                data = _csv_bytes(list(EVENT_COLUMNS), zip(*cols.values(), strict=True))
            else:
                table = pa.table({k: pa.array(v, type=pa.string()) for k, v in cols.items()})
                sink = pa.BufferOutputStream()
                pq.write_table(table, sink, compression="zstd", row_group_size=256 * 1024)
                data = sink.getvalue().to_pybytes()
            del cols
        _write_bytes(events_dir / name, data)
        file_info[f"landing/events/{name}"] = {
            "format": fmt,
            "rows": len(idx),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        del data

    jsonl_alias = [
        a_ for f_, a_ in zip(ev.file, ev.alias, strict=True) if file_format[f_] == "jsonl"
    ]
    manifest = {
        "generator": "ingestion.generate",
        "seed": seed,
        "customers": customers,
        "months": months,
        "events_requested": events,
        "end_date": end_date.isoformat(),
        "window_start": _iso_z(w0_ts),
        "window_end": _iso_z(w1_ts),
        "clock": clock,
        "subscriptions": len(subs),
        **sub_stats,
        "files": file_info,
        "total_rows": total,
        "valid_rows": total - n_malformed,
        "late_events": int(late_idx.size),
        "exact_retries": n_retry,
        "exact_retries_cross_file": cross_file,
        "conflicts": n_conflict,
        "corrections": {
            "void": n_void,
            "replace": n_replace,
            "replace_moved_month": moved,
            "orphan": n_orphan,
        },
        "malformed": malformed_counts,
        "malformed_total": n_malformed,
        "unknown_metric_events": n_unknown_metric,
        "unknown_customer_events": n_unknown_customer,
        "invalid_value_events": invalid_value,
        "plan_versions": len(versions["plan_versions"]),
        "overrides": len(deals["overrides"]),
        "credit_grants": len(credits["grants"]),
        "credit_commitments": len(credits["commitments"]),
        "alias_rows": {
            "lago": sum(1 for a_ in jsonl_alias if a_ == ALIAS_LAGO),
            "cloudevents": sum(1 for a_ in jsonl_alias if a_ == ALIAS_CLOUDEVENTS),
        },
    }
    _write_bytes(
        data_dir / "generator_manifest.json",
        (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode(),
    )
    return manifest
