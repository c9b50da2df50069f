"""Service configuration, read from environment variables prefixed with FORECAST_."""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
        "The wait applies only while requests arrive concurrently, so a lone request runs at once.",
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
