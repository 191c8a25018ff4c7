"""An incremental batch: ``n`` fresh, valid events derived from a generated data set.

The events are copies of valid rows of the last monthly file (``events-YYYY-MM.*`` of the window's last
month), spread evenly over it, with fresh unique ``event_id``s: same customers, subscriptions, metrics,
timestamps (in the last month of the window) and properties as real traffic. Rows a user would not send
as new usage are left out: planted defects (unknown customer, subscription or metric, a subscription of
another customer, a metric the plan does not price, a missing or non-numeric value, unparseable
timestamp, corrections). The file is written under a temporary name and renamed, as the landing
contract asks (docs/contracts.md).
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml

_MONTHLY = re.compile(r"events-(\d{4})-(\d{2})\.(jsonl\.gz|jsonl|csv|parquet)$")
_ALIASES = {
    "event_id": ("event_id", "transaction_id", "id"),
    "customer_id": ("customer_id", "external_customer_id", "subject"),
    "subscription_id": ("subscription_id", "external_subscription_id"),
    "metric": ("metric", "code", "type"),
    "timestamp": ("timestamp", "time"),
    "properties": ("properties", "data"),
}


def _first(row: dict, names: tuple[str, ...]):
    for name in names:
        value = row.get(name)
        if value is not None and value != "":
            return value
    return None


def _rows(path: Path) -> Iterator[dict]:
    """Rows of one event file as dicts (JSON values for JSONL, text for CSV and Parquet)."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=65_536):
            yield from batch.to_pylist()
    elif name.endswith(".csv"):
        with path.open(encoding="utf-8", newline="") as fh:
            yield from csv.DictReader(fh)
    else:
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    yield obj


def _epoch_or_iso(value) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        return datetime.fromtimestamp(float(Decimal(text)), UTC)
    except (InvalidOperation, ValueError, OverflowError):
        pass
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else None


