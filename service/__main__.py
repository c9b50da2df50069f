"""Run the service with uvicorn: `python -m service`.

This module imports neither the app nor TensorFlow: uvicorn imports the app
factory in each worker, so the supervising process of a multi-worker server stays small.
"""

import logging
import os
import shutil
import tempfile
from pathlib import Path
import signal
from types import FrameType

import uvicorn

from service.logging_config import configure_logging
from service.metrics import MULTIPROC_DIR_VARIABLE
from service.settings import Settings

logger = logging.getLogger(__name__)

APP_FACTORY = "service.app:create_app_from_environment"


def prepare_multiprocess_dir(settings: Settings) -> Path | None:
    """Empty PROMETHEUS_MULTIPROC_DIR before workers start, creating one when several workers need it.

    Files left by an earlier run would add old counts to the totals. Returns the
    directory when this process created it, so the caller removes it at exit.
    """
    configured = os.environ.get(MULTIPROC_DIR_VARIABLE)
    if not configured and settings.workers == 1:
        return None

    if not configured:
        created = Path(tempfile.mkdtemp(prefix="forecast-metrics-"))
        os.environ[MULTIPROC_DIR_VARIABLE] = str(created)
        logger.info("%s is not set; workers share metrics through %s", MULTIPROC_DIR_VARIABLE, created)
        return created

    directory = Path(configured)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    logger.info("cleared metric files in %s before starting %d worker(s)", directory, settings.workers)
    return None



def exit_cleanly(signum: int, frame: FrameType | None) -> None:
    """Exit with status 0 on SIGTERM.

    uvicorn (0.55) handles SIGTERM itself while it serves: it stops accepting
    connections, lets requests in flight finish, then raises the signal again.
    This handler turns that second delivery, or one that arrives during start-up,
    into a normal exit instead of death by signal.
    """
    logger.info("stopped on signal %d", signum)
    raise SystemExit(0)


def main() -> None:
    settings = Settings()
    configure_logging(settings)
    signal.signal(signal.SIGTERM, exit_cleanly)
    created = prepare_multiprocess_dir(settings)

    try:
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level,
            loop="uvloop",
            http="httptools",
            timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
        )
    finally:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)


if __name__ == "__main__":
    main()
