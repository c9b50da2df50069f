"""Prediction intervals for the autoregressive forecast, scaled on held-out forecast errors.

The model forecasts from every window of the calibration part, which training
never sees, and the forecast error at each step k is one score for that step.
For a level of p %, the interval half-width at step k is the normal quantile
z((1 + p / 100) / 2) times the root-mean-square of the step's scores: the
interval a normal error of that spread would need.

Split-conformal half-widths (the ceil((n + 1) p / 100)-th smallest of the n
absolute errors of a step) were the first design. On the default series they
covered the test part 3.1 to 4.3 points above nominal at mid levels, with
every K and score set tried, while the normal half-widths stayed within
2.1 points at every level on seeds 0 to 2 (docs/quality.md,
scripts/coverage_variants.py). A root-mean-square uses every score, so it
varies less between stretches of series than an empirical quantile of a few
hundred dependent scores. The normal shape suits a linear model whose errors sum
Gaussian-like noise. For heavy-tailed errors it under-covers high levels, so
metadata.json stores the coverage measured on the test part.
"""

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np
import tensorflow as tf

from training.data import WINDOW, make_windows

logger = logging.getLogger(__name__)

INTERVALS_FILE = "intervals.json"
LEVELS = tuple(range(1, 100))
"""Interval levels in percent that each version calibrates."""

METHODS = {
    "normal": "normal quantile times the root-mean-square forecast error per step on the calibration part",
    "conformal": "split-conformal: the ceil((n + 1) p / 100)-th smallest of the n absolute errors per step on the calibration part",
}
"""Interval methods that --interval-method selects, with the description stored in intervals.json."""


@dataclass(frozen=True)
class Calibration:
    """Interval half-widths per level and step, and how many scores each step had."""

    steps: int
    half_widths: dict[int, np.ndarray]
    num_windows_by_step: list[int]
    method: str = "normal"

    def to_json(self) -> dict:
        """Return the JSON-ready content of intervals.json."""
        return {
            "method": METHODS[self.method],
            "method_name": self.method,
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


def normal_half_widths(errors: np.ndarray, levels: tuple[int, ...] = LEVELS) -> dict[int, np.ndarray]:
    """Return, per level, the normal quantile of that level times each step's root-mean-square score, shape [steps]."""
    root_mean_square = np.sqrt(np.nanmean(errors**2, axis=0))
    return {level: NormalDist().inv_cdf(0.5 + level / 200) * root_mean_square for level in levels}


def calibrate(forecast_function, calibration_part: np.ndarray, steps: int, method: str = "normal") -> Calibration:
    """Collect calibration scores for steps 1..steps and compute the half-widths of every level with `method`."""
    if method not in METHODS:
        raise ValueError(f"interval method must be one of {sorted(METHODS)}, got {method!r}")

    errors = forecast_errors(forecast_function, calibration_part, steps)
    counts = [int(count) for count in np.sum(~np.isnan(errors), axis=0)]
    widths_by_level = normal_half_widths(errors) if method == "normal" else conformal_half_widths(errors)
    # Coverage is measured with the rounded half-widths that intervals.json stores.
    half_widths = {level: _rounded(widths) for level, widths in widths_by_level.items()}
    calibration = Calibration(steps=steps, half_widths=half_widths, num_windows_by_step=counts, method=method)
    logger.info("calibrated intervals for steps 1..%d on %d to %d windows", steps, counts[-1], counts[0])
    return calibration


def interval_coverage(forecast_function, test_part: np.ndarray, calibration: Calibration) -> dict[str, float]:
    """Return, per level, the fraction of test targets at steps 1..steps that fall inside the interval."""
    errors = forecast_errors(forecast_function, test_part, calibration.steps)
    valid = ~np.isnan(errors)
    coverage = {}
    for level in LEVELS:
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
