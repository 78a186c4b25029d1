"""careplug's fast paho client against a real Mosquitto (TCP and TLS) and a scripted broker.

The scripted broker is a real TCP server on a loopback port that answers CONNECT and then
writes a byte stream in chunks the test chooses (one byte at a time where it matters), so a
packet split at every possible point, a remaining length spread over reads and a malformed
length are exercised deterministically; Mosquitto shows the same paths under real traffic.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from careplug.adapters.fastpaho import READ_SIZE, FastClient
from careplug.adapters.mqtt import MqttConnection, MqttOptions
from tests.conftest import Mosquitto, free_port, need_binary, wait_for_port

pytestmark = pytest.mark.integration

TOPIC = "careplug/plugs/+/reading"


def _wait(predicate: object, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Received:
    """What a consumer got, in arrival order, from either path."""

    fast: list[tuple[str, bytes, bool, int, int]] = field(default_factory=list)
    slow: list[paho.MQTTMessage] = field(default_factory=list)
    order: list[bytes] = field(default_factory=list)
    batches: int = 0  # calls of batch_sink
    lock: threading.Lock = field(default_factory=threading.Lock)

    def batch_sink(self, messages: list[tuple[str, bytes, bool, int, int]]) -> None:
        with self.lock:
            assert messages, "an empty batch"
            self.batches += 1
            self.fast.extend(messages)
            self.order.extend(m[1] for m in messages)

    def sink(self, topic: str, payload: bytes, retain: bool, mid: int, qos: int) -> None:
        with self.lock:
            self.fast.append((topic, payload, retain, mid, qos))
            self.order.append(payload)

    def on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        with self.lock:
            self.slow.append(msg)
            self.order.append(bytes(msg.payload))

    def mids(self) -> list[int]:
        with self.lock:
            return [m[3] for m in self.fast] + [m.mid for m in self.slow]

    def count(self) -> int:
        with self.lock:
            return len(self.order)


class CountingClient(FastClient):
    """Counts socket reads (the real socket underneath), to show one read serves many."""

    recv_calls = 0

    def _sock_recv(self, bufsize: int) -> bytes:
        data = super()._sock_recv(bufsize)
        self.recv_calls += 1
        return data


def _consumer(
    client_id: str, v5: bool = True, cls: type[FastClient] = FastClient, batched: bool = False
) -> tuple[FastClient, Received]:
    client = cls(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
        clean_session=None if v5 else False,
        manual_ack=True,
    )
    client.max_inflight_messages_set(1000)
    received = Received()
    client.message_sink = received.sink
    if batched:  # takes precedence over message_sink
        client.message_batch_sink = received.batch_sink
    client.on_message = received.on_message
    return client, received


def _connect(client: paho.Client, port: int, v5: bool = True) -> None:
    connected = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: connected.set()
    if v5:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        props.ReceiveMaximum = 65535
        client.connect("127.0.0.1", port, clean_start=False, properties=props)
    else:
        client.connect("127.0.0.1", port)
    client.loop_start()
    assert connected.wait(10), "no CONNACK"


def _session(port: int, client_id: str, v5: bool = True) -> None:
    """Create a persistent session subscribed to the plug topics, then leave."""
    client, _ = _consumer(client_id, v5)
    subscribed = threading.Event()
    client.on_subscribe = lambda *a: subscribed.set()
    _connect(client, port, v5)
    client.subscribe(TOPIC, qos=1)
    assert subscribed.wait(10)
    client.disconnect()
    client.loop_stop()


def _flush(client: paho.Client) -> None:
    """Round trip a QoS 1 publish: the broker has handled everything the client sent before."""
    client.publish("careplug/test/flush", b"", qos=1).wait_for_publish(10)


def _stop(client: paho.Client) -> None:
    _flush(client)
    client.disconnect()
    client.loop_stop()


def _publish(
    port: int,
    messages: list[tuple[str, bytes]],
    props: Properties | None = None,
    qos: int = 1,
) -> None:
    pub = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    pub.max_inflight_messages_set(1000)
    pub.max_queued_messages_set(0)
    _connect(pub, port)
    info = None
    for topic, payload in messages:
        info = pub.publish(topic, payload, qos=qos, properties=props)
    if info is not None:
        info.wait_for_publish(60)
    pub.disconnect()
    pub.loop_stop()


def _readings(n: int, start: int = 0) -> list[tuple[str, bytes]]:
    return [
        (f"careplug/plugs/p{i % 50:03d}/reading", json.dumps({"seq": i, "power_w": 1.5}).encode())
        for i in range(start, start + n)
    ]


def _redelivered(port: int, client_id: str, v5: bool = True, settle: float = 1.5) -> list[bytes]:
    """Reopen the session and collect what the broker delivers again (not acknowledged)."""
    client, received = _consumer(client_id, v5)
    _connect(client, port, v5)
    time.sleep(settle)
    client.disconnect()
    client.loop_stop()
    return received.order


# -- real Mosquitto ----------------------------------------------------------------------------


@pytest.mark.parametrize("batched", [False, True], ids=["sink", "batch_sink"])
def test_a_backlog_is_delivered_once_each_with_one_read_serving_many_packets(
    mosquitto: Mosquitto, batched: bool
) -> None:
    """5,000 queued readings arrive exactly once, in order, from far fewer socket reads than
    packets (with a batch sink, in at most one call per read); after ack_many the broker has
    nothing to redeliver."""
    _session(mosquitto.port, "backlog")
    sent = _readings(5000)
    _publish(mosquitto.port, sent)
    client, received = _consumer("backlog", cls=CountingClient, batched=batched)
    _connect(client, mosquitto.port)
    _wait(lambda: received.count() >= len(sent), what="the backlog")
    time.sleep(0.2)
    assert received.order == [payload for _, payload in sent]
    assert not received.slow  # no properties: all on the fast path
    assert {m[0] for m in received.fast} == {topic for topic, _ in sent}
    assert all(m[4] == 1 and not m[2] for m in received.fast)
    assert isinstance(client, CountingClient)
    assert client.recv_calls < len(sent) / 10, client.recv_calls
    if batched:
        assert 0 < received.batches <= client.recv_calls
    else:
        assert received.batches == 0
    client.ack_many(received.mids())
    _stop(client)
    assert _redelivered(mosquitto.port, "backlog") == []


def test_payloads_larger_than_one_read_arrive_whole_between_small_ones(
    mosquitto: Mosquitto,
) -> None:
    """A 200 KiB and a 1 MiB payload (several reads each, a 3-byte remaining length) arrive
    whole and in order among small readings."""
    _session(mosquitto.port, "big")
    big1 = b"a" * (200 * 1024) + b"end1"
    big2 = bytes(range(256)) * 4096 + b"end2"
    assert len(big1) > READ_SIZE and len(big2) > READ_SIZE
    sent = [
        *_readings(300),
        ("careplug/plugs/big1/reading", big1),
        *_readings(3, 300),
        ("careplug/plugs/big2/reading", big2),
        *_readings(300, 303),
    ]
    _publish(mosquitto.port, sent)
    client, received = _consumer("big")
    _connect(client, mosquitto.port)
    _wait(lambda: received.count() >= len(sent), what="all messages")
    assert received.order == [payload for _, payload in sent]
    client.ack_many(received.mids())
    _stop(client)
    assert _redelivered(mosquitto.port, "big") == []


@pytest.mark.parametrize("batched", [False, True], ids=["sink", "batch_sink"])
def test_messages_with_mqtt5_properties_keep_them_and_keep_their_place(
    mosquitto: Mosquitto, batched: bool
) -> None:
    """Messages with user properties and a content type go through paho's own decoding (on
    on_message, properties intact), interleaved in order with plain ones on the fast path
    (a batch is handed over before a message that takes paho's path)."""
    _session(mosquitto.port, "props")
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.UserProperty = [("site", "gangbuk-3"), ("fw", "14.1")]
    props.ContentType = "application/json"
    _publish(mosquitto.port, _readings(100))
    _publish(mosquitto.port, _readings(10, 100), props=props)
    _publish(mosquitto.port, _readings(100, 110))
    client, received = _consumer("props", batched=batched)
    _connect(client, mosquitto.port)
    _wait(lambda: received.count() >= 210, what="all messages")
    expected = [payload for _, payload in _readings(210)]
    assert received.order == expected
    assert len(received.slow) == 10 and len(received.fast) == 200
    for msg in received.slow:
        assert msg.properties is not None
        assert msg.properties.ContentType == "application/json"
        assert ("site", "gangbuk-3") in msg.properties.UserProperty
        assert msg.qos == 1 and msg.topic.startswith("careplug/plugs/")
    client.ack_many(received.mids())
    _stop(client)
    assert _redelivered(mosquitto.port, "props") == []


def test_mqtt_311_sessions_deliver_and_acknowledge(mosquitto: Mosquitto) -> None:
    """With MQTT 3.1.1 (no properties field at all) the fast path delivers and acks too."""
    _session(mosquitto.port, "v311", v5=False)
    sent = _readings(2000)
    _publish(mosquitto.port, sent)
    client, received = _consumer("v311", v5=False)
    _connect(client, mosquitto.port, v5=False)
    _wait(lambda: received.count() >= len(sent), what="the backlog")
    assert received.order == [payload for _, payload in sent]
    assert len(received.fast) == len(sent)
    client.ack_many(received.mids())
    _stop(client)
    assert _redelivered(mosquitto.port, "v311", v5=False) == []


def test_qos0_and_retained_messages_keep_their_flags(mosquitto: Mosquitto) -> None:
    """A QoS 0 message arrives with qos 0 (nothing to acknowledge) and a retained one with
    retain set when the subscription is made."""
    _publish(mosquitto.port, [("careplug/plugs/ret/reading", b"old")], qos=1)
    pub = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    _connect(pub, mosquitto.port)
    pub.publish("careplug/plugs/ret/reading", b"kept", qos=1, retain=True).wait_for_publish(10)
    client, received = _consumer("flags")
    subscribed = threading.Event()
    client.on_subscribe = lambda *a: subscribed.set()
    _connect(client, mosquitto.port)
    client.subscribe(TOPIC, qos=1)
    assert subscribed.wait(10)
    _wait(lambda: received.count() >= 1, what="the retained message")
    pub.publish("careplug/plugs/q0/reading", b"zero", qos=0).wait_for_publish(10)
    _wait(lambda: received.count() >= 2, what="the QoS 0 message")
    pub.disconnect()
    pub.loop_stop()
    (topic, payload, retain, _, qos), (topic0, payload0, retain0, _, qos0) = received.fast
    assert (topic, payload, retain, qos) == ("careplug/plugs/ret/reading", b"kept", True, 1)
    assert (topic0, payload0, retain0, qos0) == ("careplug/plugs/q0/reading", b"zero", False, 0)
    client.ack_many(received.mids()[:1])
    _stop(client)


def test_ack_many_through_the_connection_acknowledges_exactly_those(
    mosquitto: Mosquitto,
) -> None:
    """careplug's connection acknowledges the even readings in one call; after a reconnect
    the broker redelivers exactly the odd ones."""
    got: list[tuple[str, bytes, bool, int, int]] = []
    lock = threading.Lock()

    def handler(topic: str, payload: bytes, retain: bool, mid: int, qos: int) -> None:
        with lock:
            got.append((topic, payload, retain, mid, qos))

    options = MqttOptions(host="127.0.0.1", port=mosquitto.port, client_id="careplug-acks")
    conn = MqttConnection(options, [TOPIC], handler, lambda up, why: None)
    conn.start()
    try:
        assert conn.connected.wait(10)
        _wait(conn.client.is_connected, what="subscription")
        time.sleep(0.3)  # the SUBACK
        sent = _readings(400)
        _publish(mosquitto.port, sent)
        _wait(lambda: len(got) >= len(sent), what="all readings")
        with lock:
            batch = list(got)
        assert [m[1] for m in batch] == [p for _, p in sent]
        even = [(m[3], m[4]) for m in batch if json.loads(m[1])["seq"] % 2 == 0]
        conn.ack_many(even)
    finally:
        conn.stop()  # publishes "offline" and waits for its PUBACK: the acks went first
    again = _redelivered(mosquitto.port, "careplug-acks")
    assert sorted(json.loads(p)["seq"] for p in again) == list(range(1, 400, 2))


# -- TLS -------------------------------------------------------------------------------------


@dataclass
class TlsBroker:
    """A Mosquitto TLS listener with its own CA, on a free loopback port."""

    port: int
    ca_file: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(
        [need_binary("openssl", "/usr/bin/openssl"), *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[TlsBroker]:
    """Mosquitto with a TLS-only listener, server certificate for 127.0.0.1 from a test CA."""
    binary = need_binary("mosquitto", "/usr/sbin/mosquitto")
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=careplug test CA",
        cwd=tmp_path,
    )  # fmt: skip
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1", cwd=tmp_path,
    )  # fmt: skip
    (tmp_path / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt",
        cwd=tmp_path,
    )  # fmt: skip
    for name in ("ca.crt", "server.crt", "server.key"):
        (tmp_path / name).chmod(0o644)  # Mosquitto may read them as its own user
    port = free_port()
    conf = tmp_path / "tls.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        f"cafile {tmp_path / 'ca.crt'}\ncertfile {tmp_path / 'server.crt'}\n"
        f"keyfile {tmp_path / 'server.key'}\nallow_anonymous true\n"
        "max_queued_messages 0\nmax_inflight_messages 0\n"
        + ("user root\n" if os.geteuid() == 0 else "")
    )
    with open(tmp_path / "mosquitto-tls.log", "ab") as log:
        proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_for_port(port)
        yield TlsBroker(port, tmp_path / "ca.crt")
    finally:
        proc.terminate()
        proc.wait(10)


