"""Count the seeds on which each prediction interval design keeps test coverage within 3 points of nominal.

For each seed of the synthetic series, the script builds the model that
`python -m training --seed N` publishes with its default options: linear
initialization, with no gradient training and no export. It calibrates
intervals on the calibration part with the normal and the split-conformal
design, and measures their test coverage at levels 1..99 with the functions
the training job uses. A design passes a seed when every level is within
3 points of nominal, the bound that tests/test_training_cli.py checks for the
default run (seed 0, normal design).
Usage: python scripts/coverage_seeds.py [--seeds 0-19]
"""

import argparse
import logging
import statistics
import time

import keras
import tensorflow as tf

from training.cli import parse_args
from training.data import fit_scaling, interval_steps, make_windows, split_series, synthetic_series
from training.evaluate import evaluate
from training.export import ForecastModule
from training.intervals import LEVELS, calibrate, interval_coverage, module_forecast_function
from training.linear_init import initialize_linear
from training.network import build_network
from training.pipeline import QualityGateError, check_quality, check_stable

DESIGNS = ("normal", "conformal")
MAX_DEVIATION = 0.03
"""Largest accepted |test coverage - nominal level|, as a fraction."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds",
        type=parse_seeds,
        default=parse_seeds("0-19"),
        help="seeds of the synthetic series, as a range such as 0-19, a list such as 0,3,7, or both (default: 0-19)",
    )
    seeds = parser.parse_args().seeds
    # Each seed builds a new ForecastModule, so TensorFlow traces its functions again and,
    # after a few seeds, warns about retracing on every seed. That cost is expected here.
    tf.get_logger().setLevel(logging.ERROR)

    started = time.monotonic()
    print("Each design: worst deviation of test coverage from nominal in points (its level), and the 3-point verdict.")
    print(f"{'seed':>4}  {'K':>3}   " + "          ".join(f"{design:<15}" for design in DESIGNS), flush=True)
    worst_by_design = {design: [] for design in DESIGNS}
    for seed in seeds:
        try:
            steps, worst = measure_seed(seed)
        except QualityGateError as error:
            # The training job publishes nothing for this seed, so neither design applies.
            print(f"{seed:>4}  not published: {error}", flush=True)
            continue
        for design in DESIGNS:
            worst_by_design[design].append(worst[design])
        print(format_row(seed, steps, worst), flush=True)

    print()
    for design in DESIGNS:
        print(summarize(design, worst_by_design[design]))
    print(f"{len(seeds)} seeds in {time.monotonic() - started:.0f} s")


def parse_seeds(text: str) -> list[int]:
    """Parse comma-separated seeds and inclusive ranges, such as 0-19 or 0,3,10-12, into a list."""
    seeds = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid seeds {text!r}; expected a range such as 0-19 or a list such as 0,3,7") from None
        if low < 0 or high < low:
            raise argparse.ArgumentTypeError(f"invalid seed range {part!r}; expected 0 <= first <= last")
        seeds.extend(range(low, high + 1))
    return seeds


def measure_seed(seed: int) -> tuple[int, dict[str, tuple[float, int]]]:
    """Return K and, per design, the worst coverage deviation and its level for one seed.

    Raises QualityGateError where the training job would publish nothing.
    """
    # The job's own argument parser supplies its default options, so they cannot drift apart.
    options = parse_args(["--seed", str(seed)])
    split = split_series(synthetic_series(seed).values, options.eval_steps)
    module = build_default_module(split, options)
    check_quality(evaluate(module, split.train, split.test, options.eval_steps), options.max_mae)

    steps = interval_steps(len(split.calibration), options.max_horizon)
    forecast = module_forecast_function(module)
    worst = {}
    for design in DESIGNS:
        # calibrate and interval_coverage call forecast_errors and round the half-widths to the
        # 7 significant digits of intervals.json, so coverage equals what metadata.json records.
        calibration = calibrate(forecast, split.calibration, steps, method=design)
        coverage = interval_coverage(forecast, split.test, calibration)
        worst[design] = worst_deviation(coverage)
    return steps, worst


def build_default_module(split, options: argparse.Namespace) -> ForecastModule:
    """Build the network and set it by linear initialization, as training.pipeline.train_version does by default.

    Raises QualityGateError for an unstable linear model, as the job does.
    """
    scaling = fit_scaling(split.train)
    keras.utils.set_random_seed(options.seed)
    network = build_network(options.units)

    # The same scaling as the private training.pipeline._scaled_windows, without differencing.
    inputs, targets = make_windows((split.train - scaling.mean) / scaling.std)
    result = initialize_linear(network, inputs, targets, order=options.linear_order, ridge=options.linear_ridge)
    check_stable(result.max_abs_eigenvalue, options.linear_order, inputs.shape[1])
    return ForecastModule(network, scaling, options.max_horizon)


def worst_deviation(coverage: dict[str, float]) -> tuple[float, int]:
    """Return the coverage deviation from nominal with the largest magnitude, as a fraction, and its level."""
    deviations = {level: coverage[str(level)] - level / 100 for level in LEVELS}
    level = max(deviations, key=lambda key: abs(deviations[key]))
    return deviations[level], level


def passes(deviation: float) -> bool:
    """Apply the bound the way tests/test_training_cli.py does, to the unrounded deviation."""
    return abs(deviation) <= MAX_DEVIATION


def format_row(seed: int, steps: int, worst: dict[str, tuple[float, int]]) -> str:
    cells = []
    for design in DESIGNS:
        deviation, level = worst[design]
        cells.append(f"{100 * deviation:+5.1f} ({level:>2})  {'pass' if passes(deviation) else 'FAIL'}")
    return f"{seed:>4}  {steps:>3}   " + "          ".join(cells)


def summarize(design: str, worst: list[tuple[float, int]]) -> str:
    """Describe how many seeds pass and the median and maximum of the worst |deviation|, in points."""
    if not worst:
        return f"{design}: no published seeds"
    magnitudes = [100 * abs(deviation) for deviation, _ in worst]
    passing = sum(passes(deviation) for deviation, _ in worst)
    return (
        f"{design}: {passing}/{len(worst)} seeds within {100 * MAX_DEVIATION:.0f} points at every level; "
        f"worst |deviation| median {statistics.median(magnitudes):.1f}, maximum {max(magnitudes):.1f} points"
    )


if __name__ == "__main__":
    main()
