"""Time-series history in InfluxDB 2 (or anything speaking ``/api/v2/write`` line protocol).

The daemon calls ``write_*`` once per reading on its hot path, so those methods only format one
line (each plug's escaped measurement-and-tags head is cached) and append it to a bounded
in-memory deque: no I/O, never blocking on the network. A background thread drains the deque
in batches through influxdb-client's *synchronous* write API, retrying with exponential
backoff while InfluxDB is slow or down.

Why not influxdb-client's own batching ``WriteApi``: its reactivex pipeline buffers without a
bound (a long outage grows memory until the process dies), retries a batch for at most
``max_retry_time`` and then hands it to an error callback, i.e. a long outage silently loses
data that would have fitted in memory, and it has no "drop the oldest, count it" policy. With a
synchronous write in our own thread the buffer bound, the drop policy and the retry schedule
are ours, explicit and counted, and detection never waits for InfluxDB.

Measurements (see deploy/README.md): ``reading``, ``activity``, ``device_status``, ``alert``;
tags ``household`` (omitted when the plug is not enrolled) and ``plug``; times in ms.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException
from urllib3.exceptions import HTTPError as Urllib3HTTPError

from careplug.clock import monotonic

log = structlog.get_logger(__name__)

MEASUREMENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "reading": (("household", "plug"), ("power_w", "energy_wh")),
    "activity": (("household", "plug", "reason"), ("count",)),
    "device_status": (("household", "plug"), ("online",)),
    "alert": (("household", "kind", "severity", "state"), ("count", "alert_id")),
}
"""The schema written: measurement -> (tag keys, field keys). Documented in deploy/README.md."""

FieldValue = float | int | bool | str

# A point as queued on the hot path: one line of line protocol. Formatting it at once costs less
# than keeping tuples and dicts alive until the flush thread formats them (profiled: the sink
# was 13 % of the daemon's CPU at full ingest, most of it re-escaping the same plug's tags).
_Queued = str


@dataclass(frozen=True, slots=True)
class SinkStats:
    """Counters of an :class:`InfluxSink` since start.

    ``buffered`` points wait in memory (including a batch being sent); ``written`` were accepted
    by the server; ``dropped`` were discarded (buffer full: oldest first, or rejected by the
    server with a non-retryable 4xx, or still unsent at close); ``retries`` counts failed
    attempts that will be retried; ``last_error`` describes the most recent failure.
    """

    buffered: int
    written: int
    dropped: int
    retries: int
    last_error: str | None


class InfluxSink:
    """Buffered, retrying, never-blocking writer of careplug's history to InfluxDB 2.

    ``max_points`` bounds the points kept for sending: when full, the oldest is dropped and
    counted (memory holds at most ``max_points`` + one batch in flight).
    ``batch_size`` points are sent per request; a partial batch is sent every
    ``flush_interval_s``. Timeouts, connection errors, HTTP 429 and 5xx are retried after
    ``retry_base_s`` x 2^n seconds (capped at ``retry_max_s``) for as long as it takes, so
    nothing that fits in the buffer is lost by an outage. Other 4xx answers mean the data is
    bad: that batch is dropped and counted.
    """

    def __init__(
        self,
        *,
        url: str,
        token: str,
        org: str,
        bucket: str,
        max_points: int = 100_000,
        batch_size: int = 1_000,
        flush_interval_s: float = 1.0,
        timeout_s: float = 10.0,
        retry_base_s: float = 1.0,
        retry_max_s: float = 60.0,
    ) -> None:
        if max_points < 1 or batch_size < 1:
            raise ValueError("max_points and batch_size must be positive")
        # influxdb-client is only partly typed: keep its objects behind Any.
        self._client: Any = InfluxDBClient(
            url=url, token=token, org=org, timeout=int(timeout_s * 1000), retries=False
        )
        self._write_api: Any = self._client.write_api(write_options=SYNCHRONOUS)
        self._org = org
        self._bucket = bucket
        self._max_points = max_points
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._retry_base_s = retry_base_s
        self._retry_max_s = retry_max_s

        self._lock = threading.Lock()
        self._held: list[_Queued] | None = None  # lines written inside batched()
        self._heads: dict[tuple[str, str | None, str, str | None], str] = {}
        self._queue: deque[_Queued] = deque()
        self._in_flight = 0
        self._evicted = 0
        self._written = 0
        self._dropped = 0
        self._retries = 0
        self._last_error: str | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._deadline: float | None = None
        self._thread: threading.Thread | None = None

    # -- hot path ------------------------------------------------------------------------------

    def write_reading(
        self,
        household: str | None,
        plug: str,
        at: float,
        power_w: float | None,
        energy_wh: float | None,
    ) -> None:
        """Queue a normalised reading; unknown (None, NaN) values are left out, and a reading
        with neither is not written."""
        if power_w is not None and math.isfinite(power_w):
            if energy_wh is not None and math.isfinite(energy_wh):
                fields = f"power_w={float(power_w)!r},energy_wh={float(energy_wh)!r}"
            else:
                fields = f"power_w={float(power_w)!r}"
        elif energy_wh is not None and math.isfinite(energy_wh):
            fields = f"energy_wh={float(energy_wh)!r}"
        else:
            return
        self._put(f"{self._head('reading', household, plug)} {fields} {round(at * 1000)}")

    def write_activity(self, household: str | None, plug: str, at: float, reason: str) -> None:
        """Queue an activity event (someone used the appliance) with its detection reason."""
        head = self._head("activity", household, plug, reason)
        self._put(f"{head} count=1i {round(at * 1000)}")

    def write_device_status(
        self, household: str | None, plug: str, at: float, online: bool
    ) -> None:
        """Queue a change of a plug's availability (``online`` 1 or 0)."""
        self._put(
            f"{self._head('device_status', household, plug)} online={int(online)}i "
            f"{round(at * 1000)}"
        )

    def write_alert(
        self,
        household: str | None,
        alert_id: str,
        kind: str,
        severity: str,
        state: str,
        at: float,
    ) -> None:
        """Queue an alert state change (raised, acknowledged, resolved...)."""
        tags = _tags(household, kind=kind, severity=severity, state=state)
        self._put(_line("alert", tags, {"count": 1, "alert_id": alert_id}, at))

    def _head(
        self, measurement: str, household: str | None, plug: str, reason: str | None = None
    ) -> str:
        """``measurement,household=…,plug=…[,reason=…]``, escaped once per plug and cached."""
        key = (measurement, household, plug, reason)
        head = self._heads.get(key)
        if head is None:
            if len(self._heads) >= 1_000_000:  # bounded: unknown plugs must not grow memory
                self._heads.clear()
            tags = _tags(household, plug=plug)
            if reason is not None:
                tags["reason"] = reason
            head = self._heads[key] = _head(measurement, tags)
        return head

    @contextlib.contextmanager
    def batched(self) -> Iterator[None]:
        """Queue the points written inside in one step when it ends, with one lock taken
        instead of one per point (the driver wraps each batch of readings in it)."""
        if self._held is not None:  # nested: the outer one queues them
            yield
            return
        held: list[_Queued] = []
        self._held = held
        try:
            yield
        finally:
            self._held = None
            self._put_many(held)

    def _put(self, line: str) -> None:
        held = self._held
        if held is not None:
            held.append(line)
        else:
            self._put_many((line,))

    def _put_many(self, lines: Iterable[str]) -> None:
        queue = self._queue
        with self._lock:
            for line in lines:
                # The bound counts points still meant to be sent. The in-flight batch is always
                # the oldest, so it gives way first: its head is marked evicted (dropped if the
                # write fails, un-dropped if it succeeds anyway), then the oldest queued point
                # goes.
                if len(queue) + self._in_flight - self._evicted >= self._max_points:
                    self._dropped += 1
                    if self._in_flight > self._evicted:
                        self._evicted += 1
                    elif queue:
                        queue.popleft()
                    else:
                        continue
                queue.append(line)
            full_batch = len(queue) >= self._batch_size
        if full_batch and not self._wake.is_set():
            self._wake.set()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background flush thread."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="influx-sink", daemon=True)
        self._thread.start()
        log.info("influx_sink_started", bucket=self._bucket, max_points=self._max_points)

    def close(self, timeout: float = 5.0) -> None:
        """Flush what can be flushed within ``timeout`` seconds, then stop; points still unsent
        are counted as dropped."""
        self._deadline = monotonic() + timeout
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout + 1.0)
        with self._lock:
            unsent = len(self._queue) + self._in_flight - self._evicted
            self._dropped += unsent
            self._queue.clear()
        self._write_api.close()
        self._client.close()
        log.info("influx_sink_closed", written=self._written, dropped=self._dropped, unsent=unsent)

    def stats(self) -> SinkStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return SinkStats(
                buffered=len(self._queue) + self._in_flight - self._evicted,
                written=self._written,
                dropped=self._dropped,
                retries=self._retries,
                last_error=self._last_error,
            )

    # -- flush thread --------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while True:
            if failures:
                delay = min(self._retry_base_s * 2 ** (failures - 1), self._retry_max_s)
                if self._stopping.is_set():
                    # Draining at close: keep backing off, but never past the deadline.
                    _sleep(min(delay, max(0.0, self._time_left())))
                else:
                    self._stopping.wait(delay)
            else:
                self._wake.wait(self._flush_interval_s)
                self._wake.clear()
            if self._stopping.is_set() and self._time_left() <= 0:
                return
            batch = self._take()
            if not batch:
                if self._stopping.is_set():
                    return
                failures = 0
                continue
            failures = failures + 1 if self._send(batch) == "retry" else 0
            if not failures:
                with self._lock:
                    backlog = len(self._queue) >= self._batch_size
                if backlog:
                    self._wake.set()  # another full batch is waiting: send it now, not in 1 s

    def _time_left(self) -> float:
        if self._deadline is None:
            return float("inf")
        return self._deadline - monotonic()

    def _take(self) -> list[_Queued]:
        with self._lock:
            n = min(self._batch_size, len(self._queue))
            batch = [self._queue.popleft() for _ in range(n)]
            self._in_flight = n
        return batch

    def _send(self, batch: list[_Queued]) -> str:
        try:
            self._write_api.write(
                bucket=self._bucket,
                org=self._org,
                record="\n".join(batch).encode(),
                write_precision="ms",
            )
        except ApiException as exc:
            status = int(exc.status or 0)
            if status == 429 or status >= 500:
                return self._requeue(batch, f"http {status}")
            self._finish(sent=len(batch), accepted=False, error=f"http {status}")
            log.warning("influx_batch_rejected", status=status, points=len(batch))
            return "rejected"
        except (Urllib3HTTPError, OSError) as exc:
            return self._requeue(batch, type(exc).__name__)
        self._finish(sent=len(batch), accepted=True, error=None)
        return "ok"

    def _requeue(self, batch: list[_Queued], error: str) -> str:
        with self._lock:
            kept = batch[self._evicted :]
            self._in_flight = 0
            self._evicted = 0
            self._retries += 1
            self._last_error = error
            self._queue.extendleft(reversed(kept))
            buffered = len(self._queue)
        log.warning("influx_write_failed", error=error, points=len(kept), buffered=buffered)
        return "retry"

    def _finish(self, *, sent: int, accepted: bool, error: str | None) -> None:
        with self._lock:
            if accepted:
                self._written += sent
                self._dropped -= self._evicted  # evicted while in flight, but they made it
            else:
                self._dropped += sent - self._evicted
            self._in_flight = 0
            self._evicted = 0
            if error is not None:
                self._last_error = error


