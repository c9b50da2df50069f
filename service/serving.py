"""The model slot that request handlers read, and the dependencies that reach it.

The dependencies are coroutines although they never await: FastAPI runs a plain
`def` dependency in a worker thread, and that hop cost more than the lookup itself.
"""

import threading
from typing import Annotated

from fastapi import Depends, Request

from service.errors import ModelUnavailableError
from service.metrics import ServiceMetrics
from service.model_store import ServedModel
from service.settings import Settings


class ModelSlot:
    """Holds the model version in use. Replacing it is one reference swap, so a request
    that already holds the old version finishes on it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._current: ServedModel | None = None
        self._lock = threading.Lock()

    @property
    def current(self) -> ServedModel | None:
        return self._current

    def replace(self, served: ServedModel) -> None:
        with self._lock:
            self._current = served

    def require(self) -> ServedModel:
        served = self._current
        if served is None:
            directory = self.settings.model_dir / self.settings.model_name
            raise ModelUnavailableError(
                f"no model loaded: {directory} holds no servable version; train one with "
                f"`python -m training --model-dir {self.settings.model_dir} --name {self.settings.model_name}`"
            )
        return served

    def max_horizon(self, served: ServedModel) -> int:
        """The largest horizon allowed: the setting, capped by what the model was exported for."""
        return min(self.settings.max_horizon, served.max_horizon)


async def get_slot(request: Request) -> ModelSlot:
    return request.app.state.models


async def get_served_model(slot: Annotated[ModelSlot, Depends(get_slot)]) -> ServedModel:
    return slot.require()


async def get_metrics(request: Request) -> ServiceMetrics:
    return request.app.state.metrics


SlotDep = Annotated[ModelSlot, Depends(get_slot)]
ServedModelDep = Annotated[ServedModel, Depends(get_served_model)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]
