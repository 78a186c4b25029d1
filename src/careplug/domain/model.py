"""Value types shared by the core, the adapters and the CLI.

Times in the core are ``float`` seconds since the Unix epoch (UTC), called *event time*: a
reading's own timestamp when the device clock is sane, otherwise the time careplug received it.
Floats keep the hot path cheap (a million readings in seconds); conversion to ``datetime``
happens only at the edges and where a household's local hour matters.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple, NewType

HouseholdId = NewType("HouseholdId", str)
PlugId = NewType("PlugId", str)
AlertId = NewType("AlertId", str)

EpochSeconds = float
"""Seconds since 1970-01-01T00:00:00Z."""


def plug_id_for(device: str, channel: int | None) -> PlugId:
    """The plug id of one metering channel: the device id alone for channel None or 0, else
    ``device:channel``. Each channel of a multi-channel device is a plug of its own."""
    if channel is None or channel == 0:
        return PlugId(device)
    return PlugId(f"{device}:{channel}")


class ItemKind(enum.StrEnum):
    """What a normalised item from a payload decoder says."""

    READING = "reading"
    """A power and/or energy measurement of one plug."""
    AVAILABILITY = "availability"
    """The plug says it is online or offline (LWT, availability topic)."""
    GATEWAY_AVAILABILITY = "gateway_availability"
    """A gateway (e.g. a Zigbee2MQTT bridge) is online or offline; ``device`` is the gateway id.
    Every plug behind an offline gateway is offline, not inactive."""


@dataclass(frozen=True, slots=True)
class DecodedItem:
    """One normalised item decoded from an MQTT message, before the core sees it.

    ``time`` is the device's own timestamp when it carried one and it was sane (epoch seconds),
    else None, meaning "use the receive time". ``power_w`` and ``energy_wh`` are None when the
    message did not carry them: a missing value is unknown, never 0 W. ``energy_wh`` is a
    cumulative counter in Wh (it may reset). ``gateway`` names the bridge a plug is behind.
    """

    kind: ItemKind
    device: str
    channel: int | None = None
    time: EpochSeconds | None = None
    power_w: float | None = None
    energy_wh: float | None = None
    online: bool | None = None
    gateway: str | None = None

    @property
    def plug_id(self) -> PlugId:
        """The plug this item belongs to (see :func:`plug_id_for`)."""
        return plug_id_for(self.device, self.channel)


class Reading(NamedTuple):
    """A measurement of one plug at event time ``at``.

    ``stale`` marks a message that is old news (retained at subscribe time): it refreshes what
    careplug knows of the plug but is never evidence that someone is alive.

    A named tuple, not a frozen dataclass: one is built per message on the ingest path, where
    the dataclass's ``__init__`` (one ``object.__setattr__`` per field) took 1.4 µs and this
    takes 0.4. Immutable all the same.
    """

    plug: PlugId
    at: EpochSeconds
    power_w: float | None
    energy_wh: float | None
    stale: bool = False


@dataclass(frozen=True, slots=True)
class PlugAvailability:
    """A plug (or, with ``gateway=True``, a gateway id) reported online or offline at ``at``."""

    plug: PlugId
    at: EpochSeconds
    online: bool
    gateway: bool = False


class RiskTier(enum.StrEnum):
    """How closely a household is watched; it sets the hard inactivity threshold."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Appliance(enum.StrEnum):
    """What is plugged into a plug. A fridge cycles by itself and is never a sign of life."""

    TV = "tv"
    KETTLE = "kettle"
    RICE_COOKER = "rice_cooker"
    MICROWAVE = "microwave"
    LAMP = "lamp"
    HEATER = "heater"
    FRIDGE = "fridge"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class PlugSpec:
    """A plug enrolled in a household.

    ``shows_activity`` is False for appliances that run by themselves (a fridge): their
    messages prove the plug and the power are alive, never the resident.
    ``report_period_s`` is how often the plug is expected to report; None uses the default.
    ``standby_w`` pins the standby level; None learns it.
    """

    id: PlugId
    appliance: Appliance = Appliance.OTHER
    shows_activity: bool = True
    report_period_s: float | None = None
    standby_w: float | None = None


