"""Prometheus metrics of the service, registered on a registry owned by one app."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Request latencies on a loopback call range from about 0.2 ms (one step) to tens of ms (long horizons).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
HORIZON_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServiceMetrics:
    """The service's metrics. Label values come from bounded sets: route templates, signature names, reasons."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
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
            "Requests rejected with 422, by reason.",
            ["reason"],
            registry=registry,
        )
        self.model_load_failures = Counter(
            "forecast_model_load_failures",
            "Model versions found on disk that failed to load or to run a test forecast.",
            registry=registry,
        )
        self.model_info = Gauge(
            "forecast_model_info",
            "The model version being served: 1 for the current version.",
            ["name", "version"],
            registry=registry,
        )

    def set_model(self, name: str, version: int) -> None:
        """Mark `version` as the one served, clearing any earlier version."""
        self.model_info.clear()
        self.model_info.labels(name=name, version=str(version)).set(1)
