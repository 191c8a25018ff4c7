"""Great Expectations 1.x on pandas DataFrames: one ephemeral context per process, no stores, no telemetry.

DuckDB is not a GX SQL dialect (STACK.md G10), so every check reads its rows with DuckDB into a DataFrame
and validates that. Read money with ``read_frame``: DuckDB hands DECIMAL and HUGEINT columns to pandas as
floats, so they are cast in SQL (integers to BIGINT, exact decimals to text, then ``Decimal``).

A rule is an expectation with the rule in words (``Rule``). ``run_rules`` validates a DataFrame and
returns each rule's outcome with the index labels of the failing rows (``result_format`` COMPLETE) and a
few example rows; ``pin_failures`` turns the failing rows into publish blockers, one per customer x month
(or load) they belong to, with a reason that names the rules, the counts and an example.

GX is imported lazily (about 4 s): only a check that runs pays for it, once per process.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

import duckdb
import pandas as pd

from .results import CheckFailure, Pin, RuleOutcome, clip

EXAMPLES_PER_RULE = 5


@dataclass(frozen=True)
class Rule:
    """``expectation`` is a class name of ``great_expectations.expectations``; ``kwargs`` its arguments."""

    text: str
    expectation: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    # only the rows where `column` equals (==) or differs from (!=) a value, or is not in (not in) a list:
    # GX's row condition
    where: tuple[str, str, Any] | None = None


@cache
def _batch_definition():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas("meterhouse").add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole")


def plain(value: Any) -> Any:
    """A JSON-safe value for metadata and reasons (exact decimals as text, times in ISO-8601)."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT or (isinstance(value, type(pd.NA)) and value is pd.NA):
        return None
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, (str, int, bool, float)):
        return value
    return str(value)


def read_frame(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Sequence[Any] | dict[str, Any] | None = None,
    *,
    decimals: Sequence[str] = (),
) -> pd.DataFrame:
    """Rows of ``sql`` as a DataFrame; ``decimals`` are columns selected as text, read back as Decimal."""
    df = con.execute(sql, params if params is not None else []).df()
    for column in decimals:
        df[column] = [None if v is None or v != v else Decimal(v) for v in df[column]]
        df[column] = df[column].astype(object)
    return df


