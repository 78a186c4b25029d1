"""The detection engine: readings, availability and clock ticks in; decisions out.

Pure and single-threaded: the runtime's one thread owns it, so no locks. Every method takes the
event time it acts at; nothing here reads a clock. A household's next check is kept in a
timer heap, so a tick costs only the households that are due, which lets ticks run every second
for a hundred thousand households and an alert follow its deadline within a second.

Rules, in one place:
- *Sight*: a plug is online while it reports (no LWT offline, gateway up, a message within
  ``offline_after_periods`` report periods). A household whose activity plugs are all offline is
  *blind*: it gets a ``device_offline`` (and, past ``blind_limit_s``, a ``monitoring_blind``)
  alert, never an inactivity alert, and blind time does not count as silence.
- *Inactivity*: no activity for the tier's threshold, counted from the last activity (or first
  sight), plus any blind time since. Resolved by itself when activity resumes.
- *careplug's own outages* (broker down, daemon restart): no alert until a catch-up grace after
  sight returns, so readings queued at the broker are handled first; a broker outage counts as
  blind time.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, NamedTuple, TypeVar, overload
from zoneinfo import ZoneInfo

from careplug.domain import alerts as alert_rules
from careplug.domain.activity import ActivityConfig, ActivityReason, PlugActivity
from careplug.domain.model import (
    SYSTEM_ACTOR,
    Alert,
    AlertKind,
    AlertState,
    AuditEntry,
    EpochSeconds,
    Household,
    HouseholdId,
    Outcome,
    PlugAvailability,
    PlugId,
    PlugSpec,
    Reading,
    RiskTier,
    Severity,
)
from careplug.domain.routine import (
    ANCHORS_H,
    EMPTY_SNAPSHOT,
    MIN_SILENCE_S,
    Routine,
    RoutineConfig,
    Thresholds,
    describe_duration,
    snapshot_observed_days,
    snapshot_plus_observed,
)

HOUR = 3600.0

DEFAULT_TIER_THRESHOLDS: dict[RiskTier, float] = {
    RiskTier.HIGH: 12 * HOUR,
    RiskTier.MEDIUM: 24 * HOUR,
    RiskTier.LOW: 36 * HOUR,
}


@dataclass(frozen=True, slots=True)
class DetectionConfig:
    """Detection parameters; all durations in seconds.

    ``tier_thresholds``: hard inactivity threshold per risk tier (the backstop).
    ``default_report_period_s``: expected report period of plugs that don't set one.
    ``offline_after_periods``: missed report periods before a plug counts as offline.
    ``device_offline_grace_s``: how long a plug must stay offline before an alert.
    ``catch_up_grace_s``: after start-up or a broker reconnect, no alert for this long.
    ``never_reported_grace_s``: an enrolled plug silent this long from the start is reported.
    ``blind_limit_s``: a household blind this long gets a ``monitoring_blind`` alert.
    ``detector``: ``fixed`` (the tier threshold only) or ``learning`` (graded alerts from the
    household's learnt routine, the tier threshold as the critical backstop).
    ``away_grace_s``: no activity this long after an away period's expected return raises
    ``not_back_from_away``.
    ``left_on_factor`` / ``left_on_min_s``: (learning) an appliance on this many times its
    longest learnt use, and at least this long, raises ``appliance_left_on``.
    ``unplugged_w`` / ``unplugged_min_standby_w`` / ``unplugged_after_s``: a plug still
    reporting but drawing at most ``unplugged_w`` for ``unplugged_after_s``, where its standby
    used to be at least ``unplugged_min_standby_w`` (shown in at least
    ``unplugged_min_standby_readings`` standby readings in a row: a kettle's cooling tail is
    not a standby), raises ``unplugged`` (a blind spot).
    ``outage_share`` / ``outage_min_plugs`` / ``outage_window_s``: at least this share of an
    area's (or a gateway's) plugs, and at least this many, going offline within the window
    raise one ``area_outage`` alert and hold back their households' ``device_offline``. The
    window defaults to ``device_offline_grace_s`` (and is capped by it): a plug's own alert
    waits that grace, so an outage is always known before it would be sent.
    ``outage_resolve_share``: the outage resolves once fewer than this share of the plugs it
    took down are still offline.
    ``check_in_before_s``: (learning) for a household with a resident self-check, a silence
    this long before its tier limit raises a ``warning`` (routed to the resident first): an
    answer is a sign of life and restarts the count, no answer reaches the caseworkers before
    the limit. 0 turns it off. ``check_in_hours``: local hours (from, to) a resident may be
    asked; a check-in that would fall outside them is brought forward to ``to`` minus the lead,
    when the silence is at least half the limit by then (else none: the limit decides).
    """

    tier_thresholds: dict[RiskTier, float] = field(
        default_factory=lambda: dict(DEFAULT_TIER_THRESHOLDS)
    )
    default_report_period_s: float = 300.0
    offline_after_periods: float = 3.0
    device_offline_grace_s: float = 300.0
    catch_up_grace_s: float = 120.0
    never_reported_grace_s: float = 6 * HOUR
    blind_limit_s: float = 24 * HOUR
    activity: ActivityConfig = field(default_factory=ActivityConfig)
    detector: str = "fixed"
    routine: RoutineConfig = field(default_factory=RoutineConfig)
    away_grace_s: float = 12 * HOUR
    left_on_factor: float = 2.0
    left_on_min_s: float = 3 * HOUR
    unplugged_w: float = 0.3
    unplugged_min_standby_w: float = 0.5
    unplugged_after_s: float = 6 * HOUR
    unplugged_min_standby_readings: int = 12
    outage_share: float = 0.3
    outage_min_plugs: int = 5
    outage_window_s: float | None = None
    outage_resolve_share: float = 0.5
    check_in_before_s: float = HOUR
    check_in_hours: tuple[float, float] = (7.0, 22.0)


DETECTORS = ("fixed", "learning")

# a person's outcomes that say the silence was normal life (it may be learnt from)
_NORMAL_OUTCOMES = frozenset({Outcome.RESIDENT_OK, Outcome.FALSE_ALARM})


# -- effects: what the engine decided, for the runtime to apply ---------------------------


@dataclass(frozen=True, slots=True)
class AlertChanged:
    """An alert was raised, escalated or resolved by careplug (``event`` says which)."""

    alert: Alert
    audit: AuditEntry
    event: str
    previous: AlertState | None = None
    """The state the alert had before (None for a new alert): the store checks it."""


@dataclass(frozen=True, slots=True)
class ActivitySeen:
    """A reading counted as a sign of life."""

    household: HouseholdId
    plug: PlugId
    at: EpochSeconds
    reason: ActivityReason


@dataclass(frozen=True, slots=True)
class DeviceStatusChanged:
    """A plug went offline or came back (``reason``: lwt, missed_reports, gateway, message)."""

    household: HouseholdId
    plug: PlugId
    at: EpochSeconds
    online: bool
    reason: str


@dataclass(frozen=True, slots=True)
class UnassignedDevice:
    """A plug not in the registry sent a message (reported once per plug)."""

    plug: PlugId
    at: EpochSeconds


Effect = AlertChanged | ActivitySeen | DeviceStatusChanged | UnassignedDevice


# -- state -----------------------------------------------------------------------------------


_Value = TypeVar("_Value")


class _InRare(Generic[_Value]):
    """A plug field kept in the plug's side object (:class:`_PlugRare`, same name): None while
    the plug has none; setting it makes the side object, clearing the last one drops it."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, plug: None, owner: type | None = None) -> _InRare[_Value]: ...
    @overload
    def __get__(self, plug: PlugState, owner: type | None = None) -> _Value | None: ...
    def __get__(
        self, plug: PlugState | None, owner: type | None = None
    ) -> _InRare[_Value] | _Value | None:
        if plug is None:
            return self
        rare = plug._rare
        return None if rare is None else getattr(rare, self._name)

    def __set__(self, plug: PlugState, value: _Value | None) -> None:
        plug._set_rare(self._name, value)


class PlugState(PlugActivity):
    """What the engine knows of one plug.

    It *is* the plug's activity detector (a subclass of :class:`PlugActivity`), not a holder
    of one: one object per plug instead of two saves a header and a pointer (a hundred
    thousand households must fit a small machine). ``activity`` still names it.
    Rarely set fields (offline, an explicit offline, an unplugged load, an area outage, a
    reconnect grace) live in a side object created on first use and dropped when all are
    cleared. Not stored either: the report period (the spec's or the configured default), the
    gateway (the engine's map, for the few plugs behind one), the time of the last reading
    (the later of the last power and energy readings', when saved) and whether the standby is
    pinned (the class: :class:`_PinnedPlugState`). 14 slots: the 144-byte size class. The
    per-reading paths read ``_rare`` directly (one slot load when nothing is set, as the
    plain fields were).
    """

    __slots__ = (
        "_rare",
        "household",
        "last_message_at",
        "longest_on_s",
        "on_since",
        "spec",
        "standby_ref_w",
        "standby_streak",
    )

    def __init__(self, spec: PlugSpec, household: HouseholdState) -> None:
        super().__init__(spec.standby_w)
        self.spec = spec
        self.household = household
        self.last_message_at: float | None = None
        # the current in-use run, and the longest finished one (learning detector)
        self.on_since: float | None = None
        self.longest_on_s = 0.0
        # the standby it showed while plugged in, and since when it has drawn nothing (unplugged)
        # (standby readings in a row, counted up to unplugged_min_standby_readings only: an
        # int above 256 would be an object of its own)
        self.standby_ref_w: float | None = None
        self.standby_streak = 0
        self._rare: _PlugRare | None = None

    @property
    def activity(self) -> PlugActivity:
        """The plug's activity-detection state (the plug itself)."""
        return self

    offline_since = _InRare[float](
        "Set while the engine considers the plug offline, for any reason."
    )
    lwt_offline_since = _InRare[float](
        "Set by an explicit offline message (LWT, availability, gateway down)."
    )
    zero_since = _InRare[float](
        "Since when a plug whose standby showed it plugged in drew nothing."
    )
    outage = _InRare["Outage"](
        "The area outage this plug went down in (its own device_offline is held back)."
    )
    held_until = _InRare[float](
        "After an outage ends, a plug still offline gets a fresh grace to reconnect until then."
    )

    def _set_rare(self, name: str, value: object) -> None:
        rare = self._rare
        if rare is None:
            if value is None:
                return  # clearing what is not set makes nothing
            rare = self._rare = _PlugRare()
        setattr(rare, name, value)
        if value is None and rare.empty():
            self._rare = None  # back to the common case: nothing held