def test_over_tls_small_and_large_messages_arrive_whole(tls_broker: TlsBroker) -> None:
    """Over TLS (records of 16 KiB, bytes left decrypted inside OpenSSL between selects) a
    backlog of small readings and a 300 KiB payload all arrive, in order, once."""

    def tls_client(client_id: str) -> tuple[FastClient, Received]:
        client, received = _consumer(client_id)
        client.tls_set(ca_certs=str(tls_broker.ca_file))
        return client, received

    client, received = tls_client("tls")
    subscribed = threading.Event()
    client.on_subscribe = lambda *a: subscribed.set()
    _connect(client, tls_broker.port)
    client.subscribe(TOPIC, qos=1)
    assert subscribed.wait(10)
    pub, _ = tls_client("tls-pub")
    _connect(pub, tls_broker.port)
    big = os.urandom(300 * 1024)
    sent = [*_readings(1500), ("careplug/plugs/big/reading", big), *_readings(1500, 1500)]
    info = None
    for topic, payload in sent:
        info = pub.publish(topic, payload, qos=1)
    assert info is not None
    info.wait_for_publish(60)
    _wait(lambda: received.count() >= len(sent), what="all messages over TLS")
    assert received.order == [payload for _, payload in sent]
    client.ack_many(received.mids())
    _stop(client)
    pub.disconnect()
    pub.loop_stop()


