"""Run the service with uvicorn: `python -m service`."""

import logging
import signal
from types import FrameType

import uvicorn

from service.app import create_app
from service.settings import Settings

logger = logging.getLogger(__name__)


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
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    signal.signal(signal.SIGTERM, exit_cleanly)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
    )


if __name__ == "__main__":
    main()
