"""Log records of this package's loggers, caught by a handler of their own: pytest's caplog sits on
the root logger, whose handlers Airflow replaces when it configures logging on first use, which
can happen in the middle of a test."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def records(
    name: str = "oss_provider", level: int = logging.INFO
) -> Iterator[list[logging.LogRecord]]:
    """The records of logger ``name`` (and its children) at ``level`` and up, while inside."""
    caught: list[logging.LogRecord] = []
    handler = logging.Handler(level)
    handler.emit = caught.append  # type: ignore[method-assign]
    logger = logging.getLogger(name)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield caught
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def messages(caught: list[logging.LogRecord]) -> list[str]:
    return [record.getMessage() for record in caught]
