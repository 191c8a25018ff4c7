"""The HTTP layer: a ``ThreadingHTTPServer`` speaking Stripe's v1 wire protocol.

Request pipeline (:meth:`EmulatorServer.dispatch`):

1. ``/_emulator/...`` control endpoints (JSON, no auth) are answered directly.
2. Authentication: ``Authorization: Bearer sk_test_...`` (or HTTP Basic with the key as user,
   as ``curl -u sk_test_x:`` sends). Missing or non-test keys get Stripe's 401.
3. Parameters: the query string (GET/DELETE) or the form body (POST), bracket-parsed.
4. Routing; an unknown path is Stripe's 404 ``Unrecognized request URL``.
5. Idempotency (POST with ``Idempotency-Key``): replay, 400 ``idempotency_error`` or 409.
6. Faults (``faults.py``): ``429`` and ``500_before`` answer without executing.
7. Execution under the state lock, in a transaction: committed and persisted on success,
   rolled back on a validation error. ``expand`` is applied to the result.
8. After-faults (``500_after``, ``timeout``, ``drop_after_write``), saving the response under
   the idempotency key when execution began, and the request log.

Responses carry ``Request-Id``, ``Stripe-Version``, the echoed ``Idempotency-Key``,
``Idempotent-Replayed: true`` on replays and ``Stripe-Should-Retry`` where Stripe sends it.
Control endpoints: ``POST /_emulator/faults`` (JSON fault or list of faults), ``GET`` /
``DELETE /_emulator/faults``, ``POST /_emulator/clock`` (``{"advance": seconds}``),
``GET /_emulator/clock``, ``POST /_emulator/reset``, ``GET /_emulator/state``,
``GET /_emulator/requests``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
import threading
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import resources
from .errors import ApiError, unknown_url
from .faults import Fault, FaultQueue
from .forms import parse_form
from .idempotency import Idempotency, Stored
from .resources.base import API_VERSION, Ctx, apply_expand, render
from .store import Store

_TEST_KEY = re.compile(r"^(sk|rk)_test_[A-Za-z0-9_]+$")
DROP = object()  # dispatch result: close the connection without answering


@dataclass
class RequestLogEntry:
    """One API request as the emulator saw it (control endpoints are not logged)."""

    method: str
    path: str
    idempotency_key: str | None
    status: int | None  # None: connection dropped without a response
    replayed: bool = False
    fault: str | None = None
    request_id: str | None = None


@dataclass
class Response:
    status: int
    body: str
    headers: dict[str, str]


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(payload, indent=2), dict(headers or {}))


def _api_error(message: str) -> ApiError:
    return ApiError(
        500,
        message,
        type="api_error",
        headers={},
    )


class EmulatorServer:
    """A Stripe-compatible HTTP server on a background thread.

    ``with EmulatorServer(state_path=path) as srv: client_for(srv.url)...``. ``port=0`` picks a
    free port. ``clock_start`` freezes the emulator clock at that unix time (it then moves
    only with :meth:`advance_clock`); by default it follows the wall clock plus the offset
    accumulated by :meth:`advance_clock`.
    """

    def __init__(
        self,
        state_path: Path | str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock_start: int | None = None,
        save_interval: float = 0.0,
    ) -> None:
        self.host, self.port = host, port
        self.store = Store(
            Path(state_path) if state_path else None,
            clock_start=clock_start,
            save_interval=save_interval,
        )
        self._flusher: threading.Thread | None = None
        self.idempotency = Idempotency(self.store)
        self.faults = FaultQueue()
        self._log: list[RequestLogEntry] = []
        self._log_lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> EmulatorServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer((self.host, self.port), _Handler)
        self._httpd.emulator = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="stripe-emulator",
            daemon=True,
        )
        self._thread.start()
        if self.store.save_interval > 0:
            self._flusher = threading.Thread(
                target=self._flush_loop, name="stripe-emulator-flush", daemon=True
            )
            self._flusher.start()
        return self

    def _flush_loop(self) -> None:
        """With a save interval, write the state left dirty by the last requests."""
        while not self._stopping.wait(self.store.save_interval):
            with self.store.lock:
                if self.store.dirty:
                    self.store.save()

    def stop(self) -> None:
        self._stopping.set()
        if self._flusher is not None:
            self._flusher.join(timeout=5)
            self._flusher = None
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self.store.lock:
            self.store.save()

    def serve_forever(self, on_ready: Any = None) -> None:
        """Serve on the calling thread until interrupted (the CLI); ``on_ready(url)`` once bound."""
        self._httpd = _HTTPServer((self.host, self.port), _Handler)
        self._httpd.emulator = self
        self.port = self._httpd.server_address[1]
        if on_ready is not None:
            on_ready(self.url)
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- test helpers -------------------------------------------------------------------

    def inject_fault(
        self,
        kind: str,
        path: str = "/v1/",
        method: str = "POST",
        *,
        times: int = 1,
        seconds: float = 1.0,
        code: str = "rate_limit",
    ) -> Fault:
        """Queue a fault (see ``faults.py``) for requests matching ``method`` and ``path``."""
        return self.faults.add(
            Fault(kind=kind, path=path, method=method, times=times, seconds=seconds, code=code)
        )

    def advance_clock(self, seconds: int) -> int:
        """Move the emulator clock forward; returns the new time."""
        return self.store.advance_clock(int(seconds))

    def now(self) -> int:
        with self.store.lock:
            return self.store.now()

    def reset(self) -> None:
        """Forget every object, event, idempotency key, fault and logged request."""
        with self.store.lock:
            self.store.reset()
            self.idempotency.reset()
        self.faults.clear()
        self.clear_request_log()

    @property
    def request_log(self) -> list[RequestLogEntry]:
        with self._log_lock:
            return list(self._log)

    def clear_request_log(self) -> None:
        with self._log_lock:
            self._log.clear()

    def state(self) -> dict[str, Any]:
        """The raw persisted state (objects include hidden ``_`` bookkeeping keys)."""
        return self.store.snapshot()

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """Every live object of a kind (``customer``, ``invoice``...), rendered, oldest first."""
        with self.store.lock:
            return [
                render(self.store, kind, o) for o in self.store.all(kind) if not o.get("_deleted")
            ]

    # --- dispatch -----------------------------------------------------------------------

    def _record(self, entry: RequestLogEntry) -> None:
        with self._log_lock:
            self._log.append(entry)

    def dispatch(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> Response | object:
        """Answer one HTTP request (a :class:`Response`, or :data:`DROP`)."""
        split = urlsplit(raw_path)
        path = split.path.rstrip("/") or "/"
        if path.startswith("/_emulator"):
            return self._control(method, path, body)
        request_id = f"req_{uuid.uuid4().hex[:14]}"
        idem_key = headers.get("Idempotency-Key") if method == "POST" else None
        entry = RequestLogEntry(method, path, idem_key, None, request_id=request_id)
        base_headers = {"Request-Id": request_id, "Stripe-Version": API_VERSION}
        if idem_key:
            base_headers["Idempotency-Key"] = idem_key
        try:
            result = self._execute(
                method, path, split.query, headers, body, idem_key, entry, request_id
            )
        except ApiError as err:
            result = Response(err.status, json.dumps(err.body(), indent=2), dict(err.headers))
        if isinstance(result, Response):
            result.headers = {**base_headers, **result.headers}
            entry.status = result.status
        self._record(entry)
        return result

    def _authenticate(self, headers: Mapping[str, str]) -> str:
        auth = headers.get("Authorization") or ""
        key = ""
        if auth.startswith("Bearer "):
            key = auth[7:].strip()
        elif auth.startswith("Basic "):
            try:
                key = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                key = ""
        if not key:
            raise ApiError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        if not _TEST_KEY.match(key):
            masked = key[:8] + "*" * max(0, len(key) - 12) + key[-4:]
            raise ApiError(401, f"Invalid API Key provided: {masked}")
        return key

    def _execute(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        idem_key: str | None,
        entry: RequestLogEntry,
        request_id: str,
    ) -> Response | object:
        api_key = self._authenticate(headers)
        params = parse_form(query) if query else {}
        if method == "POST" and body:
            params.update(parse_form(body.decode("utf-8")))
        found = resources.match_route(method, path)
        if found is None:
            raise unknown_url(method, path)
        route, path_params = found

        if idem_key:
            with self.store.lock:
                stored = self.idempotency.begin(api_key, idem_key, method, path, params)
            if stored is not None:
                entry.replayed = True
                return Response(
                    stored.status, stored.body, {**stored.headers, "Idempotent-Replayed": "true"}
                )
        try:
            response, executed = self._run(
                method, path, params, api_key, idem_key, route, path_params, request_id, entry
            )
        except BaseException:
            if idem_key:
                with self.store.lock:
                    self.idempotency.release(api_key, idem_key)
            raise
        if idem_key:
            with self.store.lock:
                if executed and isinstance(response, Response):
                    self.idempotency.complete(
                        api_key,
                        idem_key,
                        method,
                        path,
                        params,
                        Stored(response.status, response.body, dict(response.headers)),
                    )
                else:
                    self.idempotency.release(api_key, idem_key)
        if entry.fault == "drop_after_write":
            return DROP
        return response

    def _run(
        self,
        method: str,
        path: str,
        params: dict[str, Any],
        api_key: str,
        idem_key: str | None,
        route: resources.base.Route,
        path_params: dict[str, str],
        request_id: str,
        entry: RequestLogEntry,
    ) -> tuple[Response, bool]:
        """Faults and the endpoint itself; returns the response and whether execution began."""
        fault = self.faults.take(method, path)
        entry.fault = fault.kind if fault else None
        if fault and fault.kind == "429":
            if fault.code == "lock_timeout":
                message = (
                    "This object cannot be accessed right now because another API request or "
                    "Stripe process is currently accessing it. Please retry."
                )
                extra = {"Stripe-Should-Retry": "true"}
            else:
                message = (
                    "Request rate limit exceeded. Learn more about rate limits here "
                    "https://stripe.com/docs/rate-limits."
                )
                extra = {"Stripe-Rate-Limited-Reason": "global-rate"}
            raise ApiError(429, message, code=fault.code, headers=extra)
        if fault and fault.kind == "500_before":
            raise _api_error("An unknown error occurred (emulated fault 500_before).")

        ctx = Ctx(self.store, params, api_key, request_id, idem_key)
        executed = True
        with self.store.lock:
            self.store.begin()
            try:
                result = route.handler(ctx, **path_params)
                apply_expand(self.store, result, params.get("expand"))
                response = _json(200, result)
                self.store.commit()
            except ApiError as err:
                if err.commit:
                    self.store.commit()
                else:
                    self.store.rollback()
                    executed = False
                response = Response(err.status, json.dumps(err.body(), indent=2), dict(err.headers))
            except Exception as exc:  # an emulator bug: answer like Stripe's 500, keep nothing
                self.store.rollback()
                executed = False
                err = _api_error(f"Emulator error: {type(exc).__name__}: {exc}")
                response = Response(500, json.dumps(err.body(), indent=2), {})

        if fault and fault.kind == "500_after" and executed:
            err = _api_error("An unknown error occurred (emulated fault 500_after).")
            response = Response(
                500, json.dumps(err.body(), indent=2), {"Stripe-Should-Retry": "false"}
            )
        elif fault and fault.kind == "timeout":
            self._stopping.wait(fault.seconds)
        return response, executed

    # --- control endpoints --------------------------------------------------------------

    def _control(self, method: str, path: str, body: bytes) -> Response:
        try:
            payload = json.loads(body.decode() or "{}") if body else {}
        except ValueError:
            return _json(400, {"error": {"message": "control endpoints take a JSON body"}})
        try:
            if path == "/_emulator/faults":
                if method == "POST":
                    specs = payload if isinstance(payload, list) else [payload]
                    added = [self.inject_fault(**spec).to_dict() for spec in specs]
                    return _json(200, {"faults": added})
                if method == "DELETE":
                    self.faults.clear()
                return _json(200, {"faults": [f.to_dict() for f in self.faults.pending()]})
            if path == "/_emulator/clock":
                if method == "POST":
                    return _json(200, {"now": self.advance_clock(int(payload.get("advance", 0)))})
                return _json(200, {"now": self.now()})
            if path == "/_emulator/reset" and method == "POST":
                self.reset()
                return _json(200, {"reset": True})
            if path == "/_emulator/state" and method == "GET":
                return _json(200, self.state())
            if path == "/_emulator/requests" and method == "GET":
                return _json(200, {"requests": [asdict(e) for e in self.request_log]})
        except (TypeError, ValueError) as exc:
            return _json(400, {"error": {"message": str(exc)}})
        return _json(404, {"error": {"message": f"unknown control endpoint {method} {path}"}})


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    emulator: EmulatorServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    timeout = 60

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every response
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        result = self.server.emulator.dispatch(self.command, self.path, self.headers, body)
        if not isinstance(result, Response):
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        data = result.body.encode()
        try:
            self.send_response(result.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in result.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the emulator keeps its own request log."""


def serve(state_path: Path | str | None, host: str = "127.0.0.1", port: int = 12111) -> None:
    """Run the emulator in the foreground until interrupted (``meterhouse stripe-emulator``)."""
    server = EmulatorServer(state_path=state_path, host=host, port=port)

    def ready(url: str) -> None:
        print(
            f"Stripe emulator listening on {url} (state: {state_path or 'in memory'})", flush=True
        )

    try:
        server.serve_forever(on_ready=ready)
    except KeyboardInterrupt:
        pass
    finally:
        with server.store.lock:
            server.store.save()
