"""Micro-batching, bucket padding and POST /forecast/batch, in process with the real trained model."""

import asyncio
import logging
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
import tensorflow as tf
from asgi_lifespan import LifespanManager
from prometheus_client import CollectorRegistry

from service.app import create_app
from service.batching import ForecastBatcher
from service.errors import InferenceError, ModelUnavailableError
from service.metrics import ServiceMetrics
from service.model_store import ServedModel, bucket_sizes, load_version
from service.settings import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

WINDOW_EXPECTED = "a list of 50 numbers or 50 one-element lists"
# A window value that the fault-injection wrappers below recognise.
MARKER = 123.25
BOUNDED_WAIT_SECONDS = 60.0


def make_window(phase: float) -> list[float]:
    return [round(float(np.sin(0.1 * t + phase)), 6) for t in range(50)]


WINDOWS = [make_window(0.3 * index) for index in range(5)]


def expected_forecast(model_dir: Path, windows: list[list[float]], horizon: int) -> np.ndarray:
    """Forecast each window alone, straight from the SavedModel, with no padding or batching."""
    loaded = tf.saved_model.load(str(model_dir / "sine" / "1"))
    rows = []
    for window in windows:
        batch = tf.constant([window], tf.float32)
        if horizon == 1:
            rows.append(loaded.signatures["serving_default"](window=batch)["forecast"].numpy()[0])
        else:
            rows.append(loaded.signatures["forecast"](window=batch, horizon=tf.constant(horizon))["forecast"].numpy()[0])
    return np.stack(rows)


async def open_client(settings: Settings):
    app = create_app(settings, registry=CollectorRegistry())
    manager = LifespanManager(app)
    await manager.__aenter__()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver")
    return manager, client


@pytest.fixture
def served(settings: Settings) -> ServedModel:
    return load_version(settings.model_dir, "sine", 1, buckets=bucket_sizes(8))


@pytest.mark.parametrize(
    ("max_batch_size", "expected"),
    [
        pytest.param(1, (1,), id="one"),
        pytest.param(8, (1, 2, 4, 8), id="power-of-two"),
        pytest.param(48, (1, 2, 4, 8, 16, 32, 48), id="not-power-of-two"),
    ],
)
def test_bucket_sizes_double_up_to_max(max_batch_size: int, expected: tuple[int, ...]) -> None:
    assert bucket_sizes(max_batch_size) == expected


def test_served_model_drops_padding_rows(served: ServedModel, settings: Settings) -> None:
    forecast = served.forecast(np.asarray(WINDOWS[:3], dtype=np.float32), 6)

    assert served.bucket_for(3) == 4
    assert forecast.shape == (3, 6)
    np.testing.assert_allclose(forecast, expected_forecast(settings.model_dir, WINDOWS[:3], 6), atol=1e-5)


def test_served_model_splits_rows_beyond_largest_bucket(served: ServedModel, settings: Settings) -> None:
    windows = [make_window(0.1 * index) for index in range(19)]

    forecast = served.forecast(np.asarray(windows, dtype=np.float32), 3)

    assert forecast.shape == (19, 3)
    np.testing.assert_allclose(forecast, expected_forecast(settings.model_dir, windows, 3), atol=1e-5)


@pytest.mark.parametrize("horizon", [1, 7, 100], ids=["one-step", "horizon-7", "horizon-100"])
async def test_forecast_batch_matches_unbatched_rows(client: httpx.AsyncClient, settings: Settings, horizon: int) -> None:
    response = await client.post("/forecast/batch", json={"windows": WINDOWS, "horizon": horizon})

    assert response.status_code == 200
    body = response.json()
    assert body["horizon"] == horizon
    assert body["model"] == {"name": "sine", "version": 1}
    assert len(body["forecasts"]) == len(WINDOWS)
    np.testing.assert_allclose(body["forecasts"], expected_forecast(settings.model_dir, WINDOWS, horizon), atol=1e-5)


