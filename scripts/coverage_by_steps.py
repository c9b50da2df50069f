"""Measure test coverage of split-conformal intervals calibrated up to different numbers of steps.

Loads a version trained on the default synthetic series, calibrates intervals
on its calibration part for each K given, and prints the coverage on the test
part at 50/80/90/95/99 % and the largest deviation over levels 1..99.
Usage: python scripts/coverage_by_steps.py MODEL_VERSION_DIR [K ...]
"""

import argparse

import numpy as np
import tensorflow as tf

from training.data import split_series, synthetic_series
from training.intervals import conformal_half_widths, forecast_errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version_dir", help="a version directory trained on the default series, such as model/sine/1")
    parser.add_argument("steps", nargs="*", type=int, default=[25, 50, 100, 141, 200, 300, 601], help="values of K to try")
    args = parser.parse_args()

    loaded = tf.saved_model.load(args.version_dir)

    def forecast(inputs: np.ndarray, steps: int) -> np.ndarray:
        output = loaded.signatures["forecast"](window=tf.constant(inputs, tf.float32), horizon=tf.constant(steps))
        return output["forecast"].numpy().astype(np.float64)

    split = split_series(synthetic_series(seed=0).values)
    longest = max(args.steps)
    calibration_errors = forecast_errors(forecast, split.calibration, longest)
    test_errors = forecast_errors(forecast, split.test, longest)

    print("    K  worst deviation (level)    50 %    80 %    90 %    95 %    99 %")
    for steps in args.steps:
        half_widths = conformal_half_widths(calibration_errors[:, :steps])
        errors = test_errors[:, :steps]
        valid = ~np.isnan(errors)
        coverage = np.array(
            [np.mean(errors[valid] <= np.broadcast_to(half_widths[level][None, :], errors.shape)[valid]) for level in range(1, 100)]
        )
        deviation = coverage - np.arange(1, 100) / 100
        worst = int(np.argmax(np.abs(deviation)))
        shown = "  ".join(f"{coverage[level - 1]:.3f}" for level in (50, 80, 90, 95, 99))
        print(f"{steps:>5}  {100 * deviation[worst]:+5.1f} points ({worst + 1:>2})        {shown}")


if __name__ == "__main__":
    main()
