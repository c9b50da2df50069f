"""Output shapes of two stacked SimpleRNN layers, and the error without return_sequences.

A recurrent layer expects input [batch, steps, features]. With
return_sequences=True a SimpleRNN outputs one vector per step, [batch, steps,
units]; without it, only the last step's vector, [batch, units]. So every
recurrent layer that feeds another recurrent layer must return sequences.
"""

import logging
from dataclasses import dataclass

import keras
import matplotlib.pyplot as plt
import numpy as np

from training.experiments.common import Outputs, markdown_table, seed_everything

logger = logging.getLogger(__name__)

STEPS = 50
UNITS = 20
BATCH = 4


@dataclass(frozen=True)
class StackShape:
    """Output shapes of one layer stack: symbolic (batch None) and for a batch of BATCH windows."""

    description: str
    first_return_sequences: bool
    second_return_sequences: bool
    layer_shapes: list[tuple[str, tuple]]
    shape: tuple[int, ...]


@dataclass(frozen=True)
class StackedReport:
    """Shapes of the valid stacks and the error Keras raised for the invalid one."""

    shapes: list[StackShape]
    error_type: str
    error_message: str


def build_stack(first_return_sequences: bool, second_return_sequences: bool) -> keras.Sequential:
    """Build Input(STEPS, 1) -> SimpleRNN(UNITS) -> SimpleRNN(UNITS); Keras checks shapes as layers are added."""
    return keras.Sequential(
        [
            keras.Input(shape=(STEPS, 1), name="window"),
            keras.layers.SimpleRNN(UNITS, return_sequences=first_return_sequences, name="rnn_1"),
            keras.layers.SimpleRNN(UNITS, return_sequences=second_return_sequences, name="rnn_2"),
        ]
    )


def measure_stack(first_return_sequences: bool, second_return_sequences: bool, windows: np.ndarray) -> StackShape:
    """Build a valid stack, run it on windows and record every layer's output shape."""
    network = build_stack(first_return_sequences, second_return_sequences)
    layer_shapes = [(layer.name, tuple(layer.output.shape)) for layer in network.layers]
    output = network(windows)

    description = f"rnn_1 return_sequences={first_return_sequences}, rnn_2 return_sequences={second_return_sequences}"
    return StackShape(description, first_return_sequences, second_return_sequences, layer_shapes, tuple(output.shape))


def capture_missing_sequences_error() -> tuple[str, str]:
    """Build a stack whose first layer lacks return_sequences and return the error's type and message.

    Raises AssertionError if Keras accepts the stack, because then the
    experiment's premise no longer holds for this Keras version.
    """
    try:
        build_stack(first_return_sequences=False, second_return_sequences=False)
    except ValueError as error:
        return type(error).__name__, str(error)
    raise AssertionError(f"Keras {keras.__version__} accepted a SimpleRNN fed [batch, {UNITS}] input; expected a ValueError")


def run(outputs: Outputs, seed: int) -> StackedReport:
    """Measure both valid stacks, capture the error of the invalid one, and write the figure and summary."""
    seed_everything(seed)
    windows = np.random.default_rng(seed).normal(size=(BATCH, STEPS, 1)).astype(np.float32)

    shapes = [measure_stack(True, True, windows), measure_stack(True, False, windows)]
    error_type, error_message = capture_missing_sequences_error()
    report = StackedReport(shapes=shapes, error_type=error_type, error_message=error_message)

    _plot(report, outputs.figure)
    outputs.summary.write_text(_summary(report, outputs), encoding="utf-8")
    return report


def _plot(report: StackedReport, path) -> None:
    rows = [
        ("return_sequences: True, True", [f"({BATCH}, {STEPS}, 1)", f"({BATCH}, {STEPS}, {UNITS})", str(report.shapes[0].shape)], "tab:green"),
        ("return_sequences: True, False", [f"({BATCH}, {STEPS}, 1)", f"({BATCH}, {STEPS}, {UNITS})", str(report.shapes[1].shape)], "tab:green"),
        ("return_sequences: False, False", [f"({BATCH}, {STEPS}, 1)", f"({BATCH}, {UNITS})", f"raises\n{report.error_type}"], "tab:red"),
    ]
    figure, axes = plt.subplots(figsize=(9, 3.2))
    axes.set_xlim(0, 10)
    axes.set_ylim(0, len(rows))
    axes.axis("off")

    for index, (title, shapes, color) in enumerate(rows):
        y = len(rows) - index - 0.5
        axes.text(0.1, y, title, va="center", fontsize=9)
        for column, (box, label) in enumerate(zip(shapes, ["input", "rnn_1 output", "rnn_2 output"])):
            x = 4.2 + 2.2 * column
            edge = color if column == 2 else "black"
            axes.text(x, y, f"{label}\n{box}", ha="center", va="center", fontsize=8, bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": edge})
            if column > 0:
                axes.annotate("", xy=(x - 0.85, y), xytext=(x - 1.35, y), arrowprops={"arrowstyle": "->"})
    axes.set_title(f"Output shapes of two stacked SimpleRNN({UNITS}) layers, batch of {BATCH}", fontsize=10)

    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def _summary(report: StackedReport, outputs: Outputs) -> str:
    rows = []
    for stack in report.shapes:
        symbolic = ", ".join(f"{name} {shape}" for name, shape in stack.layer_shapes)
        rows.append([str(stack.first_return_sequences), str(stack.second_return_sequences), symbolic, str(stack.shape)])
    table = markdown_table(["rnn_1 return_sequences", "rnn_2 return_sequences", "symbolic output shapes", f"output for a batch of {BATCH}"], rows)

    return "\n".join(
        [
            "# Stacked SimpleRNN layers and return_sequences",
            "",
            f"Input(shape=({STEPS}, 1)) -> SimpleRNN({UNITS}) -> SimpleRNN({UNITS}), Keras {keras.__version__}.",
            "",
            table,
            "",
            "With return_sequences=False on rnn_1, rnn_2 receives one vector per window instead of a sequence, "
            "and building the model raises:",
            "",
            "```",
            f"{report.error_type}: {report.error_message}",
            "```",
            "",
            f"Figure: {outputs.figure.name}",
            "",
        ]
    )
