"""The driver: the one thread that owns the engine.

It merges readings and clock ticks in event time — every reading stamped at or before an
evaluation instant is fed before that instant is evaluated, and instants are aligned to the
tick period — so a replay at any speed makes the same decisions as real time. Readings newer
than ``now - lateness`` wait, so slightly late messages still land in order.

After each batch it commits the engine's changed state and the alert transitions (with their
notifications) to the store, and only then acknowledges the MQTT messages: a crash between
receipt and commit means redelivery, never loss.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import math
import queue
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from careplug.adapters.metrics import CareplugMetrics
from careplug.adapters.payloads import (
    PayloadOptions,
    PayloadRejected,
    RejectReason,
    decode,
    detect_family,
)
from careplug.adapters.payloads.common import Family
from careplug.adapters.payloads.native import (
    parse_time,
    reading_device,
    reading_fields,
)
from careplug.adapters.store_sqlite import SqliteStore
from careplug.clock import Clock, VirtualClock, iso, monotonic
from careplug.domain import alerts as alert_rules
from careplug.domain.engine import (
    ActivitySeen,
    AlertChanged,
    DeviceStatusChanged,
    Effect,
    Engine,
    HouseholdMemory,
    PlugMemory,
    UnassignedDevice,
)
from careplug.domain.model import (
    SYSTEM_ACTOR,
    Alert,
    AlertState,
    AuditEntry,
    HouseholdId,
    ItemKind,
    PlugAvailability,
    PlugId,
    Reading,
)
from careplug.errors import IllegalTransition, StoreError
from careplug.logconfig import RateLimiter
from careplug.ports import HistorySink, Notification
from careplug.runtime.fanout import FanoutConfig
from careplug.runtime.router import AlertRouter
from careplug.runtime.summary import DailySummaries

log = structlog.get_logger("careplug.driver")

AckFn = Callable[[list[tuple[int, int]]], None]
"""Acknowledges a committed batch of messages, given as (mid, qos) pairs, in one call."""


@dataclass(slots=True)
class Stats:
    """Counters the metrics endpoint and tests read (written by the driver and paho threads)."""

    messages: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    readings: int = 0
    activity: int = 0
    unassigned: int = 0
    alerts: Counter[str] = field(default_factory=Counter)
    last_message_at: float | None = None


_Ack = tuple[int, int, float]
"""A message to acknowledge: (mid, qos, processing time of receipt or 0.0 for the
handling-latency histogram). It is also the token of a message with one reading."""


@dataclass(slots=True)
class _Message:
    """An MQTT message's acknowledgement token when it has no or several items: acknowledged
    when the last of them is handled."""

    mid: int
    qos: int
    remaining: int
    received: float = 0.0  # processing time of receipt, for the handling-latency histogram

    def ack(self) -> _Ack:
        return (self.mid, self.qos, self.received)


_Fast = tuple[Reading, _Ack]
"""A message that is exactly one reading (the native fast path): the reading and its token."""

_Route = tuple[Family | None, str, PlugId | None]
"""What a topic is, looked up once: its family, the family's name for the counters, and the
plug when its native readings may take the fast path."""


@dataclass(slots=True)
class _Inbound:
    items: list[Reading | PlugAvailability]
    message: _Message | None
    gateway: str | None = None


@dataclass(slots=True)
class _Connection:
    up: bool
    at: float


@dataclass(slots=True)
class _ClockTime:
    at: float


@dataclass(slots=True)
class _Call:
    """Run ``fn`` on the driver thread after the batch is committed (e.g. swap the engine)."""

    fn: Callable[[], None]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class _Wake:
    __slots__ = ()


_WAKE = _Wake()
_STOP = object()


class Driver:
    """Feeds the engine in event-time order, applies its effects, acknowledges messages."""

    def __init__(
        self,
        engine: Engine,
        store: SqliteStore,
        clock: Clock,
        *,
        tick_s: float = 1.0,
        lateness_s: float = 1.0,
        router: AlertRouter | None = None,
        payload_options: PayloadOptions | None = None,
        clock_topic: str | None = None,
        on_notifications: Callable[[], None] | None = None,
        follow_clock_messages: bool = False,
        wall: Callable[[], float] | None = None,
        processing_clock: Callable[[], float] = monotonic,
        history: HistorySink | None = None,
        metrics: CareplugMetrics | None = None,
        own_topics: frozenset[str] = frozenset(),
        summaries: DailySummaries | None = None,
    ) -> None:
        self.engine = engine
        self.store = store
        self.clock = clock
        self.tick_s = tick_s
        self.lateness_s = lateness_s
        self.router = router or AlertRouter(FanoutConfig())
        self.payload_options = payload_options or PayloadOptions()
        self.clock_topic = clock_topic
        self.follow_clock_messages = follow_clock_messages
        # the outbox runs on processing time, whatever event time a replay is at
        self._wall = wall or clock.now
        self._monotonic = processing_clock
        self._clock_mark: tuple[float, float] | None = None  # (event clock, processing clock)
        self.history = history
        self.metrics = metrics
        # careplug's own messages (its retained status) match broad plug filters like +/status
        self.own_topics = own_topics
        self.stats = Stats()
        self.summaries = summaries
        self._on_notifications = on_notifications
        self._inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._pending: list[
            tuple[float, int, Reading | PlugAvailability, _Message | _Ack | None]
        ] = []
        self._seq = itertools.count()
        self._to_ack: list[_Ack] = []
        self._last_done = math.floor(clock.now() / tick_s) * tick_s
        self._audit_seq = store.last_audit_seq()
        self._away_seq = store.last_away_seq()
        self._last_poll = -math.inf
        self._ack: AckFn | None = None
        self._limiter = RateLimiter()
        self._thread: threading.Thread | None = None
        self._readings_uncounted = 0
        self._routes: dict[str, _Route] = {}
        self._messages_reported: dict[str, int] = {}
        self._escalated_at = -math.inf
        # what could not be written yet (the disk was full or read-only), retried each batch
        self._unsaved_plugs: dict[PlugId, PlugMemory] = {}
        self._unsaved_households: dict[HouseholdId, HouseholdMemory] = {}
        self._unstored: list[AlertChanged] = []
        self._activity: list[tuple[HouseholdId, PlugId, float]] = []
        self.store_ok = True
        # replay mode only, touched only on paho's thread
        self._replay_now: float | None = None
        self._before_clock: list[tuple[str, bytes, bool, int, int]] = []

    # -- inputs from other threads -------------------------------------------------------------

    def set_ack(self, ack: AckFn) -> None:
        """Where to send acknowledgements (the MQTT connection)."""
        self._ack = ack

    def submit_message(self, topic: str, payload: bytes, retain: bool, mid: int, qos: int) -> None:
        """Decode one MQTT message and queue its items (called on paho's thread)."""
        out: list[object] = []
        self._take_message(topic, payload, retain, mid, qos, out, monotonic())
        if out:
            self._inbox.put(out)

    def submit_messages(self, messages: list[tuple[str, bytes, bool, int, int]]) -> None:
        """Decode MQTT messages, given as (topic, payload, retain, mid, qos) in the order they
        came, and queue their items in one step (called on paho's thread, once per receive
        buffer: one queue operation and one processing-clock reading for all of them)."""
        out: list[object] = []
        received = monotonic()
        # one receive buffer arrived at one instant: its messages share the receive time
        now = None if self.follow_clock_messages else self.clock.now()
        take = self._take_message
        for topic, payload, retain, mid, qos in messages:
            take(topic, payload, retain, mid, qos, out, received, now)
        if out:
            self._inbox.put(out)

    def _take_message(
        self,
        topic: str,
        payload: bytes,
        retain: bool,
        mid: int,
        qos: int,
        out: list[object],
        received: float,
        now: float | None = None,
    ) -> None:
        """Decode one message into ``out``; ``now``: its receive time by careplug's clock
        (read here when None; a replay goes by its clock messages instead)."""
        if self.clock_topic is not None and topic == self.clock_topic:
            self._submit_clock(payload, mid, qos, out, received)
            return
        if topic in self.own_topics:
            out.append(_Inbound([], _Message(mid, qos, 0)))
            return
        if self.follow_clock_messages:
            # a replay: "now" is the replay's last clock message; before the first one there is
            # no now to judge device clocks by, so hold the messages until it arrives
            if self._replay_now is None:
                self._before_clock.append((topic, payload, retain, mid, qos))
                return
            received_at = self._replay_now
        else:
            received_at = self.clock.now() if now is None else now
        self._decode_and_queue(topic, payload, retain, mid, qos, received_at, out, received)

    def _route(self, topic: str) -> _Route:
        # a plug publishes on the same few topics all its life: detect its family once
        if len(self._routes) > 200_000:  # bounded: hostile topics must not grow memory
            self._routes.clear()
        options = self.payload_options
        family = detect_family(topic, options)
        device = None
        if family is not None and family.name == "native":
            found = reading_device(topic, options)
            device = None if found is None else PlugId(found)
        route = self._routes[topic] = (family, family.name if family else "unknown", device)
        return route

    def _decode_and_queue(
        self,
        topic: str,
        payload: bytes,
        retain: bool,
        mid: int,
        qos: int,
        received_at: float,
        out: list[object],
        received: float,
    ) -> None:
        route = self._routes.get(topic)
        family, name, device = route if route is not None else self._route(topic)
        self.stats.messages[name] += 1
        self.stats.last_message_at = received_at
        options = self.payload_options
        if device is not None and len(payload) <= options.max_payload_bytes:
            fields = reading_fields(device, payload, received_at, options)
            if fields is not None:
                at, watts, counter = fields
                reading = Reading(device, received_at if at is None else at, watts, counter, retain)
                out.append((reading, (mid, qos, received)))
                return
        try:
            if family is None:
                raise PayloadRejected(RejectReason.UNKNOWN_TOPIC, topic[:200])
            items = decode(topic, payload, received_at, name, options)
        except PayloadRejected as exc:
            self.stats.rejected[exc.reason.value] += 1
            if self.metrics is not None:
                self.metrics.message_rejected(exc.reason.value)
            suppressed = self._limiter.allow(f"rejected:{exc.reason.value}")
            if suppressed is not None:
                log.warning(
                    "message_rejected",
                    reason=exc.reason.value,
                    family=name,
                    topic=topic[:120],
                    detail=exc.detail[:200],
                    suppressed=suppressed,
                )
            out.append(_Inbound([], _Message(mid, qos, 0)))  # ack in order with the rest
            return
        converted: list[Reading | PlugAvailability] = []
        gateway: str | None = None
        for item in items:
            at = item.time if item.time is not None else received_at
            if item.kind is ItemKind.READING:
                converted.append(
                    Reading(item.plug_id, at, item.power_w, item.energy_wh, stale=retain)
                )
                gateway = item.gateway or gateway
            elif item.kind is ItemKind.AVAILABILITY:
                if item.online is not None:
                    converted.append(PlugAvailability(item.plug_id, at, item.online))
            elif item.online is not None:
                converted.append(PlugAvailability(PlugId(item.device), at, item.online, True))
        message = _Message(mid, qos, len(converted), received)
        out.append(_Inbound(converted, message, gateway))

    def _submit_clock(
        self, payload: bytes, mid: int, qos: int, out: list[object], received: float
    ) -> None:
        try:
            body = json.loads(payload)
            at = parse_time(body["time"] if isinstance(body, dict) else body)
        except (ValueError, KeyError, TypeError, PayloadRejected):
            at = None
        if at is not None and self.follow_clock_messages:
            if self._replay_now is None or at > self._replay_now:
                self._replay_now = at
            held, self._before_clock = self._before_clock, []
            for topic, body_bytes, retain, held_mid, held_qos in held:
                self._decode_and_queue(
                    topic, body_bytes, retain, held_mid, held_qos, at, out, received
                )
            out.append(_ClockTime(at))
        out.append(_Inbound([], _Message(mid, qos, 0)))

    def connection_changed(self, up: bool, reason: str = "") -> None:
        """The broker connection went up or down (paho thread)."""
        self._inbox.put(_Connection(up, self.clock.now()))

    def call(self, fn: Callable[[], None], timeout: float = 10.0) -> None:
        """Run ``fn`` on the driver thread once what is queued before it is committed; re-raise
        what it raised. Used to swap engine and router on a configuration reload."""
        item = _Call(fn)
        self._inbox.put(item)
        if not item.done.wait(timeout):
            raise TimeoutError("the driver did not run the call in time")
        if item.error is not None:
            raise item.error

    def wake(self) -> None:
        """Ask the driver to evaluate due instants (APScheduler's job calls this)."""
        self._inbox.put(_WAKE)

    def submit(self, item: Reading | PlugAvailability) -> None:
        """Queue a reading or availability directly (replay and tests)."""
        self._inbox.put([_Inbound([item], None)])

    # -- the loop --------------------------------------------------------------------------

    def start(self) -> None:
        """Run the loop on its own thread."""
        self._thread = threading.Thread(target=self._run, name="careplug-driver", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        """Finish what is queued, commit, acknowledge, and stop."""
        self._inbox.put(_STOP)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        inbox = self._inbox
        while True:
            item = inbox.get()
            batch = [item]
            # about 5,000 messages per batch (a list holds one receive buffer's)
            size = len(item) if type(item) is list else 1
            try:
                while size < 5000:
                    item = inbox.get_nowait()
                    batch.append(item)
                    size += len(item) if type(item) is list else 1
            except queue.Empty:
                pass
            stop = any(item is _STOP for item in batch)
            try:
                self.process(batch)
            except Exception:
                # the loop must survive anything one batch does; the batch is not acked, so
                # the broker redelivers it
                log.exception("batch_failed")
            if stop:
                return

    def process_pending(self) -> list[Effect]:
        """Handle everything queued so far on the calling thread (tests, tools)."""
        batch: list[object] = []
        try:
            while True:
                batch.append(self._inbox.get_nowait())
        except queue.Empty:
            pass
        return self.process(batch)

    def process(self, batch: list[object]) -> list[Effect]:
        """Handle a batch of inbox items: feed, evaluate, commit, acknowledge."""
        effects: list[Effect] = []
        pending = self._pending
        seq = self._seq
        push = heapq.heappush
        for chunk in batch:
            if type(chunk) is not list:
                self._take(chunk)
                continue
            for item in chunk:
                if type(item) is tuple:  # _Fast: a message that is one reading
                    reading = item[0]
                    push(pending, (reading.at, next(seq), reading, item[1]))
                else:
                    self._take(item)
        self._report_messages()
        self._watch_clock_jumps()
        history = self.history
        # the batch's history points are queued in one step (one lock, not one per point)
        with contextlib.nullcontext() if history is None else history.batched():
            self._advance(self.clock.now() - self.lateness_s, effects)
            self._poll_external()
            self._commit(effects)
        if self._escalate() and self._on_notifications is not None:
            self._on_notifications()
        if self._summarize() and self._on_notifications is not None:
            self._on_notifications()
        for item in batch:
            if isinstance(item, _Call):
                try:
                    item.fn()
                except BaseException as exc:  # handed back to the caller
                    item.error = exc
                item.done.set()
        return effects

    def _take(self, item: object) -> None:
        """Take one inbox item other than a fast-path reading (a _Call runs after the commit)."""
        if isinstance(item, _Inbound):
            message = item.message
            if message is not None and message.remaining == 0:
                self._to_ack.append(message.ack())
            for entry in item.items:
                if item.gateway is not None and isinstance(entry, Reading):
                    self.engine.note_gateway(entry.plug, item.gateway)
                heapq.heappush(self._pending, (entry.at, next(self._seq), entry, message))
        elif isinstance(item, _Connection):
            if item.up:
                self.engine.connection_restored(item.at)
            else:
                self.engine.connection_lost(item.at)
        elif isinstance(item, _ClockTime) and isinstance(self.clock, VirtualClock):
            if self.clock.now() == 0.0:
                # the replay's first clock message: event time starts here
                self.engine.rebase(item.at)
                self._last_done = math.floor(item.at / self.tick_s) * self.tick_s
            self.clock.set(item.at)

    def _report_messages(self) -> None:
        """Hand the messages counted on paho's thread to the metrics, once per batch: a
        Prometheus counter takes a lock per call, which per message was measurable."""
        if self.metrics is None or self.stats.last_message_at is None:
            return
        # list() copies in one step under the GIL while paho's thread may add a family
        for name, total in list(self.stats.messages.items()):
            delta = total - self._messages_reported.get(name, 0)
            if delta:
                self._messages_reported[name] = total
                self.metrics.message_received(name, self.stats.last_message_at, delta)

    def _watch_clock_jumps(self, tolerance_s: float = 30.0) -> None:
        """A host clock stepped by NTP is not time that passed: a forward step would make
        every quiet household look later than it is (a burst of false alerts). Treat the step
        as blind time; a backward step just pauses evaluation until time catches up."""
        if self.follow_clock_messages:
            return  # a replay's clock jumps by design
        now, mono = self.clock.now(), self._monotonic()
        mark = self._clock_mark
        self._clock_mark = (now, mono)
        if mark is None:
            return
        step = (now - mark[0]) - (mono - mark[1])
        if step > tolerance_s:
            log.warning("clock_jumped", direction="forward", seconds=round(step, 1))
            self.engine.connection_lost(mark[0] + (mono - mark[1]))
            self.engine.connection_restored(now)
        elif step < -tolerance_s:
            log.warning("clock_jumped", direction="backward", seconds=round(-step, 1))

    def _next_instant(self) -> float:
        due = self.engine.next_due()
        if due is None:
            return math.inf
        instant = math.ceil(due / self.tick_s) * self.tick_s
        return max(instant, self._last_done + self.tick_s)

    def _advance(self, target: float, effects: list[Effect]) -> None:
        pending = self._pending
        engine = self.engine
        plugs = engine.plugs
        history = self.history
        to_ack = self._to_ack
        pop = heapq.heappop
        readings = enrolled = 0  # counted here and added once: this loop runs per reading
        instant = self._next_instant()
        try:
            while True:
                if pending and pending[0][0] <= target and pending[0][0] <= instant:
                    _, _, entry, message = pop(pending)
                    if isinstance(entry, Reading):
                        readings += 1
                        if entry.plug in plugs:  # an unassigned plug's reading is reported
                            enrolled += 1
                        effects.extend(engine.on_reading(entry))
                        if history is not None:
                            state = plugs.get(entry.plug)
                            history.write_reading(
                                None if state is None else state.household.spec.id,
                                entry.plug,
                                entry.at,
                                entry.power_w,
                                entry.energy_wh,
                            )
                    else:
                        effects.extend(engine.on_availability(entry))
                    if isinstance(message, tuple):  # a message that was this one reading
                        to_ack.append(message)
                    elif message is not None:
                        message.remaining -= 1
                        if message.remaining == 0:
                            to_ack.append(message.ack())
                    instant = self._next_instant()
                    continue
                if instant <= target:
                    effects.extend(engine.tick(instant))
                    self._last_done = instant
                    instant = self._next_instant()
                    continue
                break
        finally:
            self.stats.readings += readings
            self._readings_uncounted += enrolled
        if target > self._last_done and not math.isinf(instant):
            # nothing due before target: later instants may start from here
            self._last_done = max(self._last_done, math.floor(target / self.tick_s) * self.tick_s)

    def _history_effect(self, effect: Effect) -> None:
        history = self.history
        assert history is not None
        if isinstance(effect, ActivitySeen):
            history.write_activity(effect.household, effect.plug, effect.at, effect.reason.value)
        elif isinstance(effect, DeviceStatusChanged):
            history.write_device_status(effect.household, effect.plug, effect.at, effect.online)
        elif isinstance(effect, AlertChanged):
            a = effect.alert
            history.write_alert(
                a.household, a.id, a.kind.value, a.severity.value, a.state.value, effect.audit.at
            )

    def _poll_external(self) -> None:
        now = monotonic()
        if now - self._last_poll < 1.0:
            return
        self._last_poll = now
        self._away_seq, periods = self.store.away_changes(self._away_seq)
        for period in periods:
            # an open-ended stay is watched again after a year at the latest; ending a period
            # early is a return now
            end = period.ended_at if period.ended_at is not None else period.end_at
            self.engine.set_away(
                period.household,
                period.start_at,
                end if end is not None else period.start_at + 365 * 86400.0,
            )
            log.info(
                "away_period_followed",
                household_id=period.household,
                start=iso(period.start_at),
                until=iso(end),
            )
        self._audit_seq, changed = self.store.changes_from_others(self._audit_seq)
        for alert in changed:
            if (
                self.metrics is not None
                and alert.acknowledged_at is not None
                and alert.state is AlertState.ACKNOWLEDGED
            ):
                self.metrics.acknowledged(alert.kind.value, alert.raised_at, alert.acknowledged_at)
            self.engine.apply_external(alert)
            log.info(
                "alert_changed_by_person",
                alert_id=alert.id,
                state=alert.state.value,
                household_id=alert.household,
            )

    def _commit(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, AlertChanged):
                self._unstored.append(effect)
            elif isinstance(effect, ActivitySeen):
                self.stats.activity += 1
                self._activity.append((effect.household, effect.plug, effect.at))
            elif isinstance(effect, DeviceStatusChanged):
                log.info(
                    "device_status_changed",
                    household_id=effect.household,
                    plug_id=effect.plug,
                    online=effect.online,
                    reason=effect.reason,
                    at=iso(effect.at),
                )
            elif isinstance(effect, UnassignedDevice):
                self.stats.unassigned += 1
                log.warning("unassigned_device_seen", plug_id=effect.plug, at=iso(effect.at))
        notified = self._save()
        if self.history is not None:
            for effect in effects:
                self._history_effect(effect)
        if notified and self._on_notifications is not None:
            self._on_notifications()
        if not self.store_ok:
            return  # nothing is acknowledged that is not stored: the broker keeps it for us
        if self._ack is not None and self._to_ack:
            self._ack([(mid, qos) for mid, qos, _ in self._to_ack])
        if self.metrics is not None:
            now = monotonic()
            handled = self.metrics.messages_handled
            # runs of messages received together (one receive buffer) are observed at once
            run_received, run = 0.0, 0
            for _, _, received in self._to_ack:
                if received != run_received:
                    if run_received and run:
                        handled(now - run_received, run)
                    run_received, run = received, 0
                run += 1
            if run_received and run:
                handled(now - run_received, run)
            if self._readings_uncounted:
                self.metrics.readings_handled.inc(self._readings_uncounted)
        self._readings_uncounted = 0
        self._to_ack.clear()

    def _save(self) -> bool:
        """Write the engine's changes and pending alert transitions; keep them on failure.

        A full or read-only disk must not lose anything: snapshots and transitions stay in
        memory and are retried with the next batch; messages stay unacknowledged meanwhile.
        """
        plugs, households = self.engine.take_dirty()
        for plug in plugs:
            self._unsaved_plugs[plug.plug] = plug
        for household in households:
            self._unsaved_households[household.household] = household
        notified = False
        try:
            self.store.save_state(self._unsaved_plugs.values(), self._unsaved_households.values())
            self._unsaved_plugs.clear()
            self._unsaved_households.clear()
            if self._activity:
                # for the console's activity strips; the engine keeps what detection needs
                self.store.record_activity(self._activity)
                self._activity.clear()
            notified |= self._store_raised_together()
            while self._unstored:
                notified |= self._store_alert(self._unstored[0])
                self._unstored.pop(0)
        except (StoreError, sqlite3.Error) as exc:
            if self.store_ok:
                log.error(
                    "store_write_failed", error=str(exc)[:300], pending_alerts=len(self._unstored)
                )
            self.store_ok = False
            return notified
        if not self.store_ok:
            log.info("store_write_recovered")
        self.store_ok = True
        return notified

    def _store_alert(self, effect: AlertChanged) -> bool:
        alert, audit = effect.alert, effect.audit
        expected = effect.previous
        for _ in range(3):
            try:
                self.store.record_transition(
                    alert, audit, expected, self._notifications(alert, audit), self._wall()
                )
                break
            except IllegalTransition:
                # a person changed the alert first: redo the transition on their version
                stored = self.store.get_alert(alert.id)
                if stored is None or stored.state is AlertState.RESOLVED:
                    if stored is not None:
                        self.engine.apply_external(stored)
                    return False
                alert, audit = self._redo(stored, effect)
                expected = stored.state
        self._announce(alert, audit)
        return True

    def _announce(self, alert: Alert, audit: AuditEntry) -> None:
        self.stats.alerts[f"{alert.kind.value}:{audit.action}"] += 1
        log.info(
            "alert_" + ("raised" if audit.action == "raised" else audit.action),
            alert_id=alert.id,
            household_id=alert.household,
            kind=alert.kind.value,
            severity=alert.severity.value,
            at=iso(audit.at),
            since=iso(alert.since),
        )

    def _store_raised_together(self) -> bool:
        """Store the alerts raised in this pass in one transaction when some of their
        messages fold into digests (many alerts at once for one person); True if stored.
        Otherwise, or if one of them already exists, each is stored on its own as usual."""
        new = [e for e in self._unstored if e.previous is None and e.audit.action == "raised"]
        if len(new) < 2:
            return False
        plan = self.router.raised_together([(e.alert, e.audit) for e in new])
        if plan is None:
            return False
        try:
            self.store.record_new_alerts(
                [(e.alert, e.audit) for e in new], plan.notifications, self._wall()
            )
        except IllegalTransition:
            return False
        stored = {id(e) for e in new}
        self._unstored = [e for e in self._unstored if id(e) not in stored]
        for e in new:
            self._announce(e.alert, e.audit)
        log.info("digest_stored", alerts=len(new), digests=plan.digests, folded=plan.folded)
        return True

    @staticmethod
    def _redo(stored: Alert, effect: AlertChanged) -> tuple[Alert, AuditEntry]:
        new = effect.alert
        if new.outcome is not None:
            return alert_rules.resolve(
                stored, SYSTEM_ACTOR, effect.audit.at, new.outcome, effect.audit.note
            )
        return alert_rules.escalate(stored, new.severity, effect.audit.at, new.message)

    def _notifications(self, alert: Alert, audit: AuditEntry) -> list[Notification]:
        return self.router.for_transition(alert, audit)

    def _summarize(self) -> bool:
        """Store the daily summaries due at the last evaluated instant; True if any."""
        if self.summaries is None or self.router.directory is None:
            return False
        if isinstance(self.clock, VirtualClock) and self.clock.now() == 0.0:
            return False  # a replay before its first clock message has no date yet
        try:
            return (
                self.summaries.run(
                    self._last_done,
                    self.router,
                    # a view: run() lists it only when a summary is due, not every batch
                    self.engine.open_alerts.values(),
                    self.engine.household_status,
                    self._wall(),
                )
                > 0
            )
        except (StoreError, sqlite3.Error):
            return False  # the disk is failing (reported by _save): due again next time

    def _escalate(self) -> bool:
        """Store the escalation steps due at the last evaluated instant; True if any."""
        if self.router.directory is None or self._last_done <= self._escalated_at:
            return False
        self._escalated_at = self._last_done
        stored = False
        due = self.router.due_escalations(list(self.engine.open_alerts.values()), self._last_done)
        for alert, audit, before in due:
            try:
                self.store.record_transition(
                    alert, audit, before, self._notifications(alert, audit), self._wall()
                )
            except (StoreError, sqlite3.Error):
                # the disk is failing (reported by _save): the step is due again next time
                self._escalated_at = -math.inf
                return stored
            except IllegalTransition:
                # a person acknowledged or resolved it meanwhile: follow them
                current = self.store.get_alert(alert.id)
                if current is not None:
                    self.engine.apply_external(current)
                continue
            self.engine.apply_external(alert)
            stored = True
            log.info(
                "alert_escalated",
                alert_id=alert.id,
                household_id=alert.household,
                action=audit.action,
                at=iso(audit.at),
            )
        return stored
