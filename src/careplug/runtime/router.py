"""From alert transitions to notifications for people, and the escalation ladder.

The decisions are the pure functions of ``domain.routing`` and the texts of
``domain.messages``; this module only applies them: it turns deliveries into outbox
notifications and finds the escalation steps that came due at an event time. The escalation
level reached is stored in the alert's details, so the ladder survives restarts.

Resident self-check: for a ``warning`` of a household that configured one, step 0 goes to the
resident only (``self_check_sent``, with a one-tap link); the caseworkers get their step-0
messages when ``self_check_expired`` comes due ``timeout`` later, and the ladder and reminders
count from then. Both are event-time steps stored in the details like the others.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
    Digest,
    Directory,
    SelfCheck,
    decide_escalation,
    group_for_digest,
    reminder_index,
    route,
    self_check_for,
    self_check_token,
)
from careplug.domain.self_check import SELF_CHECK_EXPIRED_KEY, SELF_CHECK_SENT_KEY
from careplug.ports import Notification
from careplug.runtime.fanout import FanoutConfig, alert_document, notifications_for

ESCALATION_KEY = "escalation_level"
REMINDER_KEY = "reminders_sent"
SELF_CHECK_SENT = "self_check_sent"
SELF_CHECK_EXPIRED = "self_check_expired"

_EVENTS = {
    "raised": messages.MessageEvent.RAISED,
    "acknowledged": messages.MessageEvent.ACKNOWLEDGED,
    "resolved": messages.MessageEvent.RESOLVED,
}


@dataclass(frozen=True, slots=True)
class RaisedTogether:
    """The notifications of several new alerts raised in one pass, with digests folded in."""

    notifications: list[Notification]
    digests: int
    """How many digest messages replace individual ones."""
    folded: int
    """How many individual messages the digests replace."""


class AlertRouter:
    """Builds every notification of an alert transition; finds due escalations."""

    def __init__(
        self,
        fanout: FanoutConfig,
        directory: Directory | None = None,
        households: Iterable[Household] = (),
        channels: frozenset[str] | None = None,
        *,
        console_url: str | None = None,
        self_check_secret: str | None = None,
    ) -> None:
        self.fanout = fanout
        # the one-tap link needs both; without them nobody waits for a self-check
        self.console_url = console_url.rstrip("/") if console_url else None
        self.self_check_secret = self_check_secret
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
        check = self._self_check(alert)
        if action == SELF_CHECK_SENT:
            return out + self._self_check_notes(alert, check, audit.at)
        if action == SELF_CHECK_EXPIRED:
            deliveries = self._route(alert, audit.at, 0)
            return out + self._notes(
                alert, deliveries, messages.MessageEvent.RAISED, audit.at, None, step="0"
            )
        if check is not None and SELF_CHECK_EXPIRED_KEY not in alert.details:
            # the resident is being asked first: caseworkers hear nothing of it (raised,
            # resolved by the resident or by renewed activity) unless the check times out
            return out
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

    def raised_together(self, items: Sequence[tuple[Alert, AuditEntry]]) -> RaisedTogether | None:
        """The notifications of new alerts raised in one pass, when some of them fold into
        digests (:func:`~careplug.domain.routing.group_for_digest`); None when none would, and
        each alert is announced on its own as usual.

        Only people's step-0 messages fold; the MQTT/webhook events stay one per alert, and
        alerts waiting for a resident self-check are left alone. A digest's key is derived
        from the keys of the messages it replaces, so storing the same batch again is a no-op.
        Escalation and reminders stay per alert (their state is in each alert's details).
        """
        if self.directory is None or len(items) < 2:
            return None
        out: list[Notification] = []
        deliveries: list[Delivery] = []
        raised: dict[str, tuple[Alert, AuditEntry]] = {}
        for alert, audit in items:
            if audit.action != "raised" or self._self_check(alert) is not None:
                out += self.for_transition(alert, audit)
                continue
            out += notifications_for(alert, audit, self.fanout)
            deliveries += self._route(alert, audit.at, 0)
            raised[alert.id] = (alert, audit)
        grouped = group_for_digest(
            deliveries, self.directory.digest_threshold, self.directory.digest_window_s
        )
        digests = [g for g in grouped if isinstance(g, Digest)]
        if not digests:
            return None
        for g in grouped:
            if isinstance(g, Digest):
                out.append(self._digest_note(g, [raised[p.alert_id][0] for p in g.parts], raised))
            else:
                alert, audit = raised[g.alert_id]
                out += self._notes(
                    alert, [g], messages.MessageEvent.RAISED, audit.at, None, step="0"
                )
        return RaisedTogether(out, len(digests), sum(len(d.parts) for d in digests))

    def _digest_note(
        self, digest: Digest, alerts: list[Alert], raised: Mapping[str, tuple[Alert, AuditEntry]]
    ) -> Notification:
        latest = max(raised[p.alert_id][1].at for p in digest.parts)
        subject, text = messages.render_digest(alerts, digest.locale, digest.timezone, latest)
        return Notification(
            key=digest.key,
            channel=digest.channel,
            recipient=digest.recipient,
            subject=subject,
            text=text,
            locale=digest.locale,
            address=digest.address,
            data={
                "event": messages.MessageEvent.DIGEST.value,
                "parts": [p.key for p in digest.parts],
                "alerts": [alert_document(a) for a in alerts],
            },
            delay_s=max(0.0, digest.send_at - latest),
        )

    def _self_check(self, alert: Alert) -> SelfCheck | None:
        """The self-check that applies to ``alert`` in this configuration, or None."""
        if self.directory is None or self.console_url is None or not self.self_check_secret:
            return None
        check = self_check_for(alert, self.directory)
        if check is None or (self.channels is not None and check.channel not in self.channels):
            return None
        return check

    def self_check_households(self) -> frozenset[HouseholdId]:
        """The households whose warnings this configuration really sends to the resident first
        (a [[self_check]] on a configured channel, with a console URL and link secret)."""
        if self.directory is None or self.console_url is None or not self.self_check_secret:
            return frozenset()
        return frozenset(
            hid
            for hid, check in self.directory.self_checks.items()
            if self.channels is None or check.channel in self.channels
        )

    def self_check_link(self, alert_id: str) -> str:
        """The one-tap "I'm fine" URL of an alert: ``<console_url>/fine/<token>``."""
        assert self.console_url is not None and self.self_check_secret
        return f"{self.console_url}/fine/{self_check_token(self.self_check_secret, alert_id)}"

    def _self_check_notes(
        self, alert: Alert, check: SelfCheck | None, at: EpochSeconds
    ) -> list[Notification]:
        if check is None:
            return []
        link = self.self_check_link(alert.id)
        subject, text = messages.render(
            messages.MessageEvent.SELF_CHECK, alert, check.locale, check.timezone, at=at, link=link
        )
        data: dict[str, Any] = {
            "event": messages.MessageEvent.SELF_CHECK.value,
            "household": alert.household,
            "link": link,
            "timeout_s": check.timeout_s,
            "alert": alert_document(alert),
        }
        return [
            Notification(
                key=f"{alert.id}:self_check:{check.recipient}:{check.channel}",
                channel=check.channel,
                recipient=check.recipient,
                subject=subject,
                text=text,
                locale=check.locale,
                address=check.address,
                data=data,
            )
        ]

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
            check = self._self_check(alert)
            if check is not None:
                if SELF_CHECK_SENT_KEY not in alert.details:
                    asking = dataclasses.replace(
                        alert, details={**alert.details, SELF_CHECK_SENT_KEY: at}
                    )
                    audit = AuditEntry(
                        alert.id,
                        at,
                        SYSTEM_ACTOR,
                        SELF_CHECK_SENT,
                        alert.state,
                        "resident asked first (self-check)",
                    )
                    out.append((asking, audit, alert.state))
                    continue
                if SELF_CHECK_EXPIRED_KEY not in alert.details:
                    asked = float(str(alert.details[SELF_CHECK_SENT_KEY]))
                    if at < asked + check.timeout_s:
                        continue
                    expired = dataclasses.replace(
                        alert, details={**alert.details, SELF_CHECK_EXPIRED_KEY: at}
                    )
                    audit = AuditEntry(
                        alert.id,
                        at,
                        SYSTEM_ACTOR,
                        SELF_CHECK_EXPIRED,
                        alert.state,
                        "no answer from the resident: caseworkers notified",
                    )
                    out.append((expired, audit, alert.state))
                    alert = expired
            policy = self.directory.policies.get(alert.severity)
            done = int(str(alert.details.get(ESCALATION_KEY, 0)))
            decision = decide_escalation(_ladder_view(alert), policy, done, at)
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
            due = reminder_index(_ladder_view(alert), policy, at)
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


def _ladder_view(alert: Alert) -> Alert:
    """The alert as the ladder sees it: after a self-check the caseworkers' clock starts when
    they were told, not when the resident was asked."""
    told = alert.details.get(SELF_CHECK_EXPIRED_KEY)
    if told is None:
        return alert
    return dataclasses.replace(alert, raised_at=float(str(told)))
