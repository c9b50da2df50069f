"""Series loading, chronological split, scaling and windowing, without TensorFlow."""

from pathlib import Path

import numpy as np
import pytest

from training.data import (
    MAX_EVAL_STEP,
    SYNTHETIC_LENGTH,
    WINDOW,
    TrainingInputError,
    fit_scaling,
    interval_steps,
    make_horizon_windows,
    make_windows,
    minimum_calibration_length,
    minimum_length,
    read_csv_series,
    split_lengths,
    split_series,
    synthetic_series,
)


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_synthetic_series_is_reproducible_per_seed() -> None:
    first = synthetic_series(seed=0).values
    again = synthetic_series(seed=0).values
    other = synthetic_series(seed=1).values

    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_synthetic_series_follows_sine_with_noise() -> None:
    series = synthetic_series(seed=0)
    residual = series.values - np.sin(0.01 * np.arange(SYNTHETIC_LENGTH))

    assert len(series.values) == 5000
    assert abs(np.std(residual) - 0.05) < 0.003
    assert series.source["source"] == "synthetic"
    assert series.source["seed"] == 0


def test_split_lengths_default_series_is_60_10_15_15() -> None:
    assert split_lengths(5000) == (3000, 500, 750, 750)


def test_split_series_is_chronological_and_complete() -> None:
    values = np.arange(1000, dtype=np.float64)

    split = split_series(values)

    assert np.array_equal(np.concatenate([split.train, split.validation, split.calibration, split.test]), values)
    assert split.train[-1] < split.validation[0]
    assert split.validation[-1] < split.calibration[0]
    assert split.calibration[-1] < split.test[0]
    assert split.test_offset == len(split.train) + len(split.validation) + len(split.calibration)


def test_make_windows_shapes_and_targets() -> None:
    part = np.arange(60, dtype=np.float64)

    inputs, targets = make_windows(part)

    assert inputs.shape == (10, WINDOW)
    assert targets.shape == (10,)
    assert np.array_equal(inputs[0], np.arange(50))
    assert targets[0] == 50
    assert np.array_equal(inputs[-1], np.arange(9, 59))
    assert targets[-1] == 59


def test_make_windows_stay_inside_their_part() -> None:
    values = np.arange(5000, dtype=np.float64)
    split = split_series(values)

    for part in (split.train, split.validation, split.calibration, split.test):
        inputs, targets = make_windows(part)
        assert inputs.min() >= part[0]
        assert targets.max() <= part[-1]
        assert len(targets) == len(part) - WINDOW


def test_make_horizon_windows_need_all_steps_inside_part() -> None:
    part = np.arange(120, dtype=np.float64)

    inputs, targets = make_horizon_windows(part, steps=MAX_EVAL_STEP)

    assert inputs.shape == (21, WINDOW)
    assert targets.shape == (21, MAX_EVAL_STEP)
    assert np.array_equal(targets[0], np.arange(50, 100))
    assert targets[-1, -1] == 119


def test_make_windows_too_short_part_raises() -> None:
    with pytest.raises(ValueError, match="too short"):
        make_windows(np.zeros(WINDOW))


def test_fit_scaling_uses_training_part_only() -> None:
    values = synthetic_series(seed=0).values
    changed = values.copy()
    train_length = split_lengths(len(values))[0]
    changed[train_length:] = 1000.0

    original = fit_scaling(split_series(values).train)
    moved = fit_scaling(split_series(changed).train)

    assert original == moved


def test_fit_scaling_constant_series_raises() -> None:
    with pytest.raises(TrainingInputError, match="zero standard deviation"):
        fit_scaling(np.full(500, 3.0))


def test_split_series_too_short_names_both_lengths() -> None:
    needed = minimum_length()

    with pytest.raises(TrainingInputError) as caught:
        split_series(np.arange(needed - 1, dtype=np.float64))

    assert f"{needed - 1} values" in str(caught.value)
    assert f"at least {needed} values" in str(caught.value)


def test_split_series_minimum_length_is_accepted() -> None:
    split = split_series(np.arange(minimum_length(), dtype=np.float64))

    assert len(split.test) >= WINDOW + MAX_EVAL_STEP
    assert len(split.validation) >= WINDOW + 1


def test_read_csv_series_reads_named_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "series.csv", "time,value\n0,1.5\n1,-2\n\n2,3e-1\n")

    series = read_csv_series(path, "value")

    assert series.values.tolist() == [1.5, -2.0, 0.3]
    assert series.source == {"source": "csv", "path": str(path.resolve()), "column": "value", "length": 3}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "is empty", id="empty-file"),
        pytest.param("time,value\n", "no data rows", id="header-only"),
        pytest.param("time,other\n0,1\n", "column 'value' not found .*available columns: 'time', 'other'", id="missing-column"),
        pytest.param("time,value\n0,1\n1,abc\n", r"data row 2 \(line 3 of .*\), column 'value': 'abc' is not a number", id="non-numeric"),
        pytest.param("time,value\n0,1\n1,\n", r"1 missing value in column 'value' of .*, at data rows 2 \(line 3\)", id="empty-cell"),
        pytest.param("time,value\n0,1\n1\n", r"1 missing value in column 'value' of .*, at data rows 2 \(line 3\)", id="short-row"),
        pytest.param("time,value\n0,1\n1,nan\n", r"data row 2 .*'nan' is not a finite number", id="nan"),
        pytest.param("time,value\n0,1\n1,-inf\n", r"data row 2 .*'-inf' is not a finite number", id="infinity"),
    ],
)
def test_read_csv_series_invalid_input_raises(tmp_path: Path, text: str, message: str) -> None:
    path = write_csv(tmp_path / "series.csv", text)

    with pytest.raises(TrainingInputError, match=message):
        read_csv_series(path, "value")


def test_read_csv_series_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(TrainingInputError, match="CSV file not found"):
        read_csv_series(tmp_path / "absent.csv", "value")


def test_read_csv_series_blank_line_keeps_row_numbers(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "series.csv", "value\n1\n\n2\nx\n")

    with pytest.raises(TrainingInputError, match=r"data row 3 \(line 5 of "):
        read_csv_series(path, "value")


def test_read_csv_series_interpolate_fills_gaps_and_edges(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "series.csv", "time,value\n0,\n1,1\n2,\n3,\n4,4\n5,\n")

    series = read_csv_series(path, "value", fill="interpolate")

    assert series.values.tolist() == [1.0, 1.0, 2.0, 3.0, 4.0, 4.0]
    assert series.source["filled"] == 4
    assert series.source["fill"] == "interpolate"


def test_read_csv_series_interpolate_all_missing_raises(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "series.csv", "time,value\n0,\n1,\n")

    with pytest.raises(TrainingInputError, match="all 2 values are missing"):
        read_csv_series(path, "value", fill="interpolate")


def test_interval_steps_keeps_80_percent_of_windows() -> None:
    assert interval_steps(750, 1000) == 141
    assert interval_steps(750, 60) == 60
    assert interval_steps(WINDOW + 99, 1000) == 0


def test_minimum_calibration_length_allows_one_step() -> None:
    shortest = minimum_calibration_length()

    assert shortest == WINDOW + 100
    assert interval_steps(shortest, 1000) == 1
    assert interval_steps(shortest - 1, 1000) == 0
