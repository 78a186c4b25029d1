"""The interfaces the runtime needs from the outside world.

Adapters implement these; the runtime and app depend only on them. Times are epoch seconds.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from careplug.domain.engine import HouseholdMemory, PlugMemory
from careplug.domain.model import (
    Alert,
    AlertId,
    AuditEntry,
    EpochSeconds,
    HouseholdId,
)


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to one recipient over one channel.

    ``key`` is the idempotency key: the same key is never meant to reach the same recipient
    twice; receivers that see it again may discard it. ``data`` is the JSON-safe structured
    form (a webhook sends it as the body); ``subject`` and ``text`` are the human form in the
    recipient's ``locale`` ("ko" or "en"). ``address`` is where the channel delivers to (an
    email address, a phone number); None means the notifier's own target (a team webhook).
    """

    key: str
    channel: str
    recipient: str
    subject: str
    text: str
    locale: str = "ko"
    address: str | None = None
    data: dict[str, object] = field(default_factory=dict, hash=False, compare=False)
    delay_s: float = 0.0
    """Hold the first attempt this long (a recipient's quiet hours)."""


class Notifier(Protocol):
    """Delivers notifications over one channel (webhook, email, SMS, MQTT)."""

    channel: str

    def send(self, notification: Notification) -> None:
        """Deliver once, or raise ``DeliveryError`` whose ``retryable`` says if a retry can help
        (HTTP 4xx: no; 5xx, timeouts, refused connections: yes)."""
        ...


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A stored notification waiting to be delivered, with its retry schedule."""

    notification: Notification
    attempts: int
    next_attempt_at: EpochSeconds
    last_error: str | None = None


class AlertStore(Protocol):
    """Alerts and their append-only audit log."""

    def save_alert(self, alert: Alert, audit: AuditEntry) -> None:
        """Insert or update ``alert`` and append ``audit`` in one transaction."""
        ...

    def get_alert(self, alert_id: AlertId) -> Alert | None:
        """The alert with that id, or None."""
        ...

    def list_alerts(
        self, *, open_only: bool = False, household: HouseholdId | None = None
    ) -> list[Alert]:
        """Alerts, newest first."""
        ...

    def audit(self, alert_id: AlertId) -> list[AuditEntry]:
        """The audit trail of one alert, oldest first."""
        ...


class StateStore(Protocol):
    """Plug and household state that must survive a restart."""

    def save_state(
        self, plugs: Collection[PlugMemory], households: Collection[HouseholdMemory]
    ) -> None:
        """Upsert snapshots in one transaction (``households`` may be iterated more than once)."""
        ...

    def load_plugs(self) -> list[PlugMemory]:
        """Every stored plug snapshot."""
        ...

    def load_households(self) -> list[HouseholdMemory]:
        """Every stored household snapshot."""
        ...


class Outbox(Protocol):
    """Notifications stored before sending, retried until delivered."""

    def enqueue(self, items: Sequence[Notification], at: EpochSeconds) -> None:
        """Store notifications (ignoring keys already stored) due at ``at``."""
        ...

    def due(self, at: EpochSeconds, limit: int = 100) -> list[OutboxItem]:
        """Undelivered, not dead notifications whose next attempt is at or before ``at``."""
        ...

    def mark_delivered(self, key: str, recipient: str, at: EpochSeconds) -> None:
        """Record a delivery."""
        ...

    def mark_failed(
        self, key: str, recipient: str, error: str, next_attempt_at: EpochSeconds | None
    ) -> None:
        """Record a failed attempt; ``next_attempt_at`` None makes it a dead letter."""
        ...


class HistorySink(Protocol):
    """Where readings and events go for long-term history (InfluxDB). Calls never block."""

    def write_reading(
        self,
        household: str | None,
        plug: str,
        at: float,
        power_w: float | None,
        energy_wh: float | None,
    ) -> None:
        """One normalised reading."""
        ...

    def write_activity(self, household: str | None, plug: str, at: float, reason: str) -> None:
        """A reading that counted as a sign of life."""
        ...

    def write_device_status(
        self, household: str | None, plug: str, at: float, online: bool
    ) -> None:
        """A plug went online or offline."""
        ...

    def write_alert(
        self, household: str, alert_id: str, kind: str, severity: str, state: str, at: float
    ) -> None:
        """An alert transition."""
        ...

    def batched(self) -> AbstractContextManager[None]:
        """Hold what is written inside and queue it in one step when the block ends (one
        lock per batch of readings instead of one per point); nothing is lost by an error
        inside. Nested blocks queue with the outermost."""
        ...
