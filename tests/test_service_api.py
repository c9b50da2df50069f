"""API behaviour of /forecast and the operations routes, in process with the real trained model."""

import gc
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
import tensorflow as tf
from asgi_lifespan import LifespanManager
from prometheus_client import CollectorRegistry

from service.app import create_app, create_app_from_environment
from service.errors import InputError
from service.routes.forecasting import check_finite
from service.settings import Settings

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

WINDOW = [round(float(np.sin(0.01 * t)), 6) for t in range(50)]
WINDOW_EXPECTED = "a list of 50 numbers or 50 one-element lists"
FINITE_EXPECTED = "a finite number within ±3.4e+38"


def with_value(index: int, value: object) -> list[object]:
    window: list[object] = list(WINDOW)
    window[index] = value
    return window


BAD_BODIES = [
    pytest.param({"window": []}, f"window: expected {WINDOW_EXPECTED}, received a list of 0 items", id="length-0"),
    pytest.param({"window": WINDOW[:49]}, f"window: expected {WINDOW_EXPECTED}, received a list of 49 items", id="length-49"),
    pytest.param({"window": WINDOW + [0.0]}, f"window: expected {WINDOW_EXPECTED}, received a list of 51 items", id="length-51"),
    pytest.param({"window": [[[v] for v in WINDOW]]}, f"window: expected {WINDOW_EXPECTED}, received a list of 1 item", id="batch-1-50-1"),
    pytest.param({"window": [[v, v] for v in WINDOW]}, "window[0]: expected a number or a one-element list, received a list of 2 items", id="shape-50-2"),
    pytest.param({"window": "0.1,0.2"}, f"window: expected {WINDOW_EXPECTED}, received the string '0.1,0.2'", id="window-string"),
    pytest.param({"window": with_value(7, "0.5")}, "window[7]: expected a number, received the string '0.5'", id="value-string"),
    pytest.param({"window": with_value(3, True)}, "window[3]: expected a number, received true", id="value-boolean"),
    pytest.param({"window": with_value(0, None)}, "window[0]: expected a number, received null", id="value-null"),
    pytest.param({"window": None}, f"window: expected {WINDOW_EXPECTED}, received null", id="window-null"),
    pytest.param({"window": with_value(2, {"v": 1})}, "window[2]: expected a number, received an object", id="value-object"),
    pytest.param({"window": WINDOW, "horizon": 0}, "horizon: expected an integer from 1 to 1000, received 0", id="horizon-0"),
    pytest.param({"window": WINDOW, "horizon": -3}, "horizon: expected an integer from 1 to 1000, received -3", id="horizon-negative"),
    pytest.param({"window": WINDOW, "horizon": 1001}, "horizon: expected an integer from 1 to 1000, received 1001", id="horizon-above-max"),
    pytest.param({"window": WINDOW, "horizon": 2.5}, "horizon: expected an integer from 1 to 1000, received 2.5", id="horizon-float"),
    pytest.param({"window": WINDOW, "horizon": "3"}, "horizon: expected an integer from 1 to 1000, received the string '3'", id="horizon-string"),
    pytest.param({"window": WINDOW, "horizon": True}, "horizon: expected an integer from 1 to 1000, received true", id="horizon-boolean"),
    pytest.param({"window": WINDOW, "steps": 3}, "steps: expected only the documented fields (this one is unknown), received 3", id="unknown-field"),
    pytest.param({}, f"window: expected {WINDOW_EXPECTED}, received nothing (the field is missing)", id="window-missing"),
    pytest.param([WINDOW], "body: expected a JSON object, received a list of 1 item", id="body-list"),
]


@pytest.mark.parametrize(("body", "message"), BAD_BODIES)
async def test_forecast_rejects_bad_input(client: httpx.AsyncClient, body: object, message: str) -> None:
    response = await client.post("/forecast", json=body)

    assert response.status_code == 422
    assert response.json()["error"]["message"] == message
    assert response.json()["error"]["code"] == "invalid_input"


def raw_window(first: str) -> str:
    return '{"window": [' + first + "".join(f", {v}" for v in WINDOW[1:]) + "]}"


RAW_BODIES = [
    pytest.param(raw_window("NaN"), f"window[0]: expected {FINITE_EXPECTED}, received NaN", id="token-nan"),
    pytest.param(raw_window("Infinity"), f"window[0]: expected {FINITE_EXPECTED}, received Infinity", id="token-infinity"),
    pytest.param(raw_window("-Infinity"), f"window[0]: expected {FINITE_EXPECTED}, received -Infinity", id="token-minus-infinity"),
    pytest.param(raw_window("1e999"), f"window[0]: expected {FINITE_EXPECTED}, received Infinity", id="overflow-to-infinity"),
    pytest.param(raw_window("1e39"), f"window[0]: expected {FINITE_EXPECTED}, received 1e+39", id="beyond-float32"),
    pytest.param(raw_window("1" + "0" * 400), f"window[0]: expected {FINITE_EXPECTED}, received a number with 401 characters", id="huge-integer"),
    pytest.param('{"window": [1, 2', "body: expected valid JSON, received invalid JSON (Expecting ',' delimiter)", id="truncated-json"),
]


