"""Load a series, split it chronologically, scale it and cut it into windows.

This module needs only numpy, so the CLI can reject bad input before it
imports TensorFlow.

Split policy: the series is cut into train, validation, calibration and test
parts of 60/10/15/15 % of its values, in time order. Windows are built inside
each part only, so no window or target straddles two parts, and the first
WINDOW values of the validation, calibration and test parts serve only as
context. The calibration part is never trained on: its forecast errors set
the width of the prediction intervals. A calibration part too short for them
(minimum_calibration_length) does not stop training: the version is then
exported without intervals.
"""

import csv
import io
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

WINDOW = 50
"""Number of past values the network reads to predict the next one."""

MAX_EVAL_STEP = 50
"""Default autoregressive horizon scored on the test part (--eval-steps)."""

TRAIN_PERCENT = 60
VALIDATION_PERCENT = 10
CALIBRATION_PERCENT = 15
# The test part takes the remainder, 15 % up to rounding.

MAX_ABS_VALUE = 1e30
"""Largest magnitude accepted in a CSV cell. The exported graph computes in float32
(maximum about 3.4e38), and this bound leaves eight orders of magnitude for
forecasts beyond the training range."""

# Values closer to the mean than float32 resolution become equal in the exported graph.
FLOAT32_EPSILON = float(np.finfo(np.float32).eps)
FLOAT32_TINY = float(np.finfo(np.float32).tiny)

MIN_CALIBRATION_STARTS = 100
"""Fewest calibration start points per interval step.

The level-99 quantile is the ceil(0.99 (n + 1))-th smallest of n scores, which
exists only for n >= 99.
"""

MIN_CALIBRATION_SHARE = 0.8
"""Share of the calibration windows that every interval step must use as start points.

Later steps have fewer start points, which cover a shorter stretch of the
series. On the default series, this share gives 141 steps. With 300 or 601
steps, split-conformal intervals missed the test coverage by 4 to 5 points at
80 % (scripts/coverage_by_steps.py).
"""

FILL_METHODS = ("none", "interpolate")

SYNTHETIC_LENGTH = 5000
SYNTHETIC_FREQUENCY = 0.01
SYNTHETIC_NOISE_STD = 0.05


class TrainingInputError(ValueError):
    """Invalid training input: a bad CSV file, column or series."""


@dataclass(frozen=True)
class Series:
    """A univariate series in time order and a JSON-ready description of its source."""

    values: np.ndarray
    source: dict


@dataclass(frozen=True)
class Scaling:
    """Mean and standard deviation of the training part, in the series' units."""

    mean: float
    std: float


@dataclass(frozen=True)
class Split:
    """Consecutive train, validation, calibration and test parts of one series."""

    train: np.ndarray
    validation: np.ndarray
    calibration: np.ndarray
    test: np.ndarray

    @property
    def test_offset(self) -> int:
        """Index in the whole series of the first test value."""
        return len(self.train) + len(self.validation) + len(self.calibration)


def synthetic_series(seed: int) -> Series:
    """Generate sin(0.01 t) plus Gaussian noise for t = 0 .. SYNTHETIC_LENGTH - 1."""
    rng = np.random.default_rng(seed)
    t = np.arange(SYNTHETIC_LENGTH, dtype=np.float64)
    noise = rng.normal(0.0, SYNTHETIC_NOISE_STD, size=SYNTHETIC_LENGTH)
    values = np.sin(SYNTHETIC_FREQUENCY * t) + noise

    source = {
        "source": "synthetic",
        "formula": f"sin({SYNTHETIC_FREQUENCY} * t) + normal(0, noise_std), t = 0..{SYNTHETIC_LENGTH - 1}",
        "length": SYNTHETIC_LENGTH,
        "noise_std": SYNTHETIC_NOISE_STD,
        "seed": seed,
    }
    return Series(values=values, source=source)


