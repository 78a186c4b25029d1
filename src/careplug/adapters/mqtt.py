"""MQTT adapter (paho-mqtt 2.x): plug messages in, alert messages out.

The paho network thread only decodes and enqueues; it never blocks on processing. QoS 1 with a
persistent session (clean start off, a long session expiry) means the broker keeps readings
published while careplug is down; manual acknowledgement means a reading is acknowledged only
after the runtime has handled it and committed the result, so a crash redelivers instead of
losing it.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from careplug.adapters.fastpaho import FastClient, MessageBatchSink
from careplug.clock import monotonic
from careplug.errors import DeliveryError
from careplug.logconfig import RateLimiter
from careplug.ports import Notification

log = structlog.get_logger("careplug.mqtt")

# CONNACK reasons that retrying cannot fix: stop and report unhealthy instead of hammering.
_PERMANENT_REFUSALS = {
    "Bad user name or password",
    "Not authorized",
    "Client identifier not valid",
    "Banned",
    "Unsupported protocol version",
}


@dataclass(frozen=True, slots=True)
class MqttOptions:
    """How to reach the broker (built from settings by the composition root)."""

    host: str
    port: int
    client_id: str
    protocol: str = "5"
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive: int = 30
    session_expiry_s: int = 7 * 86400
    qos: int = 1
    status_topic: str = "careplug/status"
    reconnect_min_s: int = 1
    reconnect_max_s: int = 60


MessageHandler = Callable[[str, bytes, bool, int, int], None]
"""(topic, payload, retain, mid, qos) → None; called on paho's network thread. ``mid`` is an ack
token for :meth:`MqttConnection.ack` / :meth:`MqttConnection.ack_many`, bound to the connection
the message came on (an ack after a reconnect sends nothing: the broker redelivers it)."""


class MqttConnection:
    """One paho client: subscribes to plug topics, hands messages over, publishes alerts.

    Messages go to ``on_message`` one at a time, or, when ``on_messages`` is given, the plain
    ones (QoS 0/1, no MQTT 5 properties) go to it a receive buffer at a time and the others to
    ``on_message``, all in the order they came.
    """

    def __init__(
        self,
        options: MqttOptions,
        topics: list[str],
        on_message: MessageHandler,
        on_connection: Callable[[bool, str], None],
        on_messages: MessageBatchSink | None = None,
    ) -> None:
        self.options = options
        self.topics = topics
        self._on_message = on_message
        self._on_connection = on_connection
        self.connected = threading.Event()
        self.refused: str | None = None
        self._failure_log = RateLimiter(60.0)
        v5 = options.protocol == "5"
        self._v5 = v5
        # paho with a cheap receive/ack path (buffered reads, no Properties for plain
        # PUBLISHes, batched PUBACKs): see fastpaho
        self.client = FastClient(
            CallbackAPIVersion.VERSION2,
            client_id=options.client_id,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        # many readings may be in flight while a batch is being committed
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        if options.username is not None:
            self.client.username_pw_set(options.username, options.password)
        if options.tls:
            self.client.tls_set(
                ca_certs=str(options.ca_file) if options.ca_file else None,
                certfile=str(options.cert_file) if options.cert_file else None,
                keyfile=str(options.key_file) if options.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        self.client.will_set(options.status_topic, "offline", qos=1, retain=True)
        self.client.reconnect_delay_set(options.reconnect_min_s, options.reconnect_max_s)
        self.client.on_connect = self._handle_connect
        self.client.on_disconnect = self._handle_disconnect
        self.client.on_message = self._handle_message
        # plain PUBLISHes skip MQTTMessage; the rest still come through on_message
        self.client.message_sink = self._guarded_message
        # and, given a batch handler, come a whole receive buffer at a time (in wire order)
        self._on_messages = on_messages
        self.client.message_batch_sink = self._guarded_batch if on_messages else None
        self.handler_failures = 0
        """Calls of careplug's message handlers that raised (their messages stay unacknowledged
        and come again on the next connection)."""
        self.last_handler_failure: str | None = None
        self.last_handler_failure_at: float | None = None  # careplug.clock.monotonic

    def start(self) -> None:
        """Connect in the background and keep reconnecting with backoff."""
        properties = None
        if self._v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self.options.session_expiry_s
            properties.ReceiveMaximum = 65535
            self.client.connect_async(
                self.options.host,
                self.options.port,
                self.options.keepalive,
                clean_start=False,
                properties=properties,
            )
        else:
            self.client.connect_async(self.options.host, self.options.port, self.options.keepalive)
        self.client.loop_start()

    def stop(self, timeout: float = 2.0) -> None:
        """Say offline (retained), disconnect and stop the network thread."""
        if self.connected.is_set():
            info = self.client.publish(self.options.status_topic, "offline", qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout)
        self.client.disconnect()
        self.client.loop_stop()
        # paho's loop_stop leaves open the socket pair that wakes its thread; only its
        # __del__ closes it, which a client caught in a reference cycle may never reach
        reset_sockets = getattr(self.client, "_reset_sockets", None)
        if reset_sockets is not None:
            reset_sockets(sockpair_only=True)

    def ack(self, mid: int, qos: int) -> None:
        """Acknowledge a handled message (PUBACK for QoS 1)."""
        if qos > 0:
            self.client.ack(mid, qos)

    def ack_many(self, messages: Iterable[tuple[int, int]]) -> None:
        """Acknowledge handled messages, given as (mid, qos): all QoS 1 PUBACKs in one write."""
        qos1: list[int] = []
        for mid, qos in messages:
            if qos == 1:
                qos1.append(mid)
            elif qos > 1:
                self.client.ack(mid, qos)
        if qos1:
            self.client.ack_many(qos1)

    def publish(
        self,
        topic: str,
        payload: str | bytes,
        qos: int = 1,
        retain: bool = False,
        timeout: float = 5.0,
    ) -> None:
        """Publish and wait for the broker's acknowledgement, or raise a retryable error."""
        if not self.connected.is_set():
            raise DeliveryError("not connected to the broker", retryable=True)
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError) as exc:
            raise DeliveryError(f"publish failed: {exc}", retryable=True) from exc
        if not info.is_published():
            raise DeliveryError("broker did not acknowledge in time", retryable=True)

    # -- paho callbacks (network thread) --------------------------------------------------

    def _handle_connect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            name = str(reason)
            log.error("broker_refused_connection", reason=name)
            if name in _PERMANENT_REFUSALS:
                self.refused = name
                # retrying with the same credentials only gets the account locked out
                threading.Thread(target=client.disconnect, daemon=True).start()
            return
        self.refused = None
        subscriptions = [(t, self.options.qos) for t in self.topics]
        if subscriptions:
            client.subscribe(subscriptions)
        client.publish(self.options.status_topic, "online", qos=1, retain=True)
        self.connected.set()
        log.info(
            "broker_connected",
            host=self.options.host,
            port=self.options.port,
            session_present=bool(flags.session_present),
        )
        self._on_connection(True, "connected")

    def _handle_disconnect(
        self,
        client: paho.Client,
        userdata: object,
        flags: paho.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        was_connected = self.connected.is_set()
        self.connected.clear()
        if was_connected:
            log.warning("broker_disconnected", reason=str(reason))
            self._on_connection(False, str(reason))

    def _handle_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        # the mid handed on is an ack token bound to this connection, as on the fast path
        try:
            token = self.client.token(msg.mid)
            topic = msg.topic  # decodes UTF-8: a non-conforming broker could send anything
        except Exception as exc:
            self._handler_failed(exc, 1)
            return
        self._guarded_message(topic, bytes(msg.payload), bool(msg.retain), token, msg.qos)

    # An exception escaping a handler would end paho's network thread: no more messages, no
    # reconnect, while `connected` still says yes. Caught here, it is logged and counted; the
    # messages of that call are not acknowledged, so the broker delivers them again.

    def _guarded_message(
        self, topic: str, payload: bytes, retain: bool, mid: int, qos: int
    ) -> None:
        try:
            self._on_message(topic, payload, retain, mid, qos)
        except Exception as exc:
            self._handler_failed(exc, 1)

    def _guarded_batch(self, messages: list[tuple[str, bytes, bool, int, int]]) -> None:
        assert self._on_messages is not None
        try:
            self._on_messages(messages)
        except Exception as exc:
            self._handler_failed(exc, len(messages))

    def _handler_failed(self, exc: Exception, messages: int) -> None:
        self.handler_failures += 1
        self.last_handler_failure = f"{type(exc).__name__}: {exc}"[:200]
        self.last_handler_failure_at = monotonic()
        suppressed = self._failure_log.allow("handler")
        if suppressed is not None:
            log.error(
                "message_handler_failed",
                messages=messages,
                failures=self.handler_failures,
                suppressed=suppressed,
                exc_info=exc,
            )


class MqttAlertNotifier:
    """Publishes alert notifications to ``<prefix>/<household>`` (the recipient is the topic)."""

    channel = "mqtt"

    def __init__(self, connection: MqttConnection) -> None:
        self._connection = connection

    def send(self, notification: Notification) -> None:
        """Publish the notification's data as JSON with QoS 1 and wait for the broker's ack."""
        body = dict(notification.data)
        body.setdefault("key", notification.key)
        self._connection.publish(
            notification.recipient, json.dumps(body, ensure_ascii=False, sort_keys=True), qos=1
        )
