"""Routes for operators: liveness, readiness, the loaded model, and metrics."""

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.schemas import ErrorResponse
from service.serving import MetricsDep, ServedModelDep, SlotDep

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def read_health() -> dict[str, str]:
    """Report that the process is alive and its event loop answers."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"model": ErrorResponse, "description": "No model is loaded."}})
async def read_readiness(slot: SlotDep) -> dict[str, Any]:
    """Report 200 only while a model version is loaded and can serve."""
    served = slot.require()
    return {"status": "ready", "model": {"name": served.name, "version": served.version}}


@router.get("/model", responses={503: {"model": ErrorResponse, "description": "No model is loaded."}})
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


@router.get("/metrics", response_class=Response)
async def read_metrics(metrics: MetricsDep) -> Response:
    """Expose all metrics in the Prometheus text format."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
