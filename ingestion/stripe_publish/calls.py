"""One Stripe call: retries with exponential backoff, classification, and a ledger row per attempt.

Retried (same idempotency key, ``RetryPolicy`` backoff): 429, connection errors (no answer: the
call may have run; the same key replays it if it did), 409 ``idempotency_key_in_use``, and 5xx
that Stripe did not store (no ``Stripe-Should-Retry: false``, not ``Idempotent-Replayed``).
Never retried: 4xx, and a 5xx stored under the key (``stored_error``): replaying that key would
return the same 500 forever, so the caller resolves it by a lookup instead (see ``publisher``).

The publisher does its own retries so that every attempt is in the ledger; a ``StripeClient``
with ``max_network_retries > 0`` also works (its retries reuse the key and count as one call).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import stripe

from .ledger import CallRecord, Ledger, params_digest


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` tries per call; the n-th retry waits ``min(max_delay, base_delay * 2**(n-1))``."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def delay(self, retry: int) -> float:
        return float(min(self.max_delay, self.base_delay * (2 ** (retry - 1))))


class StripeCallFailed(Exception):
    """A call that did not succeed: ``outcome`` is the classification of its last attempt."""

    def __init__(
        self, step: str, outcome: str, status: int | None, message: str, attempts: int
    ) -> None:
        self.step = step
        self.outcome = outcome
        self.status = status
        self.message = message
        self.attempts = attempts
        where = f"HTTP {status}" if status else "no HTTP answer"
        super().__init__(
            f"{step}: {outcome} ({where}) after {attempts} attempt(s): {message}".strip()
        )


def _headers(obj: Any) -> dict[str, str]:
    raw = getattr(obj, "headers", None) or {}
    return {str(k).lower(): str(v) for k, v in dict(raw).items()}


def classify(err: stripe.StripeError) -> tuple[str, bool]:
    """(outcome, retry with the same key?) for a Stripe error."""
    status = err.http_status
    headers = _headers(err)
    if isinstance(err, stripe.APIConnectionError):
        return "connection_error", True
    if isinstance(err, stripe.RateLimitError) or status == 429:
        return "rate_limited", True
    if status == 409:
        return "key_in_use", True
    if status is not None and status >= 500:
        if (
            headers.get("idempotent-replayed") == "true"
            or headers.get("stripe-should-retry") == "false"
        ):
            return "stored_error", False
        return "server_error", True
    if status == 404:
        return "not_found", False
    if headers.get("stripe-should-retry") == "true":
        return "server_error", True
    return "client_error", False


@dataclass
class Caller:
    """Makes Stripe calls for one publish run and records each attempt in the ledger."""

    ledger: Ledger
    retry: RetryPolicy
    calls: int = 0
    writes: int = 0

    def call(
        self,
        *,
        step: str,
        document_type: str,
        document_id: str,
        line_id: str | None,
        endpoint: str,
        params: dict[str, Any] | None,
        fn: Callable[[dict[str, Any] | None, dict[str, Any]], Any],
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Call ``fn(params, options)`` until it succeeds or fails for good; the object as a dict."""
        digest = params_digest(params)
        options: dict[str, Any] = {}
        if idempotency_key is not None:
            options["idempotency_key"] = idempotency_key
            self.writes += 1
        attempt = 0
        while True:
            attempt += 1
            self.calls += 1
            record = CallRecord(
                document_type=document_type,
                document_id=document_id,
                line_id=line_id,
                step=step,
                endpoint=endpoint,
                idempotency_key=idempotency_key,
                params_digest=digest,
                attempt=attempt,
                outcome="ok",
                http_status=None,
                stripe_object_id=None,
                stripe_request_id=None,
                error=None,
            )
            try:
                obj = fn(params, options)
            except stripe.StripeError as err:
                outcome, retryable = classify(err)
                record.outcome = outcome
                record.http_status = err.http_status
                record.stripe_request_id = err.request_id
                record.error = f"{type(err).__name__}: {err.user_message or err}"[:2000]
                self.ledger.record_call(record)
                if retryable and attempt < self.retry.max_attempts:
                    self.retry.sleep(self.retry.delay(attempt))
                    continue
                raise StripeCallFailed(
                    step, outcome, err.http_status, str(err.user_message or err), attempt
                ) from err
            response = getattr(obj, "last_response", None)
            headers = _headers(response) if response is not None else {}
            data = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
            if headers.get("idempotent-replayed") == "true":
                record.outcome = "ok_replayed"
            record.http_status = getattr(response, "code", 200) if response is not None else 200
            record.stripe_request_id = headers.get("request-id")
            if isinstance(data.get("id"), str):
                record.stripe_object_id = data["id"]
            self.ledger.record_call(record)
            return data