def run_rules(frame: str, df: pd.DataFrame, rules: Sequence[Rule]) -> list[RuleOutcome]:
    """Validate ``df`` against ``rules`` (one GX suite); one outcome per rule, in the rules' order."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    batch_definition = _batch_definition()
    by_text = {r.text: r for r in rules}
    if len(by_text) != len(rules):
        raise ValueError(f"{frame}: two rules share a text")
    suite = gx.ExpectationSuite(
        name=frame,
        expectations=[
            getattr(gxe, r.expectation)(**r.kwargs, **_condition(r), meta={"rule": r.text})
            for r in rules
        ],
    )
    batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
    result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    outcomes: dict[str, RuleOutcome] = {}
    for r in result.results:
        text = r.expectation_config.meta["rule"]
        res = r.result or {}
        error = (r.exception_info or {}).get("exception_message") if r.exception_info else None
        raised = bool((r.exception_info or {}).get("raised_exception"))
        index = list(res.get("unexpected_index_list") or [])
        observed = res.get("observed_value")
        outcomes[text] = RuleOutcome(
            rule=text,
            expectation=r.expectation_config.type,
            success=bool(r.success) and not raised,
            frame=frame,
            element_count=int(res.get("element_count") or len(df)),
            unexpected_count=int(res.get("unexpected_count") or 0),
            failing_index=index,
            observed=f"error: {error}" if raised else (None if observed is None else str(observed)),
            examples=[
                {k: plain(v) for k, v in df.loc[i].to_dict().items()}
                for i in index[:EXAMPLES_PER_RULE]
            ],
        )
    return [outcomes[r.text] for r in rules]


def run_rules_in_chunks(
    frame: str, chunks: Iterable[pd.DataFrame], rules: Sequence[Rule]
) -> tuple[list[RuleOutcome], pd.DataFrame, int]:
    """``run_rules`` over the consecutive chunks of one frame, so that a big batch never sits in memory
    whole (a rule across rows, such as uniqueness, must find its rows in one chunk). Returns the merged
    outcomes (counts summed, failing index labels unique across chunks), the failing rows as one
    DataFrame indexed by those labels, and the number of rows validated. ``chunks`` yields at least one
    DataFrame (possibly empty)."""
    merged: dict[str, RuleOutcome] = {}
    failing_parts: list[pd.DataFrame] = []
    offset = 0
    for chunk in chunks:
        chunk = chunk.reset_index(drop=True)
        chunk.index = chunk.index + offset
        offset += len(chunk)
        outcomes = run_rules(frame, chunk, rules)
        failing = sorted({i for o in outcomes for i in o.failing_index})
        failing_parts.append(chunk.loc[failing])
        for o in outcomes:
            into = merged.setdefault(o.rule, o)
            if into is o:
                continue
            into.success = into.success and o.success
            into.element_count += o.element_count
            into.unexpected_count += o.unexpected_count
            into.failing_index += o.failing_index
            into.examples = (into.examples + o.examples)[:EXAMPLES_PER_RULE]
            into.observed = into.observed or o.observed
    if not failing_parts:
        raise ValueError(f"{frame}: no chunk to validate")
    return [merged[r.text] for r in rules], pd.concat(failing_parts), offset


def _condition(rule: Rule) -> dict[str, Any]:
    if rule.where is None:
        return {}
    from great_expectations.expectations.row_conditions import Column

    column, op, value = rule.where
    if op == "==":
        return {"row_condition": Column(column) == value}
    if op == "!=":
        return {"row_condition": Column(column) != value}
    if op == "not in":
        return {"row_condition": Column(column).is_not_in(list(value))}
    raise ValueError(f"{rule.text}: unknown condition operator {op!r}")


@dataclass(frozen=True)
class Pinning:
    """How a check's failing rows map to publish blockers: the DataFrame columns holding the customer,
    the billing month, the load time and the load id (None = not known for this check), the blocker of
    a table-level failure (schema, row counts), and how a row is named in a reason."""

    customer: str | None = None
    month: str | None = None
    since: str | None = None
    load: str | None = None
    table: Pin = Pin()
    label: Callable[[pd.Series], str] = lambda row: str(row.name)


def _blank(value: Any) -> bool:
    return plain(value) in (None, "")


def pin_failures(
    check_name: str,
    asset_key: str,
    outcomes: Sequence[RuleOutcome],
    frames: dict[str, pd.DataFrame],
    pinning: dict[str, Pinning],
    action: str,
) -> list[CheckFailure]:
    """Group the failing rows of every failed rule by where they block (customer x month, or load).

    One blocker per group, whose reason names each failed rule with its count of failing rows there and
    one example row, then ``action`` (what to do). A failure of a frame without pin columns (a table's
    schema) or without failing rows (a table-level expectation) blocks where ``Pinning.table`` says."""
    # pin -> rule -> [failing rows, example]
    groups: dict[Pin, dict[str, list[Any]]] = {}

    def add(pin: Pin, rule: str, count: int, example: str | None) -> None:
        entry = groups.setdefault(pin, {}).setdefault(rule, [0, None])
        entry[0] += count
        entry[1] = entry[1] or example

    for o in outcomes:
        if o.success:
            continue
        how = pinning[o.frame]
        df = frames[o.frame]
        columns = [how.customer, how.month, how.since, how.load]
        if not o.failing_index or not any(columns):
            example = how.label(df.loc[o.failing_index[0]]) if o.failing_index else o.observed
            add(how.table, o.rule, max(len(o.failing_index), 1), example)
            continue
        rows = df.loc[o.failing_index]
        keys = pd.DataFrame(
            {
                name: (rows[column] if column else None)
                for name, column in zip(
                    ("customer", "month", "since", "load"), columns, strict=True
                )
            },
            index=rows.index,
        ).astype(object)
        for values, sub in keys.groupby(
            ["customer", "month", "since", "load"], dropna=False, sort=True
        ):
            customer, month, since, load = (None if _blank(v) else v for v in values)
            pin = Pin(
                customer_id=None if customer is None else str(customer),
                billing_month=None if month is None else str(month),
                since_loaded_at=None if since is None else pd.Timestamp(since).to_pydatetime(),
                load_id=None if load is None else int(load),
            )
            add(pin, o.rule, len(sub), how.label(df.loc[sub.index[0]]))
    failures = []
    for pin, rules in groups.items():
        failing = sum(count for count, _ in rules.values())
        parts = [
            f"{rule}: {count} failing" + (f" (e.g. {example})" if example else "")
            for rule, (count, example) in rules.items()
        ]
        reason = clip(
            f"{check_name} failed for {pin.describe()}: " + "; ".join(parts) + f". {action}"
        )
        failures.append(CheckFailure(check_name, asset_key, pin, failing, reason))
    failures.sort(
        key=lambda f: (
            f.pin.customer_id or "",
            f.pin.billing_month or "",
            f.pin.load_id if f.pin.load_id is not None else -1,
        )
    )
    return failures


def schema_frame(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, expected: dict[str, str]
) -> pd.DataFrame:
    """One row per column expected or present: its expected and its actual DuckDB type."""
    actual = dict(
        con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        ).fetchall()
    )
    names = list(expected) + [c for c in actual if c not in expected]
    return pd.DataFrame(
        {
            "column_name": names,
            "expected_type": [expected.get(c) for c in names],
            "actual_type": [actual.get(c) for c in names],
        }
    ).astype(object)


def schema_rules(table: str, *, exact: bool) -> list[Rule]:
    """Rules over ``schema_frame``: every expected column present with its type (and, when ``exact``,
    no other column)."""
    rules = [
        Rule(
            f"{table} has every contract column",
            "ExpectColumnValuesToNotBeNull",
            {"column": "actual_type"},
        ),
        Rule(
            f"{table} columns have their contract types",
            "ExpectColumnPairValuesToBeEqual",
            {
                "column_A": "expected_type",
                "column_B": "actual_type",
                "ignore_row_if": "either_value_is_missing",
            },
        ),
    ]
    if exact:
        rules.append(
            Rule(
                f"{table} has no column outside the contract",
                "ExpectColumnValuesToNotBeNull",
                {"column": "expected_type"},
            )
        )
    return rules
