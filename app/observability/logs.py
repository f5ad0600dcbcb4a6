"""Logs: one JSON object a line, or readable text on a terminal, through structlog.

Configured once per process when an app starts (the server's lifespan; uvicorn has set
up its loggers by then). Two paths, one shape (`event`, `level`, `logger`, `timestamp`
and the fields):

- the request line (`app.observability.requests`), the one line every request writes,
  goes straight through a structlog logger: about half the cost of a standard record;
- everything else logs through the standard library's `logging` as usual (`extra=` for
  fields): one handler on the root logger formats it with structlog, uvicorn's loggers
  included. uvicorn's access log is off: the request line replaces it.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.types import EventDict, Processor

FORMATS = ("auto", "json", "text")
REQUEST_LOGGER = "credits.request"


class Stderr:
    """Whatever sys.stderr is at each write (tests swap it): never a closed stream."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(self, stream: Any) -> None:
        super().__init__(stream)


def without_color_message(logger: Any, method: str, event: EventDict) -> EventDict:
    event.pop("color_message", None)  # uvicorn's copy of its message with terminal colours
    return event


def renderers(json: bool) -> list[Processor]:
    if json:
        return [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    return [structlog.dev.ConsoleRenderer()]


def formatter(json: bool) -> logging.Formatter:
    """For records of the standard library's `logging`."""
    shared: list[Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        without_color_message,
    ]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderers(json)],
    )


class RequestLog:
    """The request line's logger, at the process's level."""

    def __init__(self, level: int, json: bool, stream: Any) -> None:
        self.level = level
        processors: list[Processor] = [
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *renderers(json),
        ]
        self.logger = structlog.wrap_logger(
            structlog.WriteLogger(stream),
            processors=processors,
            wrapper_class=structlog.make_filtering_bound_logger(level),
            cache_logger_on_first_use=True,
        ).bind(logger=REQUEST_LOGGER)

    def write(self, level: int, fields: dict[str, Any], error: BaseException | None) -> None:
        self.logger.log(level, "request", exc_info=error, **fields)


request_log: RequestLog | None = None  # set by configure_logging


def wants_json(log_format: str, stream: Any = None) -> bool:
    if log_format not in FORMATS:
        raise ValueError(f"CREDITS_LOG_FORMAT must be one of {', '.join(FORMATS)}")
    if log_format != "auto":
        return log_format == "json"
    isatty = getattr(stream or sys.stderr, "isatty", None)
    return not (isatty and isatty())


def configure_logging(
    level: str = "info", log_format: str = "auto", stream: TextIO | None = None
) -> None:
    """Idempotent: a second call replaces what the first one set. `stream`: for tests
    (stderr, whatever it is at each write, otherwise)."""
    global request_log
    json = wants_json(log_format, stream)
    target = stream or Stderr()
    number = logging.getLevelName(level.upper())
    request_log = RequestLog(number, json, target)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(handler)
    handler = StderrHandler(target)
    handler.setFormatter(formatter(json))
    root.addHandler(handler)
    root.setLevel(number)
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False  # no handler anywhere: uvicorn skips its access log entirely
