"""Stripe-shaped API errors.

Stripe answers every failure with ``{"error": {"type", "message", "code", "param", ...}}`` and an
HTTP status the SDK maps to an exception class (``stripe-python`` 16, ``_api_requestor.py``):

* 400 / 404 -> ``InvalidRequestError`` (``IdempotencyError`` when ``type == "idempotency_error"``)
* 401 -> ``AuthenticationError``; 402 -> ``CardError``; 429 -> ``RateLimitError``
* 409 and every 5xx -> ``APIError``

A handler raises :class:`ApiError`; the HTTP layer turns it into the response. ``commit`` says
whether the writes made before the error stand and the response is stored under the idempotency
key: Stripe stores a result only once an endpoint *began executing*, so validation failures
(the default here) are neither written nor stored, while a card decline (a failed charge was
recorded) is both.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the emulator answers with a Stripe-shaped body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        commit: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        self.commit = commit

    def body(self) -> dict[str, Any]:
        """The JSON body Stripe would send."""
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


def invalid(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    """A 400 ``invalid_request_error`` (bad value, invalid state transition...)."""
    return ApiError(400, message, param=param, code=code)


def missing_param(param: str) -> ApiError:
    """A 400 ``parameter_missing`` error, as Stripe sends for a required parameter."""
    return ApiError(400, f"Missing required param: {param}.", param=param, code="parameter_missing")


def no_such(kind: str, obj_id: str, param: str = "id") -> ApiError:
    """A 404 ``resource_missing`` error: ``No such customer: 'cus_x'``."""
    return ApiError(404, f"No such {kind}: '{obj_id}'", param=param, code="resource_missing")


def unknown_url(method: str, path: str) -> ApiError:
    """Stripe's answer to a path it has no endpoint for."""
    return ApiError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
    )
