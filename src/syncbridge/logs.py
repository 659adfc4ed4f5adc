"""Structured logging: events with fields, JSON in production, never a secret."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO, cast

import structlog

_SECRET_HINTS = ("secret", "password", "token", "api_key", "authorization", "credential")


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if any(hint in key.lower() for hint in _SECRET_HINTS):
            event[key] = "***"
    return event


class _CurrentStderr:
    """Whatever ``sys.stderr`` is at write time (test runners and CLIs swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "INFO", json: bool = True) -> None:
    """Route stdlib and structlog output through one processor chain."""
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            # JSON lines carry the traceback as text; the console renderer formats its own.
            *([structlog.processors.format_exc_info] if json else []),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # stderr, so command output on stdout (exports, keys) stays clean for pipes.
        logger_factory=structlog.PrintLoggerFactory(file=cast(TextIO, _CurrentStderr())),
        # Not cached: reconfiguring (tests, CLI) must reach loggers already handed out.
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level.upper(), format="%(message)s", stream=sys.stderr)
    # Alembic narrates every plugin it loads, and httpx every request (URL and query
    # included, where vendors put cursors and signatures), at INFO: only their warnings
    # matter to operators; vendor calls are counted in the metrics and logged by connectors.
    quiet = max(logging.WARNING, logging.getLevelName(level.upper()))
    for name in ("alembic", "httpx", "httpcore", "apscheduler"):
        logging.getLogger(name).setLevel(quiet)


def get_logger(name: str) -> Any:
    """A structlog logger bound to ``name``."""
    return structlog.get_logger(name)
