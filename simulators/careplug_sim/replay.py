"""Paced publishing: recorded or live messages to a broker, at real time or ``speed`` times it.

:func:`replay` is free of paho: it takes a ``publish`` callable, a ``sleep`` and a ``now`` (real
seconds, e.g. :func:`careplug.clock.monotonic`), so ``careplug demo`` and tests can drive it.
Along the messages it publishes ``careplug/clock`` ``{"time": ...}`` ticks: a tick for time T
goes out only after every message stamped at or before T, so a daemon following event time
never sees a reading "from the past" after a tick.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from careplug_sim.formats import iso_utc

CLOCK_TOPIC = "careplug/clock"

Event = tuple[float, str, bytes, int, bool]
"""(event time in epoch seconds, topic, payload, qos, retain), sorted by time."""

Publish = Callable[[str, bytes, int, bool], None]
"""publish(topic, payload, qos, retain)."""


def clock_payload(at: float) -> bytes:
    """The ``careplug/clock`` payload for event time ``at``."""
    return json.dumps({"time": iso_utc(int(at))}).encode("ascii")


@dataclass(slots=True)
class ReplayStats:
    """What a replay did."""

    messages: int = 0
    clock_ticks: int = 0
    first: float | None = None
    last: float | None = None
    max_lag_s: float = 0.0
    """Largest real-time delay behind schedule (s): how far the publisher fell behind."""
    extra: dict[str, Any] = field(default_factory=dict)


def replay(
    events: Iterable[Event],
    publish: Publish,
    speed: float,
    sleep: Callable[[float], None],
    now: Callable[[], float],
    *,
    clock_interval: float = 10.0,
    clock_topic: str | None = CLOCK_TOPIC,
    origin: float | None = None,
    stop: threading.Event | None = None,
) -> ReplayStats:
    """Publish ``events`` in order, paced at ``speed`` x real time (``math.inf``: no waiting).

    Event time ``origin`` (default: the first event's) maps to the real time of the call. A
    clock tick goes out at every multiple of ``clock_interval`` of event time (also through
    silences), and one at the last event's time at the end. ``stop`` ends the replay early.
    """
    stats = ReplayStats()
    wall0 = now()
    paced = speed > 0 and not math.isinf(speed)
    next_tick: float | None = None
    last_tick: float | None = None

    def wait_until(at: float) -> None:
        if not paced or origin is None:
            return
        target = wall0 + (at - origin) / speed
        delay = target - now()
        if delay > 0:
            sleep(delay)
        elif -delay > stats.max_lag_s:
            stats.max_lag_s = -delay

    def tick(at: float) -> None:
        nonlocal last_tick
        if clock_topic is not None and (last_tick is None or at > last_tick):
            publish(clock_topic, clock_payload(at), 1, False)
            stats.clock_ticks += 1
            last_tick = at

    for at, topic, payload, qos, retain in events:
        if stop is not None and stop.is_set():
            break
        if origin is None:
            origin = at
        if next_tick is None:
            next_tick = math.floor(at / clock_interval) * clock_interval
            if next_tick < at:
                next_tick += clock_interval
        # every message at or before next_tick is out once a later one shows up
        while next_tick < at:
            wait_until(next_tick)
            tick(next_tick)
            next_tick += clock_interval
        wait_until(at)
        publish(topic, payload, qos, retain)
        stats.messages += 1
        if stats.first is None:
            stats.first = at
        stats.last = at
    if stats.last is not None:
        tick(stats.last)
    return stats


class PahoPublisher:
    """One paho-mqtt 2.x client publishing with QoS 1 in order; waits for acks on close."""

    def __init__(self, host: str, port: int, client_id: str = "careplug-sim") -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        # QoS 1 in order needs a deep in-flight window and an unbounded queue
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self._lock = threading.Condition()
        self.sent = 0
        self.acked = 0
        self.client.on_publish = self._on_publish
        self.client.connect(host, port, keepalive=60)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        """Queue one message (paho keeps the order)."""
        with self._lock:
            self.sent += 1
        self.client.publish(topic, payload, qos=qos, retain=retain)

    def _on_publish(self, client: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        with self._lock:
            self.acked += 1
            self._lock.notify_all()

    def wait_acked(self, timeout: float = 60.0) -> bool:
        """Block until the broker acknowledged every message sent; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self.acked >= self.sent, timeout)

    def close(self, timeout: float = 60.0) -> None:
        """Wait until the broker acknowledged every message, then disconnect."""
        try:
            if not self.wait_acked(timeout):
                raise TimeoutError(f"broker acknowledged {self.acked} of {self.sent} messages")
        finally:
            self.client.disconnect()
            self.client.loop_stop()

    def __enter__(self) -> PahoPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
