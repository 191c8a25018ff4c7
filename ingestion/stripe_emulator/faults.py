"""Faults on demand, queued per method and path prefix.

A fault is consumed by the first matching request that *reaches an endpoint*: after
authentication, routing and the idempotency check, so idempotent replays, 409s and
idempotency errors never consume one. Each fault fires ``times`` times (default once), FIFO
among the faults matching a request. Kinds, and what a ``stripe-python`` 16 caller sees
(details in the package docstring):

``500_before``
    500 ``api_error`` before the endpoint runs: nothing written, nothing stored under the
    idempotency key, no ``Stripe-Should-Retry`` header, so the SDK's own rule applies (5xx is
    retried, with the same ``Idempotency-Key``), and the retry executes normally.
``500_after``
    The endpoint runs and commits, then a 500 is answered *and stored* under the idempotency
    key with ``Stripe-Should-Retry: false``: the SDK does not retry and raises ``APIError``;
    replaying the key returns the same stored 500 (``Idempotent-Replayed: true``).
``timeout``
    The endpoint runs and commits, then the answer waits ``seconds``; the key stays in flight
    meanwhile (a retry gets 409 ``idempotency_key_in_use``, which the SDK retries), and the
    real response is stored once the wait ends.
``drop_after_write``
    The endpoint runs and commits, the response is stored under the key, and the connection
    is closed without an answer: the SDK raises/retries ``APIConnectionError``; its retry (same
    key) is a replay of the stored response, so exactly one object exists.
``429``
    Rate limited before the endpoint runs, nothing written or stored. ``code="rate_limit"``
    (default) sends ``Stripe-Rate-Limited-Reason: global-rate`` and no ``Stripe-Should-Retry``:
    the SDK raises ``RateLimitError`` without retrying. ``code="lock_timeout"`` sends
    ``Stripe-Should-Retry: true``, which the SDK honours by retrying.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("500_before", "500_after", "timeout", "drop_after_write", "429")
_ids = itertools.count(1)


@dataclass
class Fault:
    kind: str
    path: str = "/v1/"
    method: str = "POST"
    times: int = 1
    seconds: float = 1.0
    code: str = "rate_limit"
    id: int = field(default_factory=lambda: next(_ids))

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {KINDS}")
        if self.times < 1:
            raise ValueError("times must be >= 1")
        if self.code not in ("rate_limit", "lock_timeout"):
            raise ValueError("code must be rate_limit or lock_timeout")
        self.method = self.method.upper()

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method.upper()) and path.startswith(self.path)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultQueue:
    """Thread-safe FIFO of pending faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """Consume one firing of the first fault matching this request."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
