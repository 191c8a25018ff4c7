"""Tests of the sample data generator (ingestion/generate.py).

The files are read back here with an independent, minimal reader of docs/contracts.md (aliases,
timestamps, quarantine reasons in their order), so the manifest is checked against the files rather
than against the generator's own bookkeeping.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from ingestion.generate import EVENT_COLUMNS, QUARANTINE_REASONS, generate

SMALL = {"customers": 50, "events": 5_000, "seed": 7}
AGGREGATIONS = {
    "count_agg",
    "sum_agg",
    "max_agg",
    "unique_count_agg",
    "latest_agg",
    "weighted_sum_agg",
}
ALIASES = {
    "event_id": ("event_id", "transaction_id", "id"),
    "customer_id": ("customer_id", "external_customer_id", "subject"),
    "subscription_id": ("subscription_id", "external_subscription_id"),
    "metric": ("metric", "code", "type"),
    "timestamp": ("timestamp", "time"),
    "properties": ("properties", "data"),
    "correction_of": ("correction_of",),
    "correction_type": ("correction_type",),
}
NUMERIC = re.compile(r"-?\d+(\.\d+)?")
MIN_TS = datetime(2000, 1, 1, tzinfo=UTC)


# ------------------------------------------------------------------------------------------------
# An independent reader of the contract
# ------------------------------------------------------------------------------------------------


def _ts_us(value) -> int | None:
    """Epoch microseconds, or None when not a valid timestamp (ISO needs an offset)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return int(Decimal(value) * 1_000_000)
    if not isinstance(value, str):
        return None
    if NUMERIC.fullmatch(value):
        return int(Decimal(value) * 1_000_000)
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    if dt.tzinfo is None:
        return None
    return int((dt - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


def _classify(rec: dict | None, max_us: int) -> tuple[str | None, tuple | None]:
    """(quarantine reason, None) or (None, canonical row)."""
    if rec is None or not isinstance(rec, dict):
        return "invalid_json", None
    c = {}
    for canon, keys in ALIASES.items():
        c[canon] = next((rec[k] for k in keys if k in rec), None)
    for k in ("event_id", "customer_id", "metric", "timestamp"):
        if c[k] is None or c[k] == "":
            return "missing_field", None
    for k in ("event_id", "customer_id", "subscription_id"):
        v = c[k]
        if v is not None and (isinstance(v, bool) or not isinstance(v, str | int)):
            return "invalid_field_type", None
    if not isinstance(c["metric"], str):
        return "invalid_field_type", None
    ts = _ts_us(c["timestamp"])
    if ts is None:
        return "invalid_timestamp", None
    min_us = int(MIN_TS.timestamp()) * 1_000_000
    if ts < min_us or ts > max_us:
        return "timestamp_out_of_range", None
    props = c["properties"] if c["properties"] is not None else {}
    if not isinstance(props, dict):
        return "invalid_properties", None
    of, typ = c["correction_of"], c["correction_type"]
    if (of is None) != (typ is None) or (typ is not None and typ not in ("void", "replace")):
        return "invalid_correction", None
    if of is not None and str(of) == str(c["event_id"]):
        return "invalid_correction", None
    row = (
        str(c["customer_id"]),
        str(c["event_id"]),
        None if c["subscription_id"] is None else str(c["subscription_id"]),
        c["metric"],
        ts,
        json.dumps(props, sort_keys=True, default=str),
        of,
        typ,
    )
    return None, row


def _raw_rows(path: Path) -> list[tuple[dict | None, str]]:
    """(parsed record or None when not JSON, alias style) per data row, in file order."""
    out = []
    if path.name.endswith((".jsonl", ".jsonl.gz")):
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                line = line.rstrip("\n")
                try:
                    rec = json.loads(line, parse_float=Decimal)
                except json.JSONDecodeError:
                    out.append((None, "invalid"))
                    continue
                style = (
                    "lago"
                    if isinstance(rec, dict) and "transaction_id" in rec
                    else "cloudevents"
                    if isinstance(rec, dict) and "subject" in rec
                    else "canonical"
                )
                out.append((rec, style))
        return out
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as fh:
            records = [
                {k: (v if v != "" else None) for k, v in r.items()} for r in csv.DictReader(fh)
            ]
    else:
        records = pq.read_table(path).to_pylist()
    for r in records:
        if r.get("properties") is not None:
            r["properties"] = json.loads(r["properties"], parse_float=Decimal)
        out.append(({k: v for k, v in r.items() if v is not None}, "canonical"))
    return out


def _read_all(data_dir: Path, manifest: dict) -> dict:
    clock = datetime.fromisoformat(manifest["clock"])
    max_us = int((clock + timedelta(hours=24)).timestamp()) * 1_000_000
    events_dir = data_dir / "landing" / "events"
    result = {"reasons": Counter(), "rows": [], "per_file": {}, "styles": Counter()}
    for path in sorted(events_dir.iterdir()):
        rows = _raw_rows(path)
        result["per_file"][f"landing/events/{path.name}"] = len(rows)
        for n, (rec, style) in enumerate(rows, start=1):
            reason, row = _classify(rec, max_us)
            if reason:
                result["reasons"][reason] += 1
            else:
                result["styles"][style] += 1
                result["rows"].append((path.name, n, row))
    return result


# ------------------------------------------------------------------------------------------------
# Fixtures
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, dict, dict]:
    data_dir = tmp_path_factory.mktemp("gen") / "data"
    manifest = generate(data_dir, **SMALL)
    return data_dir, manifest, _read_all(data_dir, manifest)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------------


def test_deterministic_and_overwrites(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    ma = generate(a, **SMALL)
    stale = b / "landing" / "events" / "events-1999-01.csv"
    stale.parent.mkdir(parents=True)
    stale.write_text("stale")
    user_file = b / "landing" / "events" / "mine.jsonl"
    user_file.write_text("{}\n")
    mb = generate(b, **SMALL)
    assert ma == mb
    assert not stale.exists(), "stale generated files are removed"
    user_file.unlink()  # not the generator's: kept
    fa, fb = _files(a), _files(b)
    assert fa.keys() == fb.keys()
    for name in fa:
        assert fa[name] == fb[name], f"{name} differs between two runs"
    assert not any(n.endswith(".tmp") for n in fa)
    # same directory again: identical bytes, and a different seed gives different events
    generate(a, **SMALL)
    assert _files(a) == fa
    mc = generate(tmp_path / "c", **{**SMALL, "seed": 8})
    assert mc["files"] != ma["files"]


def test_settings_and_catalog(small) -> None:
    data_dir, manifest, _ = small
    settings = yaml.safe_load((data_dir / "meterhouse.yml").read_text())
    assert settings["grace_period_hours"] == 72
    assert settings["future_margin_hours"] == 24
    assert settings["duckdb_memory_limit"] == "4GB"
    clock = datetime.fromisoformat(settings["clock"])
    assert settings["clock"].endswith("Z")
    assert clock == datetime(2026, 11, 5, tzinfo=UTC) and manifest["clock"] == settings["clock"]

    catalog = yaml.safe_load((data_dir / "catalog.yml").read_text())
    metrics = {m["code"]: m for m in catalog["billable_metrics"]}
    assert {m["aggregation_type"] for m in metrics.values()} == AGGREGATIONS
    assert metrics["storage"]["recurring"] is True
    assert metrics["api_calls"]["filters"] == [{"key": "region", "values": ["us", "eu", "apac"]}]
    for code, fld in [
        ("data_processed", "gb"),
        ("peak_connections", "connections"),
        ("active_users", "user_id"),
        ("seats", "seats"),
        ("storage", "gb_delta"),
    ]:
        assert metrics[code]["field_name"] == fld
    plans = {p["code"]: p for p in catalog["plans"]}
    assert {p["amount_currency"] for p in plans.values()} == {"USD", "EUR", "GBP", "JPY"}
    assert any(p["interval"] == "yearly" for p in plans.values())
    assert any(p["pay_in_advance"] for p in plans.values())
    with_filters = with_groups = 0
    priced = set()
    for code, p in plans.items():
        assert code.endswith("_" + p["amount_currency"].lower())
        assert isinstance(p["amount_cents"], int) and p["amount_cents"] > 0
        for ch in p["charges"]:
            assert ch["charge_model"] == "standard"
            assert ch["billable_metric_code"] in metrics
            priced.add(ch["billable_metric_code"])
            amount = ch["properties"]["amount"]
            assert isinstance(amount, str) and Decimal(amount) > 0  # quoted: exact
            for f in ch.get("filters", []):
                with_filters += 1
                assert isinstance(f["properties"]["amount"], str)
                assert set(f["values"]) <= {
                    x["key"] for x in metrics[ch["billable_metric_code"]].get("filters", [])
                }
            with_groups += "pricing_group_keys" in ch["properties"]
        assert len(p["charges"]) < len(metrics), "no plan prices every metric"
    assert with_filters and with_groups and priced == set(metrics)
    assert any(
        Decimal(ch["properties"]["amount"]) < Decimal("0.01")
        for p in plans.values()
        for ch in p["charges"]
    )


def test_customers_and_subscriptions(small) -> None:
    data_dir, manifest, _ = small
    landing = data_dir / "landing"
    plans = {p["code"]: p for p in yaml.safe_load((data_dir / "catalog.yml").read_text())["plans"]}
    customers = _csv(landing / "customers.csv")
    assert list(customers[0]) == [
        "external_customer_id",
        "name",
        "currency",
        "timezone",
        "billing_time",
    ]
    assert len(customers) == SMALL["customers"] == manifest["customers"]
    ccy = {c["external_customer_id"]: c["currency"] for c in customers}
    assert len(ccy) == len(customers)
    assert {c["billing_time"] for c in customers} == {"calendar", "anniversary"}
    assert len({c["timezone"] for c in customers}) >= 4
    assert Counter(c["currency"] for c in customers).most_common(1)[0][0] == "USD"

    subs = _csv(landing / "subscriptions.csv")
    assert list(subs[0]) == [
        "external_subscription_id",
        "external_customer_id",
        "plan_code",
        "started_at",
        "ending_at",
    ]
    assert len(subs) == manifest["subscriptions"]
    sub_plan = {}
    for s in subs:
        assert plans[s["plan_code"]]["amount_currency"] == ccy[s["external_customer_id"]]
        start = datetime.fromisoformat(s["started_at"])
        assert start.tzinfo is not None
        if s["ending_at"]:
            end = datetime.fromisoformat(s["ending_at"])
            assert end.tzinfo is not None and end > start
        sub_plan[s["external_subscription_id"]] = s["plan_code"]
    assert len(sub_plan) == len(subs)
    per_customer = Counter(s["external_customer_id"] for s in subs)
    assert set(per_customer) == set(ccy) and max(per_customer.values()) == 2
    window_start = datetime.fromisoformat(manifest["window_start"])
    window_end = datetime.fromisoformat(manifest["window_end"])
    ending = [
        s
        for s in subs
        if s["ending_at"] and window_start <= datetime.fromisoformat(s["ending_at"]) < window_end
    ]
    assert len(ending) == manifest["subscriptions_ending_in_window"] >= 1

    changes = _csv(landing / "subscription_changes.csv")
    assert list(changes[0]) == ["external_subscription_id", "plan_code", "changed_at"]
    assert len(changes) == sum(manifest["plan_changes"].values()) >= 1
    for ch in changes:
        old = plans[sub_plan[ch["external_subscription_id"]]]
        new = plans[ch["plan_code"]]
        assert new["amount_currency"] == old["amount_currency"] and new["code"] != old["code"]
        changed = datetime.fromisoformat(ch["changed_at"])
        assert changed.tzinfo is not None and window_start <= changed < window_end


def test_event_files_readable_with_all_columns(small) -> None:
    data_dir, manifest, _ = small
    events_dir = data_dir / "landing" / "events"
    names = sorted(p.name for p in events_dir.iterdir())
    assert names == sorted(Path(k).name for k in manifest["files"])
    assert any(n.endswith(".jsonl.gz") for n in names)
    assert any(n.startswith("late-") for n in names) and any(
        n.startswith("corrections-") for n in names
    )
    con = duckdb.connect()
    for name in names:
        path = events_dir / name
        expected = manifest["files"][f"landing/events/{name}"]["rows"]
        if name.endswith(".csv"):
            with open(path, encoding="utf-8") as fh:
                assert fh.readline().rstrip("\n").split(",") == list(EVENT_COLUMNS)
            n = con.execute(
                f"select count(*) from read_csv('{path}', all_varchar=true)"
            ).fetchone()[0]
        elif name.endswith(".parquet"):
            assert pq.read_schema(path).names == list(EVENT_COLUMNS)
            n = con.execute(f"select count(*) from read_parquet('{path}')").fetchone()[0]
        else:
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as fh:
                n = sum(1 for _ in fh)
        assert n == expected, name


def test_manifest_matches_files(small) -> None:
    data_dir, manifest, read = small
    assert read["per_file"] == {k: v["rows"] for k, v in manifest["files"].items()}
    assert sum(read["per_file"].values()) == manifest["total_rows"] == SMALL["events"]

    # every quarantine reason is planted, and the counts match an independent classification
    assert dict(read["reasons"]) == {r: n for r, n in manifest["malformed"].items() if n}
    assert all(manifest["malformed"][r] >= 3 for r in QUARANTINE_REASONS)
    assert len(read["rows"]) == manifest["valid_rows"]
    assert read["styles"]["lago"] == manifest["alias_rows"]["lago"] > 0
    assert read["styles"]["cloudevents"] == manifest["alias_rows"]["cloudevents"] > 0

    # exact retries (same key, same payload) and conflicts (same key, different payload)
    by_key = defaultdict(list)
    for name, n, row in read["rows"]:
        by_key[row[:2]].append((name, n, row))
    retries = conflicts = cross_file = 0
    for versions in by_key.values():
        payloads = Counter(v[2] for v in versions)
        retries += len(versions) - len(payloads)
        conflicts += len(payloads) - 1
        if len(versions) > len(payloads) and len({v[0] for v in versions}) > 1:
            cross_file += 1
    assert retries == manifest["exact_retries"] > 0
    assert cross_file == manifest["exact_retries_cross_file"] > 0
    assert conflicts == manifest["conflicts"] > 0

    # identical lines inside one JSONL file are retries too
    events_dir = data_dir / "landing" / "events"
    same_file_lines = 0
    for p in events_dir.iterdir():
        if ".jsonl" in p.name:
            with (gzip.open if p.name.endswith(".gz") else open)(p, "rt", encoding="utf-8") as fh:
                same_file_lines += sum(c - 1 for c in Counter(fh).values())
    assert 0 < same_file_lines <= retries

    # corrections
    originals = {(row[0], row[1]): row for _, _, row in read["rows"] if row[7] is None}
    kinds = Counter()
    moved = 0
    for _, _, row in read["rows"]:
        if row[7] is None:
            continue
        orig = originals.get((row[0], row[6]))
        if orig is None:
            kinds["orphan"] += 1
            continue
        kinds[row[7]] += 1
        assert row[3] == orig[3], "a correction keeps the metric"
        if row[7] == "replace":
            month = datetime.fromtimestamp(row[4] / 1e6, UTC).strftime("%Y-%m")
            moved += month != datetime.fromtimestamp(orig[4] / 1e6, UTC).strftime("%Y-%m")
    corr = manifest["corrections"]
    assert kinds == Counter({k: corr[k] for k in ("void", "replace", "orphan")})
    assert moved == corr["replace_moved_month"]

    # unknown metrics / customers, invalid values
    catalog = yaml.safe_load((data_dir / "catalog.yml").read_text())
    fields = {m["code"]: m.get("field_name") for m in catalog["billable_metrics"]}
    customers = {c["external_customer_id"] for c in _csv(data_dir / "landing" / "customers.csv")}
    rows = [row for _, _, row in read["rows"]]
    assert sum(r[3] not in fields for r in rows) == manifest["unknown_metric_events"] > 0
    assert sum(r[0] not in customers for r in rows) == manifest["unknown_customer_events"] > 0

    def invalid_value(r) -> bool:
        fld = fields.get(r[3])
        if not fld or fld == "user_id":
            return False
        v = json.loads(r[5]).get(fld)
        try:
            Decimal(str(v))
        except InvalidOperation:
            return True
        return v is None

    assert sum(invalid_value(r) for r in rows) == manifest["invalid_value_events"] > 0


def test_event_timestamps_and_attribution(small) -> None:
    data_dir, manifest, read = small
    w0 = int(datetime.fromisoformat(manifest["window_start"]).timestamp()) * 1_000_000
    w1 = int(datetime.fromisoformat(manifest["window_end"]).timestamp()) * 1_000_000
    assert manifest["malformed"]["timestamp_out_of_range"] >= 1
    assert all(w0 <= row[4] < w1 for _, _, row in read["rows"]), (
        "valid timestamps stay in the window"
    )

    # late file: timestamps in months before the last one; event files by month otherwise
    for name, _, row in read["rows"]:
        month = datetime.fromtimestamp(row[4] / 1e6, UTC).strftime("%Y-%m")
        if name.startswith("late-"):
            assert month < manifest["window_end"][:7]
            assert month < name[5:12]

    plans = {
        p["code"]: {c["billable_metric_code"] for c in p["charges"]}
        for p in yaml.safe_load((data_dir / "catalog.yml").read_text())["plans"]
    }
    subs = {
        s["external_subscription_id"]: s for s in _csv(data_dir / "landing" / "subscriptions.csv")
    }
    with_sub = 0
    for _, _, row in read["rows"]:
        if row[2] is None or row[3] not in {m for ms in plans.values() for m in ms}:
            continue
        with_sub += 1
        s = subs[row[2]]
        assert s["external_customer_id"] == row[0]
        assert row[3] in plans[s["plan_code"]], "events only for metrics the plan prices"
        start = int(datetime.fromisoformat(s["started_at"]).timestamp() * 1_000_000)
        end = (
            int(datetime.fromisoformat(s["ending_at"]).timestamp() * 1_000_000)
            if s["ending_at"]
            else w1
        )
        assert start <= row[4] < end
    assert 0.5 < with_sub / len(read["rows"]) < 0.7

    # every timestamp style is used
    texts = []
    for p in sorted((data_dir / "landing" / "events").glob("*.csv")):
        texts += [r["timestamp"] for r in _csv(p)]
    assert any(t.endswith("Z") for t in texts)
    assert any(re.search(r"[+-]\d\d:\d\d$", t) for t in texts)
    assert any(re.fullmatch(r"\d{10}", t) for t in texts)
    assert any(re.fullmatch(r"\d{10}\.\d+", t) for t in texts)


def test_months_and_formats_cycle(tmp_path: Path) -> None:
    m = generate(
        tmp_path, customers=20, events=2_000, months=4, end_date=datetime(2026, 3, 1).date()
    )
    names = sorted(Path(k).name for k in m["files"])
    assert names == [
        "corrections-2026-03-02.jsonl",
        "events-2025-11.jsonl.gz",
        "events-2025-12.csv",
        "events-2026-01.parquet",
        "events-2026-02.jsonl.gz",
        "late-2026-03-03.jsonl",
    ]
    assert m["window_start"] == "2025-11-01T00:00:00Z" and m["clock"] == "2026-03-05T00:00:00Z"
    read = _read_all(tmp_path, m)
    assert sum(read["per_file"].values()) == m["total_rows"] == 2_000
    assert dict(read["reasons"]) == {r: n for r, n in m["malformed"].items() if n}
    with pytest.raises(ValueError):
        generate(tmp_path / "x", events=10)


# ------------------------------------------------------------------------------------------------
# Price versions, deals, prepaid credits (plan_versions.yml, overrides.yml, credits.yml)
# ------------------------------------------------------------------------------------------------

PRICING_FILES = ("plan_versions.yml", "overrides.yml", "credits.yml")


def _load_pricing(data_dir: Path) -> dict:
    """The three files through the pipeline's own loaders, any warning an error (as a run would log it)."""
    import warnings

    from ingestion.accounts import load_accounts
    from ingestion.catalog import load_catalog
    from ingestion.credits import load_credits
    from ingestion.overrides import derived_plans, load_overrides, subscription_plans
    from ingestion.plan_versions import load_plan_versions, priced_catalog
    from ingestion.scenarios import load_scenarios, price_derived_plans

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        catalog = load_catalog(data_dir / "catalog.yml")
        accounts = load_accounts(data_dir / "landing", catalog)
        versions = load_plan_versions(data_dir, catalog)
        overrides = load_overrides(data_dir, catalog, versions, subscription_plans(accounts))
        derived = derived_plans(versions, overrides)
        priced_catalog(catalog, derived)  # charge ids unique across catalog and derived plans
        price_derived_plans(load_scenarios(data_dir, catalog), derived)  # the scenarios price them
        credits = load_credits(
            data_dir, {c.external_customer_id: c.currency for c in accounts.customers}
        )
    return {"versions": versions, "overrides": overrides, "credits": credits}


def _check_pricing(data_dir: Path, manifest: dict) -> None:
    """Every entry of the three files refers to what the generated files hold, in the customer's currency
    and inside the window; the counts are the manifest's."""
    loaded = _load_pricing(data_dir)
    files = {name: yaml.safe_load((data_dir / name).read_text()) for name in PRICING_FILES}
    versions = files["plan_versions.yml"]["plan_versions"]
    deals = files["overrides.yml"]["overrides"]
    grants, commits = files["credits.yml"]["grants"], files["credits.yml"]["commitments"]
    assert (len(versions), len(deals), len(grants), len(commits)) == (
        manifest["plan_versions"],
        manifest["overrides"],
        manifest["credit_grants"],
        manifest["credit_commitments"],
    )
    assert len(loaded["versions"]) == len(versions) >= 1
    assert len(loaded["overrides"]) == len(deals) >= 1
    assert len(loaded["credits"].grants) == len(grants) >= 1

    window = (
        datetime.fromisoformat(manifest["window_start"]).date(),
        datetime.fromisoformat(manifest["window_end"]).date(),
    )
    plans = {p["code"]: p for p in yaml.safe_load((data_dir / "catalog.yml").read_text())["plans"]}
    currency = {
        c["external_customer_id"]: c["currency"]
        for c in _csv(data_dir / "landing" / "customers.csv")
    }
    subs = _csv(data_dir / "landing" / "subscriptions.csv")
    on_plans = {s["external_subscription_id"]: {s["plan_code"]} for s in subs}
    for change in _csv(data_dir / "landing" / "subscription_changes.csv"):
        on_plans[change["external_subscription_id"]].add(change["plan_code"])
    customer_of = {s["external_subscription_id"]: s["external_customer_id"] for s in subs}

    for v in versions:
        plan = plans[v["plan_code"]]
        assert plan["interval"] == "monthly"
        assert window[0] <= v["effective_from"] < window[1]
        # a real price change: a dearer base fee (at most +20%), or API calls dearer by one factor (at
        # most +25%, its EU filter too) and every other charge as it was
        if "amount_cents" in v:
            assert plan["amount_cents"] < v["amount_cents"] <= plan["amount_cents"] * 6 // 5
        else:
            ratios = set()
            for old, new in zip(plan["charges"], v["charges"], strict=True):
                bare = {"properties": None, "filters": None}
                assert {**old, **bare} == {**new, **bare}
                pairs = [(old["properties"], new["properties"])] + [
                    (fo["properties"], fn["properties"])
                    for fo, fn in zip(old.get("filters", []), new.get("filters", []), strict=True)
                ]
                for po, pn in pairs:
                    ratio = Decimal(pn["amount"]) / Decimal(po["amount"])
                    if old["billable_metric_code"] == "api_calls":
                        ratios.add(ratio)
                    else:
                        assert ratio == 1 and po == pn
            assert len(ratios) == 1 and Decimal(1) < ratios.pop() <= Decimal("1.25")
    assert len({v["plan_code"] for v in versions}) == len(versions)

    for d in deals:
        sub = d["subscription_id"]
        assert d["plan_code"] in on_plans[sub], "a plan the subscription is on"
        plan = plans[d["plan_code"]]
        assert plan["amount_currency"] == currency[customer_of[sub]]
        assert "amount_cents" in d or "charges" in d
        if "amount_cents" in d:  # a discount
            assert plan["amount_cents"] * 3 // 4 <= d["amount_cents"] < plan["amount_cents"]
        for charge in d.get("charges", []):
            (old,) = [
                c
                for c in plan["charges"]
                if c["billable_metric_code"] == charge["billable_metric_code"]
            ]
            new_price = Decimal(charge["properties"]["amount"])
            assert Decimal("0.6") < new_price / Decimal(old["properties"]["amount"]) < 1
            assert {**old["properties"], "amount": None} == {**charge["properties"], "amount": None}
        if "effective_from" in d:
            assert window[0] <= d["effective_from"] < window[1]
    assert len({d["subscription_id"] for d in deals}) == len(deals)

    for entry in grants + commits:
        ccy = entry["currency"]
        assert ccy == currency[entry["external_customer_id"]]
        # the major unit with the currency's decimals: whole yen, cents elsewhere
        assert re.fullmatch(r"[1-9]\d*" if ccy == "JPY" else r"[1-9]\d*\.\d\d", entry["amount"])
    for g in grants:
        assert window[0] <= g["effective_date"] < window[1]
        assert g.get("expiry_date") is None or g["expiry_date"] > g["effective_date"]
        assert g["type"] == "paid" or g.get("expiry_date") is not None, "promotions expire"
    # both kinds, two priorities and an expiry in every data set
    assert {g["type"] for g in grants} == {"paid", "promotional"}
    assert len({g["priority"] for g in grants}) >= 2
    assert any("expiry_date" in g for g in grants)

    open_subs = {
        s["external_customer_id"]
        for s in subs
        if not s["ending_at"] and s["started_at"][:10] < window[0].isoformat()
    }
    for c in commits:
        assert c["external_customer_id"] in open_subs, "a customer with an active subscription"
        assert c["term"] in ("monthly", "quarterly")
        assert c["start_date"] == window[0]
        assert Decimal(0) <= Decimal(c["rollover_percent"]) <= 100


def test_pricing_files_refer_to_the_generated_accounts_and_load(small) -> None:
    data_dir, manifest, _ = small
    _check_pricing(data_dir, manifest)
    credits = yaml.safe_load((data_dir / "credits.yml").read_text())
    assert len(credits["commitments"]) == 1  # one under 100 customers


@pytest.mark.parametrize("seed", [1, 2])
def test_pricing_files_of_a_tiny_data_set(tmp_path: Path, seed: int) -> None:
    manifest = generate(tmp_path, customers=5, months=1, events=500, seed=seed)
    _check_pricing(tmp_path, manifest)


def test_pricing_files_are_deterministic(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", customers=30, months=2, events=2_000, seed=5)
    generate(tmp_path / "b", customers=30, months=2, events=2_000, seed=5)
    generate(tmp_path / "c", customers=30, months=2, events=2_000, seed=6)
    assert a["plan_versions"] >= 1 and a["overrides"] >= 1 and a["credit_grants"] >= 1
    for name in PRICING_FILES:
        same = (tmp_path / "a" / name).read_bytes()
        assert same == (tmp_path / "b" / name).read_bytes(), f"{name}: same seed, same bytes"
        assert same != (tmp_path / "c" / name).read_bytes(), f"{name}: another seed, another file"
