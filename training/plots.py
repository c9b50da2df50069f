"""Diagnostic figures stored beside each exported version."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # Training runs headless, so never pick an interactive backend.

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_predictions(time_index: np.ndarray, actual: np.ndarray, predicted: np.ndarray, path: Path) -> None:
    """Plot one-step test predictions against the actual values and save a PNG."""
    figure, axes = plt.subplots(figsize=(12, 4))
    axes.plot(time_index, actual, label="actual", linewidth=0.8, color="tab:gray")
    axes.plot(time_index, predicted, label="one-step prediction", linewidth=1.0, color="tab:blue")
    axes.set_xlabel("time index t")
    axes.set_ylabel("value")
    axes.set_title("Test part: one-step predictions")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_mae_by_step(curves: dict[str, list[float]], path: Path) -> None:
    """Plot the MAE at each forecast step for every named forecaster and save a PNG."""
    figure, axes = plt.subplots(figsize=(8, 4))
    for label, errors in curves.items():
        steps = np.arange(1, len(errors) + 1)
        axes.plot(steps, errors, label=label, marker=".")
    axes.set_xlabel("forecast step")
    axes.set_ylabel("MAE")
    axes.set_title("Test part: autoregressive forecast error by step")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
