"""The console's rules: who may see which household, and the actions, audited.

Shared by the HTML pages and the JSON API so both enforce the same scoping server-side: a
caseworker sees only households whose registry entry names them in ``caseworkers``; an admin
sees all. Anything out of scope is reported as not found, so ids of other caseworkers'
households do not leak.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from careplug.adapters.store_sqlite import AwayPeriod, ConsoleUser, SqliteStore
from careplug.adapters.web.views import (
    STRIP_7D,
    STRIP_24H,
    HouseholdStatus,
    StripCell,
    activity_strip,
    household_status,
)
from careplug.clock import Clock
from careplug.domain import alerts as alert_rules
from careplug.domain.false_alarms import FalseAlarmConfig, FalseAlarmReview, review_false_alarms
from careplug.domain.model import (
    Alert,
    AlertId,
    AuditEntry,
    EpochSeconds,
    Household,
    HouseholdId,
    Outcome,
)
from careplug.errors import CareplugError, IllegalTransition
from careplug.ports import Notification

log = structlog.get_logger("careplug.console")

NotificationsFor = Callable[[Alert, AuditEntry], Sequence[Notification]]
"""Which notifications an alert transition causes (the daemon's fan-out, injected)."""

HouseholdSource = Sequence[Household] | Callable[[], Sequence[Household]]
"""The registry: a fixed list, or a function returning the current one (reloads)."""


class NotFound(CareplugError):
    """No such thing, or not yours to see."""


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of a household's history: an alert transition or an away change."""

    at: EpochSeconds
    actor: str
    action: str
    note: str | None = None
    state: str | None = None
    outcome: str | None = None
    alert_id: str | None = None
    away_id: int | None = None


@dataclass(frozen=True, slots=True)
class HouseholdView:
    """Everything the console shows about one household at one instant."""

    household: Household
    status: HouseholdStatus
    last_activity_at: EpochSeconds | None
    open_alerts: list[Alert]
    away: bool
    strip_24h: list[StripCell] = field(default_factory=list)
    strip_7d: list[StripCell] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    away_periods: list[AwayPeriod] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    false_alarms: FalseAlarmReview | None = None
    """Its recent alarms and how many ended with the resident fine (detail only)."""


class ConsoleService:
    """Scoped reads and audited actions for one store, registry and clock."""

    def __init__(
        self,
        store: SqliteStore,
        households: HouseholdSource,
        clock: Clock,
        notifications: NotificationsFor,
        origin: str = "console",
        false_alarms: FalseAlarmConfig | None = None,
    ) -> None:
        self.store = store
        self._households = households
        self.clock = clock
        self._notifications = notifications
        self.origin = origin
        self.false_alarms = false_alarms or FalseAlarmConfig()

    # -- scoping -------------------------------------------------------------------------

    def _registry(self) -> Sequence[Household]:
        source = self._households
        return source() if callable(source) else source

    def households_for(self, user: ConsoleUser) -> list[Household]:
        """The households this user may see, by id."""
        everyone = sorted(self._registry(), key=lambda h: h.id)
        if user.role == "admin":
            return everyone
        return [h for h in everyone if user.username in h.caseworkers]

    def household_for(self, user: ConsoleUser, household: str) -> Household:
        """One household in the user's scope, else :class:`NotFound`."""
        for h in self.households_for(user):
            if h.id == household:
                return h
        raise NotFound(f"no household {household}")

    def alert_for(self, user: ConsoleUser, alert_id: str) -> Alert:
        """One alert of a household in the user's scope, else :class:`NotFound`."""
        alert = self.store.get_alert(AlertId(alert_id))
        if alert is None:
            raise NotFound(f"no alert {alert_id}")
        self.household_for(user, alert.household)  # out of scope reads as missing
        return alert

    # -- views ---------------------------------------------------------------------------

    def overview(self, user: ConsoleUser) -> list[HouseholdView]:
        """The user's households with status and last activity (no strips or history)."""
        now = self.clock.now()
        plugs = {p.plug: p for p in self.store.load_plugs()}
        memories = {m.household: m for m in self.store.load_households()}
        open_by: dict[str, list[Alert]] = {}
        for alert in self.store.list_alerts(open_only=True):
            open_by.setdefault(alert.household, []).append(alert)
        away = {p.household for p in self.store.list_away(active_at=now)}
        views = []
        for h in self.households_for(user):
            memory = memories.get(h.id)
            opened = open_by.get(h.id, [])
            views.append(
                HouseholdView(
                    household=h,
                    status=household_status(h, opened, plugs, memory, h.id in away),
                    last_activity_at=None if memory is None else memory.last_activity_at,
                    open_alerts=opened,
                    away=h.id in away,
                )
            )
        return views

    def detail(self, user: ConsoleUser, household: str) -> HouseholdView:
        """One household with its strips, recent alerts, away periods and history."""
        h = self.household_for(user, household)
        now = self.clock.now()
        base = next(v for v in self.overview(user) if v.household.id == h.id)
        cells_24, width_24 = STRIP_24H
        cells_7, width_7 = STRIP_7D
        times = [
            at
            for _, at in self.store.activity_between(h.id, now - cells_7 * width_7 - width_7, now)
        ]
        every_alert = self.store.list_alerts(household=h.id)  # newest first
        alerts = every_alert[:50]
        since = now - self.false_alarms.window_s
        recent = [a for a in every_alert if a.raised_at > since]
        away_periods = self.store.list_away(h.id)
        history: list[HistoryEntry] = []
        for alert in alerts:
            history.extend(
                HistoryEntry(
                    e.at,
                    e.actor,
                    e.action,
                    e.note,
                    e.state.value,
                    e.outcome.value if e.outcome else None,
                    alert_id=e.alert_id,
                )
                for e in self.store.audit(alert.id)
            )
        history.extend(
            HistoryEntry(e.at, e.actor, e.action, e.note, away_id=e.away_id)
            for e in self.store.away_audit(h.id)
        )
        # newest first; steps at the same instant keep their recorded order, reversed
        history.sort(key=lambda e: e.at)
        history.reverse()
        return HouseholdView(
            household=h,
            status=base.status,
            last_activity_at=base.last_activity_at,
            open_alerts=base.open_alerts,
            away=base.away,
            strip_24h=activity_strip(times, now, cells_24, width_24),
            strip_7d=activity_strip(times, now, cells_7, width_7),
            alerts=alerts,
            away_periods=away_periods,
            history=history,
            false_alarms=review_false_alarms(recent, now, self.false_alarms),
        )

    # -- actions -------------------------------------------------------------------------

    def _record(self, before: Alert, after: Alert, audit: AuditEntry, now: float) -> None:
        self.store.record_transition(
            after, audit, before.state, self._notifications(after, audit), now, origin=self.origin
        )

    def acknowledge(self, user: ConsoleUser, alert_id: str, note: str | None) -> Alert:
        """Acknowledge an open alert as this user (audited, notified, seen by the daemon)."""
        alert = self.alert_for(user, alert_id)
        now = self.clock.now()
        new, audit = alert_rules.acknowledge(alert, user.username, now, _clean(note))
        self._record(alert, new, audit, now)
        log.info(
            "alert_acknowledged",
            alert_id=new.id,
            household_id=new.household,
            actor=user.username,
            origin=self.origin,
        )
        return new

    def resolve(self, user: ConsoleUser, alert_id: str, outcome: str, note: str | None) -> Alert:
        """Resolve an alert with a caseworker outcome code."""
        alert = self.alert_for(user, alert_id)
        try:
            code = Outcome(outcome)
        except ValueError:
            raise IllegalTransition(f"unknown outcome {outcome!r}") from None
        now = self.clock.now()
        new, audit = alert_rules.resolve(alert, user.username, now, code, _clean(note))
        self._record(alert, new, audit, now)
        log.info(
            "alert_resolved",
            alert_id=new.id,
            household_id=new.household,
            actor=user.username,
            outcome=code.value,
            origin=self.origin,
        )
        return new

    def set_away(
        self,
        user: ConsoleUser,
        household: str,
        start: EpochSeconds | None,
        end: EpochSeconds | None,
        note: str | None,
    ) -> AwayPeriod:
        """Record that the resident is away from ``start`` (None: now) until ``end``."""
        h = self.household_for(user, household)
        now = self.clock.now()
        period = self.store.set_away(
            HouseholdId(h.id),
            now if start is None else start,
            end,
            user.username,
            now,
            _clean(note),
            origin=self.origin,
        )
        log.info("away_set", household_id=h.id, away_id=period.id, actor=user.username)
        return period

    def end_away(
        self, user: ConsoleUser, household: str, away_id: int, note: str | None
    ) -> AwayPeriod:
        """End an away period of a household in scope now."""
        h = self.household_for(user, household)
        period = self.store.get_away(away_id)
        if period is None or period.household != h.id:
            raise NotFound(f"no away period {away_id}")
        ended = self.store.end_away(
            away_id, user.username, self.clock.now(), _clean(note), origin=self.origin
        )
        log.info("away_ended", household_id=h.id, away_id=away_id, actor=user.username)
        return ended


def _clean(note: str | None) -> str | None:
    if note is None:
        return None
    text = note.strip()
    return text or None
