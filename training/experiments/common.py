"""Helpers shared by the experiments: seeding, scaled series, tables and output paths."""

from dataclasses import dataclass
from pathlib import Path

import keras
import matplotlib
import numpy as np

from training.data import fit_scaling, split_series, synthetic_series

matplotlib.use("Agg")  # Experiments run headless, so never pick an interactive backend.


@dataclass(frozen=True)
class Outputs:
    """Paths of the figure and the markdown summary an experiment writes."""

    figure: Path
    summary: Path


def output_paths(out_dir: Path, name: str) -> Outputs:
    """Create out_dir if needed and return OUT_DIR/NAME.png and OUT_DIR/NAME.md."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return Outputs(figure=out_dir / f"{name}.png", summary=out_dir / f"{name}.md")


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and the Keras backend so a run repeats its weights and data."""
    keras.utils.set_random_seed(seed)


def scaled_synthetic_parts(seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Return the scaled train and test parts of the synthetic series and the scale (std).

    Scaling uses the training part's mean and standard deviation, as the
    training job does, so errors multiply by the returned std to get back to
    the series' units.
    """
    split = split_series(synthetic_series(seed).values)
    scaling = fit_scaling(split.train)

    train = (split.train - scaling.mean) / scaling.std
    test = (split.test - scaling.mean) / scaling.std
    return train.astype(np.float32), test.astype(np.float32), scaling.std


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """Format a GitHub-flavoured markdown table."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(" --- " for _ in header) + "|",
    ]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)
