"""Fit the network on scaled windows with Adam and early stopping."""

import logging
import time
from dataclasses import dataclass

import keras
import numpy as np

from training.config import FitSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitResult:
    """Outcome of a fit: epochs run, best epoch (1-based), its validation loss and the wall time in seconds."""

    epochs_run: int
    best_epoch: int
    best_val_loss: float
    seconds: float


def fit_network(
    network: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    settings: FitSettings,
) -> FitResult:
    """Train on scaled (inputs, targets) pairs and keep the weights of the best validation epoch.

    Inputs have shape [count, window] and targets [count]. Keras prints one
    progress line per epoch.
    """
    optimizer = keras.optimizers.Adam(learning_rate=settings.learning_rate, clipnorm=settings.clipnorm)
    network.compile(optimizer=optimizer, loss="mse")
    stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss",
        patience=settings.patience,
        restore_best_weights=True,
    )

    started = time.monotonic()
    history = network.fit(
        _as_network_input(train[0]),
        train[1][:, None].astype(np.float32),
        validation_data=(_as_network_input(validation[0]), validation[1][:, None].astype(np.float32)),
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        callbacks=[stopping],
        verbose=2,
    )
    seconds = time.monotonic() - started

    val_losses = history.history["val_loss"]
    best_index = int(np.argmin(val_losses))
    result = FitResult(
        epochs_run=len(val_losses),
        best_epoch=best_index + 1,
        best_val_loss=float(val_losses[best_index]),
        seconds=seconds,
    )
    logger.info(
        "trained %d epochs in %.1f s; best validation loss %.5f at epoch %d",
        result.epochs_run,
        result.seconds,
        result.best_val_loss,
        result.best_epoch,
    )
    return result


def _as_network_input(windows: np.ndarray) -> np.ndarray:
    return windows[..., None].astype(np.float32)
