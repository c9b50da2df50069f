"""The SavedModel contract: signatures, shapes, in-graph scaling and the autoregressive loop.

The network is untrained: the contract concerns the graph, not the accuracy.
"""

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from training.data import WINDOW, Scaling
from training.export import ForecastModule, export_saved_model
from training.network import build_network

MAX_HORIZON = 60
SCALING = Scaling(mean=2.5, std=0.4)
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def network():
    keras.utils.set_random_seed(7)
    return build_network([20])


@pytest.fixture(scope="module")
def saved_model_dir(network, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("export") / "1"
    export_saved_model(ForecastModule(network, SCALING, max_horizon=MAX_HORIZON), directory)
    return directory


@pytest.fixture(scope="module")
def loaded(saved_model_dir: Path):
    return tf.saved_model.load(str(saved_model_dir))


def windows(batch: int, seed: int = 0) -> np.ndarray:
    """Windows around the scaling mean, in the series' units."""
    rng = np.random.default_rng(seed)
    return (SCALING.mean + SCALING.std * rng.normal(size=(batch, WINDOW))).astype(np.float32)


def serve(loaded, window: np.ndarray) -> np.ndarray:
    return loaded.signatures["serving_default"](window=tf.constant(window))["forecast"].numpy()


def forecast(loaded, window: np.ndarray, horizon: int) -> np.ndarray:
    output = loaded.signatures["forecast"](window=tf.constant(window), horizon=tf.constant(horizon, dtype=tf.int32))
    return output["forecast"].numpy()


def test_export_writes_saved_model_files(saved_model_dir: Path) -> None:
    assert (saved_model_dir / "saved_model.pb").is_file()
    assert (saved_model_dir / "variables").is_dir()


def test_export_lists_all_signatures(loaded) -> None:
    assert set(loaded.signatures) == {"serving_default", "forecast", "saliency"}


@pytest.mark.parametrize("step", [pytest.param(1, id="step-1"), pytest.param(7, id="step-7"), pytest.param(MAX_HORIZON, id="max-step")])
def test_saliency_matches_finite_differences(loaded, step: int) -> None:
    window = windows(2, seed=3)
    delta = 1e-2
    estimate = np.empty_like(window)
    for index in range(WINDOW):
        up, down = window.copy(), window.copy()
        up[:, index] += delta
        down[:, index] -= delta
        estimate[:, index] = (forecast(loaded, up, step)[:, -1] - forecast(loaded, down, step)[:, -1]) / (2 * delta)

    saliency = loaded.signatures["saliency"](window=tf.constant(window), step=tf.constant(step))["saliency"].numpy()

    assert saliency.shape == (2, WINDOW)
    # Central differences in float32 carry errors of about 0.1 % at 60 steps.
    np.testing.assert_allclose(saliency, estimate, atol=1e-3, rtol=1e-2)


@pytest.mark.parametrize("step", [pytest.param(0, id="zero"), pytest.param(MAX_HORIZON + 1, id="above-max")])
def test_saliency_out_of_range_step_raises(loaded, step: int) -> None:
    with pytest.raises(tf.errors.InvalidArgumentError, match="step must be"):
        loaded.signatures["saliency"](window=tf.constant(windows(1)), step=tf.constant(step))


def test_serving_default_matches_keras_network(loaded, network) -> None:
    window = windows(8)
    scaled = (window - SCALING.mean) / SCALING.std
    expected = network(scaled[..., None], training=False).numpy() * SCALING.std + SCALING.mean

    actual = serve(loaded, window)

    assert actual.shape == (8, 1)
    np.testing.assert_allclose(actual, expected, atol=TOLERANCE, rtol=0)


def test_forecast_matches_loop_over_serving_default(loaded) -> None:
    window = windows(3, seed=1)
    current = window.copy()
    expected = []
    for _ in range(10):
        prediction = serve(loaded, current)
        expected.append(prediction[:, 0])
        current = np.concatenate([current[:, 1:], prediction], axis=1)

    actual = forecast(loaded, window, 10)

    np.testing.assert_allclose(actual, np.stack(expected, axis=1), atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize(
    ("batch", "horizon"),
    [
        pytest.param(1, 1, id="batch1-horizon1"),
        pytest.param(1, MAX_HORIZON, id="batch1-max-horizon"),
        pytest.param(3, 1, id="batch3-horizon1"),
        pytest.param(3, MAX_HORIZON, id="batch3-max-horizon"),
    ],
)
def test_forecast_output_shape(loaded, batch: int, horizon: int) -> None:
    output = forecast(loaded, windows(batch), horizon)

    assert output.shape == (batch, horizon)
    assert np.all(np.isfinite(output))


def test_forecast_first_step_equals_serving_default(loaded) -> None:
    window = windows(4, seed=2)

    np.testing.assert_allclose(forecast(loaded, window, 5)[:, :1], serve(loaded, window), atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize(
    "horizon",
    [
        pytest.param(0, id="zero"),
        pytest.param(-3, id="negative"),
        pytest.param(MAX_HORIZON + 1, id="above-max"),
    ],
)
def test_forecast_out_of_range_horizon_raises(loaded, horizon: int) -> None:
    with pytest.raises(tf.errors.InvalidArgumentError, match="horizon must be"):
        forecast(loaded, windows(2), horizon)


def test_module_rejects_max_horizon_below_one(network) -> None:
    with pytest.raises(ValueError, match="max_horizon must be at least 1, got 0"):
        ForecastModule(network, SCALING, max_horizon=0)


def test_saved_model_cli_shows_dynamic_batch(saved_model_dir: Path) -> None:
    command = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show", "--all", "--dir", str(saved_model_dir)]

    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)

    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "signature_def['serving_default']" in completed.stdout
    assert "signature_def['forecast']" in completed.stdout
    assert completed.stdout.count(f"shape: (-1, {WINDOW})") == 4
    assert "shape: (-1, 1)" in completed.stdout
    assert "shape: (-1, -1)" in completed.stdout
