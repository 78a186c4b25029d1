"""The paho internals careplug's FastClient relies on are still there, as they were verified.

FastClient overrides paho's ``loop_read`` and calls private methods; a paho release that
renames or reshapes them must fail here, loudly, not lose messages in production.
"""

from __future__ import annotations

import inspect
import threading
from importlib.metadata import version

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from careplug.adapters.fastpaho import FastClient

VERIFIED = {"2.2.0"}


def _params(fn: object) -> list[str]:
    assert callable(fn)
    return list(inspect.signature(fn).parameters)


def test_paho_is_a_version_fastclient_was_verified_with() -> None:
    """Widen pyproject's pin and this set only after the integration tests pass on it."""
    assert version("paho-mqtt") in VERIFIED


def test_the_private_methods_fastclient_calls_keep_their_signatures() -> None:
    """Names and parameters of every private paho method FastClient calls or replaces."""
    c = paho.Client
    assert _params(c.loop_read) == ["self", "max_packets"]
    assert _params(c._packet_read) == ["self"]
    assert _params(c._packet_handle) == ["self"]
    assert _params(c._packet_queue) == ["self", "command", "packet", "mid", "qos", "info"]
    assert _params(c._loop_rc_handle) == ["self", "rc"]
    assert _params(c._sock_recv) == ["self", "bufsize"]
    assert _params(c._send_puback) == ["self", "mid"]
    assert _params(c._easy_log) == ["self", "level", "fmt", "args"]
    assert _params(c.reconnect) == ["self"]
    assert _params(c.ack) == ["self", "mid", "qos"]


def test_reconnect_drops_the_queued_packets_of_the_old_connection() -> None:
    """FastClient numbers a connection in reconnect() before paho drops what is queued: an ack
    queued before that is dropped with the old connection, every later one is checked."""
    assert "self._out_packet.clear()" in inspect.getsource(paho.Client.reconnect)


def test_paho_reads_packets_only_where_fastclient_replaced_it() -> None:
    """paho's loop calls loop_read, and only loop_read calls _packet_read: replacing
    loop_read replaces every packet read."""
    source = inspect.getsource(paho)
    assert "self.loop_read()" in inspect.getsource(paho.Client._loop)
    assert source.count("self._packet_read()") == 1
    assert "self._packet_read()" in inspect.getsource(paho.Client.loop_read)
    # the fields FastClient sets before handing a packet to paho's handlers
    assert '"packet"' in inspect.getsource(paho.Client._handle_publish)
    assert "self._in_packet['command']" in inspect.getsource(paho.Client._packet_handle)


def test_the_private_attributes_fastclient_reads_exist() -> None:
    """Instance state FastClient reads or writes, with the types it expects."""
    client = FastClient(CallbackAPIVersion.VERSION2, client_id="guard", manual_ack=True)
    assert set(client._in_packet) == {
        "command", "have_remaining", "remaining_count", "remaining_mult",
        "remaining_length", "packet", "to_process", "pos",
    }  # fmt: skip
    assert isinstance(client._in_callback_mutex, type(threading.Lock()))
    assert isinstance(client._msgtime_mutex, type(threading.Lock()))
    assert isinstance(client._last_bytes_received, float)
    assert client._on_log is None and client._logger is None
    assert client._manual_ack is True
    assert client._sock is None
    assert client.protocol == client._protocol


def test_ack_many_without_a_connection_queues_one_packet_of_pubacks() -> None:
    """ack_many builds one PUBACK packet per id, back to back, queued as one write."""
    client = FastClient(CallbackAPIVersion.VERSION2, client_id="guard", manual_ack=True)
    client._thread = threading.current_thread()  # as under loop_start: queue, do not write
    assert client.ack_many([1, 258, 65535]) == MQTTErrorCode.MQTT_ERR_SUCCESS
    (packet,) = client._out_packet
    assert packet["packet"] == b"\x40\x02\x00\x01\x40\x02\x01\x02\x40\x02\xff\xff"
    assert client.ack_many([]) == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert len(client._out_packet) == 1
    auto = FastClient(CallbackAPIVersion.VERSION2, client_id="auto")  # paho acks itself
    auto.ack_many([1])
    assert not auto._out_packet
