"""The one place that reads operating-system time.

Everything else gets ``now`` from a :class:`Clock`, so a replay at 1000x and a test with a
virtual clock produce exactly the alerts real time would.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """A source of event time in epoch seconds."""

    def now(self) -> float:
        """Current time, seconds since the Unix epoch (UTC)."""
        ...


class SystemClock:
    """Wall-clock time (live mode)."""

    def now(self) -> float:
        """The operating system's current time."""
        return time.time()  # noqa: TID251 - the single sanctioned wall-clock read


def monotonic() -> float:
    """Monotonic seconds for timeouts and backoff (processing time, never event time)."""
    return time.monotonic()  # noqa: TID251 - processing time lives here too


class VirtualClock:
    """A clock that moves only when told: tests, ``evaluate`` and replay (``--clock replay``)."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        """The time last set."""
        return self._now

    def set(self, at: float) -> None:
        """Move to ``at``; a virtual clock never goes backwards."""
        with self._lock:
            self._now = max(self._now, at)

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds``."""
        with self._lock:
            self._now += seconds


class ScaledClock:
    """Time that runs ``speed`` times faster than real time from ``origin`` (live demos)."""

    def __init__(self, origin: float, speed: float) -> None:
        self._origin = origin
        self._speed = speed
        self._started = time.monotonic()  # noqa: TID251 - the scale is anchored in real time

    def now(self) -> float:
        """origin + speed x (real seconds since construction)."""
        return self._origin + (time.monotonic() - self._started) * self._speed  # noqa: TID251


def iso(at: float | None) -> str | None:
    """ISO 8601 UTC with a ``Z``, to the second; None stays None."""
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(text: str) -> float:
    """Epoch seconds from ISO 8601; a time without offset is taken as UTC."""
    parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
