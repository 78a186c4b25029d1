"""The resident self-check, as the alerts record it, and how often residents answer. Pure.

Where configured, a ``warning`` asks the resident first ("press here if you are fine") and
tells the caseworkers only when the ask goes unanswered. Whether that saves visits rests on how
often residents answer; the detection benchmark can only assume a rate (80 % or 95 %). The
daily summary reports the rate each caseworker's households actually show, from the stored
alerts, so a programme can check the assumption on its own residents.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from careplug.domain.model import Alert, AlertState, EpochSeconds, Outcome

SELF_CHECK_SENT_KEY = "self_check_sent_at"
"""Alert detail: when the resident was asked."""
SELF_CHECK_EXPIRED_KEY = "self_check_expired_at"
"""Alert detail: when the ask went unanswered and the caseworkers were told."""
RESIDENT_ACTOR = "resident"
"""Who resolved an alert through the self-check link."""


@dataclass(frozen=True, slots=True)
class SelfCheckTally:
    """Self-checks asked within a window: ``answered`` by the resident through the link,
    ``unanswered`` until the timeout (caseworkers told), ``activity`` made moot by the
    resident using the appliance before the timeout; the rest are still waiting."""

    asked: int = 0
    answered: int = 0
    unanswered: int = 0
    activity: int = 0

    @property
    def answer_rate(self) -> float | None:
        """Answered among the asks that came to an end by an answer or the timeout (None
        before any did). An incident's ask, which nobody can answer, counts as unanswered:
        rare beside the false alarms the self-check is for."""
        ended = self.answered + self.unanswered
        return None if ended == 0 else self.answered / ended

    def __add__(self, other: SelfCheckTally) -> SelfCheckTally:
        return SelfCheckTally(
            self.asked + other.asked,
            self.answered + other.answered,
            self.unanswered + other.unanswered,
            self.activity + other.activity,
        )


def tally_self_checks(alerts: Iterable[Alert], at: EpochSeconds, window_s: float) -> SelfCheckTally:
    """Count the self-checks of the ``alerts`` raised within ``(at - window_s, at]`` (the
    window the daily summary reads alerts by, as for false alarms)."""
    asked = answered = unanswered = activity = 0
    since = at - window_s
    for alert in alerts:
        if SELF_CHECK_SENT_KEY not in alert.details or not since < alert.raised_at <= at:
            continue
        asked += 1
        if SELF_CHECK_EXPIRED_KEY in alert.details:
            unanswered += 1
        elif alert.state is AlertState.RESOLVED and alert.resolved_by == RESIDENT_ACTOR:
            answered += 1
        elif alert.state is AlertState.RESOLVED and alert.outcome is Outcome.ACTIVITY_RESUMED:
            activity += 1
    return SelfCheckTally(asked, answered, unanswered, activity)
