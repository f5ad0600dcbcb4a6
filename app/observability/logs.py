"""Logs: one JSON object a line, or readable text on a terminal, through structlog.

The code logs through the standard library's `logging` (`logging.getLogger("credits…")`,
fields as `extra=`); structlog only formats, so uvicorn's and every library's records
come out in the same shape. Configured once per process when an app starts (the server's
lifespan; uvicorn has set up its loggers by then): one handler on the root logger,
uvicorn's loggers sent to it, and uvicorn's access log off (the request line of
`app.observability.requests` replaces it).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.types import Processor

FORMATS = ("auto", "json", "text")


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is now (tests swap it), never to a closed stream."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def without_color_message(
    logger: Any, method: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    event.pop("color_message", None)  # uvicorn's copy of its message with terminal colours
    return event


def formatter(json: bool) -> logging.Formatter:
    shared: list[Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        without_color_message,
    ]
    renderer: list[Processor]
    if json:
        renderer = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        renderer = [structlog.dev.ConsoleRenderer()]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    )


def wants_json(log_format: str, stream: Any = None) -> bool:
    if log_format not in FORMATS:
        raise ValueError(f"CREDITS_LOG_FORMAT must be one of {', '.join(FORMATS)}")
    if log_format != "auto":
        return log_format == "json"
    isatty = getattr(stream or sys.stderr, "isatty", None)
    return not (isatty and isatty())


def configure_logging(level: str = "info", log_format: str = "auto") -> logging.Handler:
    """Idempotent: a second call replaces the handler the first one added."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(handler)
    handler = StderrHandler()
    handler.setFormatter(formatter(wants_json(log_format)))
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False  # no handler anywhere: uvicorn skips its access log entirely
    return handler
