"""Find, load and call model versions from the model repository on disk.

The repository layout is MODEL_DIR/NAME/<version>/, where <version> is a positive
integer and each version holds a TensorFlow SavedModel and its metadata.json.
model/README.md documents the contract. This module never imports the training code.
"""

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

logger = logging.getLogger(__name__)

WINDOW_LENGTH = 50
ONE_STEP_SIGNATURE = "serving_default"
FORECAST_SIGNATURE = "forecast"
SALIENCY_SIGNATURE = "saliency"
INTERVALS_FILE = "intervals.json"


class ModelLoadError(Exception):
    """A model version exists on disk but cannot be served."""


def bucket_sizes(max_batch_size: int) -> tuple[int, ...]:
    """Return the batch sizes that calls are padded to: 1, 2, 4, ... and max_batch_size itself.

    The signatures are compiled with XLA, which compiles once per input shape
    (a few hundred milliseconds each), so a fixed set of sizes keeps requests
    from ever waiting on a compilation.
    """
    if max_batch_size < 1:
        raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")

    sizes = []
    size = 1
    while size < max_batch_size:
        sizes.append(size)
        size *= 2
    sizes.append(max_batch_size)
    return tuple(sizes)


def pad_rows(windows: np.ndarray, rows: int) -> np.ndarray:
    """Append zero rows so that `windows` has `rows` rows; callers slice the padding off the result."""
    missing = rows - windows.shape[0]
    if missing <= 0:
        return windows
    return np.concatenate([windows, np.zeros((missing, windows.shape[1]), dtype=windows.dtype)])


def list_versions(model_dir: Path, name: str) -> list[int]:
    """Return the integer versions under MODEL_DIR/NAME, lowest first.

    Entries that are not positive integers are skipped, so temporary
    directories that training writes before renaming them are never seen.
    """
    base = model_dir / name
    if not base.is_dir():
        return []

    versions = []
    for entry in base.iterdir():
        if entry.is_dir() and entry.name.isdigit() and int(entry.name) > 0:
            versions.append(int(entry.name))
    return sorted(versions)


def find_latest_version(model_dir: Path, name: str) -> int | None:
    versions = list_versions(model_dir, name)
    return versions[-1] if versions else None


