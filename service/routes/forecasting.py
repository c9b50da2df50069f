"""POST /forecast and POST /forecast/batch: one-step and autoregressive multi-step forecasts."""

import logging

import numpy as np
from fastapi import APIRouter, Request

from service.batching import DirectForecaster, ForecastBatcher
from service.errors import InputError, describe_windows_limit
from service.json_request import OrjsonRoute
from service.schemas import (
    BatchForecastRequest,
    BatchForecastResponse,
    ErrorResponse,
    ForecastRequest,
    ForecastResponse,
    ModelReference,
)
from service.serving import MetricsDep, ServedModelDep, SlotDep

logger = logging.getLogger(__name__)

router = APIRouter(tags=["forecasting"], route_class=OrjsonRoute)

ERROR_RESPONSES = {
    422: {"model": ErrorResponse, "description": "The request is invalid; the message names the field."},
    500: {"model": ErrorResponse, "description": "The model failed to compute this request's forecast."},
    503: {"model": ErrorResponse, "description": "No model version is loaded, or the service is shutting down."},
}


def check_horizon(horizon: int, max_horizon: int) -> None:
    if horizon > max_horizon:
        raise InputError("horizon", f"an integer from 1 to {max_horizon}", horizon, "horizon_range")


def check_window_count(windows: list, max_windows: int) -> None:
    if not 1 <= len(windows) <= max_windows:
        raise InputError("windows", describe_windows_limit(max_windows), windows, "windows_count")


def check_finite(forecast: np.ndarray, field: str = "window") -> None:
    """Reject forecasts that overflowed: JSON has no representation for them."""
    if not np.all(np.isfinite(forecast)):
        raise InputError(
            field,
            "values in a range the model can forecast from (the forecast overflowed)",
            "values that made the forecast non-finite",
            "forecast_not_finite",
        )


def check_finite_rows(forecasts: np.ndarray) -> None:
    """Name the first window whose forecast is non-finite, as windows[i]."""
    for index, row in enumerate(forecasts):
        check_finite(row, f"windows[{index}]")


def get_forecaster(request: Request) -> ForecastBatcher | DirectForecaster:
    return request.app.state.forecaster


@router.post("/forecast", response_model=ForecastResponse, responses=ERROR_RESPONSES)
async def create_forecast(
    body: ForecastRequest, raw: Request, served: ServedModelDep, slot: SlotDep, metrics: MetricsDep
) -> ForecastResponse:
    """Forecast `horizon` steps after the window, feeding each prediction back as input."""
    check_horizon(body.horizon, slot.max_horizon(served))
    metrics.horizon.observe(body.horizon)

    windows = np.asarray([body.window], dtype=np.float32)
    forecast = await get_forecaster(raw).forecast(served, windows, body.horizon)
    check_finite(forecast)

    return ForecastResponse(
        forecast=forecast[0].tolist(),
        horizon=body.horizon,
        model=ModelReference(name=served.name, version=served.version),
    )


@router.post("/forecast/batch", response_model=BatchForecastResponse, responses=ERROR_RESPONSES)
async def create_batch_forecast(
    body: BatchForecastRequest, raw: Request, served: ServedModelDep, slot: SlotDep, metrics: MetricsDep
) -> BatchForecastResponse:
    """Forecast `horizon` steps after each window; forecasts come back in the order of the windows."""
    check_window_count(body.windows, slot.settings.max_batch_windows)
    check_horizon(body.horizon, slot.max_horizon(served))
    metrics.horizon.observe(body.horizon)

    windows = np.asarray(body.windows, dtype=np.float32)
    forecasts = await get_forecaster(raw).forecast(served, windows, body.horizon)
    check_finite_rows(forecasts)

    return BatchForecastResponse(
        forecasts=forecasts.tolist(),
        horizon=body.horizon,
        model=ModelReference(name=served.name, version=served.version),
    )


def create_echo_router() -> APIRouter:
    """Build POST /echo: the same parsing, validation and response size as /forecast, without the model.

    The benchmark compares /forecast against it to measure the cost of the HTTP
    stack alone; the app mounts it only when FORECAST_ENABLE_ECHO is true.
    """
    echo_router = APIRouter(tags=["benchmark"], route_class=OrjsonRoute)

    @echo_router.post("/echo", response_model=ForecastResponse, responses=ERROR_RESPONSES)
    async def echo_forecast(body: ForecastRequest, served: ServedModelDep, slot: SlotDep, metrics: MetricsDep) -> ForecastResponse:
        """Return the window's values cast to float32, repeated to `horizon` values, as a forecast would be."""
        check_horizon(body.horizon, slot.max_horizon(served))
        metrics.horizon.observe(body.horizon)

        values = np.resize(np.asarray(body.window, dtype=np.float32), body.horizon)
        return ForecastResponse(
            forecast=values.tolist(),
            horizon=body.horizon,
            model=ModelReference(name=served.name, version=served.version),
        )

    return echo_router
