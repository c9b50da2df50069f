"""Logging set-up shared by the process that starts uvicorn and by each worker."""

import logging

from service.settings import Settings


def configure_logging(settings: Settings) -> None:
    """Send log records to stderr at the configured level; a no-op when logging is already configured."""
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