@pytest.mark.parametrize("strategy", ["group", "max"])
async def test_concurrent_forecasts_match_unbatched(settings: Settings, strategy: str) -> None:
    horizons = [1, 1, 5, 30, 5, 1, 12, 30]
    windows = [make_window(0.2 * index) for index in range(len(horizons))]
    manager, client = await open_client(settings.model_copy(update={"batch_horizon_strategy": strategy, "max_batch_size": 4}))
    try:
        requests = [client.post("/forecast", json={"window": w, "horizon": h}) for w, h in zip(windows, horizons)]
        responses = await asyncio.gather(*requests)
        metrics = (await client.get("/metrics")).text
    finally:
        await client.aclose()
        await manager.__aexit__(None, None, None)

    for window, horizon, response in zip(windows, horizons, responses):
        assert response.status_code == 200
        np.testing.assert_allclose(response.json()["forecast"], expected_forecast(settings.model_dir, [window], horizon)[0], atol=1e-5)
    assert "forecast_batch_windows_count" in metrics


async def test_forecast_batch_single_window_equals_forecast(client: httpx.AsyncClient) -> None:
    single = await client.post("/forecast", json={"window": WINDOWS[0], "horizon": 20})
    batch = await client.post("/forecast/batch", json={"windows": [WINDOWS[0]], "horizon": 20})

    assert batch.json()["forecasts"] == [single.json()["forecast"]]


async def test_forecast_batch_accepts_more_windows_than_batch_size(trained_model_dir: Path) -> None:
    windows = [make_window(0.05 * index) for index in range(11)]
    manager, client = await open_client(Settings(model_dir=trained_model_dir, max_batch_size=4))
    try:
        response = await client.post("/forecast/batch", json={"windows": windows, "horizon": 4})
    finally:
        await client.aclose()
        await manager.__aexit__(None, None, None)

    assert response.status_code == 200
    np.testing.assert_allclose(response.json()["forecasts"], expected_forecast(trained_model_dir, windows, 4), atol=1e-5)


def with_value(window: list[float], index: int, value: object) -> list[object]:
    changed: list[object] = list(window)
    changed[index] = value
    return changed


BAD_BATCHES = [
    pytest.param(
        {"windows": [WINDOWS[0], WINDOWS[1], WINDOWS[2], with_value(WINDOWS[3], 7, "0.5")]},
        "windows[3][7]",
        "windows[3][7]: expected a number, received the string '0.5'",
        id="value-string",
    ),
    pytest.param(
        {"windows": [WINDOWS[0], WINDOWS[1][:49]]},
        "windows[1]",
        f"windows[1]: expected {WINDOW_EXPECTED}, received a list of 49 items",
        id="window-length-49",
    ),
    pytest.param(
        {"windows": [WINDOWS[0], with_value(WINDOWS[1], 0, None)]},
        "windows[1][0]",
        "windows[1][0]: expected a number, received null",
        id="value-null",
    ),
    pytest.param(
        {"windows": []},
        "windows",
        f"windows: expected a list of 1 to 256 windows, each {WINDOW_EXPECTED}, received a list of 0 items",
        id="no-windows",
    ),
    pytest.param(
        {"windows": [WINDOWS[0]] * 257},
        "windows",
        f"windows: expected a list of 1 to 256 windows, each {WINDOW_EXPECTED}, received a list of 257 items",
        id="too-many-windows",
    ),
    pytest.param(
        {"windows": WINDOWS[0]},
        "windows[0]",
        f"windows[0]: expected {WINDOW_EXPECTED}, received 0.0",
        id="flat-window",
    ),
    pytest.param(
        {"windows": "none"},
        "windows",
        f"windows: expected a list of 1 to 256 windows, each {WINDOW_EXPECTED}, received the string 'none'",
        id="windows-string",
    ),
    pytest.param(
        {"windows": WINDOWS, "horizon": 1001},
        "horizon",
        "horizon: expected an integer from 1 to 1000, received 1001",
        id="horizon-above-max",
    ),
    pytest.param(
        {"window": WINDOWS[0]},
        "windows",
        f"windows: expected a list of 1 to 256 windows, each {WINDOW_EXPECTED}, received nothing (the field is missing)",
        id="windows-missing",
    ),
]


@pytest.mark.parametrize(("body", "field", "message"), BAD_BATCHES)
async def test_forecast_batch_rejects_bad_input(client: httpx.AsyncClient, body: object, field: str, message: str) -> None:
    response = await client.post("/forecast/batch", json=body)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["fields"][0]["field"] == field
    assert error["message"].startswith(message)


