"""From alert transitions to notifications for people, and the escalation ladder.

The decisions are the pure functions of ``domain.routing`` and the texts of
``domain.messages``; this module only applies them: it turns deliveries into outbox
notifications and finds the escalation steps that came due at an event time. The escalation
level reached is stored in the alert's details, so the ladder survives restarts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from careplug.domain import messages
from careplug.domain.model import (
    SYSTEM_ACTOR,
    Alert,
    AlertState,
    AuditEntry,
    EpochSeconds,
    Household,
    HouseholdId,
)
from careplug.domain.routing import (
    Delivery,
    Directory,
    decide_escalation,
    reminder_index,
    route,
)
from careplug.ports import Notification
from careplug.runtime.fanout import FanoutConfig, alert_document, notifications_for

ESCALATION_KEY = "escalation_level"
REMINDER_KEY = "reminders_sent"

_EVENTS = {
    "raised": messages.MessageEvent.RAISED,
    "acknowledged": messages.MessageEvent.ACKNOWLEDGED,
    "resolved": messages.MessageEvent.RESOLVED,
}


class AlertRouter:
    """Builds every notification of an alert transition; finds due escalations."""

    def __init__(
        self,
        fanout: FanoutConfig,
        directory: Directory | None = None,
        households: Iterable[Household] = (),
        channels: frozenset[str] | None = None,
    ) -> None:
        self.fanout = fanout
        self.directory = directory
        self.households: Mapping[HouseholdId, Household] = {h.id: h for h in households}
        # channels with a configured notifier; deliveries to others would only dead-letter
        self.channels = channels

    def for_transition(self, alert: Alert, audit: AuditEntry) -> list[Notification]:
        """The MQTT/webhook event plus, with a directory, one message per person and channel."""
        out = notifications_for(alert, audit, self.fanout)
        if self.directory is None:
            return out
        action = audit.action
        if action.startswith("reminder_"):
            number = int(action.rsplit("_", 1)[1])
            deliveries = self._route(alert, audit.at, 0)
            return out + self._notes(
                alert,
                deliveries,
                messages.MessageEvent.REMINDER,
                audit.at,
                None,
                step=f"r{number}",
            )
        if action.startswith("escalated_level_"):
            level = int(action.rsplit("_", 1)[1])
            deliveries = self._route(alert, audit.at, level)
            return out + self._notes(
                alert, deliveries, messages.MessageEvent.ESCALATED, audit.at, level, step=str(level)
            )
        event = _EVENTS.get(action)
        if event is None:  # a severity step of the engine: announce like a new alert
            deliveries = self._route(alert, audit.at, 0)
            return out + self._notes(
                alert, deliveries, messages.MessageEvent.RAISED, audit.at, None, step=action
            )
        # acknowledgements and resolutions go to whoever was told about the alert at step 0
        deliveries = self._route(alert, audit.at, 0)
        step = (
            "0"
            if event is messages.MessageEvent.RAISED
            else ("ack" if event is messages.MessageEvent.ACKNOWLEDGED else "resolved")
        )
        return out + self._notes(alert, deliveries, event, audit.at, None, step=step)

    def _route(self, alert: Alert, at: EpochSeconds, step: int) -> list[Delivery]:
        assert self.directory is not None
        household = self.households.get(alert.household)
        deliveries = route(alert, household, self.directory, at, step=step)
        if self.channels is not None:
            deliveries = [d for d in deliveries if d.channel in self.channels]
        return deliveries

    def _notes(
        self,
        alert: Alert,
        deliveries: list[Delivery],
        event: messages.MessageEvent,
        at: EpochSeconds,
        level: int | None,
        *,
        step: str,
    ) -> list[Notification]:
        out: list[Notification] = []
        for d in deliveries:
            subject, text = messages.render(event, alert, d.locale, d.timezone, at=at, level=level)
            out.append(
                Notification(
                    key=f"{alert.id}:{step}:{d.recipient}:{d.channel}",
                    channel=d.channel,
                    recipient=d.recipient,
                    subject=subject,
                    text=text,
                    locale=d.locale,
                    address=d.address,
                    data={"event": event.value, "alert": alert_document(alert)},
                    delay_s=max(0.0, d.send_at - at),
                )
            )
        return out

    def due_escalations(
        self, open_alerts: Iterable[Alert], at: EpochSeconds
    ) -> list[tuple[Alert, AuditEntry, AlertState]]:
        """Escalation transitions due at event time ``at`` (alert, audit, state before)."""
        if self.directory is None:
            return []
        out: list[tuple[Alert, AuditEntry, AlertState]] = []
        for current in open_alerts:
            alert = current
            if alert.state is not AlertState.OPEN:
                continue
            policy = self.directory.policies.get(alert.severity)
            done = int(str(alert.details.get(ESCALATION_KEY, 0)))
            decision = decide_escalation(alert, policy, done, at)
            for level in decision.steps:
                details = {**alert.details, ESCALATION_KEY: level}
                escalated = dataclasses.replace(alert, details=details)
                audit = AuditEntry(
                    alert.id,
                    at,
                    SYSTEM_ACTOR,
                    f"escalated_level_{level}",
                    alert.state,
                    f"not acknowledged: escalated to level {level}",
                )
                out.append((escalated, audit, alert.state))
                alert = escalated
            # reminders to the first recipients repeat until someone acknowledges; after an
            # outage only the latest due one is sent, never a burst
            sent = int(str(alert.details.get(REMINDER_KEY, 0)))
            due = reminder_index(alert, policy, at)
            if due > sent:
                reminded = dataclasses.replace(alert, details={**alert.details, REMINDER_KEY: due})
                audit = AuditEntry(
                    alert.id,
                    at,
                    SYSTEM_ACTOR,
                    f"reminder_{due}",
                    alert.state,
                    "not acknowledged: reminder",
                )
                out.append((reminded, audit, alert.state))
        return out
