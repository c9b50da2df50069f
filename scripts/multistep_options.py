"""Compare ways to train SimpleRNN(20) -> Dense(1) for autoregressive multi-step forecasts.

Every option trains a fresh network on the synthetic series of --seed, split
60/10/15/15 and scaled as the training job does. Each is scored as
training/evaluate.py scores a version: the MAE, in the series' units, of the
autoregressive forecast from every test start point at steps 1, 10, 25 and 50.
The script prints one markdown table row per option, after the row of the
linear least-squares AR(50) baseline. Seconds cover the training only, not the
scoring. Keras progress lines and the training logs go to stderr, so stdout
contains only the table.
Usage: python scripts/multistep_options.py [--seed N] [--only NAME ...]
"""

import argparse
import contextlib
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from training.config import FitSettings
from training.data import (
    MAX_EVAL_STEP,
    Scaling,
    Split,
    fit_scaling,
    make_horizon_windows,
    make_windows,
    split_series,
    synthetic_series,
)
from training.evaluate import LinearBaseline, evaluate
from training.export import ForecastModule
from training.fit import fit_network
from training.linear_init import initialize_linear
from training.network import build_network

REPORTED_STEPS = (1, 10, 25, 50)
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
CLIPNORM = 1.0

ONE_STEP_EPOCHS = 20
PLATEAU_MAX_EPOCHS = 150
PLATEAU_PATIENCE = 15
PLATEAU_LR_FACTOR = 0.5
PLATEAU_LR_PATIENCE = 5
SEQUENCE_EPOCHS = 150
DISTILLATION_EPOCHS = 40

ROLLOUT_BATCH_SIZE = 128
# (steps K, epochs) of each stage. Short rollouts come first because the
# 50-step forecasts of a network trained on the one-step loss start far from the targets.
ROLLOUT_STAGES = ((10, 10), (25, 10), (50, 30))
ROLLOUT_LEARNING_RATES = (1e-3, 1e-4)
LINEAR_ROLLOUT_STAGES = ((25, 5), (50, 15))
LINEAR_ROLLOUT_LEARNING_RATES = (3e-5, 3e-6)


@dataclass(frozen=True)
class TrainingData:
    """The split series, the training part's scaling, and the scaled train and validation parts."""

    split: Split
    scaling: Scaling
    train: np.ndarray
    validation: np.ndarray


@dataclass(frozen=True)
class Option:
    """Training option with its table label and the function that returns its trained network."""

    label: str
    train: Callable[[TrainingData], keras.Model]