def read_csv_series(path: str | Path, column: str, fill: str = "none") -> Series:
    """Read one numeric column of a CSV file with a header row and rows in time order.

    Completely blank lines are skipped. An empty cell is a missing value: with
    fill "none" it raises TrainingInputError naming every missing row, and with
    fill "interpolate" it is filled by fill_gaps. Raises TrainingInputError for a
    missing file, invalid UTF-8, a missing column, a non-numeric cell, or a value
    that is not finite or beyond ±MAX_ABS_VALUE. A cell error names the data row
    (1-based, header excluded) and the file line.
    """
    if fill not in FILL_METHODS:
        raise ValueError(f"fill must be one of {FILL_METHODS}, got {fill!r}")

    path = Path(path)
    text = _read_utf8(path)
    try:
        values, missing = _parse_csv_column(csv.reader(io.StringIO(text, newline="")), path, column)
    except csv.Error as error:
        raise TrainingInputError(f"cannot read CSV file {path}: {error}") from None

    source = {
        "source": "csv",
        "path": str(path.resolve()),
        "column": column,
        "length": len(values),
    }
    array = np.asarray(values, dtype=np.float64)
    if missing:
        if fill == "none":
            raise TrainingInputError(_describe_missing(missing, path, column))
        array = fill_gaps(array)
        source["fill"] = fill
        source["filled"] = len(missing)
        logger.info("filled %d missing values of column %r by linear interpolation", len(missing), column)

    logger.info("read %d values from column %r of %s", len(values), column, path)
    return Series(values=array, source=source)


def _read_utf8(path: Path) -> str:
    """Read the whole file as UTF-8 (a byte order mark is dropped), naming the line of an invalid byte."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TrainingInputError(f"CSV file not found: {path}") from None
    except OSError as error:
        raise TrainingInputError(f"cannot read CSV file {path}: {error}") from None

    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise TrainingInputError(
            f"line {line} of {path}: invalid UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start}); "
            "save the file as UTF-8"
        ) from None


def fill_gaps(values: np.ndarray) -> np.ndarray:
    """Replace NaN values by linear interpolation between the nearest known neighbours.

    numpy.interp repeats the edge values, so missing values before the
    first known value take the first known value, and those after the last
    known value take the last one. Raises TrainingInputError when no value is known.
    """
    known = ~np.isnan(values)
    if not known.any():
        raise TrainingInputError(f"all {len(values)} values are missing; nothing to interpolate from")

    positions = np.arange(len(values))
    filled = values.copy()
    filled[~known] = np.interp(positions[~known], positions[known], values[known])
    return filled


def _describe_missing(missing: list[tuple[int, int]], path: Path, column: str) -> str:
    rows = ", ".join(f"{row} (line {line})" for row, line in missing)
    return (
        f"{len(missing)} missing value{'' if len(missing) == 1 else 's'} in column {column!r} of {path}, "
        f"at data rows {rows}; fill them in the file or pass --fill interpolate"
    )


def _parse_csv_column(reader, path: Path, column: str) -> tuple[list[float], list[tuple[int, int]]]:
    """Return the column's values, NaN where a cell is empty, and the (data row, file line) of each empty cell."""
    header = next(reader, None)
    if header is None:
        raise TrainingInputError(f"CSV file {path} is empty; expected a header row and data rows")

    if column not in header:
        available = ", ".join(repr(name) for name in header)
        raise TrainingInputError(f"column {column!r} not found in {path}; available columns: {available}")
    index = header.index(column)

    values = []
    missing = []
    for row in reader:
        if not row:
            continue
        where = f"data row {len(values) + 1} (line {reader.line_num} of {path}), column {column!r}"
        value = _parse_cell(row, index, where)
        if math.isnan(value):
            missing.append((len(values) + 1, reader.line_num))
        values.append(value)

    if not values:
        raise TrainingInputError(f"CSV file {path} has a header row but no data rows")
    return values, missing


def _parse_cell(row: list[str], index: int, where: str) -> float:
    """Parse one cell, returning NaN for an empty one."""
    cell = row[index].strip() if index < len(row) else ""
    if not cell:
        return math.nan

    try:
        value = float(cell)
    except ValueError:
        raise TrainingInputError(f"{where}: {cell!r} is not a number") from None

    if not math.isfinite(value):
        raise TrainingInputError(f"{where}: {cell!r} is not a finite number")
    if abs(value) > MAX_ABS_VALUE:
        raise TrainingInputError(f"{where}: {cell!r} is outside the supported range of ±{MAX_ABS_VALUE:g}")
    return value


def split_lengths(length: int) -> tuple[int, int, int, int]:
    """Return the number of values in the train, validation, calibration and test parts."""
    train = length * TRAIN_PERCENT // 100
    validation = length * VALIDATION_PERCENT // 100
    calibration = length * CALIBRATION_PERCENT // 100
    return train, validation, calibration, length - train - validation - calibration