@pytest.mark.parametrize(("content", "message"), RAW_BODIES)
async def test_forecast_rejects_non_finite_and_malformed_json(client: httpx.AsyncClient, content: str, message: str) -> None:
    response = await client.post("/forecast", content=content, headers={"Content-Type": "application/json"})

    assert response.status_code == 422
    assert response.json()["error"]["message"] == message


async def test_forecast_one_step_matches_saved_model(client: httpx.AsyncClient, settings: Settings) -> None:
    response = await client.post("/forecast", json={"window": WINDOW})

    assert response.status_code == 200
    body = response.json()
    assert body["horizon"] == 1
    assert body["model"] == {"name": "sine", "version": 1}

    loaded = tf.saved_model.load(str(settings.model_dir / "sine" / "1"))
    expected = loaded.signatures["serving_default"](window=tf.constant([WINDOW], tf.float32))["forecast"].numpy()
    assert body["forecast"] == pytest.approx(expected[0].tolist(), abs=1e-6)


async def test_forecast_horizon_returns_that_many_steps(client: httpx.AsyncClient, settings: Settings) -> None:
    response = await client.post("/forecast", json={"window": WINDOW, "horizon": 24})

    assert response.status_code == 200
    forecast = response.json()["forecast"]
    assert len(forecast) == 24

    loaded = tf.saved_model.load(str(settings.model_dir / "sine" / "1"))
    expected = loaded.signatures["forecast"](window=tf.constant([WINDOW], tf.float32), horizon=tf.constant(24))["forecast"].numpy()
    assert forecast == pytest.approx(expected[0].tolist(), abs=1e-6)


async def test_forecast_accepts_keras_timesteps_features_form(client: httpx.AsyncClient) -> None:
    flat = await client.post("/forecast", json={"window": WINDOW, "horizon": 5})
    nested = await client.post("/forecast", json={"window": [[v] for v in WINDOW], "horizon": 5})

    assert nested.status_code == 200
    assert nested.json()["forecast"] == flat.json()["forecast"]


async def test_forecast_accepts_max_horizon(client: httpx.AsyncClient) -> None:
    response = await client.post("/forecast", json={"window": WINDOW, "horizon": 1000})

    assert response.status_code == 200
    assert len(response.json()["forecast"]) == 1000


@pytest.mark.parametrize("value", [3.0e38, -3.0e38], ids=["max-positive", "max-negative"])
async def test_forecast_extreme_values_stay_finite(client: httpx.AsyncClient, value: float) -> None:
    response = await client.post("/forecast", json={"window": [value, -value] * 25, "horizon": 20})

    assert response.status_code == 200
    assert all(np.isfinite(response.json()["forecast"]))


def test_check_finite_rejects_non_finite_forecast() -> None:
    with pytest.raises(InputError) as raised:
        check_finite(np.array([[1.0, np.nan]]))

    assert raised.value.field_error.field == "window"
    assert raised.value.reason == "forecast_not_finite"


async def test_metrics_count_requests_and_failures(client: httpx.AsyncClient) -> None:
    await client.post("/forecast", json={"window": WINDOW, "horizon": 3})
    await client.post("/forecast", json={"window": WINDOW[:10]})

    text = (await client.get("/metrics")).text

    assert 'forecast_http_requests_total{method="POST",route="/forecast",status="200"} 1.0' in text
    assert 'forecast_http_requests_total{method="POST",route="/forecast",status="422"} 1.0' in text
    assert 'forecast_validation_failures_total{reason="window_length"} 1.0' in text
    assert 'forecast_inference_duration_seconds_count{signature="forecast"} 1.0' in text
    assert "forecast_horizon_steps_sum 3.0" in text
    assert 'forecast_model_info{name="sine",version="1"} 1.0' in text


