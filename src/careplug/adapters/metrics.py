"""Prometheus metrics, health endpoints and the "traffic collapsed" rule.

Metrics live in a dedicated ``CollectorRegistry`` so tests and several daemons in one process
never share counters. The HTTP server is stdlib ``ThreadingHTTPServer`` in a daemon thread:
``/metrics`` (Prometheus text format), ``/healthz`` (the process answers: 200) and ``/readyz``
(200 only when every registered readiness check passes, with a JSON body naming each check).
"""

from __future__ import annotations

import enum
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from careplug.clock import Clock

log = structlog.get_logger(__name__)

CheckResult = tuple[bool, str]
"""A readiness check's answer: passed, and a short reason (why it fails, or what it saw)."""

ReadinessCheck = Callable[[], CheckResult]
"""A callable the ``/readyz`` endpoint runs on every request; it must be quick and not block."""


class CareplugMetrics:
    """Every metric careplug exports, in its own registry.

    Times are seconds. ``clock`` computes the last message age when Prometheus scrapes; without
    one the age gauge stays absent-valued (NaN) until a clock is given.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.messages_received = Counter(
            "careplug_messages_received",
            "MQTT messages received, by payload family.",
            ["family"],
            registry=r,
        )
        self.messages_rejected = Counter(
            "careplug_messages_rejected",
            "Messages or readings dropped, by reason.",
            ["reason"],
            registry=r,
        )
        self.readings_handled = Counter(
            "careplug_readings_handled",
            "Readings fed to the detection engine, committed and acknowledged.",
            registry=r,
        )
        self.handling_seconds = Histogram(
            "careplug_message_handling_seconds",
            "Time from receipt to the end of handling one message.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.households = Gauge(
            "careplug_households",
            "Households by monitoring status.",
            ["status"],
            registry=r,
        )
        self.open_alerts = Gauge(
            "careplug_open_alerts",
            "Alerts not yet resolved, by kind and severity.",
            ["kind", "severity"],
            registry=r,
        )
        self.notifications = Counter(
            "careplug_notifications",
            "Notification delivery attempts, by channel and outcome.",
            ["channel", "outcome"],
            registry=r,
        )
        self.time_to_acknowledge = Histogram(
            "careplug_alert_time_to_acknowledge_seconds",
            "Seconds from an alert being raised to a caseworker acknowledging it.",
            ["kind"],
            buckets=(60, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400),
            registry=r,
        )
        self.broker_connected = Gauge(
            "careplug_broker_connected",
            "1 while the MQTT connection is up, else 0.",
            registry=r,
        )
        self.message_handler_failures = Gauge(
            "careplug_message_handler_failures",
            "Calls of careplug's MQTT message handling that raised since start (a bug: their "
            "messages stay unacknowledged and come again on the next connection).",
            registry=r,
        )
        self.last_message_age = Gauge(
            "careplug_last_message_age_seconds",
            "Seconds since the last MQTT message was received.",
            registry=r,
        )
        self.traffic_collapsed = Gauge(
            "careplug_traffic_collapsed",
            "1 while the message rate has collapsed although the broker connection is up.",
            registry=r,
        )
        self._clock = clock
        self._received_by_family: dict[str, Any] = {}
        self._last_message_at: float | None = None
        self.last_message_age.set_function(self._age)

    def _age(self) -> float:
        if self._clock is None or self._last_message_at is None:
            return float("nan")
        return max(0.0, self._clock.now() - self._last_message_at)

    def message_received(self, family: str, at: float, count: int = 1) -> None:
        """Count ``count`` messages of ``family``, the last received at ``at`` (the clock's
        time, seconds)."""
        child = self._received_by_family.get(family)
        if child is None:  # labels() is a lookup with locking: once per family, not per message
            child = self._received_by_family[family] = self.messages_received.labels(family=family)
        child.inc(count)
        self._last_message_at = at

    def messages_handled(self, seconds: float, count: int) -> None:
        """Observe ``count`` messages handled ``seconds`` after their receipt (the messages of
        one receive buffer share it): what ``count`` calls of ``observe`` would record, in one
        bucket search and two increments."""
        histogram = self.handling_seconds
        if count == 1:
            histogram.observe(seconds)
            return
        # prometheus_client has no weighted observe; these are the updates its observe() makes
        # (tests/unit/test_metrics_batch.py checks the exposition against observe())
        histogram._sum.inc(seconds * count)
        for i, bound in enumerate(histogram._upper_bounds):
            if seconds <= bound:
                histogram._buckets[i].inc(count)
                break

    def message_rejected(self, reason: str) -> None:
        """Count one rejected message or reading."""
        self.messages_rejected.labels(reason=reason).inc()

    def set_households(self, counts: Mapping[str, int]) -> None:
        """Replace the households-by-status figures (statuses absent from ``counts`` vanish)."""
        self.households.clear()
        for status, n in counts.items():
            self.households.labels(status=status).set(n)

    def set_open_alerts(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Replace the open-alert figures, keyed by (kind, severity)."""
        self.open_alerts.clear()
        for (kind, severity), n in counts.items():
            self.open_alerts.labels(kind=kind, severity=severity).set(n)

    def notification_outcome(self, channel: str, outcome: str) -> None:
        """Count one delivery attempt (outcome e.g. ``delivered``, ``retry``, ``dead``)."""
        self.notifications.labels(channel=channel, outcome=outcome).inc()

    def acknowledged(self, kind: str, raised_at: float, acknowledged_at: float) -> None:
        """Record the time an alert of ``kind`` waited for acknowledgement (event time)."""
        self.time_to_acknowledge.labels(kind=kind).observe(max(0.0, acknowledged_at - raised_at))

    def set_broker_connected(self, connected: bool, handler_failures: int = 0) -> None:
        """Record the MQTT connection state and how often message handling raised."""
        self.broker_connected.set(1 if connected else 0)
        self.message_handler_failures.set(handler_failures)

    def track_sink(self, stats: Callable[[], SinkStatsLike]) -> None:
        """Export a history sink's counters (e.g. ``InfluxSink.stats``), read at scrape time."""
        self.registry.register(_SinkCollector(stats))

    def exposition(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)