def main() -> None:
    options = build_options()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic series and of the weights (default 0)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["baseline", *options],
        help="run only these rows (default: the baseline and every option)",
    )
    args = parser.parse_args()
    if args.seed < 0:
        parser.error(f"--seed must be a non-negative integer, got {args.seed}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("training").setLevel(logging.INFO)

    data = prepare_data(args.seed)
    print("| option | step 1 | 10 | 25 | 50 | seconds |")
    print("|--------|-------:|---:|---:|---:|--------:|")
    if args.only is None or "baseline" in args.only:
        print_row("linear least squares AR(50) baseline", *score_linear_baseline(data.split))

    for name, option in options.items():
        if args.only is None or name in args.only:
            print_row(option.label, *run_option(option, data, args.seed))


def build_options() -> dict[str, Option]:
    """Return the options keyed by their --only name, in table order."""
    rollout_epochs = "/".join(str(epochs) for _, epochs in ROLLOUT_STAGES)
    linear_rollout_epochs = "/".join(str(epochs) for _, epochs in LINEAR_ROLLOUT_STAGES)
    return {
        "one-step": Option(
            f"one-step loss, Adam 1e-3, {ONE_STEP_EPOCHS} epochs",
            train_one_step,
        ),
        "plateau": Option(
            f"(a) one-step loss, ReduceLROnPlateau ×{PLATEAU_LR_FACTOR} after {PLATEAU_LR_PATIENCE} epochs, "
            f"early stopping patience {PLATEAU_PATIENCE}, at most {PLATEAU_MAX_EPOCHS} epochs",
            train_plateau,
        ),
        "rollout": Option(
            f"(a) then (b) rollout fine-tuning, K 10→25→50, {rollout_epochs} epochs, batch {ROLLOUT_BATCH_SIZE}, "
            "cosine lr 1e-3→1e-4, clip 1.0",
            train_plateau_then_rollout,
        ),
        "sequence": Option(
            f"(c) return_sequences=True on shifted targets, {SEQUENCE_EPOCHS} epochs",
            train_sequence,
        ),
        "distillation": Option(
            f"(d) distillation of the linear model into the RNN, {DISTILLATION_EPOCHS} epochs",
            train_distilled,
        ),
        "linear-20": Option(
            "(e) linear initialization, order 20, no ridge, state scale 0.015",
            lambda data: train_linear(data, order=20, ridge=0.0),
        ),
        "linear-12": Option(
            "(e) linear initialization, order 12, ridge 0.01, state scale 0.015 (chosen)",
            lambda data: train_linear(data, order=12, ridge=0.01),
        ),
        "linear-12-rollout": Option(
            f"(e) chosen, then (b) rollout fine-tuning, K 25→50, {linear_rollout_epochs} epochs, "
            "cosine lr 3e-5→3e-6",
            train_linear_then_rollout,
        ),
    }


def prepare_data(seed: int) -> TrainingData:
    """Split and scale the synthetic series as training/pipeline.py does."""
    split = split_series(synthetic_series(seed).values)
    scaling = fit_scaling(split.train)
    return TrainingData(
        split=split,
        scaling=scaling,
        train=(split.train - scaling.mean) / scaling.std,
        validation=(split.validation - scaling.mean) / scaling.std,
    )


def run_option(option: Option, data: TrainingData, seed: int) -> tuple[list[float], float]:
    """Train one option from the seed and return its test MAE by step and its training seconds."""
    # Seeding before every option makes a row the same whether it runs alone or after others.
    keras.utils.set_random_seed(seed)
    started = time.monotonic()
    with contextlib.redirect_stdout(sys.stderr):
        network = option.train(data)
        seconds = time.monotonic() - started
        module = ForecastModule(network, data.scaling, max_horizon=MAX_EVAL_STEP)
        evaluation = evaluate(module, data.split.train, data.split.test, MAX_EVAL_STEP)
    return evaluation.mae_by_step, seconds


def score_linear_baseline(split: Split) -> tuple[list[float], float]:
    """Fit the baseline of training/evaluate.py and return its test MAE by step and its fitting seconds."""
    started = time.monotonic()
    baseline = LinearBaseline.fit(*make_windows(split.train))
    seconds = time.monotonic() - started

    inputs, targets = make_horizon_windows(split.test, MAX_EVAL_STEP)
    errors = np.abs(baseline.forecast(inputs, MAX_EVAL_STEP) - targets)
    return list(np.mean(errors, axis=0)), seconds


def print_row(label: str, mae_by_step: list[float], seconds: float) -> None:
    maes = " | ".join(f"{mae_by_step[step - 1]:.4f}" for step in REPORTED_STEPS)
    print(f"| {label} | {maes} | {seconds:.1f} |", flush=True)


def train_one_step(data: TrainingData) -> keras.Model:
    """Train on the one-step loss with the training job's fit_network (--init random)."""
    network = build_network()
    # A patience of all epochs never stops early, but fit_network still keeps the best validation epoch.
    settings = FitSettings(ONE_STEP_EPOCHS, BATCH_SIZE, LEARNING_RATE, CLIPNORM, patience=ONE_STEP_EPOCHS)
    fit_network(network, make_windows(data.train), make_windows(data.validation), settings)
    return network


def train_plateau(data: TrainingData) -> keras.Model:
    """Train on the one-step loss, halving the learning rate when the validation loss stalls."""
    network = build_network()
    inputs, targets = make_windows(data.train)
    validation_inputs, validation_targets = make_windows(data.validation)
    # fit_network takes no callbacks, so this option calls Keras directly.
    callbacks = [
        keras.callbacks.ReduceLROnPlateau(factor=PLATEAU_LR_FACTOR, patience=PLATEAU_LR_PATIENCE, min_lr=1e-5),
        keras.callbacks.EarlyStopping(patience=PLATEAU_PATIENCE, restore_best_weights=True, verbose=1),
    ]
    fit_keras(
        network,
        (inputs[..., None], targets[:, None]),
        (validation_inputs[..., None], validation_targets[:, None]),
        PLATEAU_MAX_EPOCHS,
        callbacks,
    )
    return network


def train_plateau_then_rollout(data: TrainingData) -> keras.Model:
    """Train option (a), then fine-tune it on K-step rollouts of growing K.

    Option (a) trains again here, so that every row depends on the seed alone,
    and the row's seconds include it.
    """
    network = train_plateau(data)
    fine_tune_rollout(network, data, ROLLOUT_STAGES, ROLLOUT_LEARNING_RATES)
    return network


def train_sequence(data: TrainingData) -> keras.Model:
    """Train a return_sequences=True copy on the next value after every window position, then copy its weights.

    Every position of a window gets a target, so one window gives WINDOW
    training signals in place of one. The weights have the same shapes in the
    last-output network that the forecast uses.
    """
    sequence_network = keras.Sequential(
        [
            keras.Input(shape=(None, 1)),
            keras.layers.SimpleRNN(20, return_sequences=True),
            keras.layers.Dense(1),
        ]
    )
    stopping = keras.callbacks.EarlyStopping(patience=SEQUENCE_EPOCHS, restore_best_weights=True)
    fit_keras(sequence_network, shifted_windows(data.train), shifted_windows(data.validation), SEQUENCE_EPOCHS, [stopping])

    network = build_network()
    network.set_weights(sequence_network.get_weights())
    return network


def shifted_windows(part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return windows [count, WINDOW, 1] and, for each position, the value that follows it [count, WINDOW, 1]."""
    inputs, targets = make_windows(part)
    shifted = np.concatenate([inputs[:, 1:], targets[:, None]], axis=1)
    return inputs[..., None], shifted[..., None]


def train_distilled(data: TrainingData) -> keras.Model:
    """Train on the linear baseline's one-step predictions in place of the noisy next values."""
    inputs, _ = make_windows(data.train)
    teacher = LinearBaseline.fit(*make_windows(data.train))
    network = build_network()
    settings = FitSettings(DISTILLATION_EPOCHS, BATCH_SIZE, LEARNING_RATE, CLIPNORM, patience=DISTILLATION_EPOCHS)
    # The validation loss stays on the true next values, so the kept epoch is the one that predicts the series best.
    fit_network(network, (inputs, teacher.predict(inputs)), make_windows(data.validation), settings)
    return network


def train_linear(data: TrainingData, order: int, ridge: float) -> keras.Model:
    """Set the weights with training/linear_init.py, which logs the spectral radius to stderr."""
    network = build_network()
    initialize_linear(network, *make_windows(data.train), order=order, ridge=ridge)
    return network


def train_linear_then_rollout(data: TrainingData) -> keras.Model:
    """Fine-tune the chosen linear initialization on rollouts with a small learning rate."""
    network = train_linear(data, order=12, ridge=0.01)
    fine_tune_rollout(network, data, LINEAR_ROLLOUT_STAGES, LINEAR_ROLLOUT_LEARNING_RATES)
    return network


class Rollout(keras.Model):
    """Autoregressive rollout of the network, mapping windows [batch, window] to forecasts [batch, steps].

    The Python loop unrolls into the traced graph, so the loss gradient flows
    back through every fed-back prediction (backpropagation through the whole
    rollout, not only through each one-step call).
    """

    def __init__(self, network: keras.Model, steps: int):
        super().__init__()
        self.network = network
        self.steps = steps

    def call(self, windows, training=False):
        forecasts = []
        for _ in range(self.steps):
            prediction = self.network(windows[..., None], training=training)
            forecasts.append(prediction)
            windows = keras.ops.concatenate([windows[:, 1:], prediction], axis=1)
        return keras.ops.concatenate(forecasts, axis=1)


def fine_tune_rollout(
    network: keras.Model,
    data: TrainingData,
    stages: tuple[tuple[int, int], ...],
    learning_rates: tuple[float, float],
) -> None:
    """Minimize the MSE of K-step rollouts, stage by stage, with one cosine decay over all stages' epochs."""
    total_epochs = sum(epochs for _, epochs in stages)
    first_epoch = 0
    for steps, epochs in stages:
        schedule = keras.callbacks.LearningRateScheduler(
            lambda epoch, _, offset=first_epoch: cosine_learning_rate(offset + epoch, total_epochs, *learning_rates)
        )
        fit_rollout_stage(network, data, steps, epochs, schedule)
        first_epoch += epochs


def fit_rollout_stage(
    network: keras.Model,
    data: TrainingData,
    steps: int,
    epochs: int,
    schedule: keras.callbacks.LearningRateScheduler,
) -> None:
    """Fit `steps`-step rollouts and keep the weights of the epoch with the lowest validation rollout MSE."""
    rollout = Rollout(network, steps)
    # With TensorFlow, Keras 3.15 leaves XLA off on CPU-only machines unless asked.
    # On the 2-core development machine XLA ran a 50-step rollout epoch in 2.4 s
    # against 5.7 s without it, after a compile of about 40 s. The schedule sets
    # the learning rate at the start of every epoch.
    rollout.compile(optimizer=keras.optimizers.Adam(clipnorm=CLIPNORM), loss="mse", jit_compile=True)

    inputs, targets = make_horizon_windows(data.train, steps)
    # Dropping the last partial batch keeps one batch shape, so XLA compiles the training step once.
    batches = (
        tf.data.Dataset.from_tensor_slices((inputs.astype(np.float32), targets.astype(np.float32)))
        .shuffle(len(inputs))
        .batch(ROLLOUT_BATCH_SIZE, drop_remainder=True)
    )
    validation_inputs, validation_targets = make_horizon_windows(data.validation, steps)
    # verbose=1 logs which epoch's weights the stage keeps.
    stopping = keras.callbacks.EarlyStopping(patience=epochs, restore_best_weights=True, verbose=1)
    rollout.fit(
        batches,
        validation_data=(validation_inputs.astype(np.float32), validation_targets.astype(np.float32)),
        validation_batch_size=len(validation_inputs),
        epochs=epochs,
        callbacks=[schedule, stopping],
        verbose=2,
    )


def cosine_learning_rate(epoch: int, total_epochs: int, start: float, end: float) -> float:
    """Return the learning rate of a cosine decay from `start` at epoch 0 to `end` at epoch `total_epochs`."""
    return end + 0.5 * (start - end) * (1.0 + math.cos(math.pi * epoch / total_epochs))


def fit_keras(
    model: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    epochs: int,
    callbacks: list[keras.callbacks.Callback],
) -> None:
    """Fit with Adam on the MSE, using the training job's learning rate and gradient clipping."""
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE, clipnorm=CLIPNORM), loss="mse")
    model.fit(
        train[0].astype(np.float32),
        train[1].astype(np.float32),
        validation_data=(validation[0].astype(np.float32), validation[1].astype(np.float32)),
        epochs=epochs,
        batch_size=BATCH_SIZE,
        callbacks=callbacks,
        verbose=2,
    )


if __name__ == "__main__":
    main()
