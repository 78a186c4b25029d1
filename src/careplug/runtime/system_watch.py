"""careplug watching itself: when plug traffic collapses while the broker connection claims to
be up, operators get a ``system_degraded`` alert (stored, routed like any alert); it resolves by
itself when traffic returns. Runs on processing time: it is about careplug, not residents."""

from __future__ import annotations

import structlog

from careplug.adapters.metrics import RateTracker, traffic_collapsed
from careplug.adapters.store_sqlite import SqliteStore
from careplug.domain import alerts as alert_rules
from careplug.domain.model import SYSTEM_ACTOR, Alert, AlertKind, Outcome, Severity
from careplug.domain.routing import SYSTEM_HOUSEHOLD
from careplug.errors import IllegalTransition, StoreError
from careplug.runtime.router import AlertRouter

log = structlog.get_logger("careplug.system")


class SystemWatch:
    """Turns the traffic-collapse rule into an operator alert."""

    def __init__(
        self,
        store: SqliteStore,
        router: AlertRouter,
        started_at: float,
        window_s: float = 600.0,
        baseline_s: float = 3600.0,
    ) -> None:
        self.store = store
        self.router = router
        self.tracker = RateTracker(width=60.0, keep_s=baseline_s + window_s + 120)
        self.window_s = window_s
        self.baseline_s = baseline_s
        self._seen = 0
        self._connected_since: float | None = None
        self.open: Alert | None = next(
            (
                a
                for a in store.list_alerts(open_only=True, household=SYSTEM_HOUSEHOLD)
                if a.kind is AlertKind.SYSTEM_DEGRADED
            ),
            None,
        )
        self._started_at = started_at

    def check(self, now: float, total_messages: int, connected: bool) -> bool:
        """Record traffic up to ``now``; raise or resolve the alert; True if one was stored."""
        self.tracker.record(now, max(0, total_messages - self._seen))
        self._seen = total_messages
        if connected and self._connected_since is None:
            self._connected_since = now
        elif not connected:
            self._connected_since = None
        verdict = traffic_collapsed(
            self.tracker.history(now),
            now,
            connected=connected,
            connected_since=self._connected_since,
            window_s=self.window_s,
            baseline_s=self.baseline_s,
        )
        try:
            if verdict.collapsed and self.open is None:
                message = (
                    f"plug traffic collapsed while connected: {verdict.recent_rate:.3f}/s "
                    f"in the last {self.window_s / 60:.0f} min against "
                    f"{verdict.baseline_rate:.3f}/s before ({verdict.reason.value})"
                )
                alert, audit = alert_rules.raise_alert(
                    SYSTEM_HOUSEHOLD,
                    AlertKind.SYSTEM_DEGRADED,
                    Severity.WARNING,
                    now,
                    message,
                    since=now - self.window_s,
                    details={"reason": verdict.reason.value},
                )
                self.store.record_transition(
                    alert, audit, None, self.router.for_transition(alert, audit), now
                )
                self.open = alert
                log.error("operator_alert_raised", alert_id=alert.id, reason=verdict.reason.value)
                return True
            if not verdict.collapsed and self.open is not None and connected:
                current = self.store.get_alert(self.open.id) or self.open
                done, audit = alert_rules.resolve(
                    current, SYSTEM_ACTOR, now, Outcome.CONDITION_CLEARED, "traffic is back"
                )
                self.store.record_transition(
                    done, audit, current.state, self.router.for_transition(done, audit), now
                )
                self.open = None
                log.info("operator_alert_resolved", alert_id=done.id)
                return True
        except (IllegalTransition, StoreError) as exc:
            log.warning("operator_alert_failed", error=str(exc))
            self.open = None
        return False