async def test_forecast_batch_limit_follows_setting(trained_model_dir: Path) -> None:
    manager, client = await open_client(Settings(model_dir=trained_model_dir, max_batch_windows=2))
    try:
        response = await client.post("/forecast/batch", json={"windows": WINDOWS[:3]})
    finally:
        await client.aclose()
        await manager.__aexit__(None, None, None)

    assert response.status_code == 422
    assert response.json()["error"]["message"] == f"windows: expected a list of 1 to 2 windows, each {WINDOW_EXPECTED}, received a list of 3 items"


async def test_batcher_drains_queue_on_close(served: ServedModel) -> None:
    batcher = ForecastBatcher(Settings(max_batch_size=2, max_batch_delay_ms=50), ServiceMetrics(CollectorRegistry()))
    await batcher.start()
    windows = np.asarray(WINDOWS, dtype=np.float32)
    tasks = [asyncio.create_task(batcher.forecast(served, windows[i : i + 1], 3)) for i in range(len(WINDOWS))]
    await asyncio.sleep(0)  # Lets every task enqueue its request before the close.

    await asyncio.wait_for(batcher.close(), BOUNDED_WAIT_SECONDS)

    for index, task in enumerate(tasks):
        assert task.done()
        np.testing.assert_allclose(task.result(), served.forecast(windows[index : index + 1], 3), atol=1e-6)


