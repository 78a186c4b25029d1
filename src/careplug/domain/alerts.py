"""The alert state machine: open → acknowledged → resolved, every step audited.

Pure functions: each takes an alert and the event time, returns the new alert and the audit
entry to append, or raises :class:`IllegalTransition`.
"""

from __future__ import annotations

import dataclasses

from careplug.domain.model import (
    CASEWORKER_OUTCOMES,
    SYSTEM_ACTOR,
    Alert,
    AlertId,
    AlertKind,
    AlertState,
    AuditEntry,
    EpochSeconds,
    HouseholdId,
    Outcome,
    Severity,
)
from careplug.errors import IllegalTransition


def alert_id_for(household: HouseholdId, kind: AlertKind, raised_at: EpochSeconds) -> AlertId:
    """A deterministic id, so that a replay at any speed names its alerts the same way."""
    return AlertId(f"{household}-{kind.value}-{int(raised_at)}")


def raise_alert(
    household: HouseholdId,
    kind: AlertKind,
    severity: Severity,
    at: EpochSeconds,
    message: str,
    *,
    since: EpochSeconds | None = None,
    details: dict[str, object] | None = None,
) -> tuple[Alert, AuditEntry]:
    """A new open alert raised by careplug at event time ``at``."""
    alert = Alert(
        id=alert_id_for(household, kind, at),
        household=household,
        kind=kind,
        severity=severity,
        state=AlertState.OPEN,
        raised_at=at,
        message=message,
        since=since,
        details=dict(details or {}),
    )
    return alert, AuditEntry(alert.id, at, SYSTEM_ACTOR, "raised", AlertState.OPEN, message)


def acknowledge(
    alert: Alert, by: str, at: EpochSeconds, note: str | None = None
) -> tuple[Alert, AuditEntry]:
    """A person has seen the alert and is dealing with it. Only an open alert can be acked."""
    if alert.state is not AlertState.OPEN:
        raise IllegalTransition(f"alert {alert.id} is {alert.state.value}, not open")
    if not by.strip():
        raise IllegalTransition("an acknowledgement needs the name of who acknowledged")
    new = dataclasses.replace(
        alert, state=AlertState.ACKNOWLEDGED, acknowledged_at=at, acknowledged_by=by
    )
    return new, AuditEntry(alert.id, at, by, "acknowledged", new.state, note)


def resolve(
    alert: Alert,
    by: str,
    at: EpochSeconds,
    outcome: Outcome,
    note: str | None = None,
) -> tuple[Alert, AuditEntry]:
    """Close an open or acknowledged alert with an outcome.

    People choose from :data:`CASEWORKER_OUTCOMES`; careplug itself resolves with the automatic
    outcomes (activity resumed, device back online, condition cleared).
    """
    if alert.state is AlertState.RESOLVED:
        raise IllegalTransition(f"alert {alert.id} is already resolved")
    if by != SYSTEM_ACTOR and outcome not in CASEWORKER_OUTCOMES:
        raise IllegalTransition(f"outcome {outcome.value} is set by careplug, not by a person")
    if not by.strip():
        raise IllegalTransition("a resolution needs the name of who resolved")
    new = dataclasses.replace(
        alert, state=AlertState.RESOLVED, resolved_at=at, resolved_by=by, outcome=outcome
    )
    return new, AuditEntry(alert.id, at, by, "resolved", new.state, note, outcome)


def escalate(
    alert: Alert, severity: Severity, at: EpochSeconds, message: str
) -> tuple[Alert, AuditEntry]:
    """Raise the severity of a still-unresolved alert (never lowers it)."""
    if alert.state is AlertState.RESOLVED:
        raise IllegalTransition(f"alert {alert.id} is resolved")
    order = list(Severity)
    if order.index(severity) <= order.index(alert.severity):
        raise IllegalTransition(f"{severity.value} is not above {alert.severity.value}")
    new = dataclasses.replace(alert, severity=severity, message=message)
    return new, AuditEntry(
        alert.id, at, SYSTEM_ACTOR, f"escalated_{severity.value}", new.state, message
    )
