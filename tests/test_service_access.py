"""Access: the API key guards every route but the probes, metrics and docs; no route changes server state."""

import hashlib
import re
from pathlib import Path
from typing import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from service import security
from service.app import OPEN_PATHS, create_app
from service.settings import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

API_KEY = "test-key-7f3a9c"
WINDOW = [0.1] * 50
BODY_FOR_METHOD = {"POST": {"window": WINDOW}}


@pytest.fixture
def protected_app(trained_model_dir: Path) -> FastAPI:
    return create_app(Settings(model_dir=trained_model_dir, api_key=API_KEY), registry=CollectorRegistry())


@pytest.fixture
async def protected_client(protected_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(protected_app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver") as client:
            yield client


async def test_auth_rejects_missing_key(protected_client: httpx.AsyncClient) -> None:
    response = await protected_client.post("/forecast", json={"window": WINDOW})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.json()["error"]["message"] == "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
    assert response.json()["error"]["request_id"] == response.headers["X-Request-ID"]


WRONG_CREDENTIALS = [
    pytest.param({"Authorization": "Bearer not-the-key"}, id="wrong-bearer"),
    pytest.param({"X-API-Key": "not-the-key"}, id="wrong-header"),
    pytest.param({"X-API-Key": API_KEY[:-1]}, id="key-prefix"),
    pytest.param({"Authorization": f"Bearer {API_KEY}x"}, id="key-with-suffix"),
    pytest.param({"X-API-Key": "clé".encode()}, id="non-ascii-key"),
]


@pytest.mark.parametrize("headers", WRONG_CREDENTIALS)
async def test_auth_rejects_wrong_key(protected_client: httpx.AsyncClient, headers: dict[str, str | bytes]) -> None:
    response = await protected_client.post("/forecast", json={"window": WINDOW}, headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["message"] == "invalid API key"


@pytest.mark.parametrize("headers", [{"Authorization": "Basic dXNlcjpwYXNz"}], ids=["basic-scheme"])
async def test_auth_rejects_other_scheme_as_missing(protected_client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await protected_client.post("/forecast", json={"window": WINDOW}, headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["message"].startswith("missing API key")


VALID_CREDENTIALS = [
    pytest.param({"Authorization": f"Bearer {API_KEY}"}, id="bearer"),
    pytest.param({"X-API-Key": API_KEY}, id="x-api-key"),
    pytest.param({"Authorization": "Bearer not-the-key", "X-API-Key": API_KEY}, id="one-of-two-matches"),
]


@pytest.mark.parametrize("headers", VALID_CREDENTIALS)
async def test_auth_accepts_valid_key(protected_client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    forecast = await protected_client.post("/forecast", json={"window": WINDOW}, headers=headers)
    model = await protected_client.get("/model", headers=headers)

    assert forecast.status_code == 200
    assert model.status_code == 200


async def test_auth_compares_with_compare_digest(protected_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    original = security.hmac.compare_digest

    def recording_compare(left: bytes, right: bytes) -> bool:
        calls.append((left, right))
        return original(left, right)

    monkeypatch.setattr(security.hmac, "compare_digest", recording_compare)
    await protected_client.get("/model", headers={"X-API-Key": "guess"})

    assert calls == [(b"guess", API_KEY.encode())]


@pytest.mark.parametrize("path", sorted(OPEN_PATHS - {"/docs/oauth2-redirect"}))
async def test_auth_leaves_open_paths_open(protected_client: httpx.AsyncClient, path: str) -> None:
    response = await protected_client.get(path)

    assert response.status_code == 200


def route_calls(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) in the app's OpenAPI document, path parameters filled with a placeholder.

    FastAPI (0.165) keeps included routers as private objects in app.routes, so
    the OpenAPI document is the public list of routes. A route declared with
    include_in_schema=False would be missing from it.
    """
    calls = []
    for path, operations in app.openapi()["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        calls.extend((method.upper(), concrete) for method in operations)
    return sorted(calls)


async def test_auth_protects_every_route_but_open_ones(protected_app: FastAPI, protected_client: httpx.AsyncClient) -> None:
    protected = [(method, path) for method, path in route_calls(protected_app) if path not in OPEN_PATHS]
    statuses = {}
    for method, path in protected:
        response = await protected_client.request(method, path, json=BODY_FOR_METHOD.get(method))
        statuses[f"{method} {path}"] = response.status_code

    assert ("POST", "/forecast") in protected
    assert ("GET", "/model") in protected
    assert statuses == {call: 401 for call in statuses}


async def test_auth_metrics_require_key_when_configured(trained_model_dir: Path) -> None:
    settings = Settings(model_dir=trained_model_dir, api_key=API_KEY, metrics_require_key=True)
    app = create_app(settings, registry=CollectorRegistry())
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver") as client:
            without_key = await client.get("/metrics")
            with_key = await client.get("/metrics", headers={"Authorization": f"Bearer {API_KEY}"})
            health = await client.get("/healthz")

    assert without_key.status_code == 401
    assert without_key.json()["error"]["code"] == "unauthorized"
    assert with_key.status_code == 200
    assert health.status_code == 200


async def test_auth_off_without_key_setting(client: httpx.AsyncClient) -> None:
    response = await client.post("/forecast", json={"window": WINDOW})

    assert response.status_code == 200


INVALID_AUTH_SETTINGS = [
    pytest.param({"api_key": ""}, "FORECAST_API_KEY is set but empty", id="empty-key"),
    pytest.param({"metrics_require_key": True}, "FORECAST_METRICS_REQUIRE_KEY=true needs FORECAST_API_KEY", id="metrics-without-key"),
]


@pytest.mark.parametrize(("values", "message"), INVALID_AUTH_SETTINGS)
def test_settings_reject_invalid_auth(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**values)


# The only POST routes, with path parameters filled in as route_calls does: each computes a forecast and changes no state.
COMPUTE_PATHS = {"/forecast", "/forecast/batch", "/forecast/saliency", "/v1/models/x:predict", "/v1/models/x/versions/x:predict"}


def test_routes_use_only_read_and_compute_methods(protected_app: FastAPI) -> None:
    methods = {method for method, _ in route_calls(protected_app)}
    post_paths = {path for method, path in route_calls(protected_app) if method == "POST"}

    assert methods <= {"GET", "POST"}
    assert post_paths == COMPUTE_PATHS


def digest_tree(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


async def test_forecast_leaves_server_state_unchanged(client: httpx.AsyncClient, trained_model_dir: Path) -> None:
    files_before = digest_tree(trained_model_dir)
    model_before = (await client.get("/model")).json()

    for horizon in (1, 7, 1000):
        assert (await client.post("/forecast", json={"window": WINDOW, "horizon": horizon})).status_code == 200
    await client.post("/forecast", json={"window": WINDOW[:3]})

    assert (await client.get("/model")).json() == model_before
    assert digest_tree(trained_model_dir) == files_before