def _sleep(seconds: float) -> None:
    # A plain wait that the stop event cannot cut short (used while draining at close).
    threading.Event().wait(seconds)


def _tags(household: str | None, **tags: str) -> dict[str, str]:
    if household is not None:
        tags["household"] = household
    return tags


def _head(measurement: str, tags: Mapping[str, str]) -> str:
    """The measurement and its tags (sorted), escaped: the part of a line that repeats."""
    head = _escape(measurement, _MEASUREMENT_SPECIALS)
    for key in sorted(tags):
        head += f",{_escape(key, _KEY_SPECIALS)}={_escape(tags[key], _KEY_SPECIALS)}"
    return head


def _line(
    measurement: str, tags: Mapping[str, str], fields: Mapping[str, FieldValue], at: float
) -> str:
    """One point in InfluxDB line protocol, millisecond precision, tags sorted."""
    parts = [f"{_escape(key, _KEY_SPECIALS)}={_field_value(v)}" for key, v in fields.items()]
    return f"{_head(measurement, tags)} {','.join(parts)} {round(at * 1000)}"


_MEASUREMENT_SPECIALS = (",", " ")
_KEY_SPECIALS = (",", "=", " ")


def _escape(text: str, specials: tuple[str, ...]) -> str:
    text = text.replace("\\", "\\\\").replace("\n", " ")
    for char in specials:
        text = text.replace(char, "\\" + char)
    return text


def _field_value(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)  # callers keep NaN and infinity out: line protocol has neither
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
