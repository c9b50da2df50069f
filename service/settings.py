"""Service configuration, read from environment variables prefixed with FORECAST_."""

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MEBIBYTE = 1024 * 1024


class Settings(BaseSettings):
    """Settings of one service process. Each field is read from FORECAST_<FIELD_NAME>."""

    model_config = SettingsConfigDict(env_prefix="FORECAST_", extra="ignore")

    model_dir: Path = Field(Path("model"), description="Model repository: versions live in MODEL_DIR/MODEL_NAME/<int>/.")
    model_name: str = Field("sine", min_length=1, description="Name of the model to serve.")
    host: str = Field("127.0.0.1", description="Address uvicorn binds to.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port uvicorn binds to.")
    max_horizon: int = Field(1000, ge=1, description="Largest horizon a request may ask for.")
    reload_interval_seconds: float = Field(
        5.0, ge=0, description="How often to look for a higher model version, in seconds; 0 turns polling off."
    )
    log_level: str = Field("info", description="Log level of the service and uvicorn.")
    workers: int = Field(
        1,
        ge=1,
        description="Number of uvicorn worker processes. Above 1, /metrics adds up the workers' metrics through "
        "prometheus_client's multiprocess mode, in PROMETHEUS_MULTIPROC_DIR.",
    )
    max_instances: int = Field(
        1000, ge=1, description="Largest number of windows one TensorFlow Serving style predict request may carry."
    )
    shutdown_timeout_seconds: float = Field(
        30.0, gt=0, description="On SIGTERM, how long requests in flight may take to finish before uvicorn closes them, in seconds."
    )
    max_body_bytes: int = Field(
        MEBIBYTE, ge=1, description="Largest request body accepted, in bytes; a larger one gets 413 before it is parsed."
    )
    body_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="Maximum time, in seconds, that a request body may take to arrive, counted from the first read. "
        "A slower one gets 408 and its connection is closed.",
    )
    api_key: SecretStr | None = Field(
        None,
        description="When set, every route except the probes, /metrics and the API docs requires "
        "'Authorization: Bearer <key>' or 'X-API-Key: <key>'.",
    )
    metrics_require_key: bool = Field(False, description="Require the API key on /metrics too; needs API_KEY.")

    @model_validator(mode="after")
    def check_api_key(self) -> Self:
        if self.api_key is not None and not self.api_key.get_secret_value():
            raise ValueError("FORECAST_API_KEY is set but empty; set a key, or unset it to turn authentication off")
        if self.metrics_require_key and self.api_key is None:
            raise ValueError("FORECAST_METRICS_REQUIRE_KEY=true needs FORECAST_API_KEY to be set")
        return self
    batching: bool = Field(
        True,
        description="Queue concurrent forecast requests and run them as one signature call; false calls the model once per request.",
    )
    max_batch_size: int = Field(
        64,
        ge=1,
        description="Maximum number of windows in one signature call. Batches are padded to a power of two up to this size, "
        "and each of those sizes is compiled when a model version loads.",
    )
    max_batch_delay_ms: float = Field(
        2.0,
        ge=0,
        description="Maximum time, in milliseconds, that a request waits for others to join its batch. "
        "The wait applies only while requests arrive concurrently, so a lone request runs at once, "
        "except the first request after a burst, which can wait up to this delay once.",
    )
    batch_horizon_strategy: Literal["max", "group"] = Field(
        "max",
        description="How requests with different horizons share a batch: 'max' runs one call at the largest horizon "
        "and slices each result, 'group' runs one call per distinct horizon. 'max' measured about 2x faster on random "
        "horizons (docs/performance.md), because the fixed cost of each call outweighs the extra steps.",
    )
    max_batch_windows: int = Field(256, ge=1, description="Maximum number of windows in one POST /forecast/batch request.")
    enable_echo: bool = Field(
        False,
        description="Serve POST /echo, which validates a forecast request and returns a response of the same size "
        "without running the model. Only the benchmark turns it on, to measure the HTTP stack alone.",
    )
