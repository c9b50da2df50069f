"""The Keras network: stacked SimpleRNN layers followed by one Dense output."""

import keras

from training.data import WINDOW

DEFAULT_UNITS = (20,)


def build_network(units: list[int] | tuple[int, ...] = DEFAULT_UNITS, window: int = WINDOW) -> keras.Model:
    """Build a network that maps scaled windows [batch, window, 1] to the next value [batch, 1].

    Every SimpleRNN layer but the last returns its whole sequence, so the next
    layer gets one input per time step.
    """
    if not units:
        raise ValueError("units is empty; expected at least one SimpleRNN layer size")
    bad = [size for size in units if size < 1]
    if bad:
        raise ValueError(f"SimpleRNN sizes must be positive integers, got {list(units)}")

    layers = [keras.Input(shape=(window, 1), name="window")]
    for position, size in enumerate(units):
        is_last = position == len(units) - 1
        layers.append(keras.layers.SimpleRNN(size, return_sequences=not is_last, name=f"rnn_{position + 1}"))
    layers.append(keras.layers.Dense(1, name="next_value"))

    return keras.Sequential(layers, name="forecaster")