# -- a scripted broker: exact byte streams, split where the test says ------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _publish_packet(
    topic: str, payload: bytes, mid: int, qos: int = 1, props: bytes = b"", v5: bool = True
) -> bytes:
    name = topic.encode()
    body = len(name).to_bytes(2, "big") + name
    if qos:
        body += mid.to_bytes(2, "big")
    if v5:
        body += _varint(len(props)) + props
    body += payload
    return bytes([0x30 | (qos << 1)]) + _varint(len(body)) + body


class ScriptedBroker:
    """Accepts one client, answers its CONNECT, then writes the chunks it is given."""

    def __init__(self, v5: bool = True) -> None:
        self.v5 = v5
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.port = int(self.server.getsockname()[1])
        self.conn: socket.socket | None = None
        self.from_client = bytearray()
        self._accepted = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _read_packet(self, conn: socket.socket) -> None:
        header = conn.recv(1)
        assert header and header[0] >> 4 == 1, header  # CONNECT
        length, mult = 0, 1
        while True:
            byte = conn.recv(1)[0]
            length += (byte & 0x7F) * mult
            mult *= 128
            if not byte & 0x80:
                break
        while length:
            length -= len(conn.recv(length))

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._read_packet(conn)
        conn.sendall(b"\x20\x03\x00\x00\x00" if self.v5 else b"\x20\x02\x00\x00")
        self.conn = conn
        self._accepted.set()
        conn.settimeout(0.2)
        while True:
            try:
                data = conn.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            self.from_client += data

    def send(self, stream: bytes, chunk_sizes: list[int], pause: float = 0.003) -> None:
        """Write ``stream`` in chunks of the given sizes (the last one repeats), pausing
        between them so that each reaches the client as a read of its own."""
        assert self._accepted.wait(10)
        assert self.conn is not None
        pos = 0
        k = 0
        while pos < len(stream):
            size = chunk_sizes[min(k, len(chunk_sizes) - 1)]
            self.conn.sendall(stream[pos : pos + size])
            pos += size
            k += 1
            time.sleep(pause)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.conn is not None:
                self.conn.close()
        self.server.close()