@dataclass(frozen=True, slots=True)
class Household:
    """A monitored household: a pseudonymous id, never a name or address."""

    id: HouseholdId
    timezone: str = "Asia/Seoul"
    tier: RiskTier = RiskTier.MEDIUM
    caseworkers: tuple[str, ...] = ()
    area: str | None = None
    plugs: tuple[PlugSpec, ...] = ()


class AlertKind(enum.StrEnum):
    """What an alert is about. Resident alerts are about the person; the rest about devices."""

    INACTIVITY = "inactivity"
    DEVICE_OFFLINE = "device_offline"
    UNPLUGGED = "unplugged"
    NEVER_REPORTED = "never_reported"
    AREA_OUTAGE = "area_outage"
    APPLIANCE_LEFT_ON = "appliance_left_on"
    NOT_BACK_FROM_AWAY = "not_back_from_away"
    MONITORING_BLIND = "monitoring_blind"
    SYSTEM_DEGRADED = "system_degraded"
    """careplug itself is not seeing what it should (e.g. traffic collapsed): for operators."""

    @property
    def is_resident_alert(self) -> bool:
        """True when the alert says something about the resident, not about equipment."""
        return self in _RESIDENT_KINDS


_RESIDENT_KINDS = frozenset(
    {AlertKind.INACTIVITY, AlertKind.APPLIANCE_LEFT_ON, AlertKind.NOT_BACK_FROM_AWAY}
)


class Severity(enum.StrEnum):
    """How urgent: attention is dashboard only; warning and critical reach a person."""

    ATTENTION = "attention"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertState(enum.StrEnum):
    """Alert life cycle: open → acknowledged → resolved (open → resolved also allowed)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Outcome(enum.StrEnum):
    """How an alert ended. The first group is chosen by a caseworker; the rest by careplug."""

    RESIDENT_OK = "resident_ok"
    VISITED_OK = "visited_ok"
    HOSPITAL = "hospital"
    EMERGENCY_SERVICES = "emergency_services"
    AWAY = "away"
    DEVICE_FAULT = "device_fault"
    FALSE_ALARM = "false_alarm"
    DECEASED = "deceased"
    OTHER = "other"
    ACTIVITY_RESUMED = "activity_resumed"
    DEVICE_BACK_ONLINE = "device_back_online"
    CONDITION_CLEARED = "condition_cleared"


CASEWORKER_OUTCOMES = frozenset(
    {
        Outcome.RESIDENT_OK,
        Outcome.VISITED_OK,
        Outcome.HOSPITAL,
        Outcome.EMERGENCY_SERVICES,
        Outcome.AWAY,
        Outcome.DEVICE_FAULT,
        Outcome.FALSE_ALARM,
        Outcome.DECEASED,
        Outcome.OTHER,
    }
)


SYSTEM_ACTOR = "careplug"


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert about one household (or, for ``area_outage``, an area) and one kind.

    ``opened_at`` is the event time the condition began to count (e.g. the last activity);
    ``raised_at`` when careplug raised it. ``details`` holds plain, JSON-safe facts.
    """

    id: AlertId
    household: HouseholdId
    kind: AlertKind
    severity: Severity
    state: AlertState
    raised_at: EpochSeconds
    message: str
    since: EpochSeconds | None = None
    acknowledged_at: EpochSeconds | None = None
    acknowledged_by: str | None = None
    resolved_at: EpochSeconds | None = None
    resolved_by: str | None = None
    outcome: Outcome | None = None
    details: dict[str, object] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One append-only record of an alert transition: who did what, when, and why."""

    alert_id: AlertId
    at: EpochSeconds
    actor: str
    action: str
    state: AlertState
    note: str | None = None
    outcome: Outcome | None = None
