"""A failing message handler must not stop ingest: the connection's network thread carries on,
the failure is counted and logged, and the messages of the failed call stay unacknowledged, so
the broker delivers them again on the next connection instead of their being lost."""

from __future__ import annotations

import json
import threading
import time

import pytest

from careplug.adapters.mqtt import MqttConnection, MqttOptions
from tests.conftest import Mosquitto
from tests.integration.test_fastpaho import (
    TOPIC,
    ScriptedBroker,
    _publish,
    _publish_packet,
    _readings,
    _redelivered,
    _wait,
    scripted,  # noqa: F401  (the fixture, shared with test_fastpaho)
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("batched", [False, True], ids=["per_message", "per_buffer"])
def test_a_handler_that_raises_once_does_not_stop_ingest(
    mosquitto: Mosquitto, batched: bool
) -> None:
    got: list[tuple[str, bytes, bool, int, int]] = []
    lock = threading.Lock()
    failed: list[bytes] = []

    def handler(topic: str, payload: bytes, retain: bool, mid: int, qos: int) -> None:
        with lock:
            if not failed:
                failed.append(payload)
                raise RuntimeError("a bug in careplug's handling")
            got.append((topic, payload, retain, mid, qos))

    def batch(messages: list[tuple[str, bytes, bool, int, int]]) -> None:
        with lock:
            if not failed:
                failed.extend(m[1] for m in messages)
                raise RuntimeError("a bug in careplug's handling")
            got.extend(messages)

    client_id = f"careplug-fail-{batched}"
    options = MqttOptions(host="127.0.0.1", port=mosquitto.port, client_id=client_id)
    conn = MqttConnection(
        options, [TOPIC], handler, lambda up, why: None, on_messages=batch if batched else None
    )
    conn.start()
    try:
        assert conn.connected.wait(10)
        _wait(conn.client.is_connected, what="connection")
        time.sleep(0.3)  # the SUBACK
        first = _readings(50)
        _publish(mosquitto.port, first)
        _wait(lambda: bool(failed), what="the failing call")
        later = _readings(50, start=50)
        _publish(mosquitto.port, later)
        expected = len(first) + len(later) - len(failed)
        _wait(lambda: len(got) >= expected, what="ingest to go on after the failure")
        assert conn.handler_failures == 1
        assert conn.last_handler_failure == "RuntimeError: a bug in careplug's handling"
        assert conn.client.is_connected()
        with lock:
            handled = list(got)
        conn.ack_many([(m[3], m[4]) for m in handled])
    finally:
        conn.stop()
    again = _redelivered(mosquitto.port, client_id)
    # exactly the messages of the failed call come again: not lost, not acknowledged
    assert sorted(json.loads(p)["seq"] for p in again) == sorted(
        json.loads(p)["seq"] for p in failed
    )


def test_a_topic_that_is_not_utf8_does_not_stop_ingest(scripted: ScriptedBroker) -> None:  # noqa: F811
    """A non-conforming broker sends a PUBLISH whose topic is not UTF-8 (Mosquitto refuses such
    topics from publishers): that message is counted as a failure and left unacknowledged,
    the ones after it are handled."""
    got: list[bytes] = []
    options = MqttOptions(host="127.0.0.1", port=scripted.port, client_id="careplug-utf8")
    conn = MqttConnection(options, [TOPIC], lambda t, p, r, m, q: got.append(p), lambda *a: None)
    conn.start()
    try:
        assert conn.connected.wait(10)
        bad = bytearray(_publish_packet("careplug/plugs/\x01/reading", b"bad", mid=1))
        bad[bad.index(b"\x01")] = 0xFF  # not UTF-8 (same length)
        scripted.send(
            bytes(bad) + _publish_packet("careplug/plugs/a/reading", b"good", mid=2), [4096]
        )
        _wait(lambda: got == [b"good"], what="the message after the bad one")
        assert conn.handler_failures == 1
        assert conn.client.is_connected()
    finally:
        conn.stop()