@pytest.fixture
def scripted() -> Iterator[ScriptedBroker]:
    """A scripted broker on a free loopback port."""
    broker = ScriptedBroker()
    try:
        yield broker
    finally:
        broker.close()


def _user_property(key: str, value: str) -> bytes:
    def s(text: str) -> bytes:
        return len(text.encode()).to_bytes(2, "big") + text.encode()

    return b"\x26" + s(key) + s(value)


def test_a_stream_dribbled_byte_by_byte_is_parsed_exactly(scripted: ScriptedBroker) -> None:
    """Every packet split at every byte (header, each remaining-length byte, topic, packet id,
    properties, payload): each message is delivered once, whole, by the right path, and
    ack_many answers with exactly one PUBACK per acknowledged id, in one write."""
    packets = [
        _publish_packet("careplug/plugs/a/reading", b'{"power_w": 1}', mid=1),
        _publish_packet("careplug/plugs/b/reading", b"x" * 200, mid=2),  # 2 length bytes
        _publish_packet(
            "careplug/plugs/c/reading", b"with-props", mid=3, props=_user_property("k", "v")
        ),
        _publish_packet("careplug/plugs/d/reading", b"qos0", mid=0, qos=0),
        _publish_packet("careplug/plugs/e/reading", b"y" * 20_000, mid=5),  # 3 length bytes
        _publish_packet("careplug/plugs/f/reading", b"", mid=6),
    ]
    client, received = _consumer("scripted")
    _connect(client, scripted.port)
    stream = b"".join(packets)
    # byte by byte through the first five packets' headers and bodies up to the big payload
    scripted.send(stream, [1] * 420 + [4096])
    _wait(lambda: received.count() >= 6, what="six messages")
    assert received.order == [b'{"power_w": 1}', b"x" * 200, b"with-props", b"qos0",
                              b"y" * 20_000, b""]  # fmt: skip
    assert [(m[0], m[3], m[4]) for m in received.fast] == [
        ("careplug/plugs/a/reading", 1, 1),
        ("careplug/plugs/b/reading", 2, 1),
        ("careplug/plugs/d/reading", 0, 0),
        ("careplug/plugs/e/reading", 5, 1),
        ("careplug/plugs/f/reading", 6, 1),
    ]
    (slow,) = received.slow
    assert slow.properties is not None and slow.properties.UserProperty == [("k", "v")]
    assert scripted.from_client == b""  # manual ack: nothing acknowledged yet
    client.ack_many([1, 2, 3, 5, 6])
    _wait(lambda: len(scripted.from_client) >= 20, what="the PUBACKs")
    assert bytes(scripted.from_client) == b"".join(
        bytes([0x40, 2, 0, mid]) for mid in (1, 2, 3, 5, 6)
    )
    client.disconnect()
    client.loop_stop()


