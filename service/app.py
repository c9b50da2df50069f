"""Application factory: settings, model loading in the lifespan, routes, middleware."""

import asyncio
import contextlib
import gc
import logging
import os
from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import APIRouter, Depends, FastAPI
from prometheus_client import CollectorRegistry

from service.batching import create_forecaster
from service.errors import error_responses, install_error_handlers
from service.logging_config import configure_logging
from service.metrics import ServiceMetrics, multiprocess_dir
from service.middleware import BodyLimitMiddleware, RequestContextMiddleware
from service.reloader import ModelReloader
from service.routes import forecasting, operations, tfserving
from service.security import require_api_key
from service.serving import ModelSlot
from service.settings import Settings

logger = logging.getLogger(__name__)

# Every route on these routers requires the API key when FORECAST_API_KEY is set.
# A new route is covered by adding it to one of these routers, and a new router by
# adding it here; test_auth_protects_every_route_but_open_ones fails for any route
# that is neither here nor in OPEN_PATHS.
PROTECTED_ROUTERS: tuple[APIRouter, ...] = (forecasting.router, operations.model_router, tfserving.router)
# Probes, metrics and the API docs; /metrics checks the key itself when FORECAST_METRICS_REQUIRE_KEY is true.
OPEN_ROUTERS: tuple[APIRouter, ...] = (operations.router,)
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


def warn_if_empty(settings: Settings, slot: ModelSlot) -> None:
    if slot.current is None:
        logger.warning(
            "no servable model version in %s; train one with: python -m training --model-dir %s --name %s",
            settings.model_dir / settings.model_name,
            settings.model_dir,
            settings.model_name,
        )


def freeze_startup_objects() -> None:
    """Exempt the objects alive at start-up, TensorFlow's runtime among them, from garbage collection.

    Importing TensorFlow leaves about 340,000 objects, and a full collection that
    walks them stalls the service for 80 to 150 ms on a 2-core machine. Frozen
    objects are still freed by reference counting, but a cycle among them is
    never collected, and whatever a frozen object references stays alive. So
    this runs before the app and its model exist: a replaced model version,
    referenced only by the app, is collected as usual.
    """
    gc.collect()
    gc.freeze()
    logger.info("froze %d start-up objects out of garbage collection", gc.get_freeze_count())


def create_app(settings: Settings | None = None, registry: CollectorRegistry | None = None) -> FastAPI:
    """Build the service. Each app owns its metrics registry, so tests never share state."""
    settings = settings or Settings()
    metrics = ServiceMetrics(registry or CollectorRegistry(), multiprocess_dir())
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
            metrics.mark_process_dead(os.getpid())

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
    # The last middleware added runs first: the request id exists before the body limits reject a request.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, timeout=settings.body_timeout_seconds)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    include_routers(app)
    if settings.enable_echo:
        app.include_router(
            forecasting.create_echo_router(), dependencies=[Depends(require_api_key)], responses=error_responses(401, 413, 500)
        )
    return app


def include_routers(app: FastAPI) -> None:
    # Any route can meet an oversized body or an unexpected error.
    common = error_responses(408, 413, 500)
    for router in PROTECTED_ROUTERS:
        app.include_router(router, dependencies=[Depends(require_api_key)], responses={**common, **error_responses(401)})
    for router in OPEN_ROUTERS:
        app.include_router(router, responses=common)


def create_app_from_environment() -> FastAPI:
    """Build the service from FORECAST_* variables; uvicorn calls this in each worker process."""
    settings = Settings()
    configure_logging(settings)
    freeze_startup_objects()
    return create_app(settings)