class _PinnedPlugState(PlugState):
    """A plug whose standby level is configured (``standby_w`` in the registry), never learnt:
    a class of its own, so that the flag takes no slot in every plug."""

    __slots__ = ()
    pinned_standby = True


class _PlugRare:
    """The fields of a plug that are None nearly always (see :class:`PlugState`)."""

    __slots__ = ("held_until", "lwt_offline_since", "offline_since", "outage", "zero_since")

    def __init__(self) -> None:
        self.offline_since: float | None = None
        self.lwt_offline_since: float | None = None
        self.zero_since: float | None = None
        self.outage: Outage | None = None
        self.held_until: float | None = None

    def empty(self) -> bool:
        return (
            self.offline_since is None
            and self.lwt_offline_since is None
            and self.zero_since is None
            and self.outage is None
            and self.held_until is None
        )


class Outage:
    """One open ``area_outage``: the plugs it took down and those still offline."""

    __slots__ = ("alert_key", "group", "offline", "plugs", "since")

    def __init__(self, group: OutageGroup, since: float, alert_key: tuple[HouseholdId, AlertKind]):
        self.group = group
        self.since = since
        self.alert_key = alert_key
        self.plugs: set[PlugId] = set()
        self.offline: set[PlugId] = set()


class OutageGroup:
    """Plugs that fail together: an area (``Household.area``; none is the area "") or a
    gateway. Kept cheap: a plug count and the plugs gone offline within the window, in the
    order they went (updated on each offline/online transition, never by a scan)."""

    __slots__ = ("kind", "name", "outage", "recent", "total")

    def __init__(self, kind: str, name: str) -> None:
        self.kind = kind
        self.name = name
        self.total = 0
        self.recent: dict[PlugId, float] = {}
        self.outage: Outage | None = None

    @property
    def alert_household(self) -> HouseholdId:
        """The pseudo household id of this group's ``area_outage`` alerts."""
        return HouseholdId(f"{self.kind}:{self.name or AREA_NONE}")


AREA_NONE = "(none)"
"""The name shown for the area of households without one."""


_KIND_BITS: dict[AlertKind, int] = {kind: 1 << i for i, kind in enumerate(AlertKind)}
_KINDS = (1 << len(_KIND_BITS)) - 1
# HouseholdState.suppressed_mask also holds three flags, in the bits above the kinds (set
# only for a while: a mask of 0, the common case, is a cached int, any other an object)
_SKIP_LEARN = 1 << len(_KIND_BITS)
_ROUTINE_DIRTY = 2 << len(_KIND_BITS)
_ROUTINE_UNCHECKED = 4 << len(_KIND_BITS)  # the routine's snapshot is as read from the store

# a silence's base, then its Thresholds (usual_by_h NaN: None) as float32: a duration to within
# milliseconds (an integer tier threshold exactly, so a capped level never passes it); 61 B, the
# 64-byte size class, where six doubles took 96
_LEVELS = struct.Struct("=d5f")
_BASE_ONLY = struct.Struct("=d")  # a silence's base, for which there are no learnt levels


def _unpacked_levels(packed: bytes) -> tuple[float, Thresholds]:
    """A silence's base and learnt levels from their :data:`_LEVELS` form."""
    base, attention, warning, critical, usual, by_h = _LEVELS.unpack(packed)
    return base, Thresholds(attention, warning, critical, usual, None if math.isnan(by_h) else by_h)


class KindSet:
    """A set of alert kinds kept as a bit mask: an empty ``set`` alone costs 216 bytes (a
    hundred thousand households must fit a small machine)."""

    __slots__ = ("_mask",)

    def __init__(self, kinds: Iterable[AlertKind] = ()) -> None:
        mask = 0
        for kind in kinds:
            mask |= _KIND_BITS[kind]
        self._mask = mask

    def add(self, kind: AlertKind) -> None:
        """Put ``kind`` in the set."""
        self._mask |= _KIND_BITS[kind]

    def discard(self, kind: AlertKind) -> None:
        """Take ``kind`` out of the set, if it is there."""
        self._mask &= ~_KIND_BITS[kind]

    def __contains__(self, kind: object) -> bool:
        # as a set of StrEnum members: the kind's value (a str) is in it too
        bit = _KIND_BITS.get(kind) if isinstance(kind, str) else None  # type: ignore[call-overload]
        return bit is not None and bool(self._mask & bit)

    def __iter__(self) -> Iterator[AlertKind]:
        mask = self._mask
        return iter([kind for kind, bit in _KIND_BITS.items() if mask & bit])

    def __len__(self) -> int:
        return self._mask.bit_count()


class _SuppressedKinds(KindSet):
    """A household's suppressed kinds: a :class:`KindSet` over the mask the household keeps
    in itself (made on each access, so no set object is kept per household)."""

    __slots__ = ("_state",)

    def __init__(self, state: HouseholdState) -> None:
        self._state = state

    @property
    def _mask(self) -> int:
        return self._state.suppressed_mask & _KINDS

    @_mask.setter
    def _mask(self, mask: int) -> None:
        state = self._state
        state.suppressed_mask = mask & _KINDS | state.suppressed_mask & ~_KINDS


class _HouseholdRare:
    """A household's rarely set fields: an away period (most households never have one), the
    start of a blind spell (all its activity plugs offline) and of a partly blind one (some of
    them offline or unplugged) with the partly blind time of the current silence; see
    HouseholdState."""

    __slots__ = ("awaiting_return", "blind_since", "partly_s", "partly_since", "start", "until")

    def __init__(self) -> None:
        self.start: float | None = None
        self.until: float | None = None
        self.awaiting_return = False
        self.blind_since: float | None = None
        self.partly_since: float | None = None
        self.partly_s: float | None = None

    def empty(self) -> bool:
        return (
            self.start is None
            and self.until is None
            and not self.awaiting_return
            and self.blind_since is None
            and self.partly_since is None
            and self.partly_s is None
        )


