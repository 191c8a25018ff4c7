"""Stripe's bracket form encoding, parsed into nested dicts and lists, plus value coercion.

The v1 API takes ``application/x-www-form-urlencoded`` bodies (and query strings for GET)
where nesting is spelled with brackets: ``metadata[key]=v``, ``items[0][price]=price_x``,
``expand[]=lines``, ``period[start]=1700000000``. ``stripe-python`` 16 always writes indexed
lists (``expand[0]=...``); curl users often write ``expand[]=``. Both parse to lists here.

Every leaf stays a string, as on the wire; handlers coerce with :func:`as_int`,
:func:`as_bool`, :func:`as_decimal`... which raise Stripe-shaped 400 errors naming the param.

Simplification: the wire format cannot tell ``a[0]=x`` (a list) from a dict whose key is
``"0"``. A container whose keys are all digits becomes a list, except under ``metadata``
(always a dict), which is the only free-form dict the emulated endpoints accept.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from .errors import ApiError, invalid, missing_param

_TOKEN = re.compile(r"\[([^\[\]]*)\]")
_FREE_FORM_DICTS = frozenset({"metadata"})


class _ListBuilder(dict):
    """A dict collecting ``[]`` / ``[n]`` entries; turned into a list at the end."""


def _split_key(key: str) -> list[str]:
    head, _, rest = key.partition("[")
    if not rest:
        return [key]
    parts = [head]
    rest = "[" + rest
    pos = 0
    for match in _TOKEN.finditer(rest):
        if match.start() != pos:
            break
        parts.append(match.group(1))
        pos = match.end()
    if pos != len(rest):  # malformed brackets: keep the raw key
        return [key]
    return parts


def parse_form(raw: str) -> dict[str, Any]:
    """Parse a form body or query string into nested dicts and lists of strings."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        parts = _split_key(key)
        node: dict[str, Any] = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":  # "[]": append
                part = str(len(node))
            if last:
                node[part] = value
                break
            nxt = parts[i + 1]
            child = node.get(part)
            if not isinstance(child, dict):
                is_list = (nxt == "" or nxt.isdigit()) and part not in _FREE_FORM_DICTS
                child = _ListBuilder() if is_list else {}
                node[part] = child
            node = child
    return _finish(root)


def _finish(node: Any) -> Any:
    if isinstance(node, _ListBuilder):
        if all(k.isdigit() for k in node):
            return [_finish(node[k]) for k in sorted(node, key=int)]
        return {k: _finish(v) for k, v in node.items()}
    if isinstance(node, dict):
        return {k: _finish(v) for k, v in node.items()}
    return node


# --- coercion -----------------------------------------------------------------------------


def as_str(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {value!r}", param=param)
    return value


def as_int(value: Any, param: str, *, minimum: int | None = None) -> int:
    """An integer param (amounts in minor units, timestamps, quantities)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        number = int(value.strip())
    else:
        raise invalid(f"Invalid integer: {value}", param=param)
    if minimum is not None and number < minimum:
        raise invalid(
            f"This value must be greater than or equal to {minimum}.",
            param=param,
        )
    return number


def as_bool(value: Any, param: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "True", "1"):
        return True
    if value in ("false", "False", "0"):
        return False
    raise invalid(f"Invalid boolean: {value}", param=param)


def as_decimal(value: Any, param: str) -> Decimal:
    """A decimal string such as ``unit_amount_decimal`` (max 12 decimal places, like Stripe)."""
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise invalid(f"Invalid decimal: {value}", param=param) from None
    if not number.is_finite():
        raise invalid(f"Invalid decimal: {value}", param=param)
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -12:
        raise invalid(f"Invalid decimal: {value} (at most 12 decimal places)", param=param)
    return number


def as_dict(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"Invalid object: {param} must be a hash", param=param)
    return value


def as_list(value: Any, param: str) -> list[Any]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise invalid(f"Invalid array: {param} must be an array", param=param)
    return value


def require(params: dict[str, Any], name: str, prefix: str = "") -> Any:
    """A required param; a 400 ``parameter_missing`` when absent or empty."""
    value = params.get(name)
    if value is None or value == "":
        raise missing_param(f"{prefix}{name}")
    return value


def optional_str(params: dict[str, Any], name: str) -> str | None:
    """An optional string; ``""`` means unset (null), as Stripe treats empty strings."""
    value = params.get(name)
    if value is None or value == "":
        return None
    return as_str(value, name)


def reject_unknown(params: dict[str, Any], allowed: set[str]) -> None:
    """Stripe rejects unknown top-level params with ``Received unknown parameter: x``."""
    allowed = allowed | {"expand"}
    for key in params:
        if key not in allowed:
            raise ApiError(400, f"Received unknown parameter: {key}", param=key)