def test_a_remaining_length_of_five_bytes_drops_the_connection(scripted: ScriptedBroker) -> None:
    """A malformed remaining length (a fifth continuation byte) is a protocol error: the
    client disconnects instead of reading on, and delivers what came before."""
    client, received = _consumer("malformed")
    lost = threading.Event()
    client.on_disconnect = lambda *a: lost.set()
    client.reconnect_delay_set(60, 60)
    _connect(client, scripted.port)
    good = _publish_packet("careplug/plugs/a/reading", b"ok", mid=1)
    scripted.send(good + b"\x30\xff\xff\xff\xff\x01" + b"z" * 50, [len(good), 2, 100])
    assert lost.wait(10), "the client kept the connection"
    assert received.order == [b"ok"]
    client.loop_stop()


def test_qos2_messages_take_paho_path_and_are_delivered_once(mosquitto: Mosquitto) -> None:
    """With a QoS 2 subscription, messages go through paho's own exactly-once flow, in order,
    each once, also after a reconnect."""
    got: list[tuple[bytes, int, int]] = []
    lock = threading.Lock()

    def handler(topic: str, payload: bytes, retain: bool, mid: int, qos: int) -> None:
        with lock:
            got.append((payload, mid, qos))

    options = MqttOptions(host="127.0.0.1", port=mosquitto.port, client_id="careplug-q2", qos=2)
    conn = MqttConnection(options, [TOPIC], handler, lambda up, why: None)
    conn.start()
    try:
        assert conn.connected.wait(10)
        time.sleep(0.3)  # the SUBACK
        sent = _readings(50)
        _publish(mosquitto.port, sent, qos=2)
        _wait(lambda: len(got) >= len(sent), what="all readings")
        with lock:
            batch = list(got)
        assert [p for p, _, _ in batch] == [p for _, p in sent]
        assert {q for _, _, q in batch} == {2}
        conn.ack_many([(mid, q) for _, mid, q in batch])
    finally:
        conn.stop()
    time.sleep(0.2)
    assert len(got) == len(sent)
    assert _redelivered(mosquitto.port, "careplug-q2") == []


