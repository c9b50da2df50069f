"""Load a series, split it chronologically, scale it and cut it into windows.

This module needs only numpy, so the CLI can reject bad input before it
imports TensorFlow.

Split policy: the series is cut into train, validation and test parts of
70/15/15 % of its values, in time order. Windows are built inside each part
only, so no window or target straddles two parts, and the first WINDOW values
of the validation and test parts serve only as context.
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
"""Maximum autoregressive horizon scored on the test part."""

TRAIN_PERCENT = 70
VALIDATION_PERCENT = 15
# The test part takes the remainder, 15 % up to rounding.

MAX_ABS_VALUE = 1e30
"""Largest magnitude accepted in a CSV cell. The exported graph computes in float32
(maximum about 3.4e38), and this bound leaves eight orders of magnitude for
forecasts beyond the training range."""

# Values closer to the mean than float32 resolution become equal in the exported graph.
FLOAT32_EPSILON = float(np.finfo(np.float32).eps)
FLOAT32_TINY = float(np.finfo(np.float32).tiny)

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
    """Consecutive train, validation and test parts of one series."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    @property
    def test_offset(self) -> int:
        """Index in the whole series of the first test value."""
        return len(self.train) + len(self.validation)


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


def read_csv_series(path: str | Path, column: str) -> Series:
    """Read one numeric column of a CSV file with a header row and rows in time order.

    Completely blank lines are skipped. Raises TrainingInputError for a missing
    file, invalid UTF-8, a missing column, an empty or non-numeric cell, or a
    value that is not finite or beyond ±MAX_ABS_VALUE. A cell error names the
    data row (1-based, header excluded) and the file line.
    """
    path = Path(path)
    text = _read_utf8(path)
    try:
        values = _parse_csv_column(csv.reader(io.StringIO(text, newline="")), path, column)
    except csv.Error as error:
        raise TrainingInputError(f"cannot read CSV file {path}: {error}") from None

    source = {
        "source": "csv",
        "path": str(path.resolve()),
        "column": column,
        "length": len(values),
    }
    logger.info("read %d values from column %r of %s", len(values), column, path)
    return Series(values=np.asarray(values, dtype=np.float64), source=source)


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


def _parse_csv_column(reader, path: Path, column: str) -> list[float]:
    header = next(reader, None)
    if header is None:
        raise TrainingInputError(f"CSV file {path} is empty; expected a header row and data rows")

    if column not in header:
        available = ", ".join(repr(name) for name in header)
        raise TrainingInputError(f"column {column!r} not found in {path}; available columns: {available}")
    index = header.index(column)

    values = []
    for row in reader:
        if not row:
            continue
        where = f"data row {len(values) + 1} (line {reader.line_num} of {path}), column {column!r}"
        values.append(_parse_cell(row, index, where))

    if not values:
        raise TrainingInputError(f"CSV file {path} has a header row but no data rows")
    return values


def _parse_cell(row: list[str], index: int, where: str) -> float:
    cell = row[index].strip() if index < len(row) else ""
    if not cell:
        raise TrainingInputError(f"{where}: value is missing; expected a number")

    try:
        value = float(cell)
    except ValueError:
        raise TrainingInputError(f"{where}: {cell!r} is not a number") from None

    if not math.isfinite(value):
        raise TrainingInputError(f"{where}: {cell!r} is not a finite number")
    if abs(value) > MAX_ABS_VALUE:
        raise TrainingInputError(f"{where}: {cell!r} is outside the supported range of ±{MAX_ABS_VALUE:g}")
    return value


def split_lengths(length: int) -> tuple[int, int, int]:
    """Return the number of values in the train, validation and test parts."""
    train = length * TRAIN_PERCENT // 100
    validation = length * VALIDATION_PERCENT // 100
    return train, validation, length - train - validation


def minimum_length() -> int:
    """Return the shortest series whose parts all hold enough values.

    Train and validation need one window and one target. The test part needs a
    window followed by MAX_EVAL_STEP values for the by-step evaluation.
    """
    length = WINDOW + 1
    while not _parts_long_enough(length):
        length += 1
    return length


def _parts_long_enough(length: int) -> bool:
    train, validation, test = split_lengths(length)
    return train >= WINDOW + 1 and validation >= WINDOW + 1 and test >= WINDOW + MAX_EVAL_STEP


def split_series(values: np.ndarray) -> Split:
    """Cut the series into train, validation and test parts in time order.

    Raises TrainingInputError when the series is too short for the window and
    the split.
    """
    needed = minimum_length()
    if len(values) < needed:
        raise TrainingInputError(
            f"series has {len(values)} values, but a window of {WINDOW} values and a "
            f"{TRAIN_PERCENT}/{VALIDATION_PERCENT}/{100 - TRAIN_PERCENT - VALIDATION_PERCENT} "
            f"split need at least {needed} values"
        )

    train, validation, _ = split_lengths(len(values))
    return Split(
        train=values[:train],
        validation=values[train : train + validation],
        test=values[train + validation :],
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
