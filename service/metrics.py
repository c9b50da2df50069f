"""Prometheus metrics of the service, registered on a registry owned by one app.

With several worker processes, prometheus_client's multiprocess mode keeps each
worker's values in files under PROMETHEUS_MULTIPROC_DIR, and /metrics adds them
up with a MultiProcessCollector. prometheus_client picks file-backed values when
that variable is set at import time, so the variable, not a setting, decides the mode.
"""

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

# Request latencies on a loopback call range from about 0.2 ms (one step) to tens of ms (long horizons).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
HORIZON_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """Return the directory of prometheus_client's multiprocess mode, or None in single-process mode."""
    return os.environ.get(MULTIPROC_DIR_VARIABLE) or None


class ServiceMetrics:
    """The service's metrics. Label values come from bounded sets: route templates, signature names, reasons."""

    def __init__(self, registry: CollectorRegistry, multiprocess_directory: str | None = None) -> None:
        self.registry = registry
        self.multiprocess_directory = multiprocess_directory
        self.http_requests = Counter(
            "forecast_http_requests",
            "HTTP requests by route template, method and status code.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.http_request_duration = Histogram(
            "forecast_http_request_duration_seconds",
            "Time from receiving a request to sending its response.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.inference_duration = Histogram(
            "forecast_inference_duration_seconds",
            "Time spent in one SavedModel signature call.",
            ["signature"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_windows = Histogram(
            "forecast_batch_windows",
            "Windows in one SavedModel signature call, before padding to a compiled batch size.",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.horizon = Histogram(
            "forecast_horizon_steps",
            "Horizon of each accepted forecast request, in steps.",
            buckets=HORIZON_BUCKETS,
            registry=registry,
        )
        self.validation_failures = Counter(
            "forecast_validation_failures",
            "Requests rejected with 422, or with 415 for a body that is not JSON (reason content_type), by reason.",
            ["reason"],
            registry=registry,
        )
        self.model_load_failures = Counter(
            "forecast_model_load_failures",
            "Model versions found on disk that failed to load or to run a test forecast.",
            registry=registry,
        )
        # livemax: across live workers, a version reads 1 while any worker serves it.
        self.model_info = Gauge(
            "forecast_model_info",
            "The model version being served: 1 for the current version.",
            ["name", "version"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.served: tuple[str, str] | None = None

    def set_model(self, name: str, version: int) -> None:
        """Mark `version` as the one served, clearing any earlier version.

        The earlier version is set to 0 before it is removed, because in
        multiprocess mode its value stays in this worker's file after removal.
        """
        if self.served is not None:
            self.model_info.labels(*self.served).set(0)
            self.model_info.remove(*self.served)

        self.served = (name, str(version))
        self.model_info.labels(*self.served).set(1)

    def render(self) -> bytes:
        """Return the metrics in the Prometheus text format, summed over all workers in multiprocess mode."""
        if self.multiprocess_directory is None:
            return generate_latest(self.registry)

        # A fresh registry per scrape: the collector reads every worker's files, this process's included.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.multiprocess_directory)
        return generate_latest(registry)

    def mark_process_dead(self, pid: int) -> None:
        """Drop a stopped worker's live gauges, so a version it served is no longer reported."""
        if self.multiprocess_directory is not None:
            multiprocess.mark_process_dead(pid, self.multiprocess_directory)
