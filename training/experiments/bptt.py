"""Full backpropagation through time against truncated BPTT on 200-step sequences.

Both variants train the same SimpleRNN(20) -> Dense(1) network, from the same
initial weights, to predict the next value of the scaled synthetic series at
every step. Full BPTT takes one gradient step per batch through all 200 steps.
Truncated BPTT cuts each batch into 20-step chunks, carries the RNN state from
one chunk into the next with the gradient stopped, and takes one gradient step
per chunk, as a stateful layer trained chunk by chunk would.

Two tasks: the sine task needs only recent values, while the cue task needs
the value of step 1 CUE_LAG steps later, beyond the reach of one chunk.
"""

import logging
import time
from dataclasses import dataclass, field

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from training.experiments.common import Outputs, markdown_table, scaled_synthetic_parts, seed_everything

logger = logging.getLogger(__name__)

SEQUENCE_LENGTH = 200
CHUNK_LENGTH = 20
UNITS = 20
TEST_SEQUENCES = 24
CUE_TEST_SEQUENCES = 64
CUE_LAG = 30
CUE_SPAN = 5
CUE_NOISE_STD = 0.05
CUE_PLOT_STEPS = 60


@dataclass(frozen=True)
class BpttSettings:
    """Sizes of one run: epochs, training sequences, batch size, Adam learning rate and seed."""

    epochs: int
    sequences: int
    batch_size: int
    learning_rate: float
    seed: int


@dataclass
class VariantResult:
    """Per-epoch losses and times of one variant, and its test MAE in the series' units."""

    name: str
    updates_per_batch: int
    epoch_losses: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    test_mae: float = float("nan")
    test_predictions: np.ndarray | None = None

    @property
    def steady_seconds_per_epoch(self) -> float:
        """Mean epoch time without the first epoch, which includes tf.function tracing."""
        steady = self.epoch_seconds[1:] or self.epoch_seconds
        return float(np.mean(steady))


@dataclass(frozen=True)
class Task:
    """Training and test (inputs, targets) of one task, the steps its MAE covers, and its units."""

    name: str
    description: str
    train: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    scored_steps: slice
    scale: float
    baseline_name: str
    baseline_mae: float


def sine_task(settings: "BpttSettings") -> Task:
    """Predict the next value of the scaled synthetic series at every step."""
    train, test, scale = scaled_synthetic_parts(settings.seed)
    test_inputs, test_targets = cut_sequences(test, TEST_SEQUENCES)
    return Task(
        name="sine",
        description=f"next value of sin(0.01 t) + noise at each of {SEQUENCE_LENGTH} steps; MAE in the series' units over all steps",
        train=cut_sequences(train, settings.sequences),
        test=(test_inputs, test_targets),
        scored_steps=slice(0, SEQUENCE_LENGTH),
        scale=scale,
        baseline_name="persistence (predict the current value)",
        baseline_mae=float(np.mean(np.abs(test_inputs - test_targets)) * scale),
    )


def cue_task(settings: "BpttSettings") -> Task:
    """Recall a +1 or -1 cue given at step 1 during steps CUE_LAG + 1 .. CUE_LAG + CUE_SPAN."""
    rng = np.random.default_rng(settings.seed)
    scored = slice(CUE_LAG, CUE_LAG + CUE_SPAN)
    return Task(
        name="cue",
        description=(
            f"output the sign given at step 1 during steps {CUE_LAG + 1} to {CUE_LAG + CUE_SPAN} and 0 elsewhere, "
            f"with noise of std {CUE_NOISE_STD} on the other inputs; MAE over those {CUE_SPAN} steps"
        ),
        train=cue_sequences(settings.sequences, rng),
        test=cue_sequences(CUE_TEST_SEQUENCES, rng),
        scored_steps=scored,
        scale=1.0,
        baseline_name="predict 0",
        baseline_mae=1.0,
    )


