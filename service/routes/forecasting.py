"""POST /forecast: one-step and autoregressive multi-step forecasts, with optional prediction intervals.

POST /forecast/batch: the same forecast for many windows in one request.
POST /forecast/saliency: the gradient of one forecast step with respect to the window.
"""

import logging
import time

import numpy as np
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from service.batching import DirectForecaster, ForecastBatcher
from service.errors import FeatureUnavailableError, InputError, describe_windows_limit, error_responses
from service.json_request import OrjsonRoute
from service.metrics import ServiceMetrics
from service.model_store import FORECAST_SIGNATURE, ONE_STEP_SIGNATURE, SALIENCY_SIGNATURE, ServedModel
from service.schemas import (
    BatchForecastRequest,
    BatchForecastResponse,
    ForecastRequest,
    ForecastResponse,
    Interval,
    ModelReference,
    SaliencyRequest,
    SaliencyResponse,
)
from service.serving import MetricsDep, ServedModelDep, SlotDep

logger = logging.getLogger(__name__)

router = APIRouter(tags=["forecasting"], route_class=OrjsonRoute)

ERROR_RESPONSES = error_responses(400, 415, 422, 503)


def check_horizon(horizon: int, max_horizon: int) -> None:
    if horizon > max_horizon:
        raise InputError("horizon", f"an integer from 1 to {max_horizon}", horizon, "horizon_range")


def check_levels(levels: list[int] | None, horizon: int, served: ServedModel) -> None:
    """Reject levels for a version without calibrated intervals, or a horizon beyond the calibrated steps."""
    if levels is None:
        return
    if served.intervals is None:
        raise InputError(
            "levels",
            "no levels, because this model version was exported without calibrated intervals (intervals.json)",
            levels,
            "levels_unavailable",
        )
    if horizon > served.intervals.steps:
        raise InputError(
            "horizon",
            f"an integer from 1 to {served.intervals.steps} when levels are given, "
            f"because the intervals are calibrated up to step {served.intervals.steps}",
            horizon,
            "horizon_range",
        )


def build_intervals(served: ServedModel, forecast: np.ndarray, levels: list[int]) -> dict[str, Interval]:
    """Return forecast ± the calibrated half-width of each level, keyed by the level as a string."""
    intervals = {}
    for level in levels:
        lower, upper = served.intervals.bounds(forecast.astype(np.float64), level)
        intervals[str(level)] = Interval(lower=lower.tolist(), upper=upper.tolist())
    return intervals


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


async def run_forecast(served: ServedModel, windows: np.ndarray, horizon: int, metrics: ServiceMetrics) -> np.ndarray:
    """Run the signature in a worker thread, so the event loop keeps serving other requests."""
    signature = ONE_STEP_SIGNATURE if horizon == 1 else FORECAST_SIGNATURE
    started = time.perf_counter()
    forecast = await run_in_threadpool(served.forecast, windows, horizon)
    metrics.inference_duration.labels(signature=signature).observe(time.perf_counter() - started)
    return forecast


@router.post("/forecast", response_model=ForecastResponse, response_model_exclude_none=True, responses=ERROR_RESPONSES)
async def create_forecast(
    request: ForecastRequest, http_request: Request, served: ServedModelDep, slot: SlotDep, metrics: MetricsDep
) -> ForecastResponse:
    """Forecast `horizon` steps after the window, feeding each prediction back as input.

    With `levels`, the response also contains a prediction interval per level.
    """
    check_horizon(request.horizon, slot.max_horizon(served))
    check_levels(request.levels, request.horizon, served)
    metrics.horizon.observe(request.horizon)

    windows = np.asarray([request.window], dtype=np.float32)
    forecast = await get_forecaster(http_request).forecast(served, windows, request.horizon)
    check_finite(forecast)

    intervals = build_intervals(served, forecast[0], request.levels) if request.levels else None
    return ForecastResponse(
        forecast=forecast[0].tolist(),
        horizon=request.horizon,
        model=ModelReference(name=served.name, version=served.version),
        intervals=intervals,
    )


@router.post("/forecast/batch", response_model=BatchForecastResponse, responses=ERROR_RESPONSES)
async def create_batch_forecast(
    request: BatchForecastRequest, http_request: Request, served: ServedModelDep, slot: SlotDep, metrics: MetricsDep
) -> BatchForecastResponse:
    """Forecast `horizon` steps after each window; forecasts come back in the order of the windows."""
    check_window_count(request.windows, slot.settings.max_batch_windows)
    check_horizon(request.horizon, slot.max_horizon(served))
    metrics.horizon.observe(request.horizon)

    windows = np.asarray(request.windows, dtype=np.float32)
    forecasts = await get_forecaster(http_request).forecast(served, windows, request.horizon)
    check_finite_rows(forecasts)

    return BatchForecastResponse(
        forecasts=forecasts.tolist(),
        horizon=request.horizon,
        model=ModelReference(name=served.name, version=served.version),
    )


SALIENCY_RESPONSES = error_responses(400, 415, 422, 501, 503)


@router.post("/forecast/saliency", response_model=SaliencyResponse, responses=SALIENCY_RESPONSES)
async def create_saliency(
    request: SaliencyRequest, served: ServedModelDep, slot: SlotDep, metrics: MetricsDep
) -> SaliencyResponse:
    """Return how much the forecast at `step` changes per unit change of each window value."""
    max_horizon = slot.max_horizon(served)
    if request.step > max_horizon:
        raise InputError("step", f"an integer from 1 to {max_horizon}", request.step, "step_range")
    if not served.has_saliency:
        raise FeatureUnavailableError(
            f"model {served.name} version {served.version} was exported without the saliency signature; "
            "train a new version with `python -m training` to serve saliency"
        )

    windows = np.asarray([request.window], dtype=np.float32)
    started = time.perf_counter()
    saliency = await run_in_threadpool(served.saliency, windows, request.step)
    metrics.inference_duration.labels(signature=SALIENCY_SIGNATURE).observe(time.perf_counter() - started)
    check_finite(saliency)

    return SaliencyResponse(
        saliency=saliency[0].tolist(),
        step=request.step,
        model=ModelReference(name=served.name, version=served.version),
    )


def create_echo_router() -> APIRouter:
    """Build POST /echo: the same parsing, validation and response size as /forecast, without the model.

    The benchmark compares /forecast against it to measure the cost of the HTTP
    stack alone; the app mounts it only when FORECAST_ENABLE_ECHO is true.
    """
    echo_router = APIRouter(tags=["benchmark"], route_class=OrjsonRoute)

    @echo_router.post("/echo", response_model=ForecastResponse, response_model_exclude_none=True, responses=ERROR_RESPONSES)
    async def echo_forecast(request: ForecastRequest, served: ServedModelDep, slot: SlotDep, metrics: MetricsDep) -> ForecastResponse:
        """Return the window's values cast to float32, repeated to `horizon` values, as a forecast would be."""
        check_horizon(request.horizon, slot.max_horizon(served))
        metrics.horizon.observe(request.horizon)

        values = np.resize(np.asarray(request.window, dtype=np.float32), request.horizon)
        return ForecastResponse(
            forecast=values.tolist(),
            horizon=request.horizon,
            model=ModelReference(name=served.name, version=served.version),
        )

    return echo_router
