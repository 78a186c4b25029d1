"""How often residents answered a self-check, from the stored alerts (domain.self_check)."""

from __future__ import annotations

from careplug.domain.model import (
    Alert,
    AlertId,
    AlertKind,
    AlertState,
    HouseholdId,
    Outcome,
    Severity,
)
from careplug.domain.self_check import (
    RESIDENT_ACTOR,
    SELF_CHECK_EXPIRED_KEY,
    SELF_CHECK_SENT_KEY,
    SelfCheckTally,
    tally_self_checks,
)

NOW = 1_764_000_000.0
DAY = 86400.0
WINDOW = 28 * DAY


def _alert(
    n: int,
    asked_days_ago: float | None,
    *,
    expired: bool = False,
    resolved_by: str | None = None,
    outcome: Outcome | None = None,
) -> Alert:
    details: dict[str, object] = {}
    raised = NOW - (asked_days_ago or 1.0) * DAY
    if asked_days_ago is not None:
        details[SELF_CHECK_SENT_KEY] = raised
    if expired:
        details[SELF_CHECK_EXPIRED_KEY] = raised + 900.0
    resolved = resolved_by is not None
    return Alert(
        AlertId(f"a-{n}"),
        HouseholdId("hh-1"),
        AlertKind.INACTIVITY,
        Severity.WARNING,
        AlertState.RESOLVED if resolved else AlertState.OPEN,
        raised,
        "no activity",
        resolved_at=raised + 600.0 if resolved else None,
        resolved_by=resolved_by,
        outcome=outcome,
        details=details,
    )


def test_each_ask_is_counted_by_how_it_ended() -> None:
    alerts = [
        _alert(1, 2, resolved_by=RESIDENT_ACTOR, outcome=Outcome.RESIDENT_OK),
        _alert(2, 3, resolved_by=RESIDENT_ACTOR, outcome=Outcome.RESIDENT_OK),
        _alert(3, 4, resolved_by=RESIDENT_ACTOR, outcome=Outcome.RESIDENT_OK),
        _alert(4, 5, expired=True, resolved_by="cw-kim", outcome=Outcome.VISITED_OK),
        # answered only after the caseworkers were told: unanswered in time
        _alert(5, 6, expired=True, resolved_by=RESIDENT_ACTOR, outcome=Outcome.RESIDENT_OK),
        _alert(6, 7, resolved_by="careplug", outcome=Outcome.ACTIVITY_RESUMED),
        _alert(7, 0.01),  # still waiting for the answer
        _alert(8, 30, resolved_by=RESIDENT_ACTOR, outcome=Outcome.RESIDENT_OK),  # too old
        _alert(9, None, resolved_by="cw-kim", outcome=Outcome.FALSE_ALARM),  # no ask
    ]
    tally = tally_self_checks(alerts, NOW, WINDOW)
    assert tally == SelfCheckTally(asked=7, answered=3, unanswered=2, activity=1)
    assert tally.answer_rate == 3 / 5


def test_no_rate_before_an_ask_has_ended_and_tallies_add_up() -> None:
    waiting = tally_self_checks([_alert(1, 0.01)], NOW, WINDOW)
    assert waiting == SelfCheckTally(asked=1) and waiting.answer_rate is None
    assert SelfCheckTally(2, 1, 1, 0) + SelfCheckTally(3, 2, 0, 1) == SelfCheckTally(5, 3, 1, 1)
    assert tally_self_checks([], NOW, WINDOW) == SelfCheckTally()
