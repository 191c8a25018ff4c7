"""Idempotent requests as Stripe documents them for API v1.

https://docs.stripe.com/api/idempotent_requests:

* Only ``POST`` requests take part (keys on GET and DELETE have no effect).
* Keys are scoped per API key (here: the secret key in ``Authorization``).
* Stripe saves the status code and body of the first request made with a key *after endpoint
  execution begins*; later requests with the key get that saved response, including 500s,
  marked with the response header ``Idempotent-Replayed: true``.
* Results are not saved when parameters fail validation (here: any error a handler raises
  before writing, see ``errors.ApiError.commit``) or when the request conflicts with one
  still executing; such requests may be retried with the same key.
* The same key with different parameters, or on another endpoint, is a 400
  ``idempotency_error`` (``IdempotencyError`` in the SDK).
* A key whose first request is still executing gives 409 ``idempotency_key_in_use``
  (``APIError`` in the SDK, which retries 409s).
* Keys can be pruned once at least 24 hours old; after that the key starts afresh. Here a
  record expires when the emulator clock is 24 hours (86,400 s) or more past its creation.
* Keys are at most 255 characters.

Records live in the persisted state, so a restarted emulator still replays them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .errors import ApiError
from .store import Store

TTL_SECONDS = 24 * 60 * 60
MAX_KEY_LENGTH = 255


@dataclass
class Stored:
    """A saved response to replay."""

    status: int
    body: str
    headers: dict[str, str]


def fingerprint(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()


class Idempotency:
    """Idempotency records over a :class:`Store` (callers hold ``store.lock``)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.in_flight: set[tuple[str, str]] = set()

    def _records(self) -> dict[str, dict[str, Any]]:
        return self.store.data.setdefault("idempotency", {})

    @staticmethod
    def _slot(api_key: str, key: str) -> str:
        return f"{api_key}\x1f{key}"

    def _prune(self) -> None:
        now = self.store.now()
        records = self._records()
        for slot in [s for s, r in records.items() if now - int(r["created"]) >= TTL_SECONDS]:
            del records[slot]
            self.store.dirty = True

    def begin(
        self, api_key: str, key: str, method: str, path: str, params: dict[str, Any]
    ) -> Stored | None:
        """A saved response to replay, None to execute (key now in flight), or raise."""
        if len(key) > MAX_KEY_LENGTH:
            raise ApiError(
                400,
                f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters.",
                type="idempotency_error",
            )
        if (api_key, key) in self.in_flight:
            raise ApiError(
                409,
                "There is currently another in-progress request using this idempotency key "
                "(that probably means you submitted twice, and the other request is still "
                f"going through): {key}. Please try again later.",
                type="idempotency_error",
                code="idempotency_key_in_use",
            )
        self._prune()
        record = self._records().get(self._slot(api_key, key))
        if record is None:
            self.in_flight.add((api_key, key))
            return None
        endpoint = f"{method} {path}"
        if record["endpoint"] != endpoint:
            raise ApiError(
                400,
                "Keys for idempotent requests can only be used for the same endpoint they "
                f"were first used for ('{record['endpoint']}' vs '{endpoint}'). Try using a "
                f"key other than '{key}' if you meant to execute a different request.",
                type="idempotency_error",
            )
        if record["fingerprint"] != fingerprint(params):
            raise ApiError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
                type="idempotency_error",
            )
        return Stored(int(record["status"]), record["body"], dict(record["headers"]))

    def complete(
        self,
        api_key: str,
        key: str,
        method: str,
        path: str,
        params: dict[str, Any],
        response: Stored,
    ) -> None:
        """Save the response of an executed request and release the key."""
        self._records()[self._slot(api_key, key)] = {
            "created": self.store.now(),
            "endpoint": f"{method} {path}",
            "fingerprint": fingerprint(params),
            "status": response.status,
            "body": response.body,
            "headers": response.headers,
        }
        self.in_flight.discard((api_key, key))
        self.store.dirty = True
        self.store.save_if_due()

    def release(self, api_key: str, key: str) -> None:
        """Forget an in-flight key without saving anything (validation errors, 429...)."""
        self.in_flight.discard((api_key, key))

    def reset(self) -> None:
        self.in_flight.clear()