def _numeric(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    if isinstance(value, str):
        try:
            Decimal(value)
            return True
        except InvalidOperation:
            return False
    return False


class _Catalog:
    def __init__(self, data_dir: Path) -> None:
        catalog = yaml.safe_load((data_dir / "catalog.yml").read_text(encoding="utf-8"))
        self.field = {m["code"]: m.get("field_name") for m in catalog["billable_metrics"]}
        self.aggregation = {m["code"]: m["aggregation_type"] for m in catalog["billable_metrics"]}
        self.plan_metrics = {
            p["code"]: {c["billable_metric_code"] for c in p.get("charges", [])}
            for p in catalog["plans"]
        }
        landing = data_dir / "landing"
        with (landing / "customers.csv").open(encoding="utf-8", newline="") as fh:
            self.customers = {r["external_customer_id"] for r in csv.DictReader(fh)}
        self.sub_customer: dict[str, str] = {}
        self.customer_metrics: dict[str, set[str]] = {}
        self.sub_metrics: dict[str, set[str]] = {}
        with (landing / "subscriptions.csv").open(encoding="utf-8", newline="") as fh:
            for r in csv.DictReader(fh):
                sub, cust = r["external_subscription_id"], r["external_customer_id"]
                metrics = self.plan_metrics.get(r["plan_code"], set())
                self.sub_customer[sub] = cust
                self.sub_metrics[sub] = set(metrics)
                self.customer_metrics.setdefault(cust, set()).update(metrics)
        changes = landing / "subscription_changes.csv"
        if changes.exists():
            with changes.open(encoding="utf-8", newline="") as fh:
                for r in csv.DictReader(fh):
                    sub = r["external_subscription_id"]
                    # A changed subscription only gets metrics both plans price.
                    self.sub_metrics[sub] = self.sub_metrics.get(
                        sub, set()
                    ) & self.plan_metrics.get(r["plan_code"], set())

    def valid(self, ev: dict) -> bool:
        cust, sub, metric, props = (
            ev["customer_id"],
            ev["subscription_id"],
            ev["metric"],
            ev["props"],
        )
        if cust not in self.customers or metric not in self.field:
            return False
        if sub is not None:
            if self.sub_customer.get(sub) != cust or metric not in self.sub_metrics.get(sub, ()):
                return False
        elif metric not in self.customer_metrics.get(cust, ()):
            return False
        field_name = self.field[metric]
        if field_name is None:
            return True
        value = props.get(field_name)
        if self.aggregation[metric] == "unique_count_agg":
            return isinstance(value, str) and value != ""
        return _numeric(value)


def last_monthly_file(events_dir: Path) -> tuple[Path, datetime]:
    """The last ``events-YYYY-MM.*`` file and the start (UTC) of its month."""
    monthly = sorted(
        (m.group(1, 2), p) for p in events_dir.iterdir() if (m := _MONTHLY.fullmatch(p.name))
    )
    if not monthly:
        raise FileNotFoundError(f"no events-YYYY-MM.* file under {events_dir}")
    (year, month), path = monthly[-1]
    return path, datetime(int(year), int(month), 1, tzinfo=UTC)


def write_incremental_batch(data_dir: Path, n: int, *, token: str) -> dict:
    """Write ``n`` fresh events as ``DIR/landing/events/bench-incremental-<token>.jsonl``."""
    data_dir = Path(data_dir)
    events_dir = data_dir / "landing" / "events"
    source, month_start = last_monthly_file(events_dir)
    manifest = json.loads((data_dir / "generator_manifest.json").read_text(encoding="utf-8"))
    window_end = _epoch_or_iso(manifest["window_end"])
    catalog = _Catalog(data_dir)

    candidates: list[dict] = []
    seen_rows = 0
    for row in _rows(source):
        seen_rows += 1
        if row.get("correction_of") or row.get("correction_type"):
            continue
        ev = {k: _first(row, names) for k, names in _ALIASES.items()}
        if not all(ev[k] is not None for k in ("event_id", "customer_id", "metric", "timestamp")):
            continue
        ts = _epoch_or_iso(ev["timestamp"])
        if ts is None or not (month_start <= ts < window_end):
            continue
        props = ev["properties"]
        props_text = None
        if props is None:
            props = {}
        elif isinstance(props, str):
            props_text = props
            try:
                props = json.loads(props)
            except ValueError:
                continue
        if not isinstance(props, dict):
            continue
        ev.update(props=props, props_text=props_text)
        if not catalog.valid(ev):
            continue
        candidates.append(ev)
    if not candidates:
        raise ValueError(f"{source.name}: no valid row to derive new events from")
    # Spread evenly over the file; a small data set (fewer valid rows than n) is cycled through.
    step = len(candidates) / n
    picked = [candidates[int(i * step) % len(candidates)] for i in range(n)]

    lines = []
    for i, ev in enumerate(picked):
        out = {
            "event_id": f"bench_{token}_{i:07d}",
            "customer_id": ev["customer_id"],
        }
        if ev["subscription_id"] is not None:
            out["subscription_id"] = ev["subscription_id"]
        out["metric"] = ev["metric"]
        ts = ev["timestamp"]
        out["timestamp"] = ts if isinstance(ts, int | float | str) else str(ts)
        line = json.dumps(out, ensure_ascii=False)[:-1]
        props_json = ev["props_text"] if ev["props_text"] is not None else json.dumps(ev["props"])
        lines.append(f'{line}, "properties": {props_json}}}')
    target = events_dir / f"bench-incremental-{token}.jsonl"
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    timestamps = [_epoch_or_iso(ev["timestamp"]) for ev in picked]
    return {
        "path": str(target),
        "events": n,
        "bytes": target.stat().st_size,
        "derived_from": source.name,
        "source_rows": seen_rows,
        "valid_candidates": len(candidates),
        "customers": len({ev["customer_id"] for ev in picked}),
        "first_timestamp": min(timestamps).isoformat(),
        "last_timestamp": max(timestamps).isoformat(),
    }
