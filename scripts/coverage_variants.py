"""Measure the test coverage of prediction interval variants at every level 1..99.

Loads a version trained on the synthetic series of the given seed, computes
forecast errors on its validation, calibration and test parts, and prints for
each variant the largest deviation of test coverage from nominal over levels
1..99, and the coverage at 50/80/90/95/99 %. Variants differ in the scores
they calibrate on (the calibration part alone, or the validation and
calibration parts together), in K, and in whether each step keeps its own
quantile or the scores of all steps, divided by their step's calibration MAE,
share one quantile, or each step's half-width is the normal quantile times the
root-mean-square of its scores (the design training/intervals.py uses).
Usage: python scripts/coverage_variants.py MODEL_VERSION_DIR [--seed N] [--stride S]
"""

import argparse

import numpy as np
import tensorflow as tf

from training.data import interval_steps, split_series, synthetic_series
from training.intervals import conformal_half_widths, forecast_errors, normal_half_widths

LEVELS = np.arange(1, 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version_dir", help="a version directory trained on the synthetic series of --seed")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic series (default 0)")
    parser.add_argument(
        "--stride", type=int, default=1, help="score every S-th test start point only (default 1, every one)"
    )
    args = parser.parse_args()

    loaded = tf.saved_model.load(args.version_dir)

    def forecast(inputs: np.ndarray, steps: int) -> np.ndarray:
        output = loaded.signatures["forecast"](window=tf.constant(inputs, tf.float32), horizon=tf.constant(steps))
        return output["forecast"].numpy().astype(np.float64)

    split = split_series(synthetic_series(seed=args.seed).values)
    validation_and_calibration = np.concatenate([split.validation, split.calibration])
    longest = interval_steps(len(validation_and_calibration), 1000)
    errors = {
        "calibration": forecast_errors(forecast, split.calibration, longest),
        "validation + calibration": forecast_errors(forecast, validation_and_calibration, longest),
        "train + valid. + calib.": forecast_errors(forecast, np.concatenate([split.train, validation_and_calibration]), longest),
    }
    test_errors = forecast_errors(forecast, split.test, longest)[:: args.stride]
    rule_steps = {
        "calibration": interval_steps(len(split.calibration), 1000),
        "validation + calibration": longest,
        "train + valid. + calib.": longest,
    }

    print(f"seed {args.seed}, test start points every {args.stride}")
    print("scores                    K    quantile             worst (level)     50 %   80 %   90 %   95 %   99 %")
    for scores, calibration_errors in errors.items():
        for steps in sorted({50, rule_steps["calibration"], rule_steps[scores]}):
            for pooling in ("per step", "pooled, MAE-scaled", "normal, RMS per step"):
                widths = _half_widths(calibration_errors[:, :steps], pooling)
                coverage = _coverage(test_errors[:, :steps], widths)
                deviation = coverage - LEVELS / 100
                worst = int(np.argmax(np.abs(deviation)))
                shown = "  ".join(f"{coverage[level - 1]:.3f}" for level in (50, 80, 90, 95, 99))
                print(
                    f"{scores:<24} {steps:>4}    {pooling:<18}  {100 * deviation[worst]:+5.1f} ({worst + 1:>2})"
                    f"      {shown}"
                )


def _half_widths(errors: np.ndarray, pooling: str) -> np.ndarray:
    """Return half-widths [levels, steps]."""
    if pooling == "per step":
        by_level = conformal_half_widths(errors, tuple(int(level) for level in LEVELS))
        return np.stack([by_level[int(level)] for level in LEVELS])

    if pooling == "normal, RMS per step":
        by_level = normal_half_widths(errors, tuple(int(level) for level in LEVELS))
        return np.stack([by_level[int(level)] for level in LEVELS])

    scale = np.nanmean(errors, axis=0)
    pooled = (errors / scale[None, :])[~np.isnan(errors)][:, None]
    quantiles = conformal_half_widths(pooled, tuple(int(level) for level in LEVELS))
    return np.stack([quantiles[int(level)][0] * scale for level in LEVELS])


def _coverage(errors: np.ndarray, widths: np.ndarray) -> np.ndarray:
    valid = ~np.isnan(errors)
    return np.array([np.mean(errors[valid] <= np.broadcast_to(row[None, :], errors.shape)[valid]) for row in widths])


if __name__ == "__main__":
    main()
