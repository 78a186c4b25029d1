"""Paced publishing: order, clock ticks, pacing, and a real broker round trip."""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from careplug.clock import SystemClock, monotonic, parse_iso
from careplug_sim.cli import main
from careplug_sim.record import read_traffic
from careplug_sim.replay import CLOCK_TOPIC, PahoPublisher, replay


class FakeTime:
    """Real seconds that move only when the replayer sleeps."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        self.slept += seconds


def _events(times: list[float]) -> list[tuple[float, str, bytes, int, bool]]:
    return [(t, f"t/{i}", str(t).encode(), 1, False) for i, t in enumerate(times)]


def test_clock_ticks_follow_every_earlier_message() -> None:
    """A tick for T is published after all messages at or before T, also across silences."""
    sent: list[tuple[str, bytes, float]] = []
    clock = FakeTime()
    events = _events([100.0, 105.0, 110.0, 111.0, 155.0])
    stats = replay(
        events, lambda t, p, q, r: sent.append((t, p, clock.now())), 10.0, clock.sleep, clock.now
    )
    seen: list[float] = []
    ticks: list[float] = []
    for topic, payload, _ in sent:
        if topic == CLOCK_TOPIC:
            at = parse_iso(json.loads(payload)["time"])
            assert all(s <= at for s in seen)
            ticks.append(at)
        else:
            seen.append(float(payload))
    assert seen == [100.0, 105.0, 110.0, 111.0, 155.0]
    assert ticks == [100.0, 110.0, 120.0, 130.0, 140.0, 150.0, 155.0]
    assert stats.messages == 5 and stats.clock_ticks == 7
    # paced at 10x: 55 s of event time in 5.5 s
    assert clock.slept == pytest.approx(5.5)
    assert sent[-2][2] == pytest.approx(1005.5)


def test_infinite_speed_never_sleeps() -> None:
    """speed=inf publishes as fast as possible, still in order."""
    clock = FakeTime()
    sent: list[str] = []
    replay(
        _events([1.0, 2.0, 3.0]),
        lambda t, p, q, r: sent.append(t),
        math.inf,
        clock.sleep,
        clock.now,
        clock_topic=None,
    )
    assert sent == ["t/0", "t/1", "t/2"] and clock.slept == 0


@pytest.mark.integration
def test_record_then_replay_through_mosquitto(tmp_path: Path, mosquitto: int) -> None:
    """Every recorded message reaches a subscriber, in order, with the clock ticks between."""
    assert (
        main(
            [
                "record",
                "--out",
                str(tmp_path),
                "--households",
                "8",
                "--days",
                "0.5",
                "--seed",
                "3",
                "--malformed-rate",
                "0.02",
                "--family",
                "native",
                "--family",
                "tasmota",
                "--family",
                "shelly_gen1",
            ]
        )
        == 0
    )
    expected = list(read_traffic(tmp_path / "traffic.jsonl"))
    got: list[tuple[str, bytes]] = []
    done = threading.Event()
    subscribed = threading.Event()

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-sub")
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe("#", qos=1)
    sub.on_subscribe = lambda c, u, mid, rc, p: subscribed.set()

    def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
        got.append((msg.topic, bytes(msg.payload)))
        if msg.topic == CLOCK_TOPIC and json.loads(msg.payload)["time"] == "END":
            done.set()

    sub.on_message = on_message
    sub.connect("127.0.0.1", mosquitto)
    sub.loop_start()
    try:
        assert subscribed.wait(10)
        with PahoPublisher("127.0.0.1", mosquitto) as pub:
            stats = replay(iter(expected), pub.publish, 1e6, time.sleep, monotonic)
            pub.publish(CLOCK_TOPIC, b'{"time": "END"}', 1, False)
        assert done.wait(30)
    finally:
        sub.loop_stop()
        sub.disconnect()
    data = [(t, p) for t, p in got if t != CLOCK_TOPIC]
    assert data == [(topic, payload) for _, topic, payload, _, _ in expected]
    ticks = [parse_iso(json.loads(p)["time"]) for t, p in got[:-1] if t == CLOCK_TOPIC]
    assert len(ticks) == stats.clock_ticks > 100
    assert ticks == sorted(ticks)


@pytest.mark.integration
def test_run_publishes_live_from_now(mosquitto: int) -> None:
    """``careplug-sim run`` publishes readings stamped from now on, with clock ticks."""
    got: list[tuple[str, bytes]] = []
    subscribed = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-run-sub")
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe("#", qos=1)
    sub.on_subscribe = lambda c, u, mid, rc, p: subscribed.set()
    sub.on_message = lambda c, u, m: got.append((m.topic, bytes(m.payload)))
    sub.connect("127.0.0.1", mosquitto)
    sub.loop_start()
    try:
        assert subscribed.wait(10)
        before = SystemClock().now()
        args = ["run", "--port", str(mosquitto), "--speed", "0", "--households", "3"]
        assert main([*args, "--days", "0.05", "--report-period", "60"]) == 0
        # the broker acked everything; wait until the subscriber's stream goes quiet
        deadline = monotonic() + 10
        seen = -1
        while monotonic() < deadline and seen != len(got):
            seen = len(got)
            time.sleep(0.5)
    finally:
        sub.loop_stop()
        sub.disconnect()
    readings = [json.loads(p) for t, p in got if t.endswith("/reading")]
    assert len(readings) > 3 * 60  # 3+ plugs, 72 minutes, one a minute
    assert all(before - 1 <= parse_iso(r["time"]) <= before + 0.05 * 86400 for r in readings)
    assert got[-1][0] == CLOCK_TOPIC
