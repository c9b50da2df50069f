"""Interval half-widths computed from calibration errors, for both interval methods."""

import numpy as np
import pytest

from training.intervals import calibrate, conformal_half_widths, normal_half_widths


def test_conformal_half_widths_use_finite_sample_rank() -> None:
    # One step with the scores 1..10 (n = 10): level 80 takes the ceil(11 * 0.8) = 9th smallest.
    errors = np.arange(1.0, 11.0).reshape(10, 1)

    widths = conformal_half_widths(errors, levels=(80, 50))

    assert widths[80][0] == 9.0
    assert widths[50][0] == 6.0


def test_conformal_half_widths_reject_too_few_scores() -> None:
    # ceil(11 * 0.95) = 11 > 10 scores: the interval would be unbounded, so calibration fails instead.
    errors = np.arange(1.0, 11.0).reshape(10, 1)

    with pytest.raises(ValueError, match="step 1 has 10 scores, too few for a 95 % interval"):
        conformal_half_widths(errors, levels=(95,))


def test_normal_half_widths_scale_root_mean_square() -> None:
    errors = np.full((100, 2), 2.0)

    widths = normal_half_widths(errors, levels=(95,))

    assert widths[95] == pytest.approx([1.959964 * 2.0] * 2, rel=1e-5)


@pytest.mark.parametrize("method", ["normal", "conformal"])
def test_calibrate_records_method(method: str) -> None:
    series = np.sin(0.1 * np.arange(400.0))

    def persistence(windows: np.ndarray, steps: int) -> np.ndarray:
        return np.repeat(windows[:, -1:], steps, axis=1)

    calibration = calibrate(persistence, series, steps=5, method=method)

    assert calibration.method == method
    assert calibration.to_json()["method_name"] == method


def test_calibrate_rejects_unknown_method() -> None:
    with pytest.raises(ValueError, match="interval method must be one of"):
        calibrate(lambda windows, steps: windows[:, :steps], np.zeros(200), steps=2, method="bootstrap")
