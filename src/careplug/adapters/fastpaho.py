"""A paho-mqtt client with a cheaper receive and acknowledgement path.

paho does everything careplug needs from an MQTT client (connect, TLS, auth, session,
keepalive, reconnect, publish), but its per-message receive path costs more than Node-RED's
whole flow: three ``recv`` calls per packet (command byte, each length byte, body), a full
``Properties`` object built and cleared for every MQTT 5 PUBLISH even without properties, an
``MQTTMessage`` and a topic-matcher walk per message, and one queued packet plus one wake-up
byte plus one ``send`` per PUBACK. :class:`FastClient` keeps paho for everything and replaces
only that path:

- **Buffered reads**: one ``recv`` of up to 64 KiB serves every whole packet in it. All whole
  packets are handled before :meth:`FastClient.loop_read` returns, so paho's ``select()``
  never waits while parsed-but-unhandled bytes sit in the buffer; at most one incomplete packet
  is kept, and the rest of it is still in the socket (``select`` wakes for it). A TLS socket's
  decrypted-but-unread bytes are still found by paho's own ``pending()`` check.
- **PUBLISH fast path**: a QoS 0/1 PUBLISH with no properties (the properties length byte is
  0, or MQTT 3.1.1) and a UTF-8 topic goes straight to :attr:`FastClient.message_sink` as
  ``(topic, payload, retain, mid, qos)``, without ``Properties``, ``MQTTMessage`` or the topic
  matcher. Anything else (properties present, QoS 2, a malformed packet, no sink set, or a paho
  logger / ``on_log`` set) takes paho's own code, unchanged.
- **Batched hand-off**: with :attr:`FastClient.message_batch_sink` set instead, the fast-path
  messages of one ``recv`` buffer go to it as one list, in order, in one call; a packet that
  takes paho's code first flushes the list, so every message still arrives in wire order.
- **Batched acknowledgements**: :meth:`FastClient.ack_many` queues the PUBACKs of a whole batch
  as one packet: one wake-up of the network thread, one ``send``.
- **Acknowledgements tied to their connection**: a packet id means something only on the
  connection it came on; after a reconnect the broker may give the same id to another message.
  So the ``mid`` handed to the sinks (and by :meth:`FastClient.token` to ``on_message``
  handlers) is a token: the packet id plus the connection's number above its 16 bits (the first
  connection's tokens are the plain ids). :meth:`FastClient.ack_many` and :meth:`FastClient.ack`
  take tokens and drop the PUBACKs of an earlier connection: that message is the broker's to
  redeliver, and an ack sent on the new connection would acknowledge an unhandled message.

It overrides private paho methods, so it is pinned to the paho versions it was verified with
(``pyproject.toml``) and ``tests/unit/test_fastpaho_guard.py`` fails loudly if what it relies on
changes.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Iterable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket

from careplug.clock import monotonic

READ_SIZE = 65536
"""Bytes asked of the socket per ``recv`` (more when one packet is known to be larger)."""
_READ_MAX = 1 << 20  # recv allocates what it is asked for: a huge packet comes in pieces

_PUBLISH = 0x30
_PUBACK = 0x40
_pack_puback = struct.Struct("!BBH").pack  # PUBACK, remaining length 2, packet id
_MID_BITS = 16  # an ack token: the packet id in the low bits, the connection's number above
_MID_MASK = (1 << _MID_BITS) - 1

MessageSink = Callable[[str, bytes, bool, int, int], None]
"""(topic, payload, retain, mid, qos) → None; called on paho's network thread. ``mid`` is an
ack token (see :meth:`FastClient.token`), 0 for QoS 0."""

Message = tuple[str, bytes, bool, int, int]
"""(topic, payload, retain, mid, qos); ``mid`` is an ack token, 0 for QoS 0."""

MessageBatchSink = Callable[[list[Message]], None]
"""The fast-path messages of one receive buffer, in order; called on paho's network thread."""


def _fresh_in_packet() -> Any:
    # paho's idle ``_in_packet`` state (a TypedDict in paho, so built the way paho builds it)
    return {
        "command": 0,
        "have_remaining": 0,
        "remaining_count": [],
        "remaining_mult": 1,
        "remaining_length": 0,
        "packet": bytearray(b""),
        "to_process": 0,
        "pos": 0,
    }