def cue_sequences(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Build cue-recall sequences: inputs and targets of shape [count, SEQUENCE_LENGTH, 1]."""
    cues = rng.choice([-1.0, 1.0], size=count)
    inputs = rng.normal(0.0, CUE_NOISE_STD, size=(count, SEQUENCE_LENGTH, 1))
    inputs[:, 0, 0] = cues

    targets = np.zeros((count, SEQUENCE_LENGTH, 1))
    targets[:, CUE_LAG : CUE_LAG + CUE_SPAN, 0] = cues[:, None]
    return inputs.astype(np.float32), targets.astype(np.float32)


def cut_sequences(part: np.ndarray, count: int, length: int = SEQUENCE_LENGTH) -> tuple[np.ndarray, np.ndarray]:
    """Cut `count` evenly spaced (inputs, next values) pairs of `length` steps from a part.

    Returns inputs and targets of shape [count, length, 1], where targets are
    the inputs shifted by one step.
    """
    last_start = len(part) - length - 1
    if last_start < 0:
        raise ValueError(f"part of {len(part)} values is too short for sequences of {length} steps and a next value")

    starts = np.linspace(0, last_start, num=count).astype(int)
    spans = np.stack([part[start : start + length + 1] for start in starts])
    return spans[:, :-1, None], spans[:, 1:, None]


class SequenceNetwork:
    """SimpleRNN(UNITS) returning its sequence and final state, then Dense(1) at every step."""

    def __init__(self, seed: int):
        seed_everything(seed)
        self.rnn = keras.layers.SimpleRNN(UNITS, return_sequences=True, return_state=True, name="rnn")
        self.dense = keras.layers.Dense(1, name="next_value")
        self(tf.zeros((1, CHUNK_LENGTH, 1)), tf.zeros((1, UNITS)))

    @property
    def variables(self) -> list[tf.Variable]:
        return [*self.rnn.trainable_variables, *self.dense.trainable_variables]

    def __call__(self, inputs: tf.Tensor, state: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        sequence, final_state = self.rnn(inputs, initial_state=[state])
        return self.dense(sequence), final_state


def train_full(network: SequenceNetwork, inputs: np.ndarray, targets: np.ndarray, settings: BpttSettings) -> VariantResult:
    """Train with one gradient step per batch through all SEQUENCE_LENGTH steps."""
    optimizer = keras.optimizers.Adam(learning_rate=settings.learning_rate)
    variables = network.variables

    @tf.function(reduce_retracing=True)
    def train_step(batch_inputs, batch_targets):
        state = tf.zeros((tf.shape(batch_inputs)[0], UNITS))
        with tf.GradientTape() as tape:
            predictions, _ = network(batch_inputs, state)
            loss = tf.reduce_mean(tf.square(predictions - batch_targets))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    def train_batch(batch_inputs, batch_targets) -> float:
        return float(train_step(batch_inputs, batch_targets))

    return _train_epochs("full BPTT", 1, train_batch, inputs, targets, settings)


def train_truncated(network: SequenceNetwork, inputs: np.ndarray, targets: np.ndarray, settings: BpttSettings) -> VariantResult:
    """Train chunk by chunk: CHUNK_LENGTH steps per gradient step, state carried, gradient cut."""
    optimizer = keras.optimizers.Adam(learning_rate=settings.learning_rate)
    variables = network.variables

    @tf.function(reduce_retracing=True)
    def train_step(batch_inputs, batch_targets):
        state = tf.zeros((tf.shape(batch_inputs)[0], UNITS))
        total_loss = tf.constant(0.0)
        # Autograph turns this tf.range loop into one graph loop, so tracing stays short.
        for start in tf.range(0, SEQUENCE_LENGTH, CHUNK_LENGTH):
            # The gradient stops at the chunk boundary, but the state's value carries on.
            state = tf.stop_gradient(state)
            with tf.GradientTape() as tape:
                predictions, state = network(batch_inputs[:, start : start + CHUNK_LENGTH], state)
                loss = tf.reduce_mean(tf.square(predictions - batch_targets[:, start : start + CHUNK_LENGTH]))
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            total_loss += loss
        return total_loss / (SEQUENCE_LENGTH // CHUNK_LENGTH)

    def train_batch(batch_inputs, batch_targets) -> float:
        return float(train_step(batch_inputs, batch_targets))

    return _train_epochs(f"truncated BPTT ({CHUNK_LENGTH}-step chunks)", SEQUENCE_LENGTH // CHUNK_LENGTH, train_batch, inputs, targets, settings)


def _train_epochs(name, updates_per_batch, train_batch, inputs, targets, settings: BpttSettings) -> VariantResult:
    result = VariantResult(name=name, updates_per_batch=updates_per_batch)
    # The same seeded shuffling for both variants, so they see batches in the same order.
    rng = np.random.default_rng(settings.seed)

    for epoch in range(1, settings.epochs + 1):
        order = rng.permutation(len(inputs))
        started = time.perf_counter()
        losses = []
        for begin in range(0, len(order), settings.batch_size):
            batch = order[begin : begin + settings.batch_size]
            losses.append(train_batch(inputs[batch], targets[batch]))
        result.epoch_seconds.append(time.perf_counter() - started)
        result.epoch_losses.append(float(np.mean(losses)))
        logger.info("%s: epoch %d/%d, loss %.5f, %.2f s", name, epoch, settings.epochs, result.epoch_losses[-1], result.epoch_seconds[-1])
    return result


def predict_sequences(network: SequenceNetwork, inputs: np.ndarray) -> np.ndarray:
    """Run whole sequences from a zero state, which is the same forward pass both variants train."""
    predictions, _ = network(tf.constant(inputs), tf.zeros((len(inputs), UNITS)))
    return predictions.numpy()


def run(outputs: Outputs, settings: BpttSettings) -> dict[str, list[VariantResult]]:
    """Train both variants on each task, score them on test sequences, and write the figure and summary."""
    tasks = [sine_task(settings), cue_task(settings)]
    results = {task.name: [_train_and_score(trainer, task, settings) for trainer in (train_full, train_truncated)] for task in tasks}

    _plot(tasks, results, outputs.figure)
    outputs.summary.write_text(_summary(tasks, results, settings, outputs), encoding="utf-8")
    return results


def _train_and_score(trainer, task: Task, settings: BpttSettings) -> VariantResult:
    # Each variant starts from the same weights, so only the training method differs.
    network = SequenceNetwork(settings.seed)
    result = trainer(network, *task.train, settings)

    test_inputs, test_targets = task.test
    result.test_predictions = predict_sequences(network, test_inputs)
    errors = np.abs(result.test_predictions - test_targets)[:, task.scored_steps]
    result.test_mae = float(np.mean(errors) * task.scale)
    return result


def _plot(tasks: list[Task], results: dict[str, list[VariantResult]], path) -> None:
    figure, axes = plt.subplots(len(tasks), 2, figsize=(11, 3.4 * len(tasks)), squeeze=False)

    for row, task in enumerate(tasks):
        _plot_losses(axes[row, 0], task, results[task.name])
        _plot_predictions(axes[row, 1], task, results[task.name])

    figure.tight_layout()
    figure.savefig(path, dpi=72)
    plt.close(figure)


def _plot_losses(axes, task: Task, results: list[VariantResult]) -> None:
    for result in results:
        epochs = np.arange(1, len(result.epoch_losses) + 1)
        axes.plot(epochs, result.epoch_losses, marker=".", label=result.name)
    axes.set_yscale("log")
    axes.set_xlabel("epoch")
    axes.set_ylabel("training MSE")
    axes.set_title(f"{task.name} task: training loss")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)


def _plot_predictions(axes, task: Task, results: list[VariantResult]) -> None:
    _, test_targets = task.test
    steps_shown = SEQUENCE_LENGTH if task.name == "sine" else CUE_PLOT_STEPS
    steps = np.arange(1, steps_shown + 1)

    axes.plot(steps, test_targets[0, :steps_shown, 0] * task.scale, color="tab:gray", linewidth=0.8, label="target")
    for result in results:
        axes.plot(steps, result.test_predictions[0, :steps_shown, 0] * task.scale, linewidth=1.0, label=result.name)
    axes.set_xlabel("step of the first test sequence")
    axes.set_ylabel("value")
    axes.set_title(f"{task.name} task: predictions")
    axes.legend(fontsize=8)


def _summary(tasks: list[Task], results: dict[str, list[VariantResult]], settings: BpttSettings, outputs: Outputs) -> str:
    lines = [
        "# Full against truncated backpropagation through time",
        "",
        f"SimpleRNN({UNITS}) -> Dense(1) with an output at every one of {SEQUENCE_LENGTH} steps, "
        f"{settings.sequences} training sequences per task, {settings.epochs} epochs, batch size {settings.batch_size}, "
        f"Adam learning rate {settings.learning_rate}, seed {settings.seed}. "
        f"Truncated BPTT cuts each batch into {CHUNK_LENGTH}-step chunks, carries the state from chunk to chunk "
        "with the gradient stopped, and updates the weights after each chunk.",
        "",
    ]
    for task in tasks:
        lines.extend([f"## {task.name} task", "", f"Task: {task.description}.", "", _task_table(task, results[task.name], settings), ""])

    lines.extend(
        [
            f"Seconds per epoch are the mean over epochs 2 to {settings.epochs}, because epoch 1 includes tf.function tracing "
            "(epoch 1 alone when only one ran). Test sequences run from a zero state.",
            "",
            f"Figure: {outputs.figure.name}",
            "",
        ]
    )
    return "\n".join(lines)


def _task_table(task: Task, results: list[VariantResult], settings: BpttSettings) -> str:
    batches = -(-settings.sequences // settings.batch_size)
    rows = [
        [
            result.name,
            str(result.updates_per_batch * batches),
            f"{result.steady_seconds_per_epoch:.3f}",
            f"{result.epoch_seconds[0]:.2f}",
            f"{result.epoch_losses[-1]:.5f}",
            f"{result.test_mae:.4f}",
        ]
        for result in results
    ]
    rows.append([task.baseline_name, "", "", "", "", f"{task.baseline_mae:.4f}"])
    return markdown_table(
        ["variant", "updates per epoch", "s per epoch", "epoch 1 s", "final training MSE", "test MAE"],
        rows,
    )
