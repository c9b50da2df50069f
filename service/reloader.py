"""Watch the model repository and swap to a higher version once it loads and runs."""

import asyncio
import logging

from service.metrics import ServiceMetrics
from service.model_store import ModelLoadError, bucket_sizes, find_latest_version, load_version
from service.serving import ModelSlot
from service.settings import Settings

logger = logging.getLogger(__name__)


class ModelReloader:
    """Poll MODEL_DIR/NAME and serve the highest version that loads.

    A version that fails to load is logged, counted and remembered, so it is not
    retried on every poll; versions are immutable once training renames them into
    place. The version in use never goes down, even if its directory is deleted:
    the loaded graph stays in memory.
    """

    def __init__(self, settings: Settings, slot: ModelSlot, metrics: ServiceMetrics) -> None:
        self.settings = settings
        self.slot = slot
        self.metrics = metrics
        self.failed_versions: set[int] = set()

    def poll_once(self) -> bool:
        """Load the highest new version if there is one. Returns True when the served version changed.

        Blocking: loading and warming up a SavedModel takes hundreds of milliseconds,
        so the async loop calls this in a worker thread.
        """
        latest = find_latest_version(self.settings.model_dir, self.settings.model_name)
        current = self.slot.current
        if latest is None or latest in self.failed_versions:
            return False
        if current is not None and latest <= current.version:
            return False

        try:
            served = load_version(
                self.settings.model_dir, self.settings.model_name, latest, buckets=bucket_sizes(self.settings.max_batch_size)
            )
        except ModelLoadError as error:
            self.failed_versions.add(latest)
            self.metrics.model_load_failures.inc()
            logger.error("model version %d not loaded, still serving %s: %s", latest, describe(current), error)
            return False

        self.slot.replace(served)
        self.metrics.set_model(served.name, served.version)
        logger.info("serving model %s version %d from %s (was %s)", served.name, served.version, served.path, describe(current))
        return True

    async def run(self) -> None:
        """Poll forever at the configured interval; cancel the task to stop."""
        interval = self.settings.reload_interval_seconds
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.poll_once)
            except Exception:  # A poll must never end the loop; the next one retries.
                logger.exception("polling %s failed", self.settings.model_dir / self.settings.model_name)


def describe(served: object) -> str:
    version = getattr(served, "version", None)
    return "no model" if version is None else f"version {version}"
