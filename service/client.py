"""Typed HTTP clients of the forecast service, synchronous and asynchronous, on httpx.

    with ForecastClient("http://127.0.0.1:8000") as client:
        result = client.forecast(window, horizon=24)
        print(result.forecast, result.model_version)

Both clients retry a request that gets 503 (no model loaded yet, or a load
balancer without a ready backend) a bounded number of times, waiting longer
before each new attempt. Other errors raise ForecastAPIError at once, with the
service's error message. This module imports neither TensorFlow nor the app.
"""

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

import httpx

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 8.0
RETRY_STATUS = 503


@dataclass(frozen=True)
class Forecast:
    """The body of a successful POST /forecast."""

    forecast: list[float]
    horizon: int
    model_name: str
    model_version: int


@dataclass(frozen=True)
class Readiness:
    """The body of GET /readyz while a model is loaded."""

    status: str
    model_name: str
    model_version: int


class ForecastAPIError(Exception):
    """A response with a 4xx or 5xx status; `fields` lists the invalid request fields the service named."""

    def __init__(self, status_code: int, message: str, fields: list[dict[str, Any]], request_id: str | None) -> None:
        self.status_code = status_code
        self.message = message
        self.fields = fields
        self.request_id = request_id
        super().__init__(f"HTTP {status_code}: {message}")


def backoff_delay(attempt: int, backoff_seconds: float) -> float:
    """Return the wait before retry number `attempt` (0-based): doubling from backoff_seconds, capped."""
    return min(backoff_seconds * 2**attempt, MAX_BACKOFF_SECONDS)


def raise_for_error(response: httpx.Response) -> None:
    """Raise ForecastAPIError with the service's message when the status is 4xx or 5xx."""
    if response.status_code < 400:
        return

    try:
        error = response.json()["error"]
        message, fields, request_id = error["message"], error.get("fields", []), error.get("request_id")
    except (ValueError, KeyError, TypeError):
        # Not the service's error shape, e.g. a 502 page from a proxy in front of it.
        message, fields, request_id = response.text[:200] or response.reason_phrase, [], None
    raise ForecastAPIError(response.status_code, message, fields, request_id)


def auth_headers(api_key: str | None) -> dict[str, str]:
    """Return the header that carries the API key, for a service started with FORECAST_API_KEY."""
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def forecast_body(window: Sequence[float], horizon: int) -> dict[str, Any]:
    return {"window": list(window), "horizon": horizon}


def parse_forecast(response: httpx.Response) -> Forecast:
    body = response.json()
    return Forecast(body["forecast"], body["horizon"], body["model"]["name"], body["model"]["version"])


def parse_readiness(response: httpx.Response) -> Readiness:
    body = response.json()
    return Readiness(body["status"], body["model"]["name"], body["model"]["version"])


class ForecastClient:
    """Blocking client. Use it as a context manager, or call close()."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        retries: int = DEFAULT_RETRIES,
        backoff_seconds: float = DEFAULT_BACKOFF_SECONDS,
        api_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be 0 or more, got {retries}")
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self._http = httpx.Client(base_url=base_url, timeout=timeout, headers=auth_headers(api_key), transport=transport)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request, retrying on 503 up to `retries` times; raise ForecastAPIError on 4xx and 5xx."""
        for attempt in range(self.retries + 1):
            response = self._http.request(method, path, **kwargs)
            if response.status_code != RETRY_STATUS or attempt == self.retries:
                break
            time.sleep(backoff_delay(attempt, self.backoff_seconds))

        raise_for_error(response)
        return response

    def forecast(self, window: Sequence[float], horizon: int = 1) -> Forecast:
        return parse_forecast(self.request("POST", "/forecast", json=forecast_body(window, horizon)))

    def predict(self, model_name: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a TensorFlow Serving style body to /v1/models/{model_name}:predict and return the response body."""
        return self.request("POST", f"/v1/models/{model_name}:predict", json=body).json()

    def ready(self) -> Readiness:
        return parse_readiness(self.request("GET", "/readyz"))

    def model(self) -> dict[str, Any]:
        return self.request("GET", "/model").json()

    def metrics(self) -> str:
        return self.request("GET", "/metrics").text


class AsyncForecastClient:
    """Asyncio client with the same methods as ForecastClient. Use it with `async with`, or await aclose()."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        retries: int = DEFAULT_RETRIES,
        backoff_seconds: float = DEFAULT_BACKOFF_SECONDS,
        api_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be 0 or more, got {retries}")
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, headers=auth_headers(api_key), transport=transport)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request, retrying on 503 up to `retries` times; raise ForecastAPIError on 4xx and 5xx."""
        for attempt in range(self.retries + 1):
            response = await self._http.request(method, path, **kwargs)
            if response.status_code != RETRY_STATUS or attempt == self.retries:
                break
            await asyncio.sleep(backoff_delay(attempt, self.backoff_seconds))

        raise_for_error(response)
        return response

    async def forecast(self, window: Sequence[float], horizon: int = 1) -> Forecast:
        return parse_forecast(await self.request("POST", "/forecast", json=forecast_body(window, horizon)))

    async def predict(self, model_name: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a TensorFlow Serving style body to /v1/models/{model_name}:predict and return the response body."""
        return (await self.request("POST", f"/v1/models/{model_name}:predict", json=body)).json()

    async def ready(self) -> Readiness:
        return parse_readiness(await self.request("GET", "/readyz"))

    async def model(self) -> dict[str, Any]:
        return (await self.request("GET", "/model")).json()

    async def metrics(self) -> str:
        return (await self.request("GET", "/metrics")).text
