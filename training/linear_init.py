"""Set a SimpleRNN -> Dense(1) network to a reduced-order linear autoregressive model, without gradient training.

A network trained on the one-step loss drifts when fed its own predictions,
because the one-step loss barely penalizes slope errors that compound over many
steps. A least-squares linear model over the window does not drift on the
default series, and a SimpleRNN whose states stay small (where tanh(z) = z up
to a relative error of about z^2 / 3) is a linear state-space model, so the
linear model can be written into the network's weights:

1. Fit y = sum_m g[m] x[newest - m] + c by ridge least squares on the training windows.
2. Reduce the impulse response g to a state-space model h_t = A h_{t-1} + b x_t of
   `order` states with the Ho-Kalman realization (SVD of the Hankel matrix of g).
3. Refit the readout y = C h + d by least squares on that model's own states.
4. Write s * b, A and a zero bias into the first `order` RNN units and C / s, d into
   the Dense layer, where the input scale s makes the largest state on the
   training windows equal `state_scale`. The remaining units get zero weights.
"""

import logging
from dataclasses import dataclass

import keras
import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_ORDER = 12
DEFAULT_RIDGE = 0.01
DEFAULT_STATE_SCALE = 0.015


@dataclass(frozen=True)
class LinearInitResult:
    """Diagnostics of the linear initialization."""

    input_scale: float
    max_abs_eigenvalue: float
    impulse_response_max_error: float
    train_mse: float


def initialize_linear(
    network: keras.Model,
    inputs: np.ndarray,
    targets: np.ndarray,
    order: int = DEFAULT_ORDER,
    ridge: float = DEFAULT_RIDGE,
    state_scale: float = DEFAULT_STATE_SCALE,
) -> LinearInitResult:
    """Write the reduced linear model fitted on scaled windows [count, window] and targets [count] into the network.

    The network must be one SimpleRNN layer with at least `order` units followed
    by Dense(1). The ridge penalty on the lag weights is ridge * count, so it does
    not depend on the training length. Raises ValueError for another network shape
    or an order that the window cannot support.
    """
    rnn, dense = _layers(network)
    count, window = inputs.shape
    hankel_size = (window + 1) // 2
    if not 0 < order <= rnn.units or order >= hankel_size:
        raise ValueError(f"order must be from 1 to min(units = {rnn.units}, {hankel_size - 1}), got {order}")

    impulse, _ = _ridge_autoregression(inputs, targets, ridge)
    transition, input_vector = _realize(impulse, order, hankel_size, window)
    states, max_state = _run_states(inputs, transition, input_vector)

    readout_design = np.c_[states, np.ones(count)]
    readout = np.linalg.lstsq(readout_design, targets, rcond=None)[0]
    readout_vector, intercept = readout[:-1], readout[-1]
    input_scale = state_scale / max_state

    kernel = np.zeros((1, rnn.units))
    kernel[0, :order] = input_scale * input_vector
    recurrent_kernel = np.zeros((rnn.units, rnn.units))
    recurrent_kernel[:order, :order] = transition.T
    dense_kernel = np.zeros((rnn.units, 1))
    dense_kernel[:order, 0] = readout_vector / input_scale
    rnn.set_weights([kernel.astype(np.float32), recurrent_kernel.astype(np.float32), np.zeros(rnn.units, np.float32)])
    dense.set_weights([dense_kernel.astype(np.float32), np.array([intercept], dtype=np.float32)])

    result = LinearInitResult(
        input_scale=float(input_scale),
        max_abs_eigenvalue=float(np.max(np.abs(np.linalg.eigvals(transition)))),
        impulse_response_max_error=float(np.max(np.abs(_impulse_response(transition, input_vector, readout_vector, window) - impulse))),
        train_mse=float(np.mean((readout_design @ readout - targets) ** 2)),
    )
    logger.info(
        "linear initialization of order %d: spectral radius %.4f, training MSE %.5f (scaled)",
        order,
        result.max_abs_eigenvalue,
        result.train_mse,
    )
    return result


def _layers(network: keras.Model) -> tuple[keras.layers.SimpleRNN, keras.layers.Dense]:
    layers = network.layers
    if len(layers) != 2 or not isinstance(layers[0], keras.layers.SimpleRNN) or not isinstance(layers[1], keras.layers.Dense):
        raise ValueError("linear initialization needs exactly one SimpleRNN layer followed by Dense(1)")
    return layers[0], layers[1]


def _ridge_autoregression(inputs: np.ndarray, targets: np.ndarray, ridge: float) -> tuple[np.ndarray, float]:
    count, window = inputs.shape
    design = np.c_[inputs, np.ones(count)]
    # The intercept is not penalized.
    penalty = ridge * count * np.diag(np.r_[np.ones(window), 0.0])
    coefficients = np.linalg.solve(design.T @ design + penalty, design.T @ targets)
    # impulse[m] multiplies the value m steps before the newest one.
    return coefficients[:-1][::-1], float(coefficients[-1])


def _realize(impulse: np.ndarray, order: int, hankel_size: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    hankel = np.zeros((hankel_size, hankel_size))
    for i in range(hankel_size):
        for j in range(hankel_size):
            if i + j < window:
                hankel[i, j] = impulse[i + j]

    left, singular_values, right = np.linalg.svd(hankel)
    observability = left[:, :order] * np.sqrt(singular_values[:order])
    controllability = np.sqrt(singular_values[:order])[:, None] * right[:order]
    transition = np.linalg.pinv(observability[:-1]) @ observability[1:]
    return transition, controllability[:, 0]


def _run_states(inputs: np.ndarray, transition: np.ndarray, input_vector: np.ndarray) -> tuple[np.ndarray, float]:
    states = np.zeros((len(inputs), len(input_vector)))
    max_state = 0.0
    for t in range(inputs.shape[1]):
        states = states @ transition.T + inputs[:, t : t + 1] * input_vector[None, :]
        max_state = max(max_state, float(np.abs(states).max()))
    return states, max_state


def _impulse_response(transition: np.ndarray, input_vector: np.ndarray, readout: np.ndarray, window: int) -> np.ndarray:
    response = []
    power = input_vector.copy()
    for _ in range(window):
        response.append(readout @ power)
        power = transition @ power
    return np.array(response)
