"""Run forecasts off the event loop, either one call per request or in adaptive micro-batches.

Both forecasters expose `forecast(served, windows, horizon)`. `DirectForecaster`
calls the model once per request in a worker thread. `ForecastBatcher` queues
requests and runs the queued windows as one signature call on a single worker
thread, then splits the result back to each caller. Every signature call has a
fixed cost of a few hundred microseconds (argument conversion, dispatch into
TensorFlow), so sharing one call between many requests is what raises the
throughput under concurrency.
"""

import asyncio
import collections
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from starlette.concurrency import run_in_threadpool

from service.errors import InferenceError, ModelUnavailableError
from service.metrics import ServiceMetrics
from service.model_store import FORECAST_SIGNATURE, ONE_STEP_SIGNATURE, ServedModel
from service.settings import Settings

logger = logging.getLogger(__name__)


def signature_for(horizon: int) -> str:
    return ONE_STEP_SIGNATURE if horizon == 1 else FORECAST_SIGNATURE


def timed_forecast(served: ServedModel, windows: np.ndarray, horizon: int, metrics: ServiceMetrics) -> np.ndarray:
    """Call the model and record the call's duration and size. Blocking: runs in a worker thread."""
    started = time.perf_counter()
    forecast = served.forecast(windows, horizon)
    metrics.inference_duration.labels(signature=signature_for(horizon)).observe(time.perf_counter() - started)
    metrics.batch_windows.observe(windows.shape[0])
    return forecast


class DirectForecaster:
    """One signature call per request, each in a thread of the shared thread pool."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self.metrics = metrics

    async def start(self) -> None:
        """Nothing to start: calls go straight to the thread pool."""

    async def close(self) -> None:
        """Nothing to drain: each request awaits its own call."""

    async def forecast(self, served: ServedModel, windows: np.ndarray, horizon: int) -> np.ndarray:
        try:
            return await run_in_threadpool(timed_forecast, served, windows, horizon, self.metrics)
        except Exception as error:  # TensorFlow raises many types; the caller gets one.
            raise InferenceError(f"forecast failed for {windows.shape[0]} window(s) at horizon {horizon}: {error}") from error


@dataclass(eq=False)
class PendingForecast:
    """One request's windows waiting in the queue, and the future its caller awaits."""

    served: ServedModel
    windows: np.ndarray
    horizon: int
    future: asyncio.Future = field(repr=False)

    @property
    def rows(self) -> int:
        return self.windows.shape[0]


@dataclass
class CallPlan:
    """One signature call: which queued requests it serves and at which horizon it runs."""

    served: ServedModel
    horizon: int
    members: list[PendingForecast]


