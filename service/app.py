"""Application factory: settings, model loading in the lifespan, routes, middleware."""

import asyncio
import contextlib
import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from service.batching import create_forecaster
from service.errors import install_error_handlers
from service.metrics import ServiceMetrics
from service.middleware import RequestContextMiddleware
from service.reloader import ModelReloader
from service.routes import forecasting, operations
from service.serving import ModelSlot
from service.settings import Settings

logger = logging.getLogger(__name__)


def warn_if_empty(settings: Settings, slot: ModelSlot) -> None:
    if slot.current is None:
        logger.warning(
            "no servable model version in %s; train one with: python -m training --model-dir %s --name %s",
            settings.model_dir / settings.model_name,
            settings.model_dir,
            settings.model_name,
        )


def create_app(settings: Settings | None = None, registry: CollectorRegistry | None = None) -> FastAPI:
    """Build the service. Each app owns its metrics registry, so tests never share state."""
    settings = settings or Settings()
    metrics = ServiceMetrics(registry or CollectorRegistry())
    slot = ModelSlot(settings)

    reloader = ModelReloader(settings, slot, metrics)
    forecaster = create_forecaster(settings, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reloader.poll_once()
        warn_if_empty(settings, slot)

        await forecaster.start()
        polling = asyncio.create_task(reloader.run()) if settings.reload_interval_seconds > 0 else None
        try:
            yield
        finally:
            if polling is not None:
                polling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await polling
            # Requests still queued get their forecasts before the process exits.
            await forecaster.close()

    app = FastAPI(
        title="RNN forecast service",
        summary="Forecasts from a SimpleRNN SavedModel over windows of 50 steps.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.models = slot
    app.state.reloader = reloader
    app.state.forecaster = forecaster

    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.include_router(forecasting.router)
    app.include_router(operations.router)
    if settings.enable_echo:
        app.include_router(forecasting.create_echo_router())
    return app
