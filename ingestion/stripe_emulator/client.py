"""``client_for``: a real ``stripe.StripeClient`` pointed at the emulator.

``stripe-python`` 16 retries on its own when ``max_network_retries > 0``: connection errors
and timeouts, 409s, 5xx, and whatever ``Stripe-Should-Retry: true`` marks, but never when
``Stripe-Should-Retry: false``; 429s without that header are *not* retried. Every POST gets an
``Idempotency-Key`` (a random UUID unless the caller passes ``idempotency_key=``) generated
once per call, so all retries of one call share it. Backoff is 0.5 s doubling up to 5 s with
jitter; ``retry_delay`` replaces it with ``retry_delay * 2**(n-1)`` seconds (no jitter) so
tests retry quickly.
"""

from __future__ import annotations

import stripe

DEFAULT_API_KEY = "sk_test_emulator"


class _QuickRetryClient(stripe.RequestsClient):
    """The SDK's requests-based client with a deterministic, short retry backoff."""

    def __init__(self, retry_delay: float, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._retry_delay = retry_delay

    def _sleep_time_seconds(self, num_retries: int) -> float:
        return float(self._retry_delay * (2 ** (num_retries - 1)))


def client_for(
    url: str,
    api_key: str = DEFAULT_API_KEY,
    *,
    max_network_retries: int = 2,
    timeout: float = 80.0,
    retry_delay: float | None = None,
) -> stripe.StripeClient:
    """A ``StripeClient`` whose every base address (api, files, connect, meter_events) is ``url``.

    ``timeout`` is the HTTP read/connect timeout in seconds (the SDK default is 80);
    ``retry_delay`` shortens the SDK's retry backoff (see the module docstring).
    """
    http_client: stripe.HTTPClient
    if retry_delay is not None:
        http_client = _QuickRetryClient(retry_delay=retry_delay, timeout=timeout)
    else:
        http_client = stripe.RequestsClient(timeout=timeout)
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": url, "files": url, "connect": url, "meter_events": url},
        max_network_retries=max_network_retries,
        http_client=http_client,
    )
