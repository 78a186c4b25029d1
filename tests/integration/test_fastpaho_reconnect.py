"""Acknowledgements across a reconnect: a packet id means something only on its connection.

A reading received on one connection is often acknowledged after the client has reconnected
(the driver holds readings for the lateness window and commits them first). On the new
connection the broker may already use that packet id for another message, one careplug has not
handled yet: a PUBACK for the old message would acknowledge the new one, and a crash before it
is handled would lose it. The scripted broker here accepts one connection after another, so
the ids can be chosen to collide exactly.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from careplug.adapters.mqtt import MqttConnection, MqttOptions
from tests.integration.test_fastpaho import _publish_packet, _user_property, _wait

pytestmark = pytest.mark.integration

TOPIC = "careplug/plugs/+/reading"


class ReconnectingBroker:
    """Accepts connections one after another, answers each CONNECT, records what each sends."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(4)
        self.port = int(self.server.getsockname()[1])
        self.conns: list[socket.socket] = []
        self.from_client: list[bytearray] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            got = bytearray()
            with self._lock:
                self.from_client.append(got)
            threading.Thread(target=self._serve, args=(conn, got), daemon=True).start()

    def _serve(self, conn: socket.socket, got: bytearray) -> None:
        answered = False
        while True:
            try:
                data = conn.recv(4096)
            except OSError:
                return
            if not data:
                return
            got += data
            if not answered and _packets(bytes(got)):  # the CONNECT is whole
                conn.sendall(b"\x20\x03\x00\x00\x00")  # CONNACK, no session, MQTT 5
                answered = True
                with self._lock:
                    self.conns.append(conn)

    def connection(self, k: int) -> socket.socket:
        _wait(lambda: len(self.conns) > k, what=f"connection {k}")
        with self._lock:
            return self.conns[k]

    def pubacks(self, k: int) -> list[int]:
        """Packet ids of the PUBACKs the client sent on connection ``k``."""
        with self._lock:
            data = bytes(self.from_client[k])
        return [int.from_bytes(body[:2], "big") for head, body in _packets(data) if head == 0x40]

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.close()
        self.server.close()


def _packets(data: bytes) -> list[tuple[int, bytes]]:
    """The whole MQTT packets at the start of ``data``: (first byte, body)."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos + 2 <= len(data):
        i, length, mult = pos + 1, 0, 1
        while True:
            if i >= len(data):
                return out
            length += (data[i] & 0x7F) * mult
            mult *= 128
            i += 1
            if not data[i - 1] & 0x80:
                break
        if i + length > len(data):
            return out
        out.append((data[pos], data[i : i + length]))
        pos = i + length
    return out


@pytest.fixture
def broker() -> Iterator[ReconnectingBroker]:
    b = ReconnectingBroker()
    try:
        yield b
    finally:
        b.close()


def test_an_ack_of_the_old_connection_is_not_sent_on_the_new_one(
    broker: ReconnectingBroker,
) -> None:
    """Two messages arrive (ids 1 on the fast path, 2 with properties on paho's), the
    connection drops, and on the new one the broker sends two other messages with the same ids.
    Acknowledging the first two after the reconnect sends nothing; the new ones get PUBACKs."""
    got: list[tuple[bytes, int, int]] = []
    lock = threading.Lock()

    def handler(topic: str, payload: bytes, retain: bool, mid: int, qos: int) -> None:
        with lock:
            got.append((payload, mid, qos))

    def batch(messages: list[tuple[str, bytes, bool, int, int]]) -> None:
        for m in messages:
            handler(*m)

    options = MqttOptions(
        host="127.0.0.1",
        port=broker.port,
        client_id="reconnect-acks",
        reconnect_min_s=1,
        reconnect_max_s=1,
    )
    conn = MqttConnection(options, [TOPIC], handler, lambda up, why: None, on_messages=batch)
    conn.start()
    try:
        first = broker.connection(0)
        props = _user_property("k", "v")
        first.sendall(
            _publish_packet("careplug/plugs/a/reading", b"old-1", mid=1)
            + _publish_packet("careplug/plugs/a/reading", b"old-2", mid=2, props=props)
        )
        _wait(lambda: len(got) == 2, what="the old connection's messages")
        first.shutdown(socket.SHUT_RDWR)  # the network drops
        second = broker.connection(1)
        second.sendall(
            _publish_packet("careplug/plugs/a/reading", b"new-1", mid=1)
            + _publish_packet("careplug/plugs/a/reading", b"new-2", mid=2, props=props)
        )
        _wait(lambda: len(got) == 4, what="the new connection's messages")
        with lock:
            (old1, old2, new1, new2) = list(got)
        assert [m[0] for m in (old1, old2, new1, new2)] == [b"old-1", b"old-2", b"new-1", b"new-2"]
        # the driver commits the old messages only now, after the reconnect
        conn.ack_many([(old1[1], old1[2]), (old2[1], old2[2])])
        conn.ack(old1[1], old1[2])
        time.sleep(0.3)
        assert broker.pubacks(1) == [], "an old message's ack acknowledged a new one"
        conn.ack_many([(new1[1], new1[2]), (new2[1], new2[2])])
        _wait(lambda: len(broker.pubacks(1)) >= 2, what="the new messages' PUBACKs")
        time.sleep(0.1)
        assert broker.pubacks(1) == [1, 2]
        assert broker.pubacks(0) == []
    finally:
        conn.stop(timeout=0.2)