class HouseholdState:
    """What the engine knows of one household.

    Kept small (a hundred thousand of them; 12 slots, the 128-byte size class): suppressed
    kinds are a bit mask in the object itself, with ``skip_learn``, ``routine_dirty`` (the
    routine changed since saved) and whether the routine's snapshot was checked as three
    more bits; the away period and a blind spell's start are in a side object made when set
    and dropped when cleared. The per-reading paths read the mask and ``_rare`` directly (no
    property calls).

    The learnt routine is held as its snapshot (``routine_data``, :meth:`Routine.to_bytes`):
    one bytes object of under 200 bytes, where a live :class:`Routine` took ~120 more (its
    object, its array's, the observed-time float) and decoding every stored routine slowed a
    restart. :attr:`routine` decodes a copy when the engine learns or derives levels: at the
    end or start of a silence, not per reading. A snapshot read from the store is checked
    (:meth:`Routine.from_bytes`) the first time it is decoded, not at restart.
    """

    __slots__ = (
        "_rare",
        "blind_s",
        "first_seen_at",
        "last_activity_at",
        "levels",
        "plugs",
        "rearmed_at",
        "routine_data",
        "scheduled_due",
        "spec",
        "suppressed_mask",
        "threshold_s",
    )

    def __init__(self, spec: Household, threshold_s: float) -> None:
        self.spec = spec
        self.threshold_s = threshold_s
        self.plugs: tuple[PlugState, ...] = ()  # a tuple: 32 bytes less than a list
        self.last_activity_at: float | None = None
        self.first_seen_at: float | None = None
        # a caseworker closing an inactivity alert restarts the silence count from then
        self.rearmed_at: float | None = None
        self.blind_s = 0.0
        # the household's live entry in the engine's timer heap (None: nothing scheduled)
        self.scheduled_due: _Due | None = None
        # kinds a person closed while the condition still held: not raised again until it
        # clears (a KindSet mask; see ``suppressed``), and the _SKIP_LEARN bit (skip_learn)
        self.suppressed_mask = 0
        self.routine_data: bytes | None = None
        self._rare: _HouseholdRare | None = None
        # learnt levels of the current silence, packed (see Engine._levels)
        self.levels: bytes | None = None

    @property
    def suppressed(self) -> KindSet:
        """Kinds a person closed while the condition still held (a live view: ``add`` and
        ``discard`` change the household)."""
        return _SuppressedKinds(self)

    @suppressed.setter
    def suppressed(self, kinds: KindSet) -> None:
        self.suppressed_mask = kinds._mask & _KINDS | self.suppressed_mask & ~_KINDS

    @property
    def skip_learn(self) -> bool:
        """The current silence must not be learnt (a person found an incident, or it was
        away)."""
        return bool(self.suppressed_mask & _SKIP_LEARN)

    @skip_learn.setter
    def skip_learn(self, skip: bool) -> None:
        if skip:
            self.suppressed_mask |= _SKIP_LEARN
        else:
            self.suppressed_mask &= ~_SKIP_LEARN

    @property
    def routine(self) -> Routine | None:
        """A decoded copy of the learnt routine (None: the fixed detector); changing it changes
        nothing until it is assigned back."""
        data = self.routine_data
        if data is None:
            return None
        if not self.suppressed_mask & _ROUTINE_UNCHECKED:
            return Routine.from_bytes(data, trusted=True)
        routine = Routine.from_bytes(data)  # as restored: checked once
        snapshot = routine.to_bytes()
        if snapshot != data:  # an older format, or not a routine (learning starts afresh)
            self.routine_data = snapshot
        self.suppressed_mask &= ~_ROUTINE_UNCHECKED
        return routine

    @routine.setter
    def routine(self, routine: Routine | None) -> None:
        self.routine_data = None if routine is None else routine.to_bytes()
        if self.suppressed_mask & _ROUTINE_UNCHECKED:
            self.suppressed_mask &= ~_ROUTINE_UNCHECKED

    def restore_routine(self, data: bytes) -> None:
        """The routine as the store had it: kept as read (not dirty), checked when first
        decoded."""
        self.routine_data = data
        mask = self.suppressed_mask & ~_ROUTINE_DIRTY | _ROUTINE_UNCHECKED
        # the constant itself when nothing else is set: not an int object per household
        self.suppressed_mask = _ROUTINE_UNCHECKED if mask == _ROUTINE_UNCHECKED else mask

    @property
    def routine_dirty(self) -> bool:
        """The learnt routine changed since it was last saved (a bit of the mask: as a slot
        of the routine it cost that object a size class)."""
        return self.routine_data is not None and bool(self.suppressed_mask & _ROUTINE_DIRTY)

    @routine_dirty.setter
    def routine_dirty(self, dirty: bool) -> None:
        if dirty and self.routine_data is not None:
            self.suppressed_mask |= _ROUTINE_DIRTY
        else:
            self.suppressed_mask &= ~_ROUTINE_DIRTY

    def _set_rare(self, name: str, value: float | bool | None) -> None:
        cleared = value is None or value is False  # (a time of 0.0 is set, not cleared)
        rare = self._rare
        if rare is None:
            if cleared:
                return  # clearing what is not set makes nothing
            rare = self._rare = _HouseholdRare()
        setattr(rare, name, value)
        if cleared and rare.empty():
            self._rare = None  # back to the common case: nothing held

    @property
    def away_start(self) -> float | None:
        """Start of the registered away period, if any."""
        return None if self._rare is None else self._rare.start

    @away_start.setter
    def away_start(self, at: float | None) -> None:
        self._set_rare("start", at)

    @property
    def away_until(self) -> float | None:
        """Expected return of the registered away period, if any."""
        return None if self._rare is None else self._rare.until

    @away_until.setter
    def away_until(self, at: float | None) -> None:
        self._set_rare("until", at)

    @property
    def awaiting_return(self) -> bool:
        """The away period ended and no activity has been seen since its expected return."""
        return self._rare is not None and self._rare.awaiting_return

    @awaiting_return.setter
    def awaiting_return(self, waiting: bool) -> None:
        self._set_rare("awaiting_return", waiting)

    @property
    def blind_since(self) -> float | None:
        """Since when all its activity plugs are offline (None: not blind)."""
        return None if self._rare is None else self._rare.blind_since

    @blind_since.setter
    def blind_since(self, at: float | None) -> None:
        self._set_rare("blind_since", at)

    @property
    def partly_blind_since(self) -> float | None:
        """Since when some, not all, of its activity plugs are offline or unplugged."""
        return None if self._rare is None else self._rare.partly_since

    @partly_blind_since.setter
    def partly_blind_since(self, at: float | None) -> None:
        self._set_rare("partly_since", at)

    @property
    def partly_blind_s(self) -> float:
        """Partly blind time in the current silence (ended spells): the learnt levels do not
        count it, as they do not count ``blind_s``."""
        rare = self._rare
        return 0.0 if rare is None or rare.partly_s is None else rare.partly_s

    @partly_blind_s.setter
    def partly_blind_s(self, seconds: float) -> None:
        self._set_rare("partly_s", seconds if seconds > 0 else None)

    def restart_partly_blind(self, at: float) -> None:
        """A new silence begins at ``at``: its partly blind time starts from nothing (from
        ``at`` if a plug is still down)."""
        rare = self._rare
        if rare is None:
            return
        self.partly_blind_s = 0.0
        if rare.partly_since is not None:
            rare.partly_since = max(rare.partly_since, at)

    @property
    def silence_base(self) -> float | None:
        """When the current silence began to count, or None before first sight."""
        base = self.last_activity_at if self.last_activity_at is not None else self.first_seen_at
        if base is None:
            return None
        if self.rearmed_at is not None and self.rearmed_at > base:
            return self.rearmed_at
        return base


class _SharedValues(dict[float, float]):
    """Equal power values as one float object each (bounded).

    Every plug keeps its last power, and most of a city's plugs report the same few standby
    values (0, 0.5, 1.2 W: integers or tenths); each reading's value is a new float object of
    32 bytes, so sharing them saves that per plug wherever values repeat. Only the first
    ``LIMIT`` distinct values are kept, so the table stays small whatever the plugs send
    (in-use values rarely repeat; the standby values that most plugs show come from the first
    readings on). Zeros are shared only when positive, so a -0.0 stays what the plug sent.
    """

    LIMIT = 2048

    def share(self, value: float) -> float:
        """``value`` after a failed lookup: kept for sharing while there is room (a stored
        0.0 is falsy, so a lookup of zero lands here too and returns the shared zero)."""
        if value == 0.0:
            shared = self.get(0.0)
            if shared is not None and math.copysign(1.0, value) > 0:
                return shared
        if len(self) < self.LIMIT and not math.isnan(value) and math.copysign(1.0, value) > 0:
            self[value] = value
        return value


class _Due(float):
    """An entry of the engine's timer heap: the instant a household is due (the float value
    itself, so the heap compares plain floats) and the household.

    One object of 48 bytes, also kept as the household's ``scheduled_due``, where a
    ``(due, sequence, id)`` tuple, its sequence int and the due float took 128 (a hundred
    thousand households must fit a small machine). Without a sequence number, entries due at
    the same instant are ordered by household id in :meth:`Engine.tick`: deterministic, as
    push order was, whatever the replay speed.
    """

    __slots__ = ("household",)
    household: HouseholdState


def _due_household_id(entry: _Due) -> str:
    return entry.household.spec.id


class PlugMemory(NamedTuple):
    """A plug's persisted state (what a restart must not forget).

    A named tuple, not a frozen dataclass: a restart builds one per plug from a store row
    (``PlugMemory._make(row)``), and a frozen dataclass's ``__init__`` cost a quarter of a
    second per hundred thousand plugs. ``in_use`` may come back from the store as 0/1.
    """

    plug: PlugId
    last_message_at: float | None
    last_reading_at: float | None
    power_w: float | None
    power_at: float | None
    energy_wh: float | None
    energy_at: float | None
    in_use: bool | None
    standby_w: float | None
    lwt_offline_since: float | None
    offline_since: float | None
    on_since: float | None = None
    longest_on_s: float = 0.0
    standby_ref_w: float | None = None
    zero_since: float | None = None
    gateway: str | None = None
    """The gateway its messages came through: a gateway outage is rebuilt after a restart."""


class HouseholdMemory(NamedTuple):
    """A household's persisted state.

    A named tuple for the same reason as :class:`PlugMemory`: a restart builds a hundred
    thousand from store rows, where a frozen dataclass's ``__init__`` cost ~0.3 s.
    ``skip_learn`` and ``awaiting_return`` may come back from the store as 0/1.
    """

    household: HouseholdId
    last_activity_at: float | None
    first_seen_at: float | None
    rearmed_at: float | None
    blind_s: float
    blind_since: float | None
    suppressed: tuple[str, ...] = ()
    routine: bytes | None = None
    """The learnt routine (:meth:`Routine.to_bytes`); None when unchanged since last saved."""
    skip_learn: bool = False
    away_start: float | None = None
    away_until: float | None = None
    awaiting_return: bool = False
    partly_blind_s: float = 0.0
    partly_blind_since: float | None = None


