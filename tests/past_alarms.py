"""Resolved inactivity alarms of the past, stored as the daemon and console would have left them
(for tests of what careplug says about a household's alarm history)."""

from __future__ import annotations

from careplug.adapters.store_sqlite import SqliteStore
from careplug.domain.model import (
    Alert,
    AlertId,
    AlertKind,
    AlertState,
    AuditEntry,
    HouseholdId,
    Outcome,
    Severity,
)


def store_past_alarm(
    store: SqliteStore,
    alert_id: str,
    household: str,
    raised_at: float,
    outcome: Outcome,
    *,
    severity: Severity = Severity.CRITICAL,
    by: str = "cw",
    details: dict[str, object] | None = None,
) -> None:
    """An inactivity alarm raised at ``raised_at`` and resolved an hour later by ``by``."""
    alert = Alert(
        AlertId(alert_id),
        HouseholdId(household),
        AlertKind.INACTIVITY,
        severity,
        AlertState.RESOLVED,
        raised_at,
        "no activity",
        since=raised_at - 86400.0,
        resolved_at=raised_at + 3600.0,
        resolved_by=by,
        outcome=outcome,
        details=details or {},
    )
    audit = AuditEntry(alert.id, raised_at + 3600.0, by, "resolved", AlertState.RESOLVED)
    store.record_new_alerts([(alert, audit)], [], raised_at)
