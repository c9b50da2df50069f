"""Hostile request bodies and unexpected errors: every answer is a 4xx or an opaque 500 in the error shape."""

import json
import logging
import sys
from pathlib import Path
from typing import AsyncIterator

import anyio
import httpx
import pytest
from asgi_lifespan import LifespanManager
from prometheus_client import CollectorRegistry

from service.app import create_app
from service.model_store import ServedModel
from service.settings import MEBIBYTE, Settings

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

WINDOW = [0.5] * 50
SMALL_LIMIT = 2048
JSON_HEADERS = {"Content-Type": "application/json"}


def valid_body_of_size(size: int) -> bytes:
    """A valid forecast request padded with JSON whitespace to exactly `size` bytes."""
    body = json.dumps({"window": WINDOW}).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


@pytest.fixture
async def small_limit_client(trained_model_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(model_dir=trained_model_dir, max_body_bytes=SMALL_LIMIT)
    app = create_app(settings, registry=CollectorRegistry())
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver") as client:
            yield client


def test_settings_max_body_bytes_defaults_to_one_mebibyte() -> None:
    assert Settings().max_body_bytes == MEBIBYTE == 1_048_576


async def test_body_limit_accepts_body_at_limit(small_limit_client: httpx.AsyncClient) -> None:
    response = await small_limit_client.post("/forecast", content=valid_body_of_size(SMALL_LIMIT), headers=JSON_HEADERS)

    assert response.status_code == 200


async def test_body_limit_rejects_content_length_before_parsing(small_limit_client: httpx.AsyncClient) -> None:
    # Invalid JSON would get 422 if it were parsed; 413 shows the size check came first.
    response = await small_limit_client.post("/forecast", content=b"{" * (SMALL_LIMIT + 1), headers=JSON_HEADERS)

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert error["message"] == (
        f"body: expected at most {SMALL_LIMIT} bytes (FORECAST_MAX_BODY_BYTES), "
        f"received a Content-Length of {SMALL_LIMIT + 1} bytes"
    )
    assert error["fields"][0]["field"] == "body"
    assert error["fields"][0]["received"] == f"a Content-Length of {SMALL_LIMIT + 1} bytes"
    assert error["request_id"] == response.headers["X-Request-ID"]


async def test_body_limit_rejects_chunked_body(small_limit_client: httpx.AsyncClient) -> None:
    chunks_sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal chunks_sent
        for _ in range(100):
            chunks_sent += 1
            yield b"{" * 512

    response = await small_limit_client.post("/forecast", content=chunks(), headers=JSON_HEADERS)

    assert response.status_code == 413
    assert response.json()["error"]["message"] == (
        f"body: expected at most {SMALL_LIMIT} bytes (FORECAST_MAX_BODY_BYTES), received more than {SMALL_LIMIT} bytes"
    )
    assert response.json()["error"]["fields"][0]["field"] == "body"
    assert response.headers["Connection"] == "close"
    assert chunks_sent < 100


async def test_body_limit_applies_to_unknown_routes(small_limit_client: httpx.AsyncClient) -> None:
    response = await small_limit_client.post("/nowhere", content=b"x" * (SMALL_LIMIT + 1))

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.fixture
async def slow_body_client(trained_model_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(model_dir=trained_model_dir, body_timeout_seconds=0.5)
    app = create_app(settings, registry=CollectorRegistry())
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver") as client:
            yield client


async def test_body_timeout_rejects_stalled_body(slow_body_client: httpx.AsyncClient) -> None:
    async def stalled() -> AsyncIterator[bytes]:
        yield b'{"window": [0.5, '
        await anyio.sleep(30)
        yield b"0.5]}"

    with anyio.fail_after(10):
        response = await slow_body_client.post("/forecast", content=stalled(), headers=JSON_HEADERS)

    assert response.status_code == 408
    error = response.json()["error"]
    assert error["code"] == "request_timeout"
    assert error["message"] == "body: expected the whole body within 0.5 s (FORECAST_BODY_TIMEOUT_SECONDS), received 17 bytes by then"
    assert error["fields"][0]["field"] == "body"
    assert response.headers["Connection"] == "close"


async def test_body_timeout_allows_body_in_time(slow_body_client: httpx.AsyncClient) -> None:
    async def in_parts() -> AsyncIterator[bytes]:
        yield b'{"window": '
        await anyio.sleep(0.1)
        yield json.dumps(WINDOW).encode() + b"}"

    response = await slow_body_client.post("/forecast", content=in_parts(), headers=JSON_HEADERS)

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("headers", "received"),
    [
        pytest.param({"Content-Type": "text/plain"}, "'text/plain'", id="text"),
        pytest.param({"Content-Type": "application/x-www-form-urlencoded"}, "'application/x-www-form-urlencoded'", id="form"),
        pytest.param({"Content-Type": "application/json; charset=latin-1"}, "'application/json; charset=latin-1'", id="latin-1"),
        pytest.param({}, "no Content-Type header", id="missing"),
    ],
)
async def test_forecast_rejects_non_json_content_type(client: httpx.AsyncClient, headers: dict, received: str) -> None:
    content = json.dumps({"window": WINDOW}).encode()

    response = await client.post("/forecast", content=content, headers=headers)

    assert response.status_code == 415
    error = response.json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert error["message"] == f"Content-Type: expected application/json, optionally with charset=utf-8, received {received}"
    assert error["fields"][0]["field"] == "Content-Type"
    metrics = (await client.get("/metrics")).text
    assert 'forecast_validation_failures_total{reason="content_type"} 1.0' in metrics


@pytest.mark.parametrize("content_type", ["application/json; charset=UTF-8", "Application/JSON", "application/vnd.forecast+json"])
async def test_forecast_accepts_json_content_types(client: httpx.AsyncClient, content_type: str) -> None:
    content = json.dumps({"window": WINDOW}).encode()

    response = await client.post("/forecast", content=content, headers={"Content-Type": content_type})

    assert response.status_code == 200


async def test_forecast_empty_body_names_json_object(client: httpx.AsyncClient) -> None:
    response = await client.post("/forecast", content=b"", headers=JSON_HEADERS)

    assert response.status_code == 422
    assert response.json()["error"]["message"] == "body: expected a JSON object, received nothing (the field is missing)"


def deeply_nested(depth: int) -> bytes:
    return b'{"window": ' + b"[" * depth + b"]" * depth + b"}"


INT_DIGITS_LIMIT = sys.get_int_max_str_digits()
UNPARSABLE_BODIES = [
    pytest.param(
        deeply_nested(100_000),
        "body: expected JSON nested less deeply, received JSON nested too deeply to parse",
        id="nested-100000",
    ),
    pytest.param(
        b'{"window": [' + b"9" * 5000 + b"]}",
        f"body: expected numbers of at most {INT_DIGITS_LIMIT} digits, received a number with more than {INT_DIGITS_LIMIT} digits",
        id="integer-5000-digits",
    ),
    pytest.param(
        b'{"window": "\xff\xfe"}',
        "body: expected a body encoded as UTF-8, received invalid UTF-8 at byte 12",
        id="invalid-utf8",
    ),
]


@pytest.mark.parametrize(("content", "message"), UNPARSABLE_BODIES)
async def test_forecast_rejects_unparsable_body(client: httpx.AsyncClient, content: bytes, message: str) -> None:
    response = await client.post("/forecast", content=content, headers=JSON_HEADERS)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "bad_request"
    assert error["message"] == message
    assert error["fields"][0]["field"] == "body"


async def test_forecast_rejects_long_float_as_invalid_value(client: httpx.AsyncClient) -> None:
    # Digits in a float literal have no length limit in json.loads; the value check answers instead.
    response = await client.post("/forecast", content=b'{"window": [' + b"9" * 5000 + b".5]}", headers=JSON_HEADERS)

    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "window"


@pytest.fixture
async def faulty_client(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose model call raises, and whose transport returns the app's 500 instead of raising."""
    app = create_app(settings, registry=CollectorRegistry())
    async with LifespanManager(app) as manager:

        def broken_forecast(self: ServedModel, windows: object, horizon: int) -> object:
            raise RuntimeError("injected fault in the model call")

        monkeypatch.setattr(ServedModel, "forecast", broken_forecast)
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_unexpected_error_returns_opaque_500(faulty_client: httpx.AsyncClient) -> None:
    response = await faulty_client.post("/forecast", json={"window": WINDOW}, headers={"X-Request-ID": "fault-42"})

    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "internal_error"
    assert error["message"] == "internal error; quote request id fault-42 when reporting it"
    assert "injected" not in response.text
    assert error["request_id"] == "fault-42"
    assert response.headers["X-Request-ID"] == "fault-42"


async def test_unexpected_error_logs_traceback_with_request_id(faulty_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="service.errors"):
        response = await faulty_client.post("/forecast", json={"window": WINDOW})

    request_id = response.headers["X-Request-ID"]
    records = [record for record in caplog.records if record.name == "service.errors"]
    assert len(records) == 1
    assert request_id in records[0].getMessage()
    assert records[0].exc_info is not None
    assert "injected fault in the model call" in caplog.text
    assert "Traceback" in caplog.text


async def test_unexpected_error_counted_as_500(faulty_client: httpx.AsyncClient) -> None:
    await faulty_client.post("/forecast", json={"window": WINDOW})

    metrics = (await faulty_client.get("/metrics")).text
    assert 'forecast_http_requests_total{method="POST",route="/forecast",status="500"} 1.0' in metrics


def test_live_chunked_body_over_default_limit_gets_413(live_server: str) -> None:
    def chunks():
        for _ in range(40):
            yield b" " * 65536

    response = httpx.post(f"{live_server}/forecast", content=chunks(), headers=JSON_HEADERS, timeout=30)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_live_content_length_over_default_limit_gets_413(live_server: str) -> None:
    response = httpx.post(f"{live_server}/forecast", content=b" " * (MEBIBYTE + 1), headers=JSON_HEADERS, timeout=30)

    assert response.status_code == 413


@pytest.mark.parametrize("content", [param.values[0] for param in UNPARSABLE_BODIES], ids=[param.id for param in UNPARSABLE_BODIES])
def test_live_unparsable_body_leaves_server_responsive(live_server: str, content: bytes) -> None:
    response = httpx.post(f"{live_server}/forecast", content=content, headers=JSON_HEADERS, timeout=30)
    health = httpx.get(f"{live_server}/healthz", timeout=5)

    assert response.status_code == 400
    assert health.status_code == 200
