"""Which households' alarms keep ending with the resident fine (the summary's review list)."""

from __future__ import annotations

import pytest

from careplug.domain.false_alarms import FalseAlarmConfig, review_false_alarms
from careplug.domain.model import (
    Alert,
    AlertId,
    AlertKind,
    AlertState,
    HouseholdId,
    Outcome,
    Severity,
)

DAY = 86400.0
NOW = 1_800_000_000.0
CONFIG = FalseAlarmConfig(window_s=28 * DAY, min_alarms=3)


def alarm(
    days_ago: float,
    outcome: Outcome | None = Outcome.RESIDENT_OK,
    *,
    kind: AlertKind = AlertKind.INACTIVITY,
    severity: Severity = Severity.CRITICAL,
) -> Alert:
    return Alert(
        AlertId(f"a-{days_ago}-{outcome}-{kind}-{severity}"),
        HouseholdId("hh-1"),
        kind,
        severity,
        AlertState.OPEN if outcome is None else AlertState.RESOLVED,
        NOW - days_ago * DAY,
        "no activity",
        outcome=outcome,
    )


def test_three_alarms_that_ended_with_the_resident_fine_put_a_home_on_the_list() -> None:
    alerts = [
        alarm(2, Outcome.RESIDENT_OK),
        alarm(9, Outcome.ACTIVITY_RESUMED, severity=Severity.WARNING),
        alarm(20, Outcome.AWAY),
    ]
    review = review_false_alarms(alerts, NOW, CONFIG)
    assert (review.alarms, review.resident_fine, review.away, review.to_review) == (3, 3, 1, True)


@pytest.mark.parametrize(
    "outcome", [Outcome.VISITED_OK, Outcome.FALSE_ALARM, Outcome.RESIDENT_OK, Outcome.AWAY]
)
def test_each_fine_outcome_counts(outcome: Outcome) -> None:
    review = review_false_alarms([alarm(1, outcome)] * 3, NOW, CONFIG)
    assert review.resident_fine == 3 and review.to_review


def test_real_help_open_alarms_old_ones_and_dashboard_notes_do_not_count() -> None:
    alerts = [
        alarm(1, Outcome.HOSPITAL),  # someone needed help: a true alarm
        alarm(2, Outcome.EMERGENCY_SERVICES),
        alarm(3, Outcome.DEVICE_FAULT),  # the plug, not the routine: not "resident fine"
        alarm(4, None),  # still open
        alarm(5, Outcome.RESIDENT_OK, severity=Severity.ATTENTION),  # nobody was sent
        alarm(6, Outcome.DEVICE_BACK_ONLINE, kind=AlertKind.DEVICE_OFFLINE),
        alarm(29, Outcome.RESIDENT_OK),  # before the window
        alarm(-1, Outcome.RESIDENT_OK),  # after "now" (a replay's future): not yet
        alarm(10, Outcome.RESIDENT_OK),
        alarm(11, Outcome.FALSE_ALARM),
    ]
    review = review_false_alarms(alerts, NOW, CONFIG)
    assert (review.alarms, review.resident_fine, review.to_review) == (6, 2, False)


def test_the_threshold_and_window_are_configurable() -> None:
    alerts = [alarm(1), alarm(40)]
    assert not review_false_alarms(alerts, NOW, CONFIG).to_review
    assert review_false_alarms(alerts, NOW, FalseAlarmConfig(60 * DAY, 2)).to_review
    assert review_false_alarms(alerts[:1], NOW, FalseAlarmConfig(28 * DAY, 1)).to_review