class SinkStatsLike(Protocol):
    """What :meth:`CareplugMetrics.track_sink` reads (``InfluxSink.stats()`` returns one)."""

    @property
    def buffered(self) -> int: ...
    @property
    def written(self) -> int: ...
    @property
    def dropped(self) -> int: ...
    @property
    def retries(self) -> int: ...


class _SinkCollector(Collector):
    def __init__(self, stats: Callable[[], SinkStatsLike]) -> None:
        self._stats = stats

    def collect(self) -> Iterable[Metric]:
        s = self._stats()
        yield GaugeMetricFamily(
            "careplug_history_points_buffered", "History points waiting to be sent.", s.buffered
        )
        yield CounterMetricFamily(
            "careplug_history_points_written", "History points accepted by the server.", s.written
        )
        yield CounterMetricFamily(
            "careplug_history_points_dropped",
            "History points discarded (buffer full, rejected, unsent at close).",
            s.dropped,
        )
        yield CounterMetricFamily(
            "careplug_history_write_retries", "Failed history writes that were retried.", s.retries
        )


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """One readiness check's result as ``/readyz`` reports it."""

    name: str
    ok: bool
    reason: str


class MetricsServer:
    """HTTP server for ``/metrics``, ``/healthz`` and ``/readyz`` on a daemon thread.

    Binds to loopback by default; ``port`` 0 picks a free port (read it back from ``port``).
    Readiness checks are registered by name and run on every ``/readyz`` request; a check that
    raises counts as failing with the exception as its reason.
    """

    def __init__(self, metrics: CareplugMetrics, host: str = "127.0.0.1", port: int = 9310) -> None:
        self._metrics = metrics
        self._host = host
        self._requested_port = port
        self._checks: dict[str, ReadinessCheck] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def add_readiness_check(self, name: str, check: ReadinessCheck) -> None:
        """Register (or replace) the readiness check called ``name``."""
        with self._lock:
            self._checks[name] = check

    def readiness(self) -> list[CheckOutcome]:
        """Run every readiness check now, in registration order."""
        with self._lock:
            checks = list(self._checks.items())
        outcomes = []
        for name, check in checks:
            try:
                ok, reason = check()
            except Exception as exc:  # a broken check must not break the endpoint
                ok, reason = False, f"check raised {type(exc).__name__}: {exc}"
            outcomes.append(CheckOutcome(name, bool(ok), reason))
        return outcomes

    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("metrics server not started")
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Bind and serve on a daemon thread."""
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer((self._host, self._requested_port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-http", daemon=True
        )
        self._thread.start()
        log.info("metrics_server_started", host=self._host, port=self.port)

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


def _make_handler(server: MetricsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, CONTENT_TYPE_LATEST, server._metrics.exposition())
            elif path == "/healthz":
                self._reply(200, "text/plain; charset=utf-8", b"ok\n")
            elif path == "/readyz":
                outcomes = server.readiness()
                ready = all(o.ok for o in outcomes)
                body = {
                    "ready": ready,
                    "checks": {o.name: {"ok": o.ok, "reason": o.reason} for o in outcomes},
                }
                self._reply(
                    200 if ready else 503,
                    "application/json",
                    json.dumps(body, ensure_ascii=False).encode(),
                )
            else:
                self._reply(404, "text/plain; charset=utf-8", b"not found\n")

        def _reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            # Scrapes every 15 s would flood stderr; access logs are not useful here.
            return

    return Handler


def healthcheck(url: str, timeout: float = 3.0) -> int:
    """GET ``url`` (e.g. ``http://127.0.0.1:9310/healthz``): exit status 0 on HTTP 200, else 1.

    For container HEALTHCHECKs and ``careplug healthcheck``; only http(s) URLs are accepted.
    """
    if not url.startswith(("http://", "https://")):
        return 1
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - scheme checked
            return 0 if resp.status == 200 else 1
    except (urllib.error.URLError, OSError, ValueError):
        return 1


class CollapseReason(enum.StrEnum):
    """Why :func:`traffic_collapsed` decided as it did."""

    COLLAPSED = "rate_collapsed"
    """The recent rate fell below the collapse ratio of the baseline while connected."""
    HEALTHY = "rate_normal"
    """The recent rate is within bounds."""
    DISCONNECTED = "broker_disconnected"
    """The connection is down: that is a different alarm, not a silent collapse."""
    NOT_ENOUGH_HISTORY = "not_enough_history"
    """Too little baseline to judge (just started or just reconnected)."""
    QUIET_BASELINE = "baseline_too_quiet"
    """The baseline itself is too low for a drop to mean anything."""


@dataclass(frozen=True, slots=True)
class RateSample:
    """``count`` messages received in the bucket ``[start, start + width)`` (seconds)."""

    start: float
    width: float
    count: int


@dataclass(frozen=True, slots=True)
class CollapseVerdict:
    """The answer of :func:`traffic_collapsed`: ``collapsed`` and why, with the rates seen
    (messages per second)."""

    collapsed: bool
    reason: CollapseReason
    recent_rate: float | None = None
    baseline_rate: float | None = None


def traffic_collapsed(
    history: Sequence[RateSample],
    now: float,
    *,
    connected: bool,
    connected_since: float | None = None,
    window_s: float = 600.0,
    baseline_s: float = 3600.0,
    ratio: float = 0.1,
    min_baseline_rate: float = 0.01,
) -> CollapseVerdict:
    """Has the message rate collapsed while the broker connection claims to be up?

    The recent window is ``[now - window_s, now)``; the baseline is the ``baseline_s`` before
    it. Collapsed when the recent rate is at most ``ratio`` x the baseline rate. No verdict
    (not collapsed) while disconnected, while the samples (or the connection, if
    ``connected_since`` is given) cover less than half the baseline plus the whole window, or
    when the baseline is under ``min_baseline_rate`` messages per second. Pure: ``now`` is
    given, nothing is read.
    """
    if not connected:
        return CollapseVerdict(False, CollapseReason.DISCONNECTED)
    recent_start = now - window_s
    baseline_start = recent_start - baseline_s
    recent = _coverage(history, recent_start, now)
    baseline = _coverage(history, baseline_start, recent_start)
    covered_from = min((s.start for s in history), default=now)
    if connected_since is not None:
        covered_from = max(covered_from, connected_since)
    if covered_from > recent_start - baseline_s / 2 or recent[1] < window_s / 2:
        return CollapseVerdict(False, CollapseReason.NOT_ENOUGH_HISTORY)
    baseline_rate = baseline[0] / baseline[1] if baseline[1] > 0 else 0.0
    recent_rate = recent[0] / recent[1]
    if baseline_rate < min_baseline_rate:
        return CollapseVerdict(False, CollapseReason.QUIET_BASELINE, recent_rate, baseline_rate)
    if recent_rate <= ratio * baseline_rate:
        return CollapseVerdict(True, CollapseReason.COLLAPSED, recent_rate, baseline_rate)
    return CollapseVerdict(False, CollapseReason.HEALTHY, recent_rate, baseline_rate)


def _coverage(history: Iterable[RateSample], start: float, end: float) -> tuple[float, float]:
    """Messages and seconds covered by the samples lying within ``[start, end)``; a bucket
    straddling an edge counts pro rata."""
    count = 0.0
    seconds = 0.0
    for s in history:
        lo, hi = max(s.start, start), min(s.start + s.width, end)
        if hi > lo and s.width > 0:
            share = (hi - lo) / s.width
            count += s.count * share
            seconds += hi - lo
    return count, seconds


class RateTracker:
    """Counts messages into fixed buckets of ``width`` seconds, keeping ``keep_s`` of history,
    for :func:`traffic_collapsed`. Not thread-safe: one owner (the runtime thread) calls it."""

    def __init__(self, width: float = 60.0, keep_s: float = 7200.0) -> None:
        self._width = width
        self._keep = max(1, int(keep_s // width))
        self._buckets: dict[int, int] = {}

    def record(self, at: float, n: int = 1) -> None:
        """Count ``n`` messages received at ``at`` (seconds)."""
        key = int(at // self._width)
        self._buckets[key] = self._buckets.get(key, 0) + n
        if len(self._buckets) > self._keep + 1:
            for old in sorted(self._buckets)[: -self._keep - 1]:
                del self._buckets[old]

    def history(self, now: float) -> list[RateSample]:
        """Every bucket from the oldest kept up to ``now``, empty ones included (an empty
        bucket is evidence of silence); the current bucket is cut at ``now``."""
        if not self._buckets:
            return []
        first = min(self._buckets)
        last = int(now // self._width)
        samples = []
        for key in range(max(first, last - self._keep), last + 1):
            start = key * self._width
            width = min(self._width, now - start)
            if width > 0:
                samples.append(RateSample(start, width, self._buckets.get(key, 0)))
        return samples