async def test_batch_closes_at_previous_batch_size(
    served: ServedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    call_sizes: list[int] = []
    original = ServedModel.forecast

    def recording_forecast(self: ServedModel, windows: np.ndarray, horizon: int) -> np.ndarray:
        call_sizes.append(windows.shape[0])
        return original(self, windows, horizon)

    monkeypatch.setattr(ServedModel, "forecast", recording_forecast)
    delay_seconds = 30.0
    batcher = ForecastBatcher(Settings(max_batch_size=8, max_batch_delay_ms=delay_seconds * 1000), ServiceMetrics(CollectorRegistry()))
    await batcher.start()
    windows = np.asarray(WINDOWS, dtype=np.float32)
    try:
        await asyncio.gather(*(batcher.forecast(served, windows[i : i + 1], 2) for i in range(3)))

        started = asyncio.get_running_loop().time()
        early = [asyncio.create_task(batcher.forecast(served, windows[i : i + 1], 2)) for i in range(2)]
        await asyncio.sleep(0.2)
        assert not any(task.done() for task in early), "two of the three expected windows ran without waiting"
        late = await batcher.forecast(served, windows[2:3], 2)
        await asyncio.gather(*early)
        elapsed = asyncio.get_running_loop().time() - started
    finally:
        await batcher.close()

    assert call_sizes == [3, 3]
    assert elapsed < delay_seconds / 2, f"the batch waited {elapsed:.1f} s, as if for the whole {delay_seconds:.0f} s delay"
    np.testing.assert_allclose(late, original(served, windows[2:3], 2), atol=1e-6)


async def test_batcher_rejects_requests_after_close(served: ServedModel) -> None:
    batcher = ForecastBatcher(Settings(), ServiceMetrics(CollectorRegistry()))
    await batcher.start()
    await batcher.close()

    with pytest.raises(ModelUnavailableError, match="shutting down"):
        await batcher.forecast(served, np.zeros((1, 50), np.float32), 1)


def fail_on_marker(original):
    """Wrap ServedModel.forecast so that any call containing a MARKER row raises, as a broken graph would."""

    def forecast(self: ServedModel, windows: np.ndarray, horizon: int) -> np.ndarray:
        if np.any(windows[:, 0] == MARKER):
            raise tf.errors.InvalidArgumentError(None, None, "injected failure")
        return original(self, windows, horizon)

    return forecast


def overflow_on_marker(original):
    """Wrap ServedModel.forecast so that MARKER rows come back non-finite."""

    def forecast(self: ServedModel, windows: np.ndarray, horizon: int) -> np.ndarray:
        result = original(self, windows, horizon)
        result[windows[:, 0] == MARKER] = np.inf
        return result

    return forecast


async def test_batcher_isolates_failing_request(served: ServedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ServedModel, "forecast", fail_on_marker(ServedModel.forecast))
    batcher = ForecastBatcher(Settings(max_batch_size=8), ServiceMetrics(CollectorRegistry()))
    await batcher.start()
    good = np.asarray(WINDOWS[:2], dtype=np.float32)
    bad = np.asarray([with_value(WINDOWS[2], 0, MARKER)], dtype=np.float32)

    try:
        results = await asyncio.gather(
            batcher.forecast(served, good[:1], 4),
            batcher.forecast(served, bad, 4),
            batcher.forecast(served, good[1:], 4),
            return_exceptions=True,
        )
    finally:
        await batcher.close()

    assert isinstance(results[1], InferenceError)
    assert "injected failure" in str(results[1])
    np.testing.assert_allclose(results[0], served.forecast(good[:1], 4), atol=1e-6)
    np.testing.assert_allclose(results[2], served.forecast(good[1:], 4), atol=1e-6)


async def test_forecast_failing_request_gets_error_shape(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ServedModel, "forecast", fail_on_marker(ServedModel.forecast))

    with caplog.at_level(logging.ERROR, logger="service.errors"):
        response = await client.post("/forecast", json={"window": with_value(WINDOWS[0], 0, MARKER), "horizon": 3})

    assert response.status_code == 500
    error = response.json()["error"]
    request_id = response.headers["X-Request-ID"]
    assert error["code"] == "internal_error"
    assert error["message"] == f"internal error; quote request id {request_id} when reporting it"
    assert error["request_id"] == request_id
    assert "injected failure" not in response.text
    assert "forecast failed for 1 window(s) at horizon 3" in caplog.text
    assert "injected failure" in caplog.text


async def test_non_finite_forecast_fails_only_its_request(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ServedModel, "forecast", overflow_on_marker(ServedModel.forecast))

    responses = await asyncio.gather(
        client.post("/forecast", json={"window": WINDOWS[0], "horizon": 3}),
        client.post("/forecast", json={"window": with_value(WINDOWS[1], 0, MARKER), "horizon": 3}),
        client.post("/forecast/batch", json={"windows": [WINDOWS[2], with_value(WINDOWS[3], 0, MARKER)], "horizon": 3}),
        client.post("/forecast", json={"window": WINDOWS[4], "horizon": 3}),
    )

    assert [response.status_code for response in responses] == [200, 422, 422, 200]
    assert responses[1].json()["error"]["fields"][0]["field"] == "window"
    assert responses[2].json()["error"]["fields"][0]["field"] == "windows[1]"


async def test_healthz_answers_while_forecast_runs(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    entered = threading.Event()
    release = threading.Event()
    original = ServedModel.forecast

    def blocked_forecast(self: ServedModel, windows: np.ndarray, horizon: int) -> np.ndarray:
        entered.set()
        release.wait(BOUNDED_WAIT_SECONDS)
        return original(self, windows, horizon)

    monkeypatch.setattr(ServedModel, "forecast", blocked_forecast)
    forecast = asyncio.create_task(client.post("/forecast", json={"window": WINDOWS[0], "horizon": 1000}))
    try:
        await asyncio.wait_for(asyncio.to_thread(entered.wait, BOUNDED_WAIT_SECONDS), BOUNDED_WAIT_SECONDS)
        health = await asyncio.wait_for(client.get("/healthz"), BOUNDED_WAIT_SECONDS)
        still_running = not forecast.done()
    finally:
        release.set()
    response = await forecast

    assert entered.is_set()
    assert health.status_code == 200
    assert still_running
    assert response.status_code == 200


async def test_batching_off_serves_same_forecast(trained_model_dir: Path, settings: Settings) -> None:
    manager, client = await open_client(Settings(model_dir=trained_model_dir, batching=False))
    try:
        response = await client.post("/forecast/batch", json={"windows": WINDOWS, "horizon": 9})
    finally:
        await client.aclose()
        await manager.__aexit__(None, None, None)

    assert response.status_code == 200
    np.testing.assert_allclose(response.json()["forecasts"], expected_forecast(settings.model_dir, WINDOWS, 9), atol=1e-5)


async def test_echo_route_absent_by_default(client: httpx.AsyncClient) -> None:
    response = await client.post("/echo", json={"window": WINDOWS[0]})

    assert response.status_code == 404


async def test_echo_route_returns_forecast_sized_body(trained_model_dir: Path) -> None:
    manager, client = await open_client(Settings(model_dir=trained_model_dir, enable_echo=True))
    try:
        response = await client.post("/echo", json={"window": WINDOWS[0], "horizon": 120})
    finally:
        await client.aclose()
        await manager.__aexit__(None, None, None)

    assert response.status_code == 200
    assert len(response.json()["forecast"]) == 120
