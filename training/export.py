"""The exported artifact: a tf.Module with the network, the scaling and the serving signatures.

model/README.md documents the contract that the service relies on. Callers of
the SavedModel pass and receive values in the series' own units, because the
scaling happens inside the graph.

Each public signature function is a plain tf.function that validates its
arguments, scales, calls a private helper compiled with XLA
(jit_compile=True), then slices and unscales. Arguments are validated outside
the compiled helpers so that a bad request raises InvalidArgumentError with a
readable message. To add a signature, add a method decorated with
tf.function(input_signature=...) and list it in ForecastModule.signatures().
"""

import logging
from pathlib import Path

import keras
import tensorflow as tf

from training.data import WINDOW, Scaling

logger = logging.getLogger(__name__)

DEFAULT_MAX_HORIZON = 1000
MAX_SCALED_INPUT = 1e6

_WINDOW_SPEC = tf.TensorSpec([None, WINDOW], tf.float32, name="window")
_HORIZON_SPEC = tf.TensorSpec([], tf.int32, name="horizon")
_STEP_SPEC = tf.TensorSpec([], tf.int32, name="step")

SIGNATURE_DESCRIPTIONS = {
    "serving_default": {
        "inputs": {"window": f"float32 [batch, {WINDOW}], the last {WINDOW} values, oldest first"},
        "outputs": {"forecast": "float32 [batch, 1], the next value"},
    },
    "forecast": {
        "inputs": {
            "window": f"float32 [batch, {WINDOW}], the last {WINDOW} values, oldest first",
            "horizon": "int32 scalar, 1 <= horizon <= max_horizon",
        },
        "outputs": {"forecast": "float32 [batch, horizon], autoregressive forecast of the next horizon values"},
    },
    "saliency": {
        "inputs": {
            "window": f"float32 [batch, {WINDOW}], the last {WINDOW} values, oldest first",
            "step": "int32 scalar, 1 <= step <= max_horizon",
        },
        "outputs": {
            "saliency": f"float32 [batch, {WINDOW}], gradient of the forecast at `step` with respect to each window value"
        },
    },
}
"""Human-readable signature contract, copied into metadata.json."""


class ForecastModule(tf.Module):
    """SavedModel root: a network trained on scaled values plus the constants that undo the scaling."""

    def __init__(self, network: keras.Model, scaling: Scaling, max_horizon: int = DEFAULT_MAX_HORIZON):
        super().__init__(name="forecast_module")
        if max_horizon < 1:
            raise ValueError(f"max_horizon must be at least 1, got {max_horizon}")

        self.network = network
        self.max_horizon = max_horizon
        self.scaling_mean = tf.Variable(scaling.mean, dtype=tf.float32, trainable=False, name="scaling_mean")
        self.scaling_std = tf.Variable(scaling.std, dtype=tf.float32, trainable=False, name="scaling_std")

    def signatures(self) -> dict:
        """Return the signature functions to export, keyed by signature name."""
        return {"serving_default": self.serve, "forecast": self.forecast, "saliency": self.saliency}

    @tf.function(input_signature=[_WINDOW_SPEC])
    def serve(self, window):
        """Predict the value that follows each window."""
        scaled = self._predict_scaled(self._scale(window))
        return {"forecast": self._unscale(scaled)}

    @tf.function(input_signature=[_WINDOW_SPEC, _HORIZON_SPEC])
    def forecast(self, window, horizon):
        """Forecast `horizon` values per window, feeding each prediction back as input."""
        tf.debugging.assert_greater_equal(horizon, 1, message="horizon must be at least 1")
        tf.debugging.assert_less_equal(
            horizon, self.max_horizon, message=f"horizon must be at most max_horizon = {self.max_horizon}"
        )

        buffer = self._roll_scaled(self._scale(window), horizon)
        return {"forecast": self._unscale(tf.transpose(buffer[:horizon]))}

    @tf.function(input_signature=[_WINDOW_SPEC, _STEP_SPEC])
    def saliency(self, window, step):
        """Differentiate the forecast at `step` with respect to each window value, both in the series' units."""
        tf.debugging.assert_greater_equal(step, 1, message="step must be at least 1")
        tf.debugging.assert_less_equal(step, self.max_horizon, message=f"step must be at most max_horizon = {self.max_horizon}")

        return {"saliency": self._saliency(window, step)}

    @tf.function(jit_compile=True)
    def _saliency(self, window, step):
        # The tape sits inside the compiled function: a gradient taken outside it
        # fails, because XLA cannot pass the loop's TensorList back to TensorFlow.
        # Compiled, a 50-step saliency runs about 20 times faster than uncompiled
        # (batch 3, on a 2-core development machine).
        with tf.GradientTape() as tape:
            tape.watch(window)
            value = self._unscale(self._predict_step_scaled(self._scale(window), step))
        # Windows are independent, so the gradient of the batch sum holds each window's own gradient.
        return tape.gradient(value, window)

    @tf.function(jit_compile=True)
    def _predict_scaled(self, scaled_window):
        return self.network(scaled_window[..., None], training=False)

    @tf.function(jit_compile=True)
    def _roll_scaled(self, scaled_window, horizon):
        # The buffer has the fixed shape [max_horizon, batch] so that XLA compiles
        # once per batch size, never once per horizon. Each step writes one row,
        # which needs no transpose, and the caller slices and transposes once.
        batch = tf.shape(scaled_window)[0]
        buffer = tf.zeros([self.max_horizon, batch], dtype=tf.float32)

        def step(index, current_window, buffer):
            prediction = self.network(current_window[..., None], training=False)
            buffer = tf.tensor_scatter_nd_update(buffer, [[index]], tf.reshape(prediction, [1, batch]))
            current_window = tf.concat([current_window[:, 1:], prediction], axis=1)
            return index + 1, current_window, buffer

        _, _, buffer = tf.while_loop(
            lambda index, current_window, buffer: index < horizon,
            step,
            [tf.constant(0), scaled_window, buffer],
            maximum_iterations=self.max_horizon,
        )
        return buffer

    def _predict_step_scaled(self, scaled_window, step):
        # The gradient of a while_loop needs maximum_iterations.
        batch = tf.shape(scaled_window)[0]

        def advance(index, current_window, prediction):
            prediction = self.network(current_window[..., None], training=False)
            current_window = tf.concat([current_window[:, 1:], prediction], axis=1)
            return index + 1, current_window, prediction

        _, _, prediction = tf.while_loop(
            lambda index, current_window, prediction: index < step,
            advance,
            [tf.constant(0), scaled_window, tf.zeros([batch, 1], dtype=tf.float32)],
            maximum_iterations=self.max_horizon,
        )
        return prediction[:, 0]

    def _scale(self, values):
        # An input near the float32 limit divided by a small std overflows to
        # infinity, and infinity times the zero input weights that the linear
        # initialization leaves in unused units is NaN. Clipping at a million
        # standard deviations keeps every forecast finite.
        scaled = (values - self.scaling_mean) / self.scaling_std
        return tf.clip_by_value(scaled, -MAX_SCALED_INPUT, MAX_SCALED_INPUT)

    def _unscale(self, scaled):
        return scaled * self.scaling_std + self.scaling_mean


def export_saved_model(module: ForecastModule, directory: str | Path) -> None:
    """Write the module as a SavedModel with all its signatures into `directory`."""
    tf.saved_model.save(module, str(directory), signatures=module.signatures())
    logger.info("wrote SavedModel to %s", directory)