class ForecastBatcher:
    """Collect concurrent requests into batches and run each batch on one worker thread.

    A batch closes when it contains as many windows as the previous batch (at most
    `max_batch_size`) or when `max_delay` has passed since its first request.
    It then takes every queued window up to `max_batch_size`. With a steady
    number of concurrent callers, a batch is complete once they have all sent
    their requests, so it does not idle for the rest of the delay. When more
    callers arrive, the batch grows, and so does the next batch's target.
    The wait happens only when requests arrive concurrently (the previous batch
    served more than one request, or more than one is already queued). So a
    lone request runs at once, except the first one after a burst, which can
    wait up to `max_delay` because the previous batch still counts as
    concurrent traffic. While a batch runs, new requests queue up and form the
    next batch.
    """

    def __init__(self, settings: Settings, metrics: ServiceMetrics) -> None:
        self.max_batch_size = settings.max_batch_size
        self.max_delay = settings.max_batch_delay_ms / 1000
        self.strategy = settings.batch_horizon_strategy
        self.metrics = metrics
        self._queue: collections.deque[PendingForecast] = collections.deque()
        self._queued_rows = 0
        self._arrived = asyncio.Event()
        self._closing = False
        self._last_batch_requests = 0
        self._last_batch_rows = 1
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forecast-batch")
        self._task = asyncio.create_task(self._run(), name="forecast-batcher")

    async def close(self) -> None:
        """Stop accepting requests, finish every queued one, then stop the worker thread."""
        self._closing = True
        self._arrived.set()
        if self._task is not None:
            await self._task
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        logger.info("forecast batcher stopped")

    async def forecast(self, served: ServedModel, windows: np.ndarray, horizon: int) -> np.ndarray:
        if self._closing or self._task is None:
            raise ModelUnavailableError("the service is shutting down and accepts no new forecasts")

        pending = PendingForecast(served, windows, horizon, asyncio.get_running_loop().create_future())
        self._queue.append(pending)
        self._queued_rows += pending.rows
        self._arrived.set()
        return await pending.future

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            if batch is None:
                return
            try:
                await self._dispatch(batch)
            except Exception as error:  # The loop must outlive one bad batch, so its callers get the error instead.
                logger.exception("forecast batch of %d request(s) failed", len(batch))
                for pending in batch:
                    failure = InferenceError(f"forecast batch failed: {error}")
                    failure.__cause__ = error
                    resolve(pending, failure)

    async def _next_batch(self) -> list[PendingForecast] | None:
        """Wait for queued requests and take up to max_batch_size windows; None once closed and drained."""
        while not self._queue:
            if self._closing:
                return None
            self._arrived.clear()
            await self._arrived.wait()

        if self._should_wait():
            await self._wait_for_more()

        batch = [self._take()]
        rows = batch[0].rows
        while self._queue and rows + self._queue[0].rows <= self.max_batch_size:
            batch.append(self._take())
            rows += batch[-1].rows
        self._last_batch_requests = len(batch)
        self._last_batch_rows = rows
        return batch

    def _should_wait(self) -> bool:
        concurrent = self._last_batch_requests > 1 or len(self._queue) > 1
        return self.max_delay > 0 and concurrent and not self._closing

    async def _wait_for_more(self) -> None:
        deadline = asyncio.get_running_loop().time() + self.max_delay
        target = min(self._last_batch_rows, self.max_batch_size)
        while self._queued_rows < target and not self._closing:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> PendingForecast:
        pending = self._queue.popleft()
        self._queued_rows -= pending.rows
        return pending

    async def _dispatch(self, batch: list[PendingForecast]) -> None:
        live = [pending for pending in batch if not pending.future.done()]  # Callers that disconnected are skipped.
        if not live:
            return

        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(self._executor, self._compute, plan_calls(live, self.strategy))
        for pending, result in results:
            resolve(pending, result)

    def _compute(self, plans: list[CallPlan]) -> list[tuple[PendingForecast, np.ndarray | Exception]]:
        """Run each planned call and split its rows back per request. Blocking: runs on the worker thread."""
        results: list[tuple[PendingForecast, np.ndarray | Exception]] = []
        for plan in plans:
            windows = np.concatenate([pending.windows for pending in plan.members])
            try:
                forecast = timed_forecast(plan.served, windows, plan.horizon, self.metrics)
            except Exception as error:  # TensorFlow raises many types; isolate the request that caused it.
                logger.warning("batched call of %d request(s) failed, retrying each alone: %s", len(plan.members), error)
                results.extend(self._compute_alone(plan))
                continue

            start = 0
            for pending in plan.members:
                results.append((pending, forecast[start : start + pending.rows, : pending.horizon]))
                start += pending.rows
        return results

    def _compute_alone(self, plan: CallPlan) -> list[tuple[PendingForecast, np.ndarray | Exception]]:
        results: list[tuple[PendingForecast, np.ndarray | Exception]] = []
        for pending in plan.members:
            try:
                forecast = timed_forecast(plan.served, pending.windows, plan.horizon, self.metrics)
                results.append((pending, forecast[:, : pending.horizon]))
            except Exception as error:  # Only this request failed, so the others still get their forecasts.
                failure = InferenceError(f"forecast failed for {pending.rows} window(s) at horizon {pending.horizon}: {error}")
                failure.__cause__ = error
                results.append((pending, failure))
        return results


def plan_calls(batch: list[PendingForecast], strategy: str) -> list[CallPlan]:
    """Split a batch into signature calls: one per model version, and per horizon under 'group'.

    Under 'max', each model version gets one call at the largest horizon in the
    batch and every request takes the first `horizon` columns of its rows.
    """
    by_model: dict[int, list[PendingForecast]] = {}
    for pending in batch:
        by_model.setdefault(id(pending.served), []).append(pending)

    plans = []
    for members in by_model.values():
        served = members[0].served
        if strategy == "max":
            plans.append(CallPlan(served, max(pending.horizon for pending in members), members))
            continue

        by_horizon: dict[int, list[PendingForecast]] = {}
        for pending in members:
            by_horizon.setdefault(pending.horizon, []).append(pending)
        plans.extend(CallPlan(served, horizon, group) for horizon, group in by_horizon.items())
    return plans


def resolve(pending: PendingForecast, result: np.ndarray | Exception) -> None:
    if pending.future.done():
        return
    if isinstance(result, Exception):
        pending.future.set_exception(result)
    else:
        pending.future.set_result(result)


def create_forecaster(settings: Settings, metrics: ServiceMetrics) -> ForecastBatcher | DirectForecaster:
    return ForecastBatcher(settings, metrics) if settings.batching else DirectForecaster(metrics)