@dataclass(frozen=True)
class Intervals:
    """Calibrated interval half-widths: for each level in percent, one half-width per forecast step 1..steps."""

    steps: int
    half_widths: dict[int, np.ndarray]

    def bounds(self, forecast: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the lower and upper bounds around a forecast [horizon], horizon <= steps."""
        widths = self.half_widths[level][: len(forecast)]
        return forecast - widths, forecast + widths


@dataclass(frozen=True)
class ServedModel:
    """One loaded model version and its callable signatures.

    `module` keeps the loaded SavedModel object alive: the signature functions
    alone do not hold its variables.
    """

    name: str
    version: int
    path: Path
    metadata: dict[str, Any]
    window_length: int
    max_horizon: int
    module: Any = field(repr=False)
    intervals: Intervals | None = None

    @property
    def has_saliency(self) -> bool:
        """Whether the version exports the saliency signature; versions trained before it do not."""
        return SALIENCY_SIGNATURE in self.module.signatures

    # Batch sizes the signatures are compiled for; inputs are padded up to one of them.
    buckets: tuple[int, ...] = (1,)

    def forecast(self, windows: np.ndarray, horizon: int) -> np.ndarray:
        """Forecast `horizon` steps autoregressively: [batch, window_length] -> [batch, horizon].

        Any number of rows is accepted: the rows are split into chunks of the
        largest bucket, each chunk is padded to a bucket size, and the padding
        rows are dropped from the result.
        """
        windows = np.asarray(windows, dtype=np.float32)
        largest = self.buckets[-1]
        if windows.shape[0] <= largest:
            return self._forecast_bucket(windows, horizon)

        chunks = [self._forecast_bucket(windows[start : start + largest], horizon) for start in range(0, windows.shape[0], largest)]
        return np.concatenate(chunks)

    def predict_one_step(self, windows: np.ndarray) -> np.ndarray:
        """Forecast one step for each window: [batch, window_length] -> [batch, 1]."""
        return self.forecast(windows, 1)

    def bucket_for(self, rows: int) -> int:
        """Return the smallest bucket that holds `rows` rows (at most the largest bucket)."""
        for size in self.buckets:
            if size >= rows:
                return size
        return self.buckets[-1]

    def warm_up(self) -> None:
        """Call both signatures at every bucket size, so XLA compiles before the first request."""
        for size in self.buckets:
            probe = np.zeros((size, self.window_length), dtype=np.float32)
            self._call_signature(probe, 1)
            self._call_signature(probe, min(2, self.max_horizon))

    def _forecast_bucket(self, windows: np.ndarray, horizon: int) -> np.ndarray:
        rows = windows.shape[0]
        padded = pad_rows(windows, self.bucket_for(rows))
        return self._call_signature(padded, horizon)[:rows]

    def _call_signature(self, windows: np.ndarray, horizon: int) -> np.ndarray:
        if horizon == 1:
            outputs = self.module.signatures[ONE_STEP_SIGNATURE](window=tf.constant(windows, dtype=tf.float32))
        else:
            outputs = self.module.signatures[FORECAST_SIGNATURE](
                window=tf.constant(windows, dtype=tf.float32),
                horizon=tf.constant(horizon, dtype=tf.int32),
            )
        return outputs["forecast"].numpy()

    def saliency(self, windows: np.ndarray, step: int) -> np.ndarray:
        """Return the gradient of the step-`step` forecast with respect to each window value: [batch, window_length]."""
        signature = self.module.signatures[SALIENCY_SIGNATURE]
        outputs = signature(
            window=tf.constant(windows, dtype=tf.float32),
            step=tf.constant(step, dtype=tf.int32),
        )
        return outputs["saliency"].numpy()

    def describe(self) -> dict[str, Any]:
        """Return the metadata and signature shapes that GET /model reports."""
        signatures = {}
        for signature_name, function in self.module.signatures.items():
            inputs = function.structured_input_signature[1]
            signatures[signature_name] = {
                "inputs": {key: _describe_spec(spec) for key, spec in inputs.items()},
                "outputs": {key: _describe_spec(spec) for key, spec in function.structured_outputs.items()},
            }
        return {"name": self.name, "version": self.version, "path": str(self.path), "signatures": signatures, "metadata": self.metadata}


def _describe_spec(spec: Any) -> dict[str, Any]:
    shape = None if spec.shape.rank is None else list(spec.shape.as_list())
    return {"dtype": spec.dtype.name, "shape": shape}


def load_version(model_dir: Path, name: str, version: int, buckets: tuple[int, ...] = (1,)) -> ServedModel:
    """Load one version, check it against the contract, run it once and compile every bucket size.

    Raises ModelLoadError with the path and the reason when the version is
    unreadable or does not match the contract.
    """
    path = model_dir / name / str(version)
    metadata = _read_metadata(path)

    try:
        module = tf.saved_model.load(str(path))
    except Exception as error:  # TensorFlow raises many types for unreadable files.
        raise ModelLoadError(f"{path}: cannot load the SavedModel: {error}") from error

    served = ServedModel(
        name=name,
        version=version,
        path=path,
        metadata=metadata,
        window_length=int(metadata["window"]),
        max_horizon=int(metadata["max_horizon"]),
        module=module,
        intervals=_read_intervals(path),
        buckets=buckets,
    )
    _check_signatures(served)
    _check_runs(served)
    _warm_up(served)
    return served


def _read_metadata(path: Path) -> dict[str, Any]:
    metadata_path = path / "metadata.json"
    try:
        metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"{metadata_path}: cannot read metadata: {error}") from error

    if not isinstance(metadata, dict):
        raise ModelLoadError(f"{metadata_path}: expected a JSON object, found {type(metadata).__name__}")

    for key in ("window", "max_horizon"):
        value = metadata.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ModelLoadError(f"{metadata_path}: expected '{key}' to be a positive integer, found {value!r}")

    if metadata["window"] != WINDOW_LENGTH:
        raise ModelLoadError(
            f"{metadata_path}: this service serves windows of {WINDOW_LENGTH} steps, the model expects {metadata['window']}"
        )
    return metadata


def _read_intervals(path: Path) -> Intervals | None:
    """Read intervals.json, or return None for a version trained before intervals existed."""
    intervals_path = path / INTERVALS_FILE
    if not intervals_path.exists():
        logger.info("%s has no %s; forecasts with levels are not available for it", path, INTERVALS_FILE)
        return None

    try:
        content = json.loads(intervals_path.read_text(encoding="utf-8"))
        steps = content["steps"]
        half_widths = {int(level): np.asarray(widths, dtype=np.float64) for level, widths in content["half_widths"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ModelLoadError(f"{intervals_path}: cannot read intervals: {error!r}") from error

    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ModelLoadError(f"{intervals_path}: expected 'steps' to be a positive integer, found {steps!r}")
    for level, widths in half_widths.items():
        if widths.shape != (steps,) or not np.all(np.isfinite(widths)) or np.any(widths < 0):
            raise ModelLoadError(
                f"{intervals_path}: level {level} needs {steps} finite non-negative half-widths, found shape {widths.shape}"
            )
    return Intervals(steps=steps, half_widths=half_widths)


def _check_signatures(served: ServedModel) -> None:
    for signature_name in (ONE_STEP_SIGNATURE, FORECAST_SIGNATURE):
        if signature_name not in served.module.signatures:
            found = ", ".join(sorted(served.module.signatures)) or "none"
            raise ModelLoadError(f"{served.path}: missing signature '{signature_name}' (found: {found})")

        window_spec = served.module.signatures[signature_name].structured_input_signature[1].get("window")
        if window_spec is None or window_spec.shape.as_list()[1:] != [served.window_length]:
            shape = None if window_spec is None else window_spec.shape.as_list()
            raise ModelLoadError(
                f"{served.path}: signature '{signature_name}' expects window shape {shape}, "
                f"metadata says [batch, {served.window_length}]"
            )


def _check_runs(served: ServedModel) -> None:
    """Call both signatures once, so a broken graph fails here rather than on a request."""
    probe = np.zeros((1, served.window_length), dtype=np.float32)
    try:
        one_step = served.predict_one_step(probe)
        several = served.forecast(probe, min(2, served.max_horizon))
    except Exception as error:  # Any failure here means the version cannot serve.
        raise ModelLoadError(f"{served.path}: test forecast failed: {error}") from error

    if one_step.shape != (1, 1) or several.shape != (1, min(2, served.max_horizon)):
        raise ModelLoadError(f"{served.path}: unexpected output shapes {one_step.shape} and {several.shape}")

    if served.has_saliency:
        # The first call compiles the XLA gradient, which takes seconds, so it happens here.
        try:
            saliency = served.saliency(probe, 1)
        except Exception as error:  # Any failure here means the route cannot serve.
            raise ModelLoadError(f"{served.path}: test saliency failed: {error}") from error
        if saliency.shape != (1, served.window_length):
            raise ModelLoadError(f"{served.path}: unexpected saliency shape {saliency.shape}")


def _warm_up(served: ServedModel) -> None:
    started = time.perf_counter()
    try:
        served.warm_up()
    except Exception as error:  # A bucket size that fails to compile would fail requests later.
        raise ModelLoadError(f"{served.path}: warm-up failed: {error}") from error
    logger.info(
        "compiled model %s version %d for batch sizes %s in %.1f s",
        served.name,
        served.version,
        ", ".join(str(size) for size in served.buckets),
        time.perf_counter() - started,
    )