def interval_steps(calibration_length: int, max_horizon: int) -> int:
    """Return the largest forecast step that enough calibration windows reach.

    Enough means at least MIN_CALIBRATION_STARTS windows and at least
    MIN_CALIBRATION_SHARE of all the part's windows. Capped at max_horizon.
    Returns 0 when the part is too short for any step.
    """
    windows = calibration_length - WINDOW
    needed = max(MIN_CALIBRATION_STARTS, math.ceil(MIN_CALIBRATION_SHARE * windows))
    return max(0, min(windows - needed + 1, max_horizon))


def minimum_calibration_length() -> int:
    """Return the shortest calibration part that calibrates intervals for at least one step."""
    length = WINDOW
    while interval_steps(length, 1) < 1:
        length += 1
    return length


def minimum_length(eval_steps: int = MAX_EVAL_STEP) -> int:
    """Return the shortest series whose parts all hold enough values.

    Train and validation need one window and one target. The test part needs a
    window followed by eval_steps values for the by-step evaluation. A
    calibration part too short for intervals is allowed: the version is then
    exported without them.
    """
    length = WINDOW + 1
    while not _parts_long_enough(length, eval_steps):
        length += 1
    return length


def _parts_long_enough(length: int, eval_steps: int) -> bool:
    train, validation, _, test = split_lengths(length)
    return train >= WINDOW + 1 and validation >= WINDOW + 1 and test >= WINDOW + eval_steps


def split_series(values: np.ndarray, eval_steps: int = MAX_EVAL_STEP) -> Split:
    """Cut the series into train, validation, calibration and test parts in time order.

    Raises TrainingInputError when the series is too short for the window,
    the split and eval_steps.
    """
    needed = minimum_length(eval_steps)
    if len(values) < needed:
        test_percent = 100 - TRAIN_PERCENT - VALIDATION_PERCENT - CALIBRATION_PERCENT
        raise TrainingInputError(
            f"series has {len(values)} values, but a window of {WINDOW} values, a "
            f"{TRAIN_PERCENT}/{VALIDATION_PERCENT}/{CALIBRATION_PERCENT}/{test_percent} split and "
            f"{eval_steps} evaluation steps need at least {needed} values"
        )

    train, validation, calibration, _ = split_lengths(len(values))
    calibration_start = train + validation
    test_start = calibration_start + calibration
    return Split(
        train=values[:train],
        validation=values[train:calibration_start],
        calibration=values[calibration_start:test_start],
        test=values[test_start:],
    )


def fit_scaling(train: np.ndarray) -> Scaling:
    """Compute the scaling constants from the training part only.

    Raises TrainingInputError for a training part that is constant at float32
    precision, which has no scale: dividing by its standard deviation in the
    exported graph would divide by zero or amplify rounding noise.
    """
    mean = float(np.mean(train))
    std = float(np.std(train))
    minimum_std = max(abs(mean) * FLOAT32_EPSILON, FLOAT32_TINY)
    if not std > minimum_std:
        spread = "zero standard deviation" if std == 0.0 else f"standard deviation {std:.3g}"
        raise TrainingInputError(
            f"the training part (values 1 to {len(train)}) is constant at {mean!r} "
            f"({spread}); scaling needs a standard deviation above {minimum_std:.3g}"
        )
    return Scaling(mean=mean, std=std)


def make_windows(part: np.ndarray, window: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """Cut a part into sliding windows and the value that follows each one.

    Returns inputs of shape [len(part) - window, window] and targets of shape
    [len(part) - window]. Window i covers part[i : i + window].
    """
    count = len(part) - window
    if count < 1:
        raise ValueError(f"part of {len(part)} values is too short for a window of {window}")

    inputs = np.lib.stride_tricks.sliding_window_view(part[:-1], window)
    targets = part[window:]
    return inputs.copy(), targets.copy()


def make_horizon_windows(part: np.ndarray, steps: int, window: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """Cut a part into windows and the `steps` values that follow each one.

    Only start points whose step-`steps` target lies inside the part are used.
    Returns inputs [count, window] and targets [count, steps].
    """
    count = len(part) - window - steps + 1
    if count < 1:
        raise ValueError(f"part of {len(part)} values is too short for a window of {window} and {steps} steps")

    spans = np.lib.stride_tricks.sliding_window_view(part, window + steps)
    return spans[:, :window].copy(), spans[:, window:].copy()