async def test_readyz_reports_loaded_version(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["model"] == {"name": "sine", "version": 1}


async def test_factory_freezes_runtime_not_app(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_MODEL_DIR", str(settings.model_dir))
    monkeypatch.setenv("FORECAST_MODEL_NAME", settings.model_name)
    monkeypatch.setenv("FORECAST_MAX_BATCH_SIZE", str(settings.max_batch_size))
    app = create_app_from_environment()

    async with LifespanManager(app):
        tracked = {id(item) for item in gc.get_objects()}
        served = app.state.models.current

        assert gc.get_freeze_count() > 100_000
        assert id(tf.constant) not in tracked
        assert id(app) in tracked
        assert id(served) in tracked


async def test_model_reports_metadata_and_signatures(client: httpx.AsyncClient) -> None:
    body = (await client.get("/model")).json()

    assert body["version"] == 1
    assert body["metadata"]["window"] == 50
    assert body["signatures"]["serving_default"]["inputs"]["window"]["shape"] == [None, 50]
    assert body["signatures"]["forecast"]["inputs"]["horizon"]["shape"] == []
    assert body["limits"]["window_length"] == 50
    assert body["limits"]["max_horizon"] == 1000
    assert body["limits"]["max_interval_horizon"] == body["metadata"]["intervals"]["steps"]


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    generated = await client.post("/forecast", json={})

    assert echoed.headers["X-Request-ID"] == "abc-123"
    assert len(generated.headers["X-Request-ID"]) == 32
    assert generated.json()["error"]["request_id"] == generated.headers["X-Request-ID"]


async def test_max_horizon_setting_limits_requests(trained_model_dir: Path) -> None:
    app = create_app(Settings(model_dir=trained_model_dir, max_horizon=10), registry=CollectorRegistry())
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver") as client:
            response = await client.post("/forecast", json={"window": WINDOW, "horizon": 11})

    assert response.status_code == 422
    assert response.json()["error"]["message"] == "horizon: expected an integer from 1 to 10, received 11"


async def test_empty_model_directory_returns_503_with_training_hint(tmp_path: Path) -> None:
    app = create_app(Settings(model_dir=tmp_path), registry=CollectorRegistry())
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver") as client:
            ready = await client.get("/readyz")
            forecast = await client.post("/forecast", json={"window": WINDOW})
            health = await client.get("/healthz")

    assert ready.status_code == 503
    assert forecast.status_code == 503
    assert "python -m training" in forecast.json()["error"]["message"]
    assert health.status_code == 200


async def test_unknown_route_returns_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")

    assert response.status_code == 404
    assert response.json()["error"]["message"] == "not found: /nowhere"


LEVELS_EXPECTED = "a list of 1 to 5 distinct integers from 1 to 99"

BAD_LEVELS = [
    pytest.param({"levels": []}, f"levels: expected {LEVELS_EXPECTED}, received a list of 0 items", id="empty"),
    pytest.param({"levels": [10, 20, 30, 40, 50, 60]}, f"levels: expected {LEVELS_EXPECTED}, received a list of 6 items", id="six-levels"),
    pytest.param({"levels": 80}, f"levels: expected {LEVELS_EXPECTED}, received 80", id="not-a-list"),
    pytest.param({"levels": [80, 0]}, "levels[1]: expected an integer from 1 to 99, received 0", id="level-0"),
    pytest.param({"levels": [100]}, "levels[0]: expected an integer from 1 to 99, received 100", id="level-100"),
    pytest.param({"levels": [80.5]}, "levels[0]: expected an integer from 1 to 99, received 80.5", id="level-float"),
    pytest.param({"levels": [True]}, "levels[0]: expected an integer from 1 to 99, received true", id="level-boolean"),
    pytest.param({"levels": ["80"]}, "levels[0]: expected an integer from 1 to 99, received the string '80'", id="level-string"),
    pytest.param({"levels": [80, 95, 80]}, "levels[2]: expected a level not listed before, received 80", id="duplicate"),
]


@pytest.mark.parametrize(("extra", "message"), BAD_LEVELS)
async def test_forecast_levels_rejects_bad_input(client: httpx.AsyncClient, extra: dict, message: str) -> None:
    response = await client.post("/forecast", json={"window": WINDOW, "horizon": 3, **extra})

    assert response.status_code == 422
    assert response.json()["error"]["message"] == message


async def test_forecast_levels_beyond_calibrated_horizon_rejected(client: httpx.AsyncClient) -> None:
    steps = (await client.get("/model")).json()["limits"]["max_interval_horizon"]

    response = await client.post("/forecast", json={"window": WINDOW, "horizon": steps + 1, "levels": [90]})

    assert response.status_code == 422
    assert response.json()["error"]["message"] == (
        f"horizon: expected an integer from 1 to {steps} when levels are given, because the intervals are "
        f"calibrated up to step {steps}, received {steps + 1}"
    )


async def test_forecast_intervals_bracket_the_forecast(client: httpx.AsyncClient) -> None:
    response = await client.post("/forecast", json={"window": WINDOW, "horizon": 30, "levels": [50, 95]})

    assert response.status_code == 200
    body = response.json()
    forecast = np.array(body["forecast"])
    assert set(body["intervals"]) == {"50", "95"}
    for level in ("50", "95"):
        lower = np.array(body["intervals"][level]["lower"])
        upper = np.array(body["intervals"][level]["upper"])
        assert lower.shape == upper.shape == (30,)
        assert np.all(lower <= forecast)
        assert np.all(forecast <= upper)
        np.testing.assert_allclose(forecast - lower, upper - forecast, rtol=1e-9, atol=1e-9)


async def test_forecast_intervals_match_intervals_file(client: httpx.AsyncClient, settings: Settings) -> None:
    stored = json.loads((settings.model_dir / "sine" / "1" / "intervals.json").read_text())

    body = (await client.post("/forecast", json={"window": WINDOW, "horizon": 5, "levels": [80]})).json()

    half_widths = np.array(body["intervals"]["80"]["upper"]) - np.array(body["forecast"])
    np.testing.assert_allclose(half_widths, stored["half_widths"]["80"][:5], rtol=1e-9, atol=1e-9)


async def test_forecast_without_levels_has_no_intervals(client: httpx.AsyncClient) -> None:
    body = (await client.post("/forecast", json={"window": WINDOW, "horizon": 3})).json()

    assert "intervals" not in body


async def test_saliency_matches_finite_differences(client: httpx.AsyncClient, settings: Settings) -> None:
    step = 5
    loaded = tf.saved_model.load(str(settings.model_dir / "sine" / "1"))
    window = np.array(WINDOW, dtype=np.float64)
    delta = 1e-2
    shifted_up = window[None, :] + delta * np.eye(50)
    shifted_down = window[None, :] - delta * np.eye(50)

    def forecast_at_step(windows: np.ndarray) -> np.ndarray:
        output = loaded.signatures["forecast"](window=tf.constant(windows, tf.float32), horizon=tf.constant(step))
        return output["forecast"].numpy()[:, step - 1].astype(np.float64)

    estimate = (forecast_at_step(shifted_up) - forecast_at_step(shifted_down)) / (2 * delta)
    response = await client.post("/forecast/saliency", json={"window": WINDOW, "step": step})

    assert response.status_code == 200
    body = response.json()
    assert body["step"] == step
    assert body["model"] == {"name": "sine", "version": 1}
    np.testing.assert_allclose(body["saliency"], estimate, atol=2e-3, rtol=0)


async def test_saliency_step_defaults_to_one(client: httpx.AsyncClient) -> None:
    body = (await client.post("/forecast/saliency", json={"window": WINDOW})).json()

    assert body["step"] == 1
    assert len(body["saliency"]) == 50


BAD_SALIENCY_BODIES = [
    pytest.param({"window": WINDOW, "step": 0}, "step: expected an integer from 1 to 1000, received 0", id="step-0"),
    pytest.param({"window": WINDOW, "step": 1001}, "step: expected an integer from 1 to 1000, received 1001", id="step-above-max"),
    pytest.param({"window": WINDOW, "step": "2"}, "step: expected an integer from 1 to 1000, received the string '2'", id="step-string"),
    pytest.param({"window": WINDOW[:49]}, f"window: expected {WINDOW_EXPECTED}, received a list of 49 items", id="window-length-49"),
    pytest.param({"window": WINDOW, "horizon": 2}, "horizon: expected only the documented fields (this one is unknown), received 2", id="unknown-field"),
]


@pytest.mark.parametrize(("body", "message"), BAD_SALIENCY_BODIES)
async def test_saliency_rejects_bad_input(client: httpx.AsyncClient, body: dict, message: str) -> None:
    response = await client.post("/forecast/saliency", json=body)

    assert response.status_code == 422
    assert response.json()["error"]["message"] == message


async def test_saliency_without_signature_returns_501(trained_model_dir: Path, tmp_path: Path) -> None:
    legacy = tmp_path / "sine" / "1"
    legacy.mkdir(parents=True)
    export_legacy_version(trained_model_dir / "sine" / "1", legacy)

    app = create_app(Settings(model_dir=tmp_path), registry=CollectorRegistry())
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver") as client:
            saliency = await client.post("/forecast/saliency", json={"window": WINDOW})
            levels = await client.post("/forecast", json={"window": WINDOW, "horizon": 2, "levels": [90]})
            forecast = await client.post("/forecast", json={"window": WINDOW, "horizon": 2})

    assert saliency.status_code == 501
    assert saliency.json()["error"]["code"] == "not_implemented"
    assert "without the saliency signature" in saliency.json()["error"]["message"]
    assert levels.status_code == 422
    assert levels.json()["error"]["fields"][0]["field"] == "levels"
    assert forecast.status_code == 200


def export_legacy_version(source: Path, target: Path) -> None:
    """Re-export a version with only the signatures and files that versions before saliency and intervals had."""
    loaded = tf.saved_model.load(str(source))
    signatures = {name: loaded.signatures[name] for name in ("serving_default", "forecast")}
    tf.saved_model.save(loaded, str(target), signatures=signatures)
    (target / "metadata.json").write_text((source / "metadata.json").read_text())
