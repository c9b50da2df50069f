"""Gradient of the last prediction with respect to each input step, SimpleRNN against LSTM.

For windows of SEQUENCE_LENGTH steps of the scaled synthetic series, the
experiment computes |d y_T / d x_t| for t = 1 .. SEQUENCE_LENGTH, where y_T is
the network's prediction after the last step, and averages it over sequences.
It measures each network at initialization and again after a short training
on next-value prediction.
"""

import logging
from dataclasses import dataclass

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from training.data import make_windows
from training.experiments.common import Outputs, markdown_table, scaled_synthetic_parts, seed_everything

logger = logging.getLogger(__name__)

SEQUENCE_LENGTH = 100
UNITS = 20
BATCH_SIZE = 32
LEARNING_RATE = 0.001
LAYERS = {"SimpleRNN": keras.layers.SimpleRNN, "LSTM": keras.layers.LSTM}


@dataclass(frozen=True)
class VanishingSettings:
    """Sequences to average over, training epochs, training windows (None: all) and seed."""

    sequences: int
    train_epochs: int
    train_windows: int | None
    seed: int


@dataclass(frozen=True)
class GradientCurve:
    """Mean |d y_T / d x_t| over sequences for t = 1 .. SEQUENCE_LENGTH, for one network and state."""

    layer: str
    state: str
    magnitudes: np.ndarray
    test_mae: float | None

    @property
    def label(self) -> str:
        return f"{self.layer}, {self.state}"

    @property
    def first(self) -> float:
        return float(self.magnitudes[0])

    @property
    def last(self) -> float:
        return float(self.magnitudes[-1])

    def decay_per_step(self) -> tuple[float, float]:
        """Fit log10 magnitude against t by least squares; return the factor per step and R squared.

        A factor below 1 with R squared near 1 means geometric decay with distance from the end.
        """
        steps = np.arange(1, len(self.magnitudes) + 1)
        logs = np.log10(self.magnitudes)
        slope, intercept = np.polyfit(steps, logs, 1)

        residual = logs - (slope * steps + intercept)
        r_squared = 1.0 - float(np.sum(residual**2) / np.sum((logs - logs.mean()) ** 2))
        # Magnitudes grow towards the last step, so the factor per step back in time is 10^-slope.
        return float(10.0 ** (-slope)), r_squared


def build_network(layer: str, seed: int) -> keras.Model:
    """Build LAYER(UNITS) -> Dense(1) over windows [batch, SEQUENCE_LENGTH, 1], seeded."""
    seed_everything(seed)
    return keras.Sequential(
        [
            keras.Input(shape=(SEQUENCE_LENGTH, 1)),
            LAYERS[layer](UNITS, name=layer.lower()),
            keras.layers.Dense(1, name="next_value"),
        ],
        name=f"{layer.lower()}_forecaster",
    )


def input_gradient_magnitudes(network: keras.Model, inputs: np.ndarray) -> np.ndarray:
    """Return mean |d y_T / d x_t| over the sequences in inputs [count, SEQUENCE_LENGTH, 1]."""
    tensor = tf.constant(inputs)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        predictions = network(tensor)
        # Each prediction depends only on its own sequence, so the gradient of the sum contains every per-sequence gradient.
        total = tf.reduce_sum(predictions)
    gradients = tape.gradient(total, tensor).numpy()[..., 0]
    return np.mean(np.abs(gradients), axis=0)


