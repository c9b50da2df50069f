"""POST /forecast: one-step and autoregressive multi-step forecasts."""

import logging
import time

import numpy as np
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from service.errors import InputError, error_responses
from service.metrics import ServiceMetrics
from service.model_store import FORECAST_SIGNATURE, ONE_STEP_SIGNATURE, ServedModel
from service.schemas import ForecastRequest, ForecastResponse, ModelReference
from service.serving import MetricsDep, ServedModelDep, SlotDep

logger = logging.getLogger(__name__)

router = APIRouter(tags=["forecasting"])

ERROR_RESPONSES = error_responses(400, 422, 503)


def check_horizon(horizon: int, max_horizon: int) -> None:
    if horizon > max_horizon:
        raise InputError("horizon", f"an integer from 1 to {max_horizon}", horizon, "horizon_range")


def check_finite(forecast: np.ndarray) -> None:
    """Reject forecasts that overflowed: JSON has no representation for them."""
    if not np.all(np.isfinite(forecast)):
        raise InputError(
            "window",
            "values in a range the model can forecast from (the forecast overflowed)",
            "values that made the forecast non-finite",
            "forecast_not_finite",
        )


async def run_forecast(served: ServedModel, windows: np.ndarray, horizon: int, metrics: ServiceMetrics) -> np.ndarray:
    """Run the signature in a worker thread, so the event loop keeps serving other requests."""
    signature = ONE_STEP_SIGNATURE if horizon == 1 else FORECAST_SIGNATURE
    started = time.perf_counter()
    forecast = await run_in_threadpool(served.forecast, windows, horizon)
    metrics.inference_duration.labels(signature=signature).observe(time.perf_counter() - started)
    return forecast


@router.post("/forecast", response_model=ForecastResponse, responses=ERROR_RESPONSES)
async def create_forecast(
    request: ForecastRequest, served: ServedModelDep, slot: SlotDep, metrics: MetricsDep
) -> ForecastResponse:
    """Forecast `horizon` steps after the window, feeding each prediction back as input."""
    check_horizon(request.horizon, slot.max_horizon(served))
    metrics.horizon.observe(request.horizon)

    windows = np.asarray([request.window], dtype=np.float32)
    forecast = await run_forecast(served, windows, request.horizon, metrics)
    check_finite(forecast)

    return ForecastResponse(
        forecast=forecast[0].tolist(),
        horizon=request.horizon,
        model=ModelReference(name=served.name, version=served.version),
    )