class Engine:
    """Owns per-household state and decides alerts. See the module docstring for the rules."""

    def __init__(
        self, config: DetectionConfig, households: Iterable[Household], started_at: float
    ) -> None:
        self.config = config
        self.households: dict[HouseholdId, HouseholdState] = {}
        self.plugs: dict[PlugId, PlugState] = {}
        self.open_alerts: dict[tuple[HouseholdId, AlertKind], Alert] = {}
        self._unassigned: set[PlugId] = set()
        self._areas: dict[str, OutageGroup] = {}
        self._gateways: dict[str, OutageGroup] = {}
        # the gateway each plug's messages came through, for the few plugs behind one (a
        # Zigbee2MQTT bridge): not a slot of every plug
        self._plug_gateways: dict[PlugId, str] = {}
        grace = config.device_offline_grace_s
        window = config.outage_window_s
        self._outage_window = grace if window is None else min(window, grace)
        self._timers: list[_Due] = []
        self._powers = _SharedValues()
        self._dirty_plugs: set[PlugId] = set()
        self._dirty_households: set[HouseholdId] = set()
        self._started_at = started_at
        self._sight_since = started_at  # missed reports count from here at the earliest
        self._quiet_until = started_at + config.catch_up_grace_s
        self._system_blind_since: float | None = None
        if config.detector not in DETECTORS:
            raise ValueError(f"unknown detector {config.detector!r}; choose from {DETECTORS}")
        self._learning = config.detector == "learning"
        # households whose resident is asked first (a self-check): they get a check-in warning
        # before the tier limit, as a home's normal long days would otherwise page caseworkers
        self._check_in: frozenset[HouseholdId] = frozenset()
        for household in households:
            self._add_household(household)
        if self._learning:
            for state in self.households.values():
                state.routine_data = EMPTY_SNAPSHOT  # one shared object until it learns

    # -- set-up ----------------------------------------------------------------------------

    def _add_household(self, spec: Household) -> None:
        threshold = self.config.tier_thresholds[spec.tier]
        state = HouseholdState(spec, threshold)
        area = self._areas.get(spec.area or "")
        if area is None:
            area = self._areas[spec.area or ""] = OutageGroup("area", spec.area or "")
        area.total += len(spec.plugs)
        for plug_spec in spec.plugs:
            plug = (PlugState if plug_spec.standby_w is None else _PinnedPlugState)(
                plug_spec, state
            )
            state.plugs += (plug,)
            self.plugs[plug_spec.id] = plug
        self.households[spec.id] = state
        self._schedule(state, self._started_at)

    def restore(
        self,
        plugs: Iterable[PlugMemory],
        households: Iterable[HouseholdMemory],
        open_alerts: Iterable[Alert],
    ) -> None:
        """Load persisted state after a restart into this freshly built engine (unknown ids
        are ignored: the registry wins). The fields kept in side objects or mask bits are set
        only where they differ from a fresh state's: for most of a hundred thousand
        households, none (a restart's time)."""
        for memory in plugs:
            plug = self.plugs.get(memory.plug)
            if plug is None:
                continue
            plug.last_message_at = memory.last_message_at
            if memory.lwt_offline_since is not None:
                plug.lwt_offline_since = memory.lwt_offline_since
            if memory.offline_since is not None:
                plug.offline_since = memory.offline_since
            act = plug  # its own activity detector
            act.power_w, act.power_at = memory.power_w, memory.power_at
            act.energy_wh, act.energy_at = memory.energy_wh, memory.energy_at
            act.in_use = None if memory.in_use is None else bool(memory.in_use)
            plug.on_since, plug.longest_on_s = memory.on_since, memory.longest_on_s
            plug.standby_ref_w = memory.standby_ref_w
            if memory.zero_since is not None:
                plug.zero_since = memory.zero_since
            if not act.pinned_standby:
                act.standby_w = memory.standby_w
            if memory.gateway is not None:
                self.note_gateway(memory.plug, memory.gateway)
        for hm in households:
            state = self.households.get(hm.household)
            if state is None:
                continue
            state.last_activity_at = hm.last_activity_at
            state.first_seen_at = hm.first_seen_at
            state.rearmed_at = hm.rearmed_at
            state.blind_s = hm.blind_s
            if hm.blind_since is not None:
                state.blind_since = hm.blind_since
            if hm.suppressed:
                state.suppressed = KindSet(AlertKind(k) for k in hm.suppressed)
            if hm.skip_learn:
                state.skip_learn = True
            if hm.away_start is not None or hm.away_until is not None:
                state.away_start, state.away_until = hm.away_start, hm.away_until
            if hm.awaiting_return:
                state.awaiting_return = True
            if hm.partly_blind_s:
                state.partly_blind_s = hm.partly_blind_s
            if hm.partly_blind_since is not None:
                state.partly_blind_since = hm.partly_blind_since
            if hm.routine is not None and self._learning:
                state.restore_routine(hm.routine)
        for alert in open_alerts:
            if alert.state is AlertState.RESOLVED:
                continue
            if alert.household in self.households:
                self.open_alerts[(alert.household, alert.kind)] = alert
            elif alert.kind is AlertKind.AREA_OUTAGE:
                self._restore_outage(alert)
        for state in self.households.values():
            self._schedule(state, self._started_at)

    def _restore_outage(self, alert: Alert) -> None:
        """An area or gateway outage open before the restart: its plugs still offline stay
        held back, and it resolves as before once most of them are back."""
        self.open_alerts[(alert.household, alert.kind)] = alert
        for group in itertools.chain(self._areas.values(), self._gateways.values()):
            if group.alert_household != alert.household or group.outage is not None:
                continue
            outage = group.outage = Outage(
                group, alert.since or alert.raised_at, (alert.household, alert.kind)
            )
            for plug in self.plugs.values():
                member = (
                    (plug.household.spec.area or "") == group.name
                    if group.kind == "area"
                    else self._plug_gateways.get(plug.spec.id) == group.name
                )
                if member and plug.offline_since is not None and plug.outage is None:
                    plug.outage = outage
                    outage.plugs.add(plug.spec.id)
                    outage.offline.add(plug.spec.id)

    # -- inputs ----------------------------------------------------------------------------

    def on_reading(self, reading: Reading) -> list[Effect]:
        """Handle one normalised reading (event time ``reading.at``)."""
        plug = self.plugs.get(reading.plug)
        if plug is None:
            return self._unassigned_effect(reading.plug, reading.at)
        effects: list[Effect] = []
        household = plug.household
        rare = plug._rare  # (the rare fields read without a property call: per reading)
        if (
            rare is not None
            and rare.lwt_offline_since is not None
            and not reading.stale
            and reading.at > rare.lwt_offline_since
        ):
            plug.lwt_offline_since = None  # a fresh reading outranks an earlier "offline"
        self._mark_seen(plug, reading.at, effects)
        power = reading.power_w
        if power is not None:
            # the plug keeps its last power: one shared object per value (see _SharedValues)
            powers = self._powers
            power = powers.get(power) or powers.share(power)
        reason = plug.observe(reading.at, power, reading.energy_wh, self.config.activity)
        self._dirty_plugs.add(plug.spec.id)
        if power is not None and not reading.stale:
            self._track_load(plug, reading.at, power)
        if reason is not None and not reading.stale and plug.spec.shows_activity:
            if household.routine_data is not None:
                self._track_use(plug, reason, reading.at, effects)
            effects.append(ActivitySeen(household.spec.id, plug.spec.id, reading.at, reason))
            if household.last_activity_at is None or reading.at > household.last_activity_at:
                if household.routine_data is not None:
                    self._learn(household, reading.at)
                self._on_life(household, reading.at, effects)
                household.last_activity_at = reading.at
                household.blind_s = 0.0
                if household._rare is not None:
                    household.restart_partly_blind(reading.at)
                household.levels = None
                self._dirty_households.add(household.spec.id)
                self._resolve(
                    household,
                    AlertKind.INACTIVITY,
                    reading.at,
                    Outcome.ACTIVITY_RESUMED,
                    "activity resumed",
                    effects,
                )
                household.suppressed.discard(AlertKind.INACTIVITY)
        return effects

    def _track_load(self, plug: PlugState, at: float, power_w: float) -> None:
        """Follow whether the plug's load vanished (unplugged appliance, switched-off socket)."""
        rare = plug._rare  # (the rare fields read without a property call: per reading)
        if power_w <= self.config.unplugged_w:
            plug.standby_streak = 0
            ref = plug.standby_ref_w
            if (
                (rare is None or rare.zero_since is None)
                and ref is not None
                and ref >= self.config.unplugged_min_standby_w
            ):
                plug.zero_since = at
                self._schedule(plug.household, at + self.config.unplugged_after_s)
            return
        if rare is not None and rare.zero_since is not None:
            household = plug.household
            was_unplugged = self._unplugged(plug, at)
            plug.zero_since = None
            if was_unplugged and plug.spec.shows_activity:
                self._end_blindness(household, at)
            self._schedule(household, at)
        act = plug  # its own activity detector
        if act.in_use or act.standby_w is None:
            plug.standby_streak = 0
            return
        enough = self.config.unplugged_min_standby_readings
        if plug.standby_streak < enough:  # (only ">= enough" is asked: counting on is not needed)
            plug.standby_streak += 1
        if plug.standby_streak >= enough:
            plug.standby_ref_w = act.standby_w

    def _unplugged(self, plug: PlugState, at: float) -> bool:
        """The plug has drawn nothing for ``unplugged_after_s`` (it reports, yet shows nothing)."""
        rare = plug._rare
        if rare is None:
            return False
        since = rare.zero_since
        return since is not None and at >= since + self.config.unplugged_after_s

    def _check_unplugged(
        self, state: HouseholdState, at: float, next_due: list[float], effects: list[Effect]
    ) -> None:
        overdue: list[PlugState] = []
        pending = False
        for plug in state.plugs:
            if plug._rare is None or plug.zero_since is None or plug.offline_since is not None:
                continue
            pending = True
            if self._unplugged(plug, at):
                overdue.append(plug)
            else:
                next_due.append(plug.zero_since + self.config.unplugged_after_s)
        if overdue:
            since = min(p.zero_since or at for p in overdue)
            ids = sorted(p.spec.id for p in overdue)
            self._raise(
                state,
                AlertKind.UNPLUGGED,
                Severity.WARNING,
                at,
                f"{len(ids)} plug(s) drawing no power since "
                f"{local_time(since, state.spec.timezone)}: {', '.join(ids)}",
                since=since,
                details={"plugs": ids},
                effects=effects,
            )
        elif not pending:
            self._resolve(
                state, AlertKind.UNPLUGGED, at, Outcome.CONDITION_CLEARED, "load is back", effects
            )
            state.suppressed.discard(AlertKind.UNPLUGGED)

    def _learn(self, state: HouseholdState, at: float) -> None:
        """The silence that ``at`` ends is learnt, unless it was away, blind (also partly: a
        plug down may have hidden activity) or an incident."""
        start = state.last_activity_at
        if start is None or state.routine_data is None:
            return
        rare = state._rare  # (per activity reading: the mask and _rare read directly)
        if (
            state.suppressed_mask & _SKIP_LEARN
            or state.blind_s > 0
            or (
                rare is not None
                and (
                    rare.blind_since is not None
                    or rare.partly_since is not None
                    or rare.partly_s is not None
                )
            )
        ):
            state.skip_learn = False
            return
        if (
            state.away_start is not None
            and state.away_until is not None
            and start < state.away_until
            and at > state.away_start
        ):
            return
        gap = at - start
        if gap >= state.threshold_s:
            return  # past the backstop: never "normal", whoever ended it
        anchors = _anchors_after(start, at, state.spec.timezone)
        if gap < MIN_SILENCE_S and not anchors and not state.suppressed_mask & _ROUTINE_UNCHECKED:
            # a short gap between two uses (most calls): only the observed time grows, saved
            # with the next silence; the bins are copied, not decoded
            state.routine_data = snapshot_plus_observed(state.routine_data, gap)
            return
        routine = state.routine
        assert routine is not None
        # every anchor hour the silence spans learns its wait (to ``at``)
        for anchor, when, weekend in anchors:
            routine.observe_wait(anchor, weekend, (at - when) / HOUR)
        if gap < MIN_SILENCE_S:
            routine.observed_s += gap
        else:
            local = datetime.fromtimestamp(start, _zone(state.spec.timezone))
            routine.observe(local.hour, local.weekday() >= 5, gap)
        state.routine = routine
        if anchors or gap >= MIN_SILENCE_S:
            state.routine_dirty = True

    def _track_use(
        self, plug: PlugState, reason: ActivityReason, at: float, effects: list[Effect]
    ) -> None:
        """Keep the current in-use run and learn the longest finished one."""
        if reason is ActivityReason.SWITCHED_ON:
            plug.on_since = at
        elif reason is ActivityReason.SWITCHED_OFF:
            if plug.on_since is not None and not plug.household.skip_learn:
                plug.longest_on_s = max(plug.longest_on_s, at - plug.on_since)
            plug.on_since = None
            household = plug.household
            if not any(p.on_since is not None for p in household.plugs):
                self._resolve(
                    household,
                    AlertKind.APPLIANCE_LEFT_ON,
                    at,
                    Outcome.CONDITION_CLEARED,
                    "switched off",
                    effects,
                )
                household.suppressed.discard(AlertKind.APPLIANCE_LEFT_ON)

    def _check_left_on(
        self, state: HouseholdState, at: float, next_due: list[float], effects: list[Effect]
    ) -> None:
        """An appliance on far longer than this household ever kept it on."""
        data = state.routine_data
        if data is None or snapshot_observed_days(data) < self.config.routine.usable_days:
            return
        for plug in state.plugs:
            if plug.on_since is None or plug.longest_on_s <= 0 or not plug.spec.shows_activity:
                continue
            if plug.offline_since is not None:
                continue  # on when last seen: it may have been switched off since (a blind spot)
            limit = plug.on_since + max(
                self.config.left_on_min_s, self.config.left_on_factor * plug.longest_on_s
            )
            if at < limit:
                next_due.append(limit)
                continue
            self._raise(
                state,
                AlertKind.APPLIANCE_LEFT_ON,
                Severity.WARNING,
                at,
                f"{plug.spec.appliance.value} on since "
                f"{local_time(plug.on_since, state.spec.timezone)}; the longest it was ever on "
                f"here is {describe_duration(plug.longest_on_s)}",
                since=plug.on_since,
                details={"plug": plug.spec.id, "longest_on_h": round(plug.longest_on_s / HOUR, 2)},
                effects=effects,
            )

    def _on_life(self, state: HouseholdState, at: float, effects: list[Effect]) -> None:
        """Activity at ``at`` clears a missed return. It does not end an away period: the
        resident packing, a relative watering plants; monitoring resumes at the return."""
        if state.awaiting_return:
            state.awaiting_return = False
            self._resolve(
                state,
                AlertKind.NOT_BACK_FROM_AWAY,
                at,
                Outcome.ACTIVITY_RESUMED,
                "activity after the away period",
                effects,
            )
            state.suppressed.discard(AlertKind.NOT_BACK_FROM_AWAY)

    def set_away(
        self, household: HouseholdId, start: EpochSeconds, expected_return: EpochSeconds
    ) -> list[Effect]:
        """A caseworker registered an away period (hospital, trip, family stay).

        From ``start`` to ``expected_return`` no inactivity alert is raised (an open one is
        closed at ``start``) and nothing is learnt; monitoring resumes by itself at the
        return, and no activity for ``away_grace_s`` after it raises ``not_back_from_away``.
        Returns the effects due now (none).
        """
        state = self.households.get(household)
        if state is None or expected_return <= start:
            return []
        state.away_start, state.away_until = start, expected_return
        state.awaiting_return = False
        self._dirty_households.add(household)
        self._schedule(state, start)
        return []

    def _check_away(
        self, state: HouseholdState, at: float, next_due: list[float], effects: list[Effect]
    ) -> bool:
        """True while the household is away (no inactivity check then)."""
        start, until = state.away_start, state.away_until
        if start is None or until is None:
            return False
        if at < start:
            next_due.append(start)
            return False
        if at < until:
            self._resolve(
                state, AlertKind.INACTIVITY, at, Outcome.AWAY, "away period began", effects
            )
            next_due.append(until)
            return True
        last = state.last_activity_at
        if last is None or last < until:
            if not state.awaiting_return and (state.rearmed_at or 0.0) < until:
                # monitoring resumes at the return: the silence counts from then
                state.awaiting_return = True
                state.rearmed_at = until
                state.skip_learn = True
                state.blind_s = 0.0
                state.restart_partly_blind(until)
                state.levels = None
                self._dirty_households.add(state.spec.id)
            if state.awaiting_return:
                limit = until + self.config.away_grace_s
                if at >= limit:
                    self._raise(
                        state,
                        AlertKind.NOT_BACK_FROM_AWAY,
                        Severity.WARNING,
                        at,
                        f"not back from away: no activity since the expected return at "
                        f"{local_time(until, state.spec.timezone)}",
                        since=until,
                        effects=effects,
                    )
                else:
                    next_due.append(limit)
        return False

    def on_availability(self, item: PlugAvailability) -> list[Effect]:
        """Handle an online/offline message of a plug or, with ``gateway``, of a gateway."""
        if item.gateway:
            return self._on_gateway(item)
        plug = self.plugs.get(item.plug)
        if plug is None:
            return self._unassigned_effect(item.plug, item.at)
        effects: list[Effect] = []
        self._dirty_plugs.add(plug.spec.id)
        if item.online:
            plug.lwt_offline_since = None
            self._mark_seen(plug, item.at, effects)
        else:
            if plug.lwt_offline_since is None:
                plug.lwt_offline_since = item.at
            self._set_offline(plug, item.at, "lwt", effects)
            self._schedule(plug.household, item.at + self.config.device_offline_grace_s)
        return effects

    def note_gateway(self, plug_id: PlugId, gateway: str) -> None:
        """Remember which gateway a plug's messages come through (e.g. a Zigbee2MQTT bridge)."""
        gateways = self._plug_gateways
        was = gateways.get(plug_id)
        if was == gateway or plug_id not in self.plugs:
            return
        if was is not None:
            self._gateways[was].total -= 1
        gateways[plug_id] = gateway
        self._dirty_plugs.add(plug_id)  # persisted: a gateway outage must survive a restart
        group = self._gateways.get(gateway)
        if group is None:
            group = self._gateways[gateway] = OutageGroup("gateway", gateway)
        group.total += 1

    def _on_gateway(self, item: PlugAvailability) -> list[Effect]:
        effects: list[Effect] = []
        for plug_id, gateway in self._plug_gateways.items():
            if gateway != item.plug:
                continue
            plug = self.plugs[plug_id]
            self._dirty_plugs.add(plug.spec.id)
            if item.online:
                if plug.lwt_offline_since is not None:
                    plug.lwt_offline_since = None
                    # the gateway is back: its plugs get a fresh report window
                    plug.last_message_at = max(plug.last_message_at or item.at, item.at)
                    self._mark_seen(plug, item.at, effects)
            else:
                if plug.lwt_offline_since is None:
                    plug.lwt_offline_since = item.at
                self._set_offline(plug, item.at, "gateway", effects)
                self._schedule(plug.household, item.at + self.config.device_offline_grace_s)
        return effects

    def rebase(self, started_at: EpochSeconds) -> None:
        """Start watching at ``started_at`` instead (a replay's first clock message)."""
        self._started_at = started_at
        self._sight_since = started_at
        self._quiet_until = started_at + self.config.catch_up_grace_s
        self._timers.clear()
        for state in self.households.values():
            state.scheduled_due = None
            self._schedule(state, started_at)

    def connection_lost(self, at: EpochSeconds) -> None:
        """careplug lost its broker: from now on it sees nothing (blind, not inactive)."""
        if self._system_blind_since is None:
            self._system_blind_since = at

    def connection_restored(self, at: EpochSeconds) -> None:
        """The broker is back: the outage counts as blind time; then a catch-up grace."""
        since = self._system_blind_since
        self._system_blind_since = None
        if since is not None:
            outage = max(0.0, at - since)
            for state in self.households.values():
                if state.blind_since is None:  # a household already blind counts it itself
                    state.blind_s += outage
                    self._dirty_households.add(state.spec.id)
        self._sight_since = max(self._sight_since, at)
        self._quiet_until = max(self._quiet_until, at + self.config.catch_up_grace_s)
        for state in self.households.values():
            self._schedule(state, self._quiet_until)

    def set_self_check(self, households: Iterable[HouseholdId]) -> None:
        """The households whose warnings ask the resident first (from the recipients file);
        with the learning detector they get a check-in ``check_in_before_s`` before the limit."""
        check_in = frozenset(households)
        changed = check_in ^ self._check_in
        self._check_in = check_in
        for hid in changed:
            state = self.households.get(hid)
            if state is not None:
                self._schedule(state, self._started_at)

    def apply_external(self, alert: Alert) -> None:
        """A person changed an alert (ack or resolve, through the store): follow it."""
        key = (alert.household, alert.kind)
        state = self.households.get(alert.household)
        if alert.state is AlertState.RESOLVED:
            current = self.open_alerts.get(key)
            if current is not None and current.id == alert.id:
                del self.open_alerts[key]
            if state is not None and alert.resolved_at is not None:
                if alert.kind is AlertKind.INACTIVITY:
                    state.rearmed_at = max(state.rearmed_at or 0.0, alert.resolved_at)
                    state.blind_s = 0.0
                    state.restart_partly_blind(state.rearmed_at)
                    state.levels = None
                    if alert.outcome not in _NORMAL_OUTCOMES:
                        state.skip_learn = True  # an incident or absence: not a routine
                else:
                    state.suppressed.add(alert.kind)
                self._dirty_households.add(state.spec.id)
                self._schedule(state, alert.resolved_at)
        else:
            self.open_alerts[key] = alert

    # -- time --------------------------------------------------------------------------------

    def next_due(self) -> float | None:
        """The earliest event time at which some household needs a check."""
        return self._timers[0] if self._timers else None

    def tick(self, at: EpochSeconds) -> list[Effect]:
        """Evaluate every household due at or before ``at``, as of ``at``.

        Households due at the same instant are evaluated in household-id order (a heap entry
        carries no push sequence: see :class:`_Due`), whatever order they were scheduled in.
        """
        effects: list[Effect] = []
        timers = self._timers
        pop = heapq.heappop
        while timers and timers[0] <= at:
            entry = pop(timers)
            if timers and timers[0] == entry:
                tied = [entry]
                while timers and timers[0] == entry:
                    tied.append(pop(timers))
                tied.sort(key=_due_household_id)
                for entry in tied:
                    self._due_now(entry, at, effects)
                continue
            state = entry.household  # (the common case inline: no call)
            if state.scheduled_due is not entry:
                continue  # superseded by an earlier schedule
            state.scheduled_due = None
            self._evaluate(state, at, effects)
        return effects

    def _due_now(self, entry: _Due, at: float, effects: list[Effect]) -> None:
        state = entry.household
        if state.scheduled_due is not entry:
            return  # superseded by an earlier schedule (or already evaluated)
        state.scheduled_due = None
        self._evaluate(state, at, effects)

    def _schedule(self, state: HouseholdState, due: float) -> None:
        if state.scheduled_due is not None and state.scheduled_due <= due:
            return
        entry = state.scheduled_due = _Due(due)
        entry.household = state
        heapq.heappush(self._timers, entry)

    # -- evaluation --------------------------------------------------------------------------

    def _evaluate(self, state: HouseholdState, at: float, effects: list[Effect]) -> None:
        if self._system_blind_since is not None:
            return  # re-scheduled on reconnect
        if at < self._quiet_until:
            self._schedule(state, self._quiet_until)
            return
        next_due: list[float] = []
        seeing = False
        down_since: float | None = None  # the earliest activity plug offline or unplugged
        offline: list[PlugState] = []
        never: list[PlugState] = []
        for plug in state.plugs:
            rare = plug._rare  # (lwt_offline_since without a property call)
            if plug.last_message_at is None and (rare is None or rare.lwt_offline_since is None):
                never.append(plug)
                continue
            limit = self._offline_at(plug)
            if (rare is None or rare.lwt_offline_since is None) and at < limit:
                next_due.append(limit)
                if plug.spec.shows_activity:
                    if not self._unplugged(plug, at):
                        seeing = True
                    else:
                        zero = plug.zero_since if plug.zero_since is not None else at
                        down_since = zero if down_since is None else min(down_since, zero)
                continue
            if plug.offline_since is None:
                self._set_offline(plug, min(limit, at), "missed_reports", effects)
            offline.append(plug)
            if plug.spec.shows_activity:
                gone = plug.offline_since if plug.offline_since is not None else at
                down_since = gone if down_since is None else min(down_since, gone)

        self._update_blindness(state, at, seeing, never, next_due, effects)
        self._update_partly_blind(state, at, down_since if seeing else None, effects)
        self._check_device_offline(state, at, offline, next_due, effects)
        self._check_never_reported(state, at, never, next_due, effects)
        self._check_unplugged(state, at, next_due, effects)
        away = self._check_away(state, at, next_due, effects)
        if seeing and not away:
            self._check_inactivity(state, at, next_due, effects)
            self._check_left_on(state, at, next_due, effects)
        if next_due:
            self._schedule(state, max(min(next_due), at + 1.0))

    def _offline_at(self, plug: PlugState) -> float:
        last = max(plug.last_message_at or self._sight_since, self._sight_since)
        period = plug.spec.report_period_s or self.config.default_report_period_s
        return last + self.config.offline_after_periods * period

    def _update_blindness(
        self,
        state: HouseholdState,
        at: float,
        seeing: bool,
        never: list[PlugState],
        next_due: list[float],
        effects: list[Effect],
    ) -> None:
        has_activity_plugs = any(p.spec.shows_activity for p in state.plugs)
        blind = has_activity_plugs and not seeing and state.first_seen_at is not None
        if blind:
            if state.blind_since is None:
                since = max(
                    (p.offline_since or at for p in state.plugs if p.spec.shows_activity),
                    default=at,
                )
                state.blind_since = min(since, at)
                self._dirty_households.add(state.spec.id)
            limit_at = state.blind_since + self.config.blind_limit_s
            in_outage = all(
                p.outage is not None
                for p in state.plugs
                if p.spec.shows_activity and p.offline_since is not None
            ) and any(p.outage is not None for p in state.plugs)
            if in_outage:
                pass  # one area_outage covers it; re-checked when the outage ends
            elif at >= limit_at:
                self._raise(
                    state,
                    AlertKind.MONITORING_BLIND,
                    Severity.WARNING,
                    at,
                    "monitoring blind: no plug of this household has reported since "
                    f"{local_time(state.blind_since, state.spec.timezone)}",
                    since=state.blind_since,
                    effects=effects,
                )
            else:
                next_due.append(limit_at)
        elif state.blind_since is not None and seeing:
            self._end_blindness(state, at)

    def _update_partly_blind(
        self, state: HouseholdState, at: float, since: float | None, effects: list[Effect]
    ) -> None:
        """Some, not all, activity plugs down (offline or unplugged) since ``since``: the
        household is partly blind. Its learnt levels wait until they are back and then leave
        that time out of the silence (a plug down may have hidden a sign of life); the tier
        limit keeps counting (the other plugs still see) but, reached meanwhile, raises
        ``monitoring_blind`` (see :meth:`_raise_partly_blind`), resolved here when the plugs
        are back."""
        began = state.partly_blind_since
        if since is not None:
            if began is None:
                base = state.silence_base
                state.partly_blind_since = min(at, max(since, base if base is not None else since))
                self._dirty_households.add(state.spec.id)
            return
        if began is None:
            return
        # back, or every plug down now (a blind spell, counted in blind_s from its start)
        end = at if state.blind_since is None else max(began, min(at, state.blind_since))
        state.partly_blind_s = state.partly_blind_s + max(0.0, end - began)
        state.partly_blind_since = None
        self._dirty_households.add(state.spec.id)
        blind = self.open_alerts.get((state.spec.id, AlertKind.MONITORING_BLIND))
        if blind is not None and blind.details.get("partly") and state.blind_since is None:
            self._resolve(
                state,
                AlertKind.MONITORING_BLIND,
                at,
                Outcome.DEVICE_BACK_ONLINE,
                "the plugs are back",
                effects,
            )

    def _end_blindness(self, state: HouseholdState, at: float) -> None:
        if state.blind_since is not None:
            state.blind_s += max(0.0, at - state.blind_since)
            state.blind_since = None
            self._dirty_households.add(state.spec.id)

    def _check_device_offline(
        self,
        state: HouseholdState,
        at: float,
        offline: list[PlugState],
        next_due: list[float],
        effects: list[Effect],
    ) -> None:
        grace = self.config.device_offline_grace_s
        # plugs down in an area outage are held back: the outage is one alert for them all
        own = [p for p in offline if p.outage is None]

        def due(plug: PlugState) -> float:
            return max((plug.offline_since or at) + grace, plug.held_until or 0.0)

        overdue = [p for p in own if at >= due(p)]
        for plug in own:
            if plug not in overdue:
                next_due.append(due(plug))
        if overdue:
            since = min(p.offline_since or at for p in overdue)
            ids = sorted(p.spec.id for p in overdue)
            self._raise(
                state,
                AlertKind.DEVICE_OFFLINE,
                Severity.WARNING,
                at,
                f"{len(ids)} plug(s) offline since {local_time(since, state.spec.timezone)}: "
                f"{', '.join(ids)}",
                since=since,
                details={"plugs": ids},
                effects=effects,
            )
        elif not offline:
            self._resolve(
                state,
                AlertKind.DEVICE_OFFLINE,
                at,
                Outcome.DEVICE_BACK_ONLINE,
                "all plugs online",
                effects,
            )
            state.suppressed.discard(AlertKind.DEVICE_OFFLINE)

    def _check_never_reported(
        self,
        state: HouseholdState,
        at: float,
        never: list[PlugState],
        next_due: list[float],
        effects: list[Effect],
    ) -> None:
        if not never:
            self._resolve(
                state,
                AlertKind.NEVER_REPORTED,
                at,
                Outcome.CONDITION_CLEARED,
                "every plug has reported",
                effects,
            )
            return
        limit = self._started_at + self.config.never_reported_grace_s
        if at >= limit:
            ids = sorted(p.spec.id for p in never)
            self._raise(
                state,
                AlertKind.NEVER_REPORTED,
                Severity.WARNING,
                at,
                f"{len(ids)} enrolled plug(s) never reported: {', '.join(ids)}",
                since=self._started_at,
                details={"plugs": ids},
                effects=effects,
            )
        else:
            next_due.append(limit)

    def _check_inactivity(
        self, state: HouseholdState, at: float, next_due: list[float], effects: list[Effect]
    ) -> None:
        base = state.silence_base
        if base is None:
            return
        deadline = self.inactivity_deadline(state)
        assert deadline is not None
        if at >= deadline and state.partly_blind_since is not None:
            self._raise_partly_blind(state, at, base, effects)
            return  # re-evaluated when the plug is back: the limit then counts without it
        if at >= deadline:
            hours = state.threshold_s / HOUR
            self._raise_or_escalate(
                state,
                Severity.CRITICAL,
                at,
                f"no activity since {local_time(base, state.spec.timezone)} "
                f"({(at - base) / HOUR:.1f} h); "
                f"the {state.spec.tier.value}-risk limit is {hours:g} h",
                since=base,
                details={"threshold_h": hours, "tier": state.spec.tier.value},
                effects=effects,
            )
            return
        next_due.append(deadline)
        if state.awaiting_return:
            return
        lead = self.config.check_in_before_s
        if lead > 0 and self._learning and state.spec.id in self._check_in:
            # None: it would fall in the resident's night, and the limit decides
            check_at = self._check_in_at(state, base, deadline)
            if check_at is not None and at >= check_at:
                hours = state.threshold_s / HOUR
                self._raise_or_escalate(
                    state,
                    Severity.WARNING,
                    at,
                    f"no activity since {local_time(base, state.spec.timezone)} "
                    f"({(at - base) / HOUR:.1f} h); checking in before the "
                    f"{state.spec.tier.value}-risk limit of {hours:g} h",
                    since=base,
                    details={"check_in": True, "threshold_h": hours},
                    effects=effects,
                )
            elif check_at is not None:
                next_due.append(check_at)
        if state.routine_data is None:
            return
        rare = state._rare
        if rare is not None and rare.partly_since is not None:
            return  # a plug is down: the learnt levels wait for it (re-evaluated when back)
        unseen = state.blind_s + state.partly_blind_s
        silence = at - base - unseen
        if silence < self.config.routine.attention_min_s:
            next_due.append(base + unseen + self.config.routine.attention_min_s)
            return
        levels = self._levels(state, base)
        if levels is None:
            return
        reached: Severity | None = None
        for severity, after in (
            (Severity.CRITICAL, levels.critical_s),
            (Severity.WARNING, levels.warning_s),
            (Severity.ATTENTION, levels.attention_s),
        ):
            if silence >= after:
                reached = severity
                break
            next_due.append(base + unseen + after)
        if reached is None:
            return
        tz = state.spec.timezone
        if levels.usual_by_h is not None and reached is not Severity.ATTENTION:
            usual_by = levels.usual_by_h
            usual = f"usually active again by {int(usual_by):02d}:{int(usual_by % 1 * 60):02d}"
        else:
            usual = f"usually active again within {describe_duration(levels.usual_s)} at this hour"
        self._raise_or_escalate(
            state,
            reached,
            at,
            f"no activity since {local_time(base, tz)}; {usual}",
            since=base,
            details={
                "silence_h": round(silence / HOUR, 2),
                "usual_h": round(levels.usual_s / HOUR, 2),
                "detector": "learning",
            },
            effects=effects,
        )

    def _check_in_at(self, state: HouseholdState, base: float, deadline: float) -> float | None:
        """When to ask the resident of this silence: the lead before the limit, or, when that
        is in their night, the evening before (if the silence is long enough by then)."""
        lead = self.config.check_in_before_s
        at = deadline - lead
        tz = _zone(state.spec.timezone)
        local = datetime.fromtimestamp(at, tz)
        hour = local.hour + local.minute / 60.0
        begin, end = self.config.check_in_hours
        if begin <= hour < end:
            return at
        # the last check-in of the evening before: ``end`` local on the day, or the day before
        day = local - timedelta(days=1) if hour < begin else local
        evening = day.replace(hour=int(end), minute=int(end % 1 * 60), second=0, microsecond=0)
        earlier = evening.timestamp() - lead
        if earlier - base < state.threshold_s / 2:
            return None
        return earlier

    def _levels(self, state: HouseholdState, base: float) -> Thresholds | None:
        """The learnt levels of the silence from ``base``, derived once per silence and kept
        packed: at night nearly every household holds its own, and one bytes object takes
        64 B where a ``(base, Thresholds)`` tuple with its floats took ~270."""
        cached = state.levels
        if cached is not None:
            if len(cached) == _BASE_ONLY.size:
                if _BASE_ONLY.unpack(cached)[0] == base:
                    return None
            else:
                cached_base, thresholds = _unpacked_levels(cached)
                if cached_base == base:
                    return thresholds
        routine = state.routine
        assert routine is not None
        local = datetime.fromtimestamp(base, _zone(state.spec.timezone))
        levels = routine.thresholds(local.hour, local.weekday() >= 5, self.config.routine)
        levels = self._with_waits(state, routine, base, levels)
        if levels is not None and levels.critical_s > state.threshold_s:
            levels = Thresholds(
                min(levels.attention_s, state.threshold_s),
                min(levels.warning_s, state.threshold_s),
                state.threshold_s,
                levels.usual_s,
            )
        if levels is None:
            state.levels = _BASE_ONLY.pack(base)
            return None
        by_h = math.nan if levels.usual_by_h is None else levels.usual_by_h
        packed = state.levels = _LEVELS.pack(
            base, levels.attention_s, levels.warning_s, levels.critical_s, levels.usual_s, by_h
        )
        # the levels as kept, from the first use on: every evaluation of the silence agrees
        return _unpacked_levels(packed)[1]

    def _with_waits(
        self, state: HouseholdState, routine: Routine, base: float, levels: Thresholds | None
    ) -> Thresholds | None:
        """Bring the warning forward when the silence outlasts the usual wait from one of the
        anchor hours it spans ("not started the day", "no evening")."""
        config = self.config.routine
        if routine.observed_days < config.usable_days:
            return levels
        best: tuple[float, float] | None = None  # (warning at, usually active again by)
        horizon = base + state.threshold_s
        for anchor, when, weekend in _anchors_after(base, horizon, state.spec.timezone):
            expected = routine.expected_wait(anchor, weekend, config)
            if expected is None:
                continue
            usual, improbable = expected
            warn_at = when + improbable * HOUR
            if best is None or warn_at < best[0]:
                best = (warn_at, (ANCHORS_H[anchor] + usual) % 24.0)
        if best is None:
            return levels
        limit = max(config.warning_min_s, best[0] - base)
        if levels is None:
            return Thresholds(limit, limit, state.threshold_s, limit, best[1])
        if limit >= levels.warning_s:
            return levels
        return Thresholds(
            min(levels.attention_s, limit),
            limit,
            max(levels.critical_s, limit),
            levels.usual_s,
            best[1],
        )

    def _raise_or_escalate(
        self,
        state: HouseholdState,
        severity: Severity,
        at: float,
        message: str,
        *,
        since: float,
        details: dict[str, object],
        effects: list[Effect],
    ) -> None:
        """One open inactivity alert per household: raised once, then only escalated."""
        current = self.open_alerts.get((state.spec.id, AlertKind.INACTIVITY))
        if current is None:
            self._raise(
                state,
                AlertKind.INACTIVITY,
                severity,
                at,
                message,
                since=since,
                details=details,
                effects=effects,
            )
            return
        order = list(Severity)
        if order.index(severity) <= order.index(current.severity):
            return
        escalated, audit = alert_rules.escalate(current, severity, at, message)
        self.open_alerts[(state.spec.id, AlertKind.INACTIVITY)] = escalated
        effects.append(AlertChanged(escalated, audit, "escalated", current.state))

    def inactivity_deadline(self, state: HouseholdState) -> float | None:
        """When the current silence becomes an inactivity alert (blind time, also partly
        blind time of ended spells, excluded)."""
        base = state.silence_base
        if base is None:
            return None
        return base + state.threshold_s + state.blind_s + state.partly_blind_s

    def _raise_partly_blind(
        self, state: HouseholdState, at: float, base: float, effects: list[Effect]
    ) -> None:
        """The tier limit reached while some activity plugs are down: a blind spot, told to
        the caseworkers as ``monitoring_blind`` (someone calls at the limit), not inactivity
        (the plug down may have seen the resident)."""
        since = state.partly_blind_since
        assert since is not None
        down = sorted(
            p.spec.id
            for p in state.plugs
            if p.spec.shows_activity
            and (
                p.offline_since is not None or (p.zero_since is not None and self._unplugged(p, at))
            )
        )
        tz = state.spec.timezone
        self._raise(
            state,
            AlertKind.MONITORING_BLIND,
            Severity.WARNING,
            at,
            f"monitoring partly blind: {', '.join(down) or 'a plug'} down since "
            f"{local_time(since, tz)}; the other plugs show no activity since "
            f"{local_time(base, tz)} ({(at - base) / HOUR:.1f} h), past the "
            f"{state.spec.tier.value}-risk limit of {state.threshold_s / HOUR:g} h",
            since=since,
            details={"partly": True, "plugs": len(down), "down": down},
            effects=effects,
        )

    # -- helpers -------------------------------------------------------------------------------

    def _mark_seen(self, plug: PlugState, at: float, effects: list[Effect]) -> None:
        household = plug.household
        if plug.last_message_at is None:
            # its first message: the household's timer may still wait for the never-reported
            # grace, which can be later than this plug's offline or inactivity deadline
            self._schedule(household, at)
        if plug.last_message_at is None or at > plug.last_message_at:
            plug.last_message_at = at
        if household.first_seen_at is None:
            household.first_seen_at = at
            self._dirty_households.add(household.spec.id)
        rare = plug._rare  # (per message: no property call when nothing rare is set)
        if rare is not None and rare.offline_since is not None and rare.lwt_offline_since is None:
            plug.offline_since = None
            effects.append(
                DeviceStatusChanged(household.spec.id, plug.spec.id, at, True, "message")
            )
            self._came_online(plug, at, effects)
            if plug.spec.shows_activity and not self._unplugged(plug, at):
                self._end_blindness(household, at)
            self._schedule(household, at)
        elif (
            household._rare is not None  # (per reading: no property call when not blind)
            and household._rare.blind_since is not None
            and plug.spec.shows_activity
            and not self._unplugged(plug, at)
        ):
            self._end_blindness(household, at)
            self._schedule(household, at)
        if (household.spec.id, AlertKind.NEVER_REPORTED) in self.open_alerts:
            self._schedule(household, at)

    def _set_offline(self, plug: PlugState, at: float, reason: str, effects: list[Effect]) -> None:
        if plug.offline_since is not None:
            return
        plug.offline_since = at
        self._dirty_plugs.add(plug.spec.id)
        effects.append(DeviceStatusChanged(plug.household.spec.id, plug.spec.id, at, False, reason))
        for group in self._groups(plug):
            self._went_offline(group, plug, at, effects)

    def _groups(self, plug: PlugState) -> list[OutageGroup]:
        groups = [self._areas[plug.household.spec.area or ""]]
        gateway = self._plug_gateways.get(plug.spec.id)
        if gateway is not None:
            groups.append(self._gateways[gateway])
        return groups

    def _went_offline(
        self, group: OutageGroup, plug: PlugState, at: float, effects: list[Effect]
    ) -> None:
        """Count a plug gone offline; enough of the group within the window is an outage."""
        outage = group.outage
        if outage is not None:
            if plug.outage is None:
                plug.outage = outage
                outage.plugs.add(plug.spec.id)
                outage.offline.add(plug.spec.id)
            return
        recent = group.recent
        if plug.outage is None:  # already down in another group's outage: counted there
            recent[plug.spec.id] = at
        horizon = at - self._outage_window
        while recent:
            oldest = next(iter(recent))
            if recent[oldest] >= horizon:
                break
            del recent[oldest]
        if len(recent) < max(self.config.outage_min_plugs, self.config.outage_share * group.total):
            return
        taken = [pid for pid in recent if self.plugs[pid].outage is not None]
        if taken:
            for pid in taken:
                del recent[pid]
            if len(recent) < max(
                self.config.outage_min_plugs, self.config.outage_share * group.total
            ):
                return
        members = list(recent)
        since = min(recent.values())
        key = (group.alert_household, AlertKind.AREA_OUTAGE)
        outage = group.outage = Outage(group, since, key)
        for pid in members:
            self.plugs[pid].outage = outage
            outage.plugs.add(pid)
            outage.offline.add(pid)
        recent.clear()
        households = {self.plugs[pid].household.spec.id for pid in outage.plugs}
        name = group.name or AREA_NONE
        what = "area" if group.kind == "area" else "gateway"
        if key in self.open_alerts:
            return
        alert, audit = alert_rules.raise_alert(
            key[0],
            AlertKind.AREA_OUTAGE,
            Severity.WARNING,
            at,
            f"{what} {name}: {len(outage.plugs)} plugs in {len(households)} households went "
            f"offline together since {local_time(since, plug.household.spec.timezone)}",
            since=since,
            details={
                "area": name,
                "group": group.kind,
                "plugs": len(outage.plugs),
                "households": len(households),
            },
        )
        self.open_alerts[key] = alert
        effects.append(AlertChanged(alert, audit, "raised"))

    def _came_online(self, plug: PlugState, at: float, effects: list[Effect]) -> None:
        for group in self._groups(plug):
            group.recent.pop(plug.spec.id, None)
        outage = plug.outage
        if outage is None:
            return
        plug.outage = None
        outage.offline.discard(plug.spec.id)
        if len(outage.offline) >= self.config.outage_resolve_share * len(outage.plugs):
            return
        # most are back: the outage ends; plugs still offline get their own alerts now
        outage.group.outage = None
        for pid in sorted(outage.offline):  # sorted: timer order must not depend on hashing
            member = self.plugs[pid]
            member.outage = None
            member.held_until = at + self.config.device_offline_grace_s
            self._schedule(member.household, member.held_until)
        alert = self.open_alerts.pop(outage.alert_key, None)
        if alert is not None:
            resolved, audit = alert_rules.resolve(
                alert,
                SYSTEM_ACTOR,
                at,
                Outcome.DEVICE_BACK_ONLINE,
                f"{len(outage.plugs) - len(outage.offline)} of {len(outage.plugs)} plugs back",
            )
            effects.append(AlertChanged(resolved, audit, "resolved", alert.state))

    def _unassigned_effect(self, plug: PlugId, at: float) -> list[Effect]:
        if plug in self._unassigned:
            return []
        self._unassigned.add(plug)
        return [UnassignedDevice(plug, at)]

    def _raise(
        self,
        state: HouseholdState,
        kind: AlertKind,
        severity: Severity,
        at: float,
        message: str,
        *,
        since: float | None,
        effects: list[Effect],
        details: dict[str, object] | None = None,
    ) -> None:
        key = (state.spec.id, kind)
        if key in self.open_alerts or kind in state.suppressed:
            return
        alert, audit = alert_rules.raise_alert(
            state.spec.id, kind, severity, at, message, since=since, details=details
        )
        self.open_alerts[key] = alert
        effects.append(AlertChanged(alert, audit, "raised"))

    def _resolve(
        self,
        state: HouseholdState,
        kind: AlertKind,
        at: float,
        outcome: Outcome,
        note: str,
        effects: list[Effect],
    ) -> None:
        alert = self.open_alerts.pop((state.spec.id, kind), None)
        if alert is None:
            return
        resolved, audit = alert_rules.resolve(alert, SYSTEM_ACTOR, at, outcome, note)
        effects.append(AlertChanged(resolved, audit, "resolved", alert.state))

    # -- persistence -------------------------------------------------------------------------

    def take_dirty(self) -> tuple[list[PlugMemory], list[HouseholdMemory]]:
        """Snapshots of everything changed since the last call (for the store)."""
        gateways = self._plug_gateways
        plugs = [self._plug_memory(self.plugs[p], gateways.get(p)) for p in self._dirty_plugs]
        households = [self._household_memory(self.households[h]) for h in self._dirty_households]
        self._dirty_plugs.clear()
        self._dirty_households.clear()
        return plugs, households

    @staticmethod
    def _plug_memory(plug: PlugState, gateway: str | None) -> PlugMemory:
        act = plug  # its own activity detector
        rare = plug._rare
        if rare is None:  # nearly always (per dirty plug per commit: no property calls)
            lwt_offline_since = zero_since = offline_since = None
        else:
            lwt_offline_since, zero_since = rare.lwt_offline_since, rare.zero_since
            offline_since = rare.offline_since
        # the last reading: the later of the last power and energy readings (a reading that
        # carries neither is a message, in last_message_at)
        power_at, energy_at = act.power_at, act.energy_at
        last_reading_at = (
            power_at
            if energy_at is None or (power_at is not None and power_at >= energy_at)
            else energy_at
        )
        return PlugMemory(
            plug.spec.id,
            plug.last_message_at,
            last_reading_at,
            act.power_w,
            power_at,
            act.energy_wh,
            energy_at,
            act.in_use,
            act.standby_w,
            lwt_offline_since,
            offline_since,
            plug.on_since,
            plug.longest_on_s,
            plug.standby_ref_w,
            zero_since,
            gateway,
        )

    @staticmethod
    def _household_memory(state: HouseholdState) -> HouseholdMemory:
        routine = None
        if state.routine_dirty:
            routine = state.routine_data
            state.routine_dirty = False
        return HouseholdMemory(
            state.spec.id,
            state.last_activity_at,
            state.first_seen_at,
            state.rearmed_at,
            state.blind_s,
            state.blind_since,
            tuple(sorted(k.value for k in state.suppressed)),
            routine,
            state.skip_learn,
            state.away_start,
            state.away_until,
            state.awaiting_return,
            state.partly_blind_s,
            state.partly_blind_since,
        )

    def household_status(self, household: HouseholdId) -> str:
        """ok / attention / warning / critical / offline / unknown, for dashboards."""
        state = self.households[household]
        if state.first_seen_at is None:
            return "unknown"
        worst: Severity | None = None
        order = list(Severity)
        for kind in AlertKind:
            alert = self.open_alerts.get((household, kind))
            if alert is None:
                continue
            if kind.is_resident_alert and (
                worst is None or order.index(alert.severity) > order.index(worst)
            ):
                worst = alert.severity
        if worst is not None:
            return worst.value
        if state.blind_since is not None:
            return "offline"
        return "ok"


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


