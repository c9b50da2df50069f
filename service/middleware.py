"""ASGI middleware that gives every request an id and records its metrics."""

import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.metrics import ServiceMetrics

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
