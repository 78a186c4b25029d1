"""Which notifications an alert event causes (shared by the daemon and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass

from careplug.clock import iso
from careplug.domain.model import Alert, AuditEntry
from careplug.ports import Notification


@dataclass(frozen=True, slots=True)
class FanoutConfig:
    """Where alert events go: the MQTT alert topic and, when set, the generic webhook."""

    alert_topic_prefix: str = "careplug/alerts"
    mqtt: bool = True
    webhook: bool = False


def alert_document(alert: Alert) -> dict[str, object]:
    """The alert as JSON-safe data with ISO 8601 UTC times (what receivers get)."""
    return {
        "id": alert.id,
        "household": alert.household,
        "kind": alert.kind.value,
        "severity": alert.severity.value,
        "state": alert.state.value,
        "message": alert.message,
        "since": iso(alert.since),
        "raised_at": iso(alert.raised_at),
        "acknowledged_at": iso(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by,
        "resolved_at": iso(alert.resolved_at),
        "resolved_by": alert.resolved_by,
        "outcome": alert.outcome.value if alert.outcome else None,
        "details": alert.details,
    }


def notifications_for(alert: Alert, audit: AuditEntry, config: FanoutConfig) -> list[Notification]:
    """One notification per channel for this transition; the key names alert and step."""
    key = f"{alert.id}:{audit.action}"
    data: dict[str, object] = {
        "event": audit.action,
        "at": iso(audit.at),
        "actor": audit.actor,
        "note": audit.note,
        "alert": alert_document(alert),
    }
    subject = f"[careplug] {alert.kind.value} {audit.action}: {alert.household}"
    text = f"{alert.household}: {alert.message} ({audit.action} by {audit.actor})"
    out: list[Notification] = []
    if config.mqtt:
        topic = f"{config.alert_topic_prefix.rstrip('/')}/{alert.household}"
        out.append(Notification(key, "mqtt", topic, subject, text, "en", data=data))
    if config.webhook:
        out.append(Notification(key, "webhook", "webhook", subject, text, "en", data=data))
    return out
