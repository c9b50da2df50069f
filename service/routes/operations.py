"""Routes for operators: liveness, readiness, the loaded model, and metrics."""

from typing import Any

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST

from service.errors import error_responses
from service.security import require_metrics_key
from service.serving import MetricsDep, ServedModelDep, SlotDep

# Probes and metrics stay reachable without the API key, so orchestrators and scrapers need no secret.
router = APIRouter(tags=["operations"])
# GET /model; the app includes this router among the protected ones.
model_router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def read_health() -> dict[str, str]:
    """Report that the process is alive and its event loop answers."""
    return {"status": "ok"}


@router.get("/readyz", responses=error_responses(503))
async def read_readiness(slot: SlotDep) -> dict[str, Any]:
    """Report 200 only while a model version is loaded and can serve."""
    served = slot.require()
    return {"status": "ready", "model": {"name": served.name, "version": served.version}}


@model_router.get("/model", responses=error_responses(503))
async def read_model(served: ServedModelDep, slot: SlotDep) -> dict[str, Any]:
    """Describe the served version: metadata, signature shapes and the effective limits."""
    description = served.describe()
    interval_steps = None if served.intervals is None else min(served.intervals.steps, slot.max_horizon(served))
    description["limits"] = {
        "window_length": served.window_length,
        "max_horizon": slot.max_horizon(served),
        "max_interval_horizon": interval_steps,
    }
    return description


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(require_metrics_key)],
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."}, **error_responses(401)},
)
async def read_metrics(metrics: MetricsDep) -> Response:
    """Expose all metrics in the Prometheus text format, added up over all worker processes.

    With FORECAST_METRICS_REQUIRE_KEY=true it needs the API key.
    """
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
