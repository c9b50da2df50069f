"""TensorFlow Serving's REST predict API, in process with the real trained model."""

from pathlib import Path

import httpx
import numpy as np
import pytest
import tensorflow as tf

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

WINDOW = [round(float(np.sin(0.02 * t)), 6) for t in range(50)]
OTHER_WINDOW = [round(float(np.cos(0.02 * t)), 6) for t in range(50)]
WINDOW_EXPECTED = "a list of 50 numbers or 50 one-element lists"
PREDICT_URL = "/v1/models/sine:predict"


def saved_model_forecast(model_dir: Path, windows: list[list[float]]) -> list[list[float]]:
    loaded = tf.saved_model.load(str(model_dir / "sine" / "1"))
    return loaded.signatures["serving_default"](window=tf.constant(windows, tf.float32))["forecast"].numpy().tolist()


GOOD_BODIES = [
    pytest.param({"instances": [WINDOW, OTHER_WINDOW]}, "predictions", id="instances-windows"),
    pytest.param({"instances": [{"window": WINDOW}, {"window": OTHER_WINDOW}]}, "predictions", id="instances-objects"),
    pytest.param({"instances": [[[v] for v in WINDOW], OTHER_WINDOW]}, "predictions", id="instances-timesteps-features"),
    pytest.param({"inputs": [WINDOW, OTHER_WINDOW]}, "outputs", id="inputs-windows"),
    pytest.param({"inputs": {"window": [WINDOW, OTHER_WINDOW]}}, "outputs", id="inputs-named"),
    pytest.param({"signature_name": "serving_default", "instances": [WINDOW, OTHER_WINDOW]}, "predictions", id="signature-named"),
]


@pytest.mark.parametrize(("body", "key"), GOOD_BODIES)
async def test_predict_matches_saved_model(client: httpx.AsyncClient, trained_model_dir: Path, body: dict, key: str) -> None:
    response = await client.post(PREDICT_URL, json=body)

    assert response.status_code == 200
    assert list(response.json()) == [key]
    expected = saved_model_forecast(trained_model_dir, [WINDOW, OTHER_WINDOW])
    assert np.allclose(response.json()[key], expected, atol=1e-6)


async def test_predict_version_path_serves_current_version(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/models/sine/versions/1:predict", json={"instances": [WINDOW]})

    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 1


NOT_FOUND = [
    pytest.param("/v1/models/other:predict", "model 'other' is not served", id="model-name"),
    pytest.param("/v1/models/sine/versions/9:predict", "version '9' of model 'sine' is not served", id="version"),
]


@pytest.mark.parametrize(("url", "message"), NOT_FOUND)
async def test_predict_unknown_model_returns_404(client: httpx.AsyncClient, url: str, message: str) -> None:
    response = await client.post(url, json={"instances": [WINDOW]})

    assert response.status_code == 404
    assert response.json()["error"]["message"].startswith(message)


def with_value(index: int, value: object) -> list[object]:
    window: list[object] = list(WINDOW)
    window[index] = value
    return window


BAD_BODIES = [
    pytest.param({"instances": [WINDOW[:49]]}, "instances[0]", f"{WINDOW_EXPECTED}", "a list of 49 items", id="row-length"),
    pytest.param({"instances": [WINDOW, with_value(4, "x")]}, "instances[1][4]", "a number", "the string 'x'", id="row-value"),
    pytest.param({"instances": [{"window": with_value(2, None)}]}, "instances[0].window[2]", "a number", "null", id="row-object-value"),
    pytest.param({"instances": [{"values": WINDOW}]}, "instances[0].values", "only the input 'window'", "a list of 50 items", id="row-unknown-input"),
    pytest.param({"instances": [{}]}, "instances[0].window", WINDOW_EXPECTED, "nothing (the field is missing)", id="row-missing-input"),
    pytest.param({"instances": []}, "instances", "a list of 1 to 1000 windows", "a list of 0 items", id="rows-empty"),
    pytest.param({"instances": WINDOW}, "instances[0]", WINDOW_EXPECTED, repr(WINDOW[0]), id="rows-one-window-unwrapped"),
    pytest.param({"inputs": {"window": [with_value(49, 1e39)]}}, "inputs.window[0][49]", "a finite number within ±3.4e+38", "1e+39", id="columns-beyond-float32"),
    pytest.param({"inputs": {"series": [WINDOW]}}, "inputs.series", "only the input 'window'", "a list of 1 item", id="columns-unknown-input"),
    pytest.param({"inputs": "0.1"}, "inputs", "a list of 1 to 1000 windows", "the string '0.1'", id="columns-string"),
    pytest.param({"instances": [WINDOW], "inputs": [WINDOW]}, "body", 'exactly one of "instances" (row format) and "inputs" (columnar format)', "an object", id="both-formats"),
    pytest.param({}, "body", 'exactly one of "instances" (row format) and "inputs" (columnar format)', "an object", id="no-format"),
    pytest.param({"instances": [WINDOW], "signature_name": "forecast"}, "signature_name", "'serving_default', the one-step signature", "the string 'forecast'", id="other-signature"),
    pytest.param({"instances": [WINDOW], "horizon": 3}, "horizon", '"instances", "inputs" or "signature_name" only', "3", id="unknown-key"),
    pytest.param([WINDOW], "body", 'a JSON object with "instances" or "inputs"', "a list of 1 item", id="body-list"),
]


@pytest.mark.parametrize(("body", "field", "expected", "received"), BAD_BODIES)
async def test_predict_rejects_bad_input(client: httpx.AsyncClient, body: object, field: str, expected: str, received: str) -> None:
    response = await client.post(PREDICT_URL, json=body)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["fields"] == [
        {"field": field, "message": f"{field}: expected {expected}, received {received}", "expected": expected, "received": received}
    ]


async def test_predict_rejects_too_many_instances(client: httpx.AsyncClient) -> None:
    response = await client.post(PREDICT_URL, json={"instances": [WINDOW] * 1001})

    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "instances"


async def test_predict_counts_rejections_by_reason(client: httpx.AsyncClient) -> None:
    await client.post(PREDICT_URL, json={"instances": [WINDOW[:3]]})

    metrics = (await client.get("/metrics")).text

    assert 'forecast_validation_failures_total{reason="window_length"} 1.0' in metrics


async def test_model_status_reports_available_version(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/models/sine")

    assert response.status_code == 200
    assert response.json()["model_version_status"][0] == {
        "version": "1",
        "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""},
    }