def test_the_connection_acks_qos1_in_one_packet_and_completes_qos2(
    scripted: ScriptedBroker,
) -> None:
    """careplug's connection: a QoS 2 message is answered with PUBREC, delivered on PUBREL,
    and ack_many sends its PUBCOMP; QoS 1 ids get PUBACKs; QoS 0 nothing."""
    got: list[tuple[str, bytes, bool, int, int]] = []
    options = MqttOptions(host="127.0.0.1", port=scripted.port, client_id="scripted-q2", qos=2)
    conn = MqttConnection(options, [TOPIC], lambda *m: got.append(m), lambda up, why: None)
    conn.start()
    try:
        assert conn.connected.wait(10)
        scripted.send(_publish_packet("careplug/plugs/a/reading", b"q2", mid=7, qos=2), [100])
        _wait(lambda: b"\x50\x02\x00\x07" in scripted.from_client, what="PUBREC")
        assert got == []  # QoS 2 is delivered on PUBREL
        scripted.send(b"\x62\x02\x00\x07", [4])
        _wait(lambda: len(got) == 1, what="the QoS 2 message")
        assert got == [("careplug/plugs/a/reading", b"q2", False, 7, 2)]
        before = len(scripted.from_client)
        conn.ack_many([(7, 2), (9, 1), (10, 1), (11, 0)])
        _wait(lambda: len(scripted.from_client) >= before + 12, what="the acks")
        acks = bytes(scripted.from_client[before:])
        assert sorted([acks[i : i + 4] for i in range(0, len(acks), 4)]) == [
            b"\x40\x02\x00\x09", b"\x40\x02\x00\x0a", b"\x70\x02\x00\x07",
        ]  # fmt: skip
    finally:
        conn.stop(timeout=0.2)  # the scripted broker never acknowledges "offline"


def test_with_a_paho_logger_everything_takes_paho_path_and_still_acks(
    mosquitto: Mosquitto,
) -> None:
    """A paho logger (someone debugging the connection) turns the fast path off, so paho logs
    every packet as it always did; delivery and ack_many work the same."""
    _session(mosquitto.port, "logged")
    sent = _readings(200)
    _publish(mosquitto.port, sent)
    client, received = _consumer("logged")
    client.enable_logger(logging.getLogger("test.paho"))
    _connect(client, mosquitto.port)
    _wait(lambda: received.count() >= len(sent), what="the backlog")
    assert received.order == [payload for _, payload in sent]
    assert received.fast == [] and len(received.slow) == len(sent)
    client.ack_many(received.mids())
    _stop(client)
    assert _redelivered(mosquitto.port, "logged") == []
