"""Settings of a training run, kept free of TensorFlow so the CLI can build them before importing it."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FitSettings:
    """Optimizer and stopping settings for one training run."""

    epochs: int
    batch_size: int
    learning_rate: float
    clipnorm: float
    patience: int


@dataclass(frozen=True)
class TrainingConfig:
    """Everything a run needs besides the series itself."""

    model_dir: Path
    name: str
    units: list[int]
    fit: FitSettings
    seed: int
    max_horizon: int
    max_mae: float
    eval_steps: int
    init: str = "linear"
    linear_order: int = 12
    linear_ridge: float = 0.01