# per time zone, the last local day seen whose 86,400 seconds have one UTC offset: (first
# second, weekday). Readings come in time order, so nearly every call falls in it.
_LOCAL_DAYS: dict[str, tuple[int, int]] = {}


def _local_midnight(at: float, timezone: str) -> tuple[float, int]:
    """``at`` less the whole seconds since local midnight, and the local weekday: exactly what
    ``datetime.fromtimestamp(at, zone)`` gives (its hour, minute, second; microseconds rounded
    half to even), without that call (about 1 µs, on every activity reading) inside a cached
    day."""
    fraction, whole = math.modf(at)
    second = int(whole) + (round(fraction * 1e6) >= 1_000_000)  # as fromtimestamp rounds
    day = _LOCAL_DAYS.get(timezone)
    if day is not None and 0 <= second - day[0] < 86400:
        return at - (second - day[0]), day[1]
    zone = _zone(timezone)
    local = datetime.fromtimestamp(at, zone)
    since_midnight = local.hour * 3600 + local.minute * 60 + local.second
    first = second - since_midnight
    nxt = datetime.fromtimestamp(first + 86400, zone)
    if (nxt.hour, nxt.minute, nxt.second) == (0, 0, 0) and nxt.date() > local.date():
        _LOCAL_DAYS[timezone] = (first, local.weekday())  # no offset change within the day
    return at - since_midnight, local.weekday()


def _anchors_after(start: float, end: float, timezone: str) -> list[tuple[int, float, bool]]:
    """(anchor index, time, weekend) of every anchor hour in ``(start, end]``, local time.
    Days are 24 h from local midnight: on a daylight-saving change an anchor is an hour off,
    which a learnt wait of half-hour bins and an hour's margin absorbs."""
    midnight, weekday = _local_midnight(start, timezone)
    out: list[tuple[int, float, bool]] = []
    day = 0
    while True:
        for index, hour in enumerate(ANCHORS_H):
            when = midnight + day * 86400.0 + hour * HOUR
            if when > end:
                return out
            if when > start:
                out.append((index, when, (weekday + day) % 7 >= 5))
        day += 1


def local_time(at: float, timezone: str) -> str:
    """``HH:MM`` of ``at`` in the household's time zone, as a caseworker reads it."""
    return datetime.fromtimestamp(at, _zone(timezone)).strftime("%H:%M")
