"""Model-level timings: the exported compiled signature against the ways tutorials run the same loop.

The compiled variant is the served SavedModel. The other variants need the
Keras network itself, which the SavedModel does not return, so they use a
network built by training.network with the same layer sizes and fresh weights.
The arithmetic per step is the same whatever the weights are.
"""

import logging
import time
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf

from service.batching import PendingForecast, plan_calls
from service.model_store import ServedModel, bucket_sizes, load_version
from training.data import Scaling
from training.export import ForecastModule
from training.network import build_network

logger = logging.getLogger(__name__)

HORIZONS = (1, 10, 100, 1000)
BATCH_SIZES = (1, 64)
# Each measurement repeats until this many seconds or MAX_REPETITIONS, whichever comes first.
TIME_BUDGET_SECONDS = 2.0
MAX_REPETITIONS = 200
# model.predict costs tens of milliseconds per call, so at long horizons one repetition takes
# minutes; it runs only where the estimate from the previous horizon stays under this.
SLOW_VARIANT_BUDGET_SECONDS = 60.0


def time_call(function: Callable[[], object], budget: float = TIME_BUDGET_SECONDS) -> dict:
    """Call once to warm up, then repeat within the budget; returns the median and the count."""
    function()
    durations = []
    deadline = time.perf_counter() + budget
    while len(durations) < MAX_REPETITIONS and (not durations or time.perf_counter() < deadline):
        started = time.perf_counter()
        function()
        durations.append(time.perf_counter() - started)
    return {"median_ms": float(np.median(durations)) * 1000, "repetitions": len(durations)}


def build_variants(served: ServedModel) -> dict[str, Callable[[np.ndarray, int], object]]:
    network = build_network(served.metadata.get("training", {}).get("units", [20]))
    module = ForecastModule(network, Scaling(mean=0.0, std=1.0), max_horizon=served.max_horizon)
    uncompiled_loop = tf.function(lambda window, horizon: ForecastModule._roll_scaled.python_function(module, window, horizon))
    one_step = served.module.signatures["serving_default"]

    def python_loop_one_step(windows: np.ndarray, horizon: int) -> np.ndarray:
        current = windows
        outputs = []
        for _ in range(horizon):
            prediction = one_step(window=tf.constant(current))["forecast"].numpy()
            outputs.append(prediction)
            current = np.concatenate([current[:, 1:], prediction], axis=1)
        return np.concatenate(outputs, axis=1)

    def python_loop_predict(windows: np.ndarray, horizon: int) -> np.ndarray:
        current = windows
        outputs = []
        for _ in range(horizon):
            prediction = network.predict(current[..., None], verbose=0)
            outputs.append(prediction)
            current = np.concatenate([current[:, 1:], prediction], axis=1)
        return np.concatenate(outputs, axis=1)

    return {
        "compiled signature": served.forecast,
        "uncompiled loop": lambda windows, horizon: uncompiled_loop(tf.constant(windows), tf.constant(horizon)),
        "Python loop, one-step signature": python_loop_one_step,
        "Python loop, model.predict": python_loop_predict,
    }


def measure_variants(served: ServedModel) -> list[dict]:
    variants = build_variants(served)
    rows = []
    for batch in BATCH_SIZES:
        windows = np.random.default_rng(0).standard_normal((batch, served.window_length)).astype(np.float32)
        for name, variant in variants.items():
            previous_ms, previous_horizon = None, 1
            for horizon in HORIZONS:
                estimate = None if previous_ms is None else previous_ms * horizon / previous_horizon
                if name.endswith("model.predict") and estimate is not None and estimate / 1000 > SLOW_VARIANT_BUDGET_SECONDS:
                    rows.append({"variant": name, "batch": batch, "horizon": horizon, "median_ms": None, "repetitions": 0,
                                 "note": f"skipped: estimated {estimate / 1000:.0f} s per repetition"})
                    continue
                budget = TIME_BUDGET_SECONDS if estimate is None or estimate < 1000 else 0.0
                timing = time_call(lambda: variant(windows, horizon), budget)
                rows.append({"variant": name, "batch": batch, "horizon": horizon, **timing})
                logger.info("%s batch %d horizon %d: %.3f ms", name, batch, horizon, timing["median_ms"])
                previous_ms, previous_horizon = timing["median_ms"], horizon
    return rows


def measure_horizon_strategies(served: ServedModel, requests: int = 16, seed: int = 0) -> list[dict]:
    """Time one batch of concurrent requests planned with each strategy, as the batcher runs them."""
    rng = np.random.default_rng(seed)
    mixes = {
        "random horizons 1..1000": rng.integers(1, 1001, requests),
        "half 1, half 100": np.array([1, 100] * (requests // 2)),
        "all 100": np.full(requests, 100),
    }
    rows = []
    for mix, horizons in mixes.items():
        batch = [
            PendingForecast(served, rng.standard_normal((1, served.window_length)).astype(np.float32), int(h), None)
            for h in horizons
        ]
        for strategy in ("group", "max"):
            plans = plan_calls(batch, strategy)

            def run_plans() -> None:
                for plan in plans:
                    served.forecast(np.concatenate([p.windows for p in plan.members]), plan.horizon)

            timing = time_call(run_plans)
            rows.append({"mix": mix, "requests": requests, "strategy": strategy, "calls": len(plans), **timing})
    return rows


def run(model_dir: Path, name: str, version: int) -> dict:
    served = load_version(model_dir, name, version, buckets=bucket_sizes(max(BATCH_SIZES)))
    return {"variants": measure_variants(served), "horizon_strategies": measure_horizon_strategies(served)}
