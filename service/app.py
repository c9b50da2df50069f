"""Application factory: settings, model loading in the lifespan, routes, middleware."""

import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from service.errors import install_error_handlers
from service.metrics import ServiceMetrics
from service.middleware import RequestContextMiddleware
from service.model_store import ModelLoadError, find_latest_version, load_version
from service.routes import forecasting, operations
from service.serving import ModelSlot
from service.settings import Settings

logger = logging.getLogger(__name__)


def load_latest(settings: Settings, slot: ModelSlot, metrics: ServiceMetrics) -> None:
    """Load the highest version into `slot`; leave the slot empty if there is none or it fails."""
    version = find_latest_version(settings.model_dir, settings.model_name)
    if version is None:
        logger.warning(
            "no model version in %s; train one with: python -m training --model-dir %s --name %s",
            settings.model_dir / settings.model_name,
            settings.model_dir,
            settings.model_name,
        )
        return

    try:
        served = load_version(settings.model_dir, settings.model_name, version)
    except ModelLoadError as error:
        logger.error("model load failed: %s", error)
        return

    slot.replace(served)
    metrics.set_model(served.name, served.version)
    logger.info("serving model %s version %d from %s", served.name, served.version, served.path)


def create_app(settings: Settings | None = None, registry: CollectorRegistry | None = None) -> FastAPI:
    """Build the service. Each app owns its metrics registry, so tests never share state."""
    settings = settings or Settings()
    metrics = ServiceMetrics(registry or CollectorRegistry())
    slot = ModelSlot(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        load_latest(settings, slot, metrics)
        yield

    app = FastAPI(
        title="RNN forecast service",
        summary="Forecasts from a SimpleRNN SavedModel over windows of 50 steps.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.models = slot

    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.include_router(forecasting.router)
    app.include_router(operations.router)
    return app