def run(outputs: Outputs, settings: VanishingSettings) -> list[GradientCurve]:
    """Measure every network at initialization and after training, and write the figure and summary."""
    train, test, scale = scaled_synthetic_parts(settings.seed)
    test_inputs, test_targets = make_windows(test, SEQUENCE_LENGTH)
    chosen = np.linspace(0, len(test_inputs) - 1, num=min(settings.sequences, len(test_inputs))).astype(int)
    probe = test_inputs[chosen][..., None]

    train_inputs, train_targets = make_windows(train, SEQUENCE_LENGTH)
    if settings.train_windows is not None:
        train_inputs, train_targets = train_inputs[: settings.train_windows], train_targets[: settings.train_windows]

    curves = []
    for layer in LAYERS:
        network = build_network(layer, settings.seed)
        curves.append(GradientCurve(layer, "untrained", input_gradient_magnitudes(network, probe), None))

        if settings.train_epochs > 0:
            _train(network, train_inputs, train_targets, settings)
            mae = _test_mae(network, test_inputs, test_targets) * scale
            state = f"trained {settings.train_epochs} epochs"
            curves.append(GradientCurve(layer, state, input_gradient_magnitudes(network, probe), mae))

    _plot(curves, outputs.figure)
    outputs.summary.write_text(_summary(curves, settings, len(probe), len(train_inputs), outputs), encoding="utf-8")
    return curves


def _train(network: keras.Model, inputs: np.ndarray, targets: np.ndarray, settings: VanishingSettings) -> None:
    network.compile(optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE), loss="mse")
    history = network.fit(inputs[..., None], targets[:, None], epochs=settings.train_epochs, batch_size=BATCH_SIZE, verbose=0)
    logger.info("%s: trained %d epochs, final loss %.5f", network.name, settings.train_epochs, history.history["loss"][-1])


def _test_mae(network: keras.Model, inputs: np.ndarray, targets: np.ndarray) -> float:
    predictions = network.predict(inputs[..., None], batch_size=256, verbose=0)[:, 0]
    return float(np.mean(np.abs(predictions - targets)))


def _plot(curves: list[GradientCurve], path) -> None:
    figure, axes = plt.subplots(figsize=(8, 4.2))
    colors = {"SimpleRNN": "tab:red", "LSTM": "tab:blue"}

    for curve in curves:
        steps = np.arange(1, len(curve.magnitudes) + 1)
        style = "-" if curve.state == "untrained" else "--"
        axes.plot(steps, curve.magnitudes, style, color=colors[curve.layer], label=curve.label)
    axes.set_yscale("log")
    axes.set_xlabel("input step t (the prediction follows step 100)")
    axes.set_ylabel("mean |d y_T / d x_t|")
    axes.set_title(f"Gradient of the last prediction per input step, {UNITS} units")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)

    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def _summary(curves: list[GradientCurve], settings: VanishingSettings, probe_count: int, train_count: int, outputs: Outputs) -> str:
    rows = []
    for curve in curves:
        factor, r_squared = curve.decay_per_step()
        rows.append(
            [
                curve.layer,
                curve.state,
                f"{curve.first:.3e}",
                f"{curve.last:.3e}",
                f"{curve.last / curve.first:.3e}",
                f"{factor:.3f}",
                f"{r_squared:.3f}",
                "" if curve.test_mae is None else f"{curve.test_mae:.4f}",
            ]
        )
    table = markdown_table(
        ["layer", "weights", "t = 1", f"t = {SEQUENCE_LENGTH}", "last / first", "fitted factor per step back", "R² of log fit", "one-step test MAE"],
        rows,
    )
    training = (
        f"Training: {settings.train_epochs} epochs of next-value prediction on {train_count} windows of the training part, "
        f"Adam learning rate {LEARNING_RATE}, batch size {BATCH_SIZE}; test MAE in the series' units."
        if settings.train_epochs > 0
        else "No training: only initial weights were measured."
    )
    return "\n".join(
        [
            "# Vanishing gradients: SimpleRNN against LSTM",
            "",
            f"Mean |d y_T / d x_t| over {probe_count} windows of {SEQUENCE_LENGTH} steps from the scaled test part of the "
            f"synthetic series (seed {settings.seed}), for LAYER({UNITS}) -> Dense(1) with Keras' default initializers. "
            "The fitted factor comes from a least-squares line through log10 of the magnitudes over all steps.",
            "",
            table,
            "",
            training,
            "",
            f"Figure: {outputs.figure.name}",
            "",
        ]
    )
