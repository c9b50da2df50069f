"""Score the exported model and two baselines on the test part.

All errors are mean absolute errors in the series' own units. The model is
scored through the same signature functions that the SavedModel exports.
"""

import logging
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from training.data import MAX_EVAL_STEP, make_horizon_windows, make_windows
from training.export import ForecastModule

logger = logging.getLogger(__name__)


class LinearBaseline:
    """Least-squares linear model with intercept over the window's lags."""

    def __init__(self, coefficients: np.ndarray):
        self.coefficients = coefficients

    @classmethod
    def fit(cls, inputs: np.ndarray, targets: np.ndarray) -> "LinearBaseline":
        """Fit on windows [count, window] and the values that follow them [count]."""
        design = _with_intercept(inputs)
        coefficients, *_ = np.linalg.lstsq(design, targets, rcond=None)
        return cls(coefficients)

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Return the predicted next value for each window, shape [count]."""
        return _with_intercept(inputs) @ self.coefficients

    def forecast(self, inputs: np.ndarray, steps: int) -> np.ndarray:
        """Return the autoregressive forecast [count, steps] for each window."""
        return _roll(self.predict, inputs, steps)


def last_value_forecast(inputs: np.ndarray, steps: int) -> np.ndarray:
    """Repeat each window's last value `steps` times, shape [count, steps]."""
    return np.repeat(inputs[:, -1:], steps, axis=1)


def _with_intercept(inputs: np.ndarray) -> np.ndarray:
    return np.hstack([inputs, np.ones((len(inputs), 1))])


def _roll(predict, inputs: np.ndarray, steps: int) -> np.ndarray:
    window = inputs.copy()
    forecast = np.empty((len(inputs), steps))
    for step in range(steps):
        forecast[:, step] = predict(window)
        window = np.hstack([window[:, 1:], forecast[:, step : step + 1]])
    return forecast


@dataclass(frozen=True)
class Evaluation:
    """Test-part errors of the model and both baselines, plus the model's one-step predictions."""

    test_mae: float
    baseline_last_value_mae: float
    baseline_linear_mae: float
    mae_by_step: list[float]
    baseline_last_value_mae_by_step: list[float]
    baseline_linear_mae_by_step: list[float]
    num_test_windows: int
    num_forecast_windows: int
    test_targets: np.ndarray
    test_predictions: np.ndarray

    def metrics(self) -> dict:
        """Return the JSON-ready metrics stored in metadata.json."""
        return {
            "test_mae": self.test_mae,
            "baseline_last_value_mae": self.baseline_last_value_mae,
            "baseline_linear_mae": self.baseline_linear_mae,
            "mae_by_step": self.mae_by_step,
            "baseline_last_value_mae_by_step": self.baseline_last_value_mae_by_step,
            "baseline_linear_mae_by_step": self.baseline_linear_mae_by_step,
            "num_test_windows": self.num_test_windows,
            "num_forecast_windows": self.num_forecast_windows,
        }


def evaluate(module: ForecastModule, train: np.ndarray, test: np.ndarray, steps: int = MAX_EVAL_STEP) -> Evaluation:
    """Score one-step and by-step forecasts on the test part, in the series' units.

    The linear baseline is fitted on the training windows. By-step errors use
    every test start point whose step-`steps` target exists.
    """
    inputs, targets = make_windows(test)
    linear = LinearBaseline.fit(*make_windows(train))
    predictions = _model_one_step(module, inputs)

    horizon_inputs, horizon_targets = make_horizon_windows(test, steps)
    model_forecast = _model_forecast(module, horizon_inputs, steps)

    evaluation = Evaluation(
        test_mae=_mae(predictions, targets),
        baseline_last_value_mae=_mae(inputs[:, -1], targets),
        baseline_linear_mae=_mae(linear.predict(inputs), targets),
        mae_by_step=_mae_by_step(model_forecast, horizon_targets),
        baseline_last_value_mae_by_step=_mae_by_step(last_value_forecast(horizon_inputs, steps), horizon_targets),
        baseline_linear_mae_by_step=_mae_by_step(linear.forecast(horizon_inputs, steps), horizon_targets),
        num_test_windows=len(inputs),
        num_forecast_windows=len(horizon_inputs),
        test_targets=targets,
        test_predictions=predictions,
    )
    logger.info(
        "test MAE %.5f (last value %.5f, linear %.5f) on %d windows",
        evaluation.test_mae,
        evaluation.baseline_last_value_mae,
        evaluation.baseline_linear_mae,
        evaluation.num_test_windows,
    )
    return evaluation


def _model_one_step(module: ForecastModule, inputs: np.ndarray) -> np.ndarray:
    output = module.serve(tf.constant(inputs, dtype=tf.float32))["forecast"]
    return output.numpy()[:, 0].astype(np.float64)


def _model_forecast(module: ForecastModule, inputs: np.ndarray, steps: int) -> np.ndarray:
    output = module.forecast(tf.constant(inputs, dtype=tf.float32), tf.constant(steps, dtype=tf.int32))["forecast"]
    return output.numpy().astype(np.float64)


def _mae(predictions: np.ndarray, targets: np.ndarray) -> float:
    return float(np.mean(np.abs(predictions - targets)))


def _mae_by_step(forecast: np.ndarray, targets: np.ndarray) -> list[float]:
    return [float(value) for value in np.mean(np.abs(forecast - targets), axis=0)]
