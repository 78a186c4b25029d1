"""structlog set-up: JSON lines in production, readable lines on a terminal.

Log events are past-tense facts (``reading_rejected``) with stable keys (``household_id``,
``plug_id``, ``alert_id``, ``reason``). Households are pseudonymous ids: never log a name.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable

import structlog

from careplug import clock

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    """Configure structlog for the whole process (idempotent)."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


class RateLimiter:
    """Lets a keyed log line through at most once per ``interval`` seconds of processing time,
    and says how many were suppressed in between, so a flood of bad input cannot flood logs."""

    def __init__(
        self, interval: float = 10.0, monotonic: Callable[[], float] = clock.monotonic
    ) -> None:
        self._interval = interval
        self._monotonic = monotonic
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> int | None:
        """None to stay quiet; otherwise the number of lines suppressed since the last one."""
        now = self._monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return None
            if len(self._last) > 10_000:  # bounded: hostile keys must not grow memory
                self._last.clear()
            self._last[key] = now
            return self._suppressed.pop(key, 0)
