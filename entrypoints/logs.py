"""Logging set-up for every command of the service."""

from __future__ import annotations

import logging

from entrypoints.settings import Settings


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
