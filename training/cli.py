"""Command line: python -m training [options].

Exit codes: 0 a version was published, 2 invalid arguments or input data,
3 the model failed the --max-mae quality gate. Nothing is written unless the
exit code is 0.
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from training.config import FitSettings, TrainingConfig
from training.data import (
    FILL_METHODS,
    MAX_EVAL_STEP,
    Series,
    TrainingInputError,
    fit_scaling,
    read_csv_series,
    split_series,
    synthetic_series,
)

if TYPE_CHECKING:
    from training.pipeline import TrainingOutcome

DEFAULT_EPOCHS = 100
DEFAULT_BATCH_SIZE = 32
DEFAULT_LEARNING_RATE = 0.001
DEFAULT_CLIPNORM = 1.0
DEFAULT_PATIENCE = 10
DEFAULT_MAX_MAE = 0.1
DEFAULT_MAX_HORIZON = 1000
REPORT_STEPS = (1, 10, 25, 50)
REPORT_LEVELS = ("80", "90", "95", "99")

EXIT_INPUT_ERROR = 2
EXIT_QUALITY_GATE = 3


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, train and publish one version, print a report, and return the exit code."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("training").setLevel(logging.INFO)

    try:
        series = _load_series(args)
    except TrainingInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INPUT_ERROR

    try:
        # Reject a short or constant series before the slow TensorFlow import.
        fit_scaling(split_series(series.values, args.eval_steps).train)
    except TrainingInputError as error:
        print(f"error: {describe_source(series)}: {error}", file=sys.stderr)
        return EXIT_INPUT_ERROR

    from training import pipeline  # Imports TensorFlow, which takes seconds.

    try:
        outcome = pipeline.train_version(series, _config(args))
    except TrainingInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except pipeline.QualityGateError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_QUALITY_GATE

    print(format_report(outcome))
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line. argparse exits with code 2 on invalid options."""
    parser = _build_parser()
    args = parser.parse_args(argv)

    if (args.csv is None) != (args.column is None):
        parser.error("--csv and --column must be given together")
    if args.init == "linear" and (len(args.units) != 1 or not args.linear_order <= min(args.units[0], 24)):
        parser.error(
            f"--init linear needs one SimpleRNN layer of at least --linear-order ({args.linear_order}) units "
            f"and an order of at most 24, got --units {','.join(map(str, args.units))}; pass --init random for other networks"
        )
    if args.fill != "none" and args.csv is None:
        parser.error("--fill applies only to --csv input")
    if args.max_horizon < args.eval_steps:
        parser.error(
            f"--max-horizon must be at least --eval-steps ({args.eval_steps}) because the evaluation forecasts "
            f"that many steps, got {args.max_horizon}"
        )
    return args


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Train a SimpleRNN forecaster and publish it as MODEL_DIR/NAME/<next version>/.",
    )
    parser.add_argument("--model-dir", type=Path, default=Path("model"), help="root of the model store (default: model)")
    parser.add_argument("--name", default="sine", type=_model_name, help="model name, a directory under --model-dir (default: sine)")
    parser.add_argument("--csv", type=Path, help="train on a column of this CSV file (header row, rows in time order) instead of the synthetic sine")
    parser.add_argument("--column", help="name of the CSV column to train on, required with --csv")
    parser.add_argument("--fill", choices=FILL_METHODS, default="none", help="what to do with empty CSV cells: none rejects the file and lists the rows, interpolate fills them linearly and holds the first or last known value at the edges (default: none)")
    parser.add_argument("--units", type=_units, default=[20], help="comma-separated SimpleRNN layer sizes, where 20,20 stacks two layers (default: 20)")
    parser.add_argument("--difference", action="store_true", help="train the network on first differences of the series; the exported model still takes and returns values, and the baselines stay on the values (default: off)")
    parser.add_argument("--interval-method", choices=("normal", "conformal"), default="normal", help="how prediction intervals are computed from the calibration errors: normal multiplies each step's root-mean-square error by the normal quantile; conformal stores the finite-sample-corrected quantile of the absolute errors (default: normal, see docs/quality.md for the coverage of each)")
    parser.add_argument("--init", choices=("linear", "random"), default="linear", help="linear sets the network to a least-squares linear autoregressive model of order --linear-order, with no gradient training, so --epochs and the other optimizer options do not apply; random trains from random weights with Adam on the one-step loss (default: linear)")
    parser.add_argument("--linear-order", type=_positive_int, default=12, help="number of RNN units the linear initialization uses, at most the layer size and 24 (default: 12)")
    parser.add_argument("--linear-ridge", type=_non_negative_float, default=0.01, help="ridge penalty of the linear fit per training window, in scaled units (default: 0.01)")
    parser.add_argument("--epochs", type=_positive_int, default=DEFAULT_EPOCHS, help=f"maximum number of epochs; early stopping may end sooner (default: {DEFAULT_EPOCHS})")
    parser.add_argument("--patience", type=_positive_int, default=DEFAULT_PATIENCE, help=f"epochs without a lower validation loss before training stops (default: {DEFAULT_PATIENCE})")
    parser.add_argument("--batch-size", type=_positive_int, default=DEFAULT_BATCH_SIZE, help=f"windows per gradient step (default: {DEFAULT_BATCH_SIZE})")
    parser.add_argument("--learning-rate", type=_positive_float, default=DEFAULT_LEARNING_RATE, help=f"Adam learning rate (default: {DEFAULT_LEARNING_RATE})")
    parser.add_argument("--clipnorm", type=_positive_float, default=DEFAULT_CLIPNORM, help=f"maximum gradient norm per variable for Adam (default: {DEFAULT_CLIPNORM})")
    parser.add_argument("--seed", type=_non_negative_int, default=0, help="seed for the synthetic noise, Python, numpy and Keras (default: 0)")
    parser.add_argument("--max-horizon", type=_positive_int, default=DEFAULT_MAX_HORIZON, help=f"longest horizon the exported forecast signature accepts (default: {DEFAULT_MAX_HORIZON})")
    parser.add_argument("--eval-steps", type=_positive_int, default=MAX_EVAL_STEP, help=f"autoregressive steps scored on the test part; the series must be long enough for them (default: {MAX_EVAL_STEP})")
    parser.add_argument("--max-mae", type=_positive_float, default=DEFAULT_MAX_MAE, help=f"fail with exit code 3 and export nothing when the one-step test MAE is above this, in the series' units (default: {DEFAULT_MAX_MAE})")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not 0.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a non-negative finite number, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not value > 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def _units(text: str) -> list[int]:
    parts = [part.strip() for part in text.split(",")]
    try:
        units = [int(part) for part in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid layer sizes {text!r}; expected positive integers such as 20 or 20,20") from None
    if any(size < 1 for size in units):
        raise argparse.ArgumentTypeError(f"invalid layer sizes {text!r}; every size must be at least 1")
    return units


def _model_name(text: str) -> str:
    # The name becomes one directory level, so it must not climb or nest.
    if not text or text in (".", "..") or "/" in text or "\\" in text or text.startswith("."):
        raise argparse.ArgumentTypeError(f"invalid model name {text!r}; expected a plain directory name such as sine")
    return text


def _load_series(args: argparse.Namespace) -> Series:
    if args.csv is not None:
        return read_csv_series(args.csv, args.column, args.fill)
    return synthetic_series(args.seed)


def describe_source(series: Series) -> str:
    """Name where the series came from, for errors about the series as a whole."""
    if series.source.get("source") == "csv":
        return f"column {series.source['column']!r} of {series.source['path']}"
    return "synthetic series"


def _config(args: argparse.Namespace) -> TrainingConfig:
    settings = FitSettings(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        clipnorm=args.clipnorm,
        patience=args.patience,
    )
    return TrainingConfig(
        model_dir=args.model_dir,
        name=args.name,
        units=args.units,
        fit=settings,
        seed=args.seed,
        max_horizon=args.max_horizon,
        max_mae=args.max_mae,
        eval_steps=args.eval_steps,
        init=args.init,
        linear_order=args.linear_order,
        linear_ridge=args.linear_ridge,
        difference=args.difference,
        interval_method=args.interval_method,
    )


def format_report(outcome: "TrainingOutcome") -> str:
    """Return the human-readable summary printed after a successful run."""
    evaluation = outcome.evaluation
    fit_result = outcome.fit_result
    lines = [
        f"version {outcome.version} written to {outcome.path}",
        f"training: {fit_result.epochs_run} epochs run, best epoch {fit_result.best_epoch}, {fit_result.seconds:.1f} s"
        + (" (linear initialization, no gradient training)" if fit_result.epochs_run == 0 else ""),
        f"one-step test MAE on {evaluation.num_test_windows} windows:",
        f"  model       {evaluation.test_mae:.5f}",
        f"  last value  {evaluation.baseline_last_value_mae:.5f}",
        f"  linear      {evaluation.baseline_linear_mae:.5f}",
        f"autoregressive MAE by step on {evaluation.num_forecast_windows} windows:",
        "  step     model  last value    linear",
    ]
    for step in _report_steps(len(evaluation.mae_by_step)):
        index = step - 1
        lines.append(
            f"  {step:>4}  {evaluation.mae_by_step[index]:8.5f}  {evaluation.baseline_last_value_mae_by_step[index]:10.5f}"
            f"  {evaluation.baseline_linear_mae_by_step[index]:8.5f}"
        )

    if outcome.calibration is None:
        lines.append("prediction intervals: none, the calibration part is too short (see the warning above)")
    else:
        lines.append(f"interval coverage on the test part, steps 1..{outcome.calibration.steps}:")
        lines.append("  " + "  ".join(f"{level} %: {outcome.coverage[level]:.3f}" for level in REPORT_LEVELS))
    return "\n".join(lines)


def _report_steps(eval_steps: int) -> list[int]:
    steps = [step for step in REPORT_STEPS if step < eval_steps]
    return steps + [eval_steps]
