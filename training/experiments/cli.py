"""Command line: python -m training.experiments {bptt,vanishing,stacked} --out DIR [options].

Each experiment writes NAME.png and NAME.md into DIR and prints their paths. --quick shrinks an experiment to a size meant for tests;
its numbers are not meaningful.
"""

import argparse
import logging
from pathlib import Path

from training.cli import _non_negative_int, _positive_float, _positive_int

DEFAULT_SEED = 0


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run one experiment, print where it wrote its files, and return 0."""
    args = _build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("training").setLevel(logging.INFO)

    written = args.run(args)
    for path in written:
        print(f"wrote {path}")
    return 0


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training.experiments",
        description="Run one recurrent-network experiment and write its figure and markdown summary.",
    )
    experiments = parser.add_subparsers(dest="experiment", required=True, metavar="NAME")

    bptt = _add_experiment(experiments, "bptt", "full against truncated backpropagation through time (SimpleRNN, 200-step sequences)")
    bptt.add_argument("--epochs", type=_positive_int, help="training epochs for each variant (default: 30, or 2 with --quick)")
    bptt.add_argument("--sequences", type=_positive_int, help="training sequences of 200 steps (default: 160, or 16 with --quick)")
    bptt.add_argument("--batch-size", type=_positive_int, default=16, help="sequences per batch (default: 16)")
    bptt.add_argument("--learning-rate", type=_positive_float, default=0.005, help="Adam learning rate (default: 0.005)")
    bptt.set_defaults(run=_run_bptt)

    vanishing = _add_experiment(experiments, "vanishing", "gradient of the last prediction with respect to each of 100 input steps, SimpleRNN and LSTM")
    vanishing.add_argument("--sequences", type=_positive_int, help="sequences the gradient is averaged over (default: 64, or 8 with --quick)")
    vanishing.add_argument("--train-epochs", type=_non_negative_int, help="epochs to train each network before measuring again; 0 measures only at initialization (default: 5, or 1 with --quick)")
    vanishing.set_defaults(run=_run_vanishing)

    stacked = _add_experiment(experiments, "stacked", "output shapes of two stacked SimpleRNN layers and the error without return_sequences")
    stacked.set_defaults(run=_run_stacked)
    return parser


def _add_experiment(experiments, name: str, help_text: str) -> argparse.ArgumentParser:
    command = experiments.add_parser(name, help=help_text, description=help_text)
    command.add_argument("--out", type=Path, required=True, help="directory for the figure and summary; created if missing")
    command.add_argument("--quick", action="store_true", help="run at a small size for tests")
    command.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seed for data, weights and shuffling (default: {DEFAULT_SEED})")
    return command


def _run_bptt(args: argparse.Namespace) -> list[Path]:
    from training.experiments import bptt  # Imports TensorFlow, which takes seconds.
    from training.experiments.common import output_paths

    settings = bptt.BpttSettings(
        epochs=args.epochs or (2 if args.quick else 30),
        sequences=args.sequences or (16 if args.quick else 160),
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
    )
    outputs = output_paths(args.out, "bptt")
    results = bptt.run(outputs, settings)

    for task, task_results in results.items():
        for result in task_results:
            print(f"{task} task, {result.name}: {result.steady_seconds_per_epoch:.3f} s per epoch, test MAE {result.test_mae:.4f}")
    return [outputs.figure, outputs.summary]


def _run_vanishing(args: argparse.Namespace) -> list[Path]:
    from training.experiments import vanishing  # Imports TensorFlow, which takes seconds.
    from training.experiments.common import output_paths

    settings = vanishing.VanishingSettings(
        sequences=args.sequences or (8 if args.quick else 64),
        train_epochs=args.train_epochs if args.train_epochs is not None else (1 if args.quick else 5),
        train_windows=256 if args.quick else None,
        seed=args.seed,
    )
    outputs = output_paths(args.out, "vanishing")
    curves = vanishing.run(outputs, settings)

    for curve in curves:
        print(f"{curve.label}: |dy/dx| first step {curve.first:.3e}, last step {curve.last:.3e}, last/first {curve.last / curve.first:.3e}")
    return [outputs.figure, outputs.summary]


def _run_stacked(args: argparse.Namespace) -> list[Path]:
    from training.experiments import stacked  # Imports TensorFlow, which takes seconds.
    from training.experiments.common import output_paths

    outputs = output_paths(args.out, "stacked")
    report = stacked.run(outputs, seed=args.seed)

    for shape in report.shapes:
        print(f"{shape.description}: output shape {shape.shape}")
    print(f"first layer without return_sequences: {report.error_type}: {report.error_message}")
    return [outputs.figure, outputs.summary]
