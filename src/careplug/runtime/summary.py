"""The daily summary per caseworker, scheduled in event time.

Once a day, at ``at_local`` in each caseworker's own time zone (default 08:30), every active
caseworker of the recipients file who has households gets one message per channel: how many
of their households are OK, their open alerts, the households whose routine is drifting
(``domain.drift``, from the activity history the store keeps for the console's strips), and
those whose recent alarms kept ending with the resident fine (``domain.false_alarms``, from
the stored alerts), and how often their residents answered a self-check
(``domain.self_check``).

The driver calls :meth:`DailySummaries.run` with the instant it has just evaluated, so the
schedule follows event time: a replay at any speed sends the same summaries. A summary comes
late rather than never (careplug was down at 08:30: it is sent when it is back, up to
``late_limit_s``, 6 hours, late); a day careplug missed beyond that is skipped. The idempotency key
``summary:<local date>:<recipient>:<channel>`` makes a restart that computes it again a no-op
in the outbox.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import structlog

from careplug.adapters.store_sqlite import SqliteStore
from careplug.domain import messages
from careplug.domain.drift import DriftConfig, DriftReport, detect_drift
from careplug.domain.false_alarms import FalseAlarmConfig, review_false_alarms
from careplug.domain.model import Alert, EpochSeconds, Household, HouseholdId
from careplug.domain.routing import Recipient, Role
from careplug.domain.self_check import SelfCheckTally, tally_self_checks
from careplug.ports import Notification
from careplug.runtime.router import AlertRouter

log = structlog.get_logger("careplug.summary")

HISTORY_DAYS = 28


def summary_key(day: date, recipient: str, channel: str) -> str:
    """``summary:<local date>:<recipient>:<channel>``."""
    return f"summary:{day.isoformat()}:{recipient}:{channel}"


class DailySummaries:
    """Builds and stores each caseworker's daily summary once per local day."""

    def __init__(
        self,
        store: SqliteStore,
        at_local: time = time(8, 30),
        drift: DriftConfig | None = None,
        *,
        late_limit_s: float = 6 * 3600.0,
        false_alarms: FalseAlarmConfig | None = None,
    ) -> None:
        self.store = store
        self.at_local = at_local
        self.late_limit_s = late_limit_s
        self.drift = drift or DriftConfig()
        self.false_alarms = false_alarms or FalseAlarmConfig()
        self._done: dict[str, date] = {}  # recipient -> the local day already summarised
        self._minute = -math.inf
        self._drift_cache: dict[tuple[HouseholdId, date], DriftReport] = {}

    def run(
        self,
        at: EpochSeconds,
        router: AlertRouter,
        open_alerts: Iterable[Alert],
        status: Callable[[HouseholdId], str],
        now: EpochSeconds,
    ) -> int:
        """Store the summaries due at event time ``at`` (``now``: processing time, for the
        outbox); how many notifications were stored. Store errors propagate, and the
        summaries are due again at the next call."""
        minute = math.floor(at / 60)
        if minute == self._minute or router.directory is None:
            return 0  # checked this minute already: the driver calls this very often
        directory = router.directory
        due: list[tuple[Recipient, date]] = []
        for r in directory.recipients.values():
            if r.role is not Role.CASEWORKER or not r.active:
                continue
            zone = ZoneInfo(r.timezone)
            local = datetime.fromtimestamp(at, zone)
            if local.time() < self.at_local or self._done.get(r.id) == local.date():
                continue
            # fold=0: a time repeated by a DST change means its first occurrence
            scheduled = datetime.combine(local.date(), self.at_local, tzinfo=zone).timestamp()
            if at - scheduled > self.late_limit_s:
                continue  # a morning summary read in the evening helps nobody: skip the day
            due.append((r, local.date()))
        if not due:
            self._minute = minute
            return 0
        alerts = list(open_alerts)
        # one query for every household's recent alarms (not one per household: 100,000
        # households' summaries are due at the same 08:30)
        recent: dict[HouseholdId, list[Alert]] = {}
        for alert in self.store.list_alerts(raised_after=at - self.false_alarms.window_s):
            recent.setdefault(alert.household, []).append(alert)
        notes: list[Notification] = []
        for recipient, day in due:
            notes += self._for(recipient, day, at, router, alerts, status, recent)
        if notes:
            self.store.enqueue(notes, now)
        for recipient, day in due:
            self._done[recipient.id] = day
        self._minute = minute
        if notes:
            log.info("daily_summaries_stored", recipients=len(due), notifications=len(notes))
        return len(notes)

    def _for(
        self,
        recipient: Recipient,
        day: date,
        at: EpochSeconds,
        router: AlertRouter,
        alerts: list[Alert],
        status: Callable[[HouseholdId], str],
        recent: dict[HouseholdId, list[Alert]],
    ) -> list[Notification]:
        households = [h for h in router.households.values() if recipient.id in h.caseworkers]
        if not households:
            return []
        ids = {h.id for h in households}
        mine = tuple(
            sorted((a for a in alerts if a.household in ids), key=lambda a: (a.raised_at, a.id))
        )
        ok = 0
        for h in households:
            try:
                ok += status(h.id) == "ok"
            except KeyError:  # not in the engine (a reload is on its way)
                continue
        reports = {h.id: self._drift(h, at) for h in households}
        drifting = tuple(sorted(h for h, rep in reports.items() if rep.drifting))
        to_review = {}
        window = self.false_alarms.window_s
        self_checks = SelfCheckTally()
        for h in households:
            theirs = recent.get(h.id, ())
            review = review_false_alarms(theirs, at, self.false_alarms)
            if review.to_review:
                to_review[h.id] = review
            if theirs:
                self_checks += tally_self_checks(theirs, at, window)
        summary = messages.DailySummary(
            day,
            ok,
            mine,
            drifting,
            {h: tuple(s.value for s in reports[h].signs) for h in drifting},
            to_review,
            self_checks,
            round(window / 86400.0),
        )
        subject, text = messages.render_daily_summary(
            summary, recipient.locale, recipient.timezone, at
        )
        data: dict[str, object] = {
            "event": messages.MessageEvent.DAILY_SUMMARY.value,
            "date": day.isoformat(),
            "households": len(households),
            "households_ok": ok,
            "open_alerts": [a.id for a in mine],
            "drifting": {h: list(summary.drift_signs[h]) for h in drifting},
            "false_alarms": {
                h: {"alarms": r.alarms, "resident_fine": r.resident_fine, "away": r.away}
                for h, r in sorted(to_review.items())
            },
            "self_checks": {
                "asked": self_checks.asked,
                "answered": self_checks.answered,
                "unanswered": self_checks.unanswered,
                "activity": self_checks.activity,
                "answer_rate": self_checks.answer_rate,
            },
        }
        out = []
        for channel in recipient.channels:
            if router.channels is not None and channel.channel not in router.channels:
                continue
            out.append(
                Notification(
                    key=summary_key(day, recipient.id, channel.channel),
                    channel=channel.channel,
                    recipient=recipient.id,
                    subject=subject,
                    text=text,
                    locale=recipient.locale,
                    address=channel.address,
                    data=data,
                )
            )
        return out

    def _drift(self, household: Household, at: EpochSeconds) -> DriftReport:
        """The household's drift report for its local day at ``at`` (computed once a day)."""
        today = datetime.fromtimestamp(at, ZoneInfo(household.timezone)).date()
        key = (household.id, today)
        report = self._drift_cache.get(key)
        if report is None:
            if len(self._drift_cache) > 100_000:
                self._drift_cache.clear()
            start = at - (HISTORY_DAYS + 2) * 86400.0
            end = at + 86400.0
            times = [t for _, t in self.store.activity_between(household.id, start, end)]
            report = detect_drift(times, household.timezone, today, self.drift)
            self._drift_cache[key] = report
        return report