class FastClient(paho.Client):
    """``paho.Client`` with buffered reads, a PUBLISH fast path and batched PUBACKs.

    Construct it exactly like ``paho.Client``. Set :attr:`message_sink` to receive PUBLISHes on
    the fast path; messages the fast path does not take still go to ``on_message`` as usual,
    so set both to the same handler. With a sink set, ``message_callback_add`` filters are not
    consulted for fast-path messages. :attr:`message_batch_sink`, when set, takes precedence
    over :attr:`message_sink`: one call per receive buffer with its fast-path messages.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.message_sink: MessageSink | None = None
        self.message_batch_sink: MessageBatchSink | None = None
        self._batch: list[Message] = []  # fast-path messages of the buffer being handled
        # unparsed received bytes: at most one incomplete packet, in pieces until complete
        self._rparts: list[bytes] = []
        self._rhave = 0
        self._rwant = 1  # bytes needed before parsing is worth trying again
        self._rsock: object = None  # the socket those bytes came from
        # the connection's number (from 0), above the packet id in the ack tokens handed out;
        # changed, and checked by the acks, under _ack_lock
        self._ack_lock = threading.Lock()
        self._conn_number = 0
        self._ack_tag = 0
        self._connects = 0  # calls of reconnect(): the first is connection 0

    # -- connecting -----------------------------------------------------------------------------

    def reconnect(self) -> MQTTErrorCode:
        """paho's (re)connect, after which the tokens of earlier connections are not acked."""
        with self._ack_lock:
            # before paho drops the queued packets: an ack queued until now goes with them,
            # every later one is checked against the new number
            self._conn_number = self._connects
            self._ack_tag = self._conn_number << _MID_BITS
            self._connects += 1
        return super().reconnect()

    def token(self, mid: int) -> int:
        """The ack token of packet id ``mid`` received on the current connection (0 stays 0).

        For messages that come through paho's ``on_message``, on the network thread."""
        return mid | self._ack_tag if mid else 0

    # -- receiving ------------------------------------------------------------------------------

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Read once from the socket and handle every whole packet received so far.

        ``max_packets`` is ignored (as paho itself does): the buffer is always drained.
        """
        sock = self._sock
        if sock is None:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        if sock is not self._rsock:
            # a new connection: bytes left over from the old one mean nothing
            self._rparts.clear()
            self._rhave = 0
            self._rwant = 1
            self._rsock = sock
        try:
            data = self._sock_recv(min(max(READ_SIZE, self._rwant - self._rhave), _READ_MAX))
        except BlockingIOError:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        except OSError as err:
            self._easy_log(paho.MQTT_LOG_ERR, "failed to receive on socket: %s", err)
            return self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST)
        if not data:
            return self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST)
        now = monotonic()
        with self._msgtime_mutex:
            self._last_bytes_received = now
        parts = self._rparts
        parts.append(data)
        self._rhave += len(data)
        if self._rhave < self._rwant:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        buf = parts[0] if len(parts) == 1 else b"".join(parts)
        parts.clear()
        self._rhave = 0
        self._rwant = 1
        try:
            rc, pos = self._handle_buffer(buf, sock)
        finally:
            self._flush()
        if self._sock is sock and pos < len(buf):
            rest = buf[pos:]
            parts.append(rest)
            self._rhave = len(rest)
            self._rwant = max(self._rwant, len(rest) + 1)
        if rc > 0:
            return self._loop_rc_handle(rc)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_buffer(self, buf: bytes, sock: object) -> tuple[MQTTErrorCode, int]:
        """Handle the whole packets at the start of ``buf``; return (rc, bytes consumed).

        Sets ``_rwant`` to the size of the incomplete packet left over, when it is known.
        """
        n = len(buf)
        pos = 0
        fast = (
            (self.message_sink is not None or self.message_batch_sink is not None)
            and self._on_log is None
            and self._logger is None
        )
        v5 = self._protocol == MQTTProtocolVersion.MQTTv5
        while n - pos >= 2:
            header = buf[pos]
            i = pos + 1
            byte = buf[i]
            length = byte & 0x7F
            mult = 128
            while byte & 0x80:
                i += 1
                if i - pos > 4:
                    return MQTTErrorCode.MQTT_ERR_PROTOCOL, pos  # more than 4 length bytes
                if i >= n:
                    return MQTTErrorCode.MQTT_ERR_SUCCESS, pos
                byte = buf[i]
                length += (byte & 0x7F) * mult
                mult *= 128
            start = i + 1
            end = start + length
            if end > n:
                self._rwant = end - pos
                return MQTTErrorCode.MQTT_ERR_SUCCESS, pos
            if not (
                fast and header & 0xF0 == _PUBLISH and self._publish(header, buf, start, end, v5)
            ):
                if self._batch:
                    self._flush()  # what came before this packet is handed over first
                    if self._sock is not sock:
                        return MQTTErrorCode.MQTT_ERR_SUCCESS, pos
                rc = self._handle_packet(header, buf[start:end])
                if rc > 0:
                    return rc, end
            pos = end
            if self._sock is not sock:
                return MQTTErrorCode.MQTT_ERR_SUCCESS, pos  # disconnected by a callback
        return MQTTErrorCode.MQTT_ERR_SUCCESS, pos

    def _publish(self, header: int, buf: bytes, start: int, end: int, v5: bool) -> bool:
        """Hand a plain QoS 0/1 PUBLISH to the sink; False leaves it to paho's own code."""
        qos = (header >> 1) & 3
        if qos > 1 or end - start < 2:
            return False
        topic_end = start + 2 + ((buf[start] << 8) | buf[start + 1])
        if topic_end == start + 2:
            return False  # an empty topic: a topic alias (never enabled) or malformed
        p = topic_end
        mid = 0
        if qos:
            mid = ((buf[p] << 8) | buf[p + 1]) | self._ack_tag if p + 2 <= end else -1
            p += 2
        if v5:
            if p >= end or buf[p] != 0:
                return False  # properties present (or malformed): paho decodes them
            p += 1
        if p > end or mid < 0:
            return False
        try:
            topic = buf[start + 2 : topic_end].decode()
        except UnicodeDecodeError:
            return False
        if self.message_batch_sink is not None:
            self._batch.append((topic, buf[p:end], bool(header & 1), mid, qos))
            return True
        sink = self.message_sink
        assert sink is not None
        with self._in_callback_mutex:
            try:
                sink(topic, buf[p:end], bool(header & 1), mid, qos)
            except Exception as err:
                self._easy_log(paho.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                if not self.suppress_exceptions:
                    raise
        if qos == 1 and not self._manual_ack:
            self._send_puback(mid & _MID_MASK)
        return True

    def _flush(self) -> None:
        """Hand the buffered fast-path messages to the batch sink (then PUBACK them if paho
        acknowledges automatically)."""
        batch = self._batch
        sink = self.message_batch_sink
        if not batch or sink is None:
            batch.clear()
            return
        self._batch = []
        with self._in_callback_mutex:
            try:
                sink(batch)
            except Exception as err:
                self._easy_log(paho.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                if not self.suppress_exceptions:
                    raise
        if not self._manual_ack:
            for _, _, _, mid, qos in batch:
                if qos == 1:
                    self._send_puback(mid & _MID_MASK)

    def _handle_packet(self, header: int, body: bytes) -> MQTTErrorCode:
        """Any other packet: through paho's own handlers, as its ``_packet_read`` does."""
        packet = _fresh_in_packet()
        packet["command"] = header
        packet["have_remaining"] = 1
        packet["remaining_length"] = len(body)
        packet["packet"] = bytearray(body)
        self._in_packet = packet
        try:
            rc = self._packet_handle()
        except MalformedPacket as exc:
            self._easy_log(paho.MQTT_LOG_DEBUG, "Received malformed packet: %s", exc)
            rc = MQTTErrorCode.MQTT_ERR_PROTOCOL
        self._in_packet = _fresh_in_packet()
        return rc

    # -- acknowledging --------------------------------------------------------------------------

    def ack(self, mid: int, qos: int) -> MQTTErrorCode:
        """paho's ``ack``, by ack token: no PUBACK for a message of an earlier connection.

        A QoS 2 PUBCOMP is still sent: the message was ours since our PUBREC, and the broker,
        keeping the session, waits for the PUBCOMP on the new connection."""
        if not self._manual_ack:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        with self._ack_lock:
            if qos == 1 and mid >> _MID_BITS != self._conn_number:
                return MQTTErrorCode.MQTT_ERR_SUCCESS  # the broker redelivers it
            return super().ack(mid & _MID_MASK, qos)

    def ack_many(self, mids: Iterable[int]) -> MQTTErrorCode:
        """Acknowledge QoS 1 messages (PUBACK) by ack token, all in one write and one wake-up.

        Like ``ack()``, only with ``manual_ack=True``; QoS 2 messages need ``ack(mid, 2)``.
        Tokens of an earlier connection are dropped (the broker redelivers those messages).
        """
        if not self._manual_ack:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        with self._ack_lock:  # a reconnect cannot come between the check and the queueing
            number = self._conn_number
            if self._on_log is not None or self._logger is not None:
                rc = MQTTErrorCode.MQTT_ERR_SUCCESS
                for mid in mids:  # paho's own path, which logs each PUBACK
                    if mid >> _MID_BITS == number:
                        rc = self._send_puback(mid & _MID_MASK) or rc
                return rc
            packet = b"".join(
                [
                    _pack_puback(_PUBACK, 2, mid & _MID_MASK)
                    for mid in mids
                    if mid >> _MID_BITS == number
                ]
            )
            if not packet:
                return MQTTErrorCode.MQTT_ERR_SUCCESS
            return self._packet_queue(_PUBACK, packet, 0, 0)
