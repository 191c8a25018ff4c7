"""A small subset of Stripe's Search query language.

Supported: clauses ``field:'value'`` joined with ``AND`` (case-insensitive), where ``field`` is a
top-level attribute (``customer``, ``status``, ``currency``, ``email``, ``name``...) or
``metadata['key']``. Values may be quoted with single or double quotes. A ``-`` before a
clause negates it. Numeric comparisons ``created>1700000000`` (``> >= < <= =``) work on
integer fields such as ``created``, ``total`` or ``amount``.

Not supported (400 ``invalid_request_error``): ``OR``, substring ``~``, ``null`` checks,
parentheses. Stripe search is eventually consistent (results may lag writes by about a
minute); here it is immediate. Pages are newest first; ``next_page`` is an opaque cursor.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import invalid

Predicate = Callable[[dict[str, Any]], bool]

_CLAUSE = re.compile(
    r"""^\s*(?P<neg>-)?
        (?P<field>metadata\[(?P<q>['"])(?P<mkey>.+?)(?P=q)\]|[a-z_][a-z0-9_.]*)
        \s*(?P<op>:|>=|<=|>|<|=)\s*
        (?:(?P<vq>['"])(?P<qvalue>.*?)(?P=vq)|(?P<value>[^\s'"]+))\s*$""",
    re.VERBOSE | re.IGNORECASE,
)
_AND = re.compile(r"\s+AND\s+", re.IGNORECASE)


def _split_and(query: str) -> list[str]:
    parts: list[str] = []
    buf = ""
    quote: str | None = None
    i = 0
    while i < len(query):
        ch = query[i]
        if quote:
            buf += ch
            if ch == quote:
                quote = None
            i += 1
            continue
        if ch in "'\"":
            quote = ch
            buf += ch
            i += 1
            continue
        m = _AND.match(query, i)
        if m:
            parts.append(buf)
            buf = ""
            i = m.end()
            continue
        if re.match(r"\s+OR\s+", query[i:], re.IGNORECASE):
            raise invalid("The emulator's search supports AND only, not OR.", param="query")
        buf += ch
        i += 1
    parts.append(buf)
    return [p for p in parts if p.strip()]


def _lookup(obj: dict[str, Any], field: str) -> Any:
    node: Any = obj
    for part in field.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    if isinstance(node, dict) and "id" in node:
        return node["id"]
    return node


def compile_query(query: str) -> Predicate:
    """Compile a search query into a predicate over rendered objects."""
    if not query or not query.strip():
        raise invalid("Missing required param: query.", param="query")
    preds: list[Predicate] = []
    for clause in _split_and(query):
        m = _CLAUSE.match(clause)
        if not m:
            raise invalid(f"Unsupported search clause: {clause.strip()!r}", param="query")
        value = m.group("qvalue") if m.group("vq") else m.group("value")
        op = m.group("op")
        if m.group("mkey") is not None:
            key = m.group("mkey")

            def meta(o: dict[str, Any], key: str = key, value: str = value) -> bool:
                return (o.get("metadata") or {}).get(key) == value

            pred: Predicate = meta
            if op != ":":
                raise invalid("metadata supports only ':' in search", param="query")
        else:
            field = m.group("field").lower()
            if op == ":":

                def eq(o: dict[str, Any], field: str = field, value: str = value) -> bool:
                    got = _lookup(o, field)
                    if isinstance(got, bool):
                        return str(got).lower() == value.lower()
                    return got is not None and str(got) == value

                pred = eq
            else:
                try:
                    bound = int(value)
                except ValueError:
                    raise invalid(
                        f"Expected an integer in {clause.strip()!r}", param="query"
                    ) from None
                compare: dict[str, Callable[[int, int], bool]] = {
                    ">": lambda a, b: a > b,
                    ">=": lambda a, b: a >= b,
                    "<": lambda a, b: a < b,
                    "<=": lambda a, b: a <= b,
                    "=": lambda a, b: a == b,
                }
                fn = compare[op]

                def cmp(
                    o: dict[str, Any], field: str = field, bound: int = bound, fn: Any = fn
                ) -> bool:
                    got = _lookup(o, field)
                    return isinstance(got, int) and not isinstance(got, bool) and fn(got, bound)

                pred = cmp
        if m.group("neg"):
            preds.append(lambda o, p=pred: not p(o))
        else:
            preds.append(pred)
    return lambda o: all(p(o) for p in preds)
