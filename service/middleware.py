"""ASGI middleware: a request id and metrics for every request, and the request body size and time limits."""

import asyncio
import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import build_error_response
from service.schemas import FieldError
from service.metrics import ServiceMetrics

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
# Caller-supplied ids are echoed into headers and logs, so only short plain tokens are kept.
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
UNMATCHED_ROUTE = "unmatched"


def read_request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER.encode():
            candidate = value.decode("latin-1")
            if VALID_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """Assign a request id, echo it in X-Request-ID, and count and time each request.

    It is plain ASGI rather than BaseHTTPMiddleware, which costs a task and a
    stream copy per request.
    """

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = read_request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500  # Stays 500 if the app raises before it starts a response.

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                if REQUEST_ID_HEADER not in headers:
                    headers.append(REQUEST_ID_HEADER, request_id)
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.record(scope, status, time.perf_counter() - started)

    def record(self, scope: Scope, status: int, duration: float) -> None:
        route = scope.get("route")
        # The template ('/forecast'), never the raw path, so unknown URLs cannot grow the label set.
        route_label = getattr(route, "path", UNMATCHED_ROUTE)
        labels = {"route": route_label, "method": scope["method"], "status": str(status)}
        self.metrics.http_requests.labels(**labels).inc()
        self.metrics.http_request_duration.labels(**labels).observe(duration)


class BodyLimitError(StarletteHTTPException):
    """A request body over a limit, raised from `receive` while the app reads the body.

    It is an HTTPException because FastAPI re-raises those from body parsing, so the
    app's handler renders the error shape. FastAPI turns any other type into a 400.
    The connection is closed afterwards, because the rest of the body was never read.
    """

    def __init__(self, status_code: int, expected: str, received: str) -> None:
        self.field_error = FieldError(field="body", message=f"body: expected {expected}, received {received}", expected=expected, received=received)
        super().__init__(status_code=status_code, detail=self.field_error.message, headers={"Connection": "close"})


def body_too_large(limit: int, received: str) -> BodyLimitError:
    return BodyLimitError(413, f"at most {limit} bytes (FORECAST_MAX_BODY_BYTES)", received)


def body_too_slow(timeout: float, received: int) -> BodyLimitError:
    return BodyLimitError(408, f"the whole body within {timeout:g} s (FORECAST_BODY_TIMEOUT_SECONDS)", f"{received} bytes by then")


def read_content_length(scope: Scope) -> int | None:
    """Return the declared Content-Length, or None when it is absent or not an integer.

    With None the body is still counted as it arrives, so the limit applies either way.
    """
    value = Headers(scope=scope).get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


class BodyLimitMiddleware:
    """Reject request bodies over `max_bytes` with 413, and bodies slower than `timeout` with 408.

    A declared Content-Length over the limit is rejected before the app runs. A
    chunked body, which declares no length, is counted as `receive` returns it and
    rejected once the count passes the limit, so at most `max_bytes` plus one chunk
    is ever buffered. Starlette's RequestBodyLimitMiddleware counts too, but responds
    in plain text on some paths, and every response here uses the error shape.
    The time limit counts from the app's first read of the body, so a client that
    sends a body slowly, or never finishes it, cannot hold a request open.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        declared = read_content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self.reject(scope, receive, send, body_too_large(self.max_bytes, f"a Content-Length of {declared} bytes"))
            return

        received = 0
        deadline: float | None = None
        body_complete = False
        response_started = False

        async def receive_within_limits() -> Message:
            nonlocal received, deadline, body_complete
            if body_complete:
                # Later reads wait for the client to disconnect, which has no time limit.
                return await receive()

            if deadline is None:
                deadline = asyncio.get_running_loop().time() + self.timeout
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise body_too_slow(self.timeout, received) from None

            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_complete = not message.get("more_body", False)
                if received > self.max_bytes:
                    raise body_too_large(self.max_bytes, f"more than {self.max_bytes} bytes")
            return message

        async def send_tracking_start(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive_within_limits, send_tracking_start)
        except BodyLimitError as error:
            # Reached only when the error escaped the app's own handlers.
            if response_started:
                raise
            await self.reject(scope, receive, send, error)

    async def reject(self, scope: Scope, receive: Receive, send: Send, error: BodyLimitError) -> None:
        request_id = scope.get("state", {}).get("request_id")
        logger.info("rejected request %s: %s", request_id or "-", error.detail)
        response = build_error_response(error.status_code, error.detail, request_id, [error.field_error])
        response.headers.update(error.headers)
        await response(scope, receive, send)
