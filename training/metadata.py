"""metadata.json: what a version was trained on, how, and how well it scores."""

import json
import platform
from datetime import datetime, timezone
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from training.config import FitSettings
from training.data import WINDOW, Scaling, Split, make_windows
from training.export import SIGNATURE_DESCRIPTIONS
from training.fit import FitResult
from training.intervals import INTERVALS_FILE, Calibration

METADATA_FILE = "metadata.json"


def build_metadata(
    *,
    name: str,
    max_horizon: int,
    source: dict,
    split: Split,
    scaling: Scaling,
    units: list[int],
    settings: FitSettings,
    seed: int,
    fit_result: FitResult,
    metrics: dict,
    calibration: Calibration | None,
    init: str,
    difference: bool = False,
) -> dict:
    """Assemble the metadata of one version, leaving "version" for the publish step to fill in."""
    return {
        "name": name,
        "version": None,
        "window": WINDOW,
        "max_horizon": max_horizon,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": source,
        "split": _describe_split(split),
        "scaling": {"mean": scaling.mean, "std": scaling.std, "of": "first differences" if difference else "values"},
        "training": {
            "init": init,
            "difference": difference,
            "units": list(units),
            "epochs": settings.epochs,
            "epochs_run": fit_result.epochs_run,
            "best_epoch": fit_result.best_epoch,
            "batch_size": settings.batch_size,
            "learning_rate": settings.learning_rate,
            "clipnorm": settings.clipnorm,
            "patience": settings.patience,
            "seed": seed,
            "seconds": round(fit_result.seconds, 2),
        },
        "versions": {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "signatures": SIGNATURE_DESCRIPTIONS,
        "intervals": _describe_intervals(calibration),
        "metrics": metrics,
    }


def _describe_intervals(calibration: Calibration | None) -> dict | None:
    """None when the version has no intervals, because its calibration part was too short."""
    if calibration is None:
        return None
    return {
        "file": INTERVALS_FILE,
        "method": calibration.method,
        "steps": calibration.steps,
        "min_level": min(calibration.half_widths),
        "max_level": max(calibration.half_widths),
        "windows_at_step_1": calibration.num_windows_by_step[0],
        "windows_at_last_step": calibration.num_windows_by_step[-1],
    }


def _describe_split(split: Split) -> dict:
    parts = {"train": split.train, "validation": split.validation, "calibration": split.calibration, "test": split.test}
    return {
        name: {"values": len(values), "windows": len(make_windows(values)[1])}
        for name, values in parts.items()
    }


def write_metadata(metadata: dict, directory: Path) -> None:
    """Write metadata.json into `directory`, replacing any earlier copy."""
    path = directory / METADATA_FILE
    path.write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
