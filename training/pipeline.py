"""One training run: fit, evaluate, check the quality gate, then publish a version."""

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from training.config import TrainingConfig
from training.data import (
    FLOAT32_EPSILON,
    WINDOW,
    Scaling,
    Series,
    Split,
    fit_scaling,
    interval_steps,
    make_windows,
    minimum_calibration_length,
    split_series,
)
from training.evaluate import Evaluation, evaluate
from training.export import ForecastModule, export_saved_model
from training.fit import FitResult, fit_network
from training.linear_init import initialize_linear
from training.intervals import Calibration, calibrate, interval_coverage, module_forecast_function, write_intervals
from training.metadata import build_metadata, write_metadata
from training.network import build_network
from training.plots import plot_mae_by_step, plot_predictions
from training.versioning import publish, staging_directory

logger = logging.getLogger(__name__)


class QualityGateError(RuntimeError):
    """The trained model failed a quality check (test MAE or stability), so nothing was exported."""


@dataclass(frozen=True)
class TrainingOutcome:
    """The published version and how it was trained and scored."""

    version: int
    path: Path
    fit_result: FitResult
    evaluation: Evaluation
    calibration: Calibration | None
    coverage: dict[str, float] | None


def train_version(series: Series, config: TrainingConfig) -> TrainingOutcome:
    """Train on the series and publish a new version under model_dir/name.

    Raises TrainingInputError for an unusable series and QualityGateError when
    the one-step test MAE exceeds config.max_mae. In both cases nothing is
    written.
    """
    split = split_series(series.values, config.eval_steps)
    # With differencing, the network reads the WINDOW - 1 differences of a window of WINDOW values.
    modeled = np.diff if config.difference else np.asarray
    network_window = WINDOW - 1 if config.difference else WINDOW
    scaling = fit_scaling(modeled(split.train))

    keras.utils.set_random_seed(config.seed)
    network = build_network(config.units, window=network_window)
    train_windows = _scaled_windows(modeled(split.train), scaling, network_window)
    validation_windows = _scaled_windows(modeled(split.validation), scaling, network_window)
    if config.init == "linear":
        fit_result = _initialize_linear(network, train_windows, validation_windows, config)
    else:
        fit_result = fit_network(network, train_windows, validation_windows, config.fit)

    module = ForecastModule(network, scaling, config.max_horizon, difference=config.difference)
    evaluation = evaluate(module, split.train, split.test, config.eval_steps)
    check_quality(evaluation, config.max_mae)

    calibration, coverage = _calibrate_intervals(module, split, config)
    metrics = {**evaluation.metrics(), "interval_coverage": coverage}

    metadata = build_metadata(
        name=config.name,
        max_horizon=config.max_horizon,
        source=series.source,
        split=split,
        scaling=scaling,
        units=config.units,
        settings=config.fit,
        seed=config.seed,
        fit_result=fit_result,
        metrics=metrics,
        calibration=calibration,
        init=config.init if config.init == "random" else f"linear (order {config.linear_order}, ridge {config.linear_ridge})",
        difference=config.difference,
    )
    version, path = _write_version(module, metadata, evaluation, calibration, split, config.model_dir / config.name)
    return TrainingOutcome(
        version=version,
        path=path,
        fit_result=fit_result,
        evaluation=evaluation,
        calibration=calibration,
        coverage=coverage,
    )


def _calibrate_intervals(module: ForecastModule, split: Split, config: TrainingConfig) -> tuple[Calibration | None, dict[str, float] | None]:
    """Calibrate the intervals and measure their test coverage; (None, None) when the calibration part is too short."""
    steps = interval_steps(len(split.calibration), config.max_horizon)
    if steps == 0:
        logger.warning(
            "the calibration part has %d values, fewer than the %d that intervals need; "
            "the version is exported without prediction intervals",
            len(split.calibration),
            minimum_calibration_length(),
        )
        return None, None

    forecast_function = module_forecast_function(module)
    calibration = calibrate(forecast_function, split.calibration, steps, method=config.interval_method)
    return calibration, interval_coverage(forecast_function, split.test, calibration)


def check_quality(evaluation: Evaluation, max_mae: float) -> None:
    """Raise QualityGateError unless the one-step test MAE is at most max_mae."""
    # A diverged network yields NaN, which fails this comparison as it should.
    if not evaluation.test_mae <= max_mae:
        raise QualityGateError(
            f"one-step test MAE {evaluation.test_mae:.5f} is above the maximum {max_mae} set by --max-mae; "
            "no version was exported"
        )


def _initialize_linear(network, train_windows, validation_windows, config: TrainingConfig) -> FitResult:
    """Set the weights by least squares; the result reads as a fit of zero epochs."""
    started = time.monotonic()
    result = initialize_linear(network, *train_windows, order=config.linear_order, ridge=config.linear_ridge)
    seconds = time.monotonic() - started
    check_stable(result.max_abs_eigenvalue, config.linear_order, train_windows[0].shape[1])

    predictions = network.predict(validation_windows[0][..., None].astype(np.float32), verbose=0)[:, 0]
    validation_loss = float(np.mean((predictions - validation_windows[1]) ** 2))
    return FitResult(epochs_run=0, best_epoch=0, best_val_loss=validation_loss, seconds=seconds)


def check_stable(spectral_radius: float, order: int, window: int) -> None:
    """Raise QualityGateError when the linear model's states grow beyond float32 precision over one window.

    The network computes in float32, so a state that grows by more than
    1 / epsilon within a window swamps the input, and the network's output no
    longer follows the window. On a noiseless series the realization can be
    unstable, with spectral radii in the thousands.
    """
    if spectral_radius <= 1.0:
        return
    growth_exponent = window * math.log10(spectral_radius)
    if growth_exponent > -math.log10(FLOAT32_EPSILON):
        raise QualityGateError(
            f"the linear initialization of order {order} is unstable: its spectral radius {spectral_radius:.4g} "
            f"lets a state grow about 1e{growth_exponent:.0f}-fold over a window of {window} values, beyond float32 "
            "precision; no version was exported. Train with --init random, or try another --linear-order"
        )


def _scaled_windows(part: np.ndarray, scaling: Scaling, window: int) -> tuple[np.ndarray, np.ndarray]:
    return make_windows((part - scaling.mean) / scaling.std, window)


def _write_version(
    module: ForecastModule,
    metadata: dict,
    evaluation: Evaluation,
    calibration: Calibration | None,
    split: Split,
    model_root: Path,
) -> tuple[int, Path]:
    with staging_directory(model_root) as staging:
        export_saved_model(module, staging)
        if calibration is not None:
            write_intervals(calibration, staging)
        _write_plots(evaluation, split, staging)

        def record_version(version: int) -> None:
            metadata["version"] = version
            write_metadata(metadata, staging)

        return publish(staging, model_root, record_version)


def _write_plots(evaluation: Evaluation, split: Split, directory: Path) -> None:
    first_target = split.test_offset + len(split.test) - len(evaluation.test_targets)
    time_index = np.arange(first_target, first_target + len(evaluation.test_targets))
    plot_predictions(time_index, evaluation.test_targets, evaluation.test_predictions, directory / "predictions.png")

    curves = {
        "model": evaluation.mae_by_step,
        "repeat last value": evaluation.baseline_last_value_mae_by_step,
        "linear least squares": evaluation.baseline_linear_mae_by_step,
    }
    plot_mae_by_step(curves, directory / "mae_by_step.png")
