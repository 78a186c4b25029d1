"""The delay bound of ``detection_bound.py`` on a household whose day is known exactly:
up at 07:00, lunch at 12:00, the evening at 19:00, every day (UTC, so clock = epoch)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from detection_bound import normal_silences, zero_false_alert_at

HOUR = 3600.0
DAY = 86400.0
UTC = ZoneInfo("UTC")
MONDAY = 1767571200.0  # 2026-01-05 00:00 UTC, a Monday


def routine(days: int, skip: dict[int, set[int]] | None = None) -> list[float]:
    """Activity at 07, 12 and 19 h on each day; ``skip`` leaves some hours out on some days."""
    skip = skip or {}
    return [
        MONDAY + day * DAY + hour * HOUR
        for day in range(days)
        for hour in (7, 12, 19)
        if hour not in skip.get(day, set())
    ]


def test_the_bound_is_the_end_of_the_longest_normal_silence_over_the_same_clock_hours() -> None:
    times = routine(28)
    silences = normal_silences(times, [])
    base = MONDAY + 15 * DAY + 7 * HOUR  # a Tuesday, just after the morning activity
    # every weekday from 07:00 was silent until 12:00: an alert at 12:00 is the first that no
    # normal day would have raised
    assert zero_false_alert_at(base, silences, 24 * HOUR, UTC) == base + 5 * HOUR
    # one Wednesday with no lunch: silent 07:00-19:00, so nothing before 19:00 is safe, unless
    # that one day may raise its (false) alert
    skipped = normal_silences(routine(28, {9: {12}}), [])
    assert zero_false_alert_at(base, skipped, 24 * HOUR, UTC) == base + 12 * HOUR
    assert zero_false_alert_at(base, skipped, 24 * HOUR, UTC, spare=1) == base + 5 * HOUR
    # a weekend day without lunch says nothing about weekdays
    weekend = normal_silences(routine(28, {13: {12}}), [])
    assert zero_false_alert_at(base, weekend, 24 * HOUR, UTC) == base + 5 * HOUR
    # ... unless every day is compared with every other
    assert zero_false_alert_at(base, weekend, 24 * HOUR, UTC, by_day_type=False) == (
        base + 12 * HOUR
    )
    # a silence that reaches the tier limit raises its alert anyway: with a 6 h limit the day
    # without lunch no longer holds the bound back
    assert zero_false_alert_at(base, skipped, 6 * HOUR, UTC) == base + 5 * HOUR


def test_excluded_spans_are_not_normal_silences() -> None:
    times = routine(28, {9: {12}})
    away = [(MONDAY + 9 * DAY + 8 * HOUR, MONDAY + 9 * DAY + 9 * HOUR)]
    silences = normal_silences(times, away)
    assert (MONDAY + 9 * DAY + 7 * HOUR, MONDAY + 9 * DAY + 19 * HOUR) not in silences
    base = MONDAY + 15 * DAY + 7 * HOUR
    assert zero_false_alert_at(base, silences, 24 * HOUR, UTC) == base + 5 * HOUR


def test_silences_that_reach_the_limit_do_not_hold_the_bound_back() -> None:
    # a weekday with nothing from 07:00 to the next day's 12:00 (29 h): the 24 h limit raises
    # its alert anyway, so an alert at 12:00 on other days adds no false alarm
    times = routine(28, {9: {12, 19}, 10: {7}})
    base = MONDAY + 15 * DAY + 7 * HOUR
    silences = normal_silences(times, [])
    assert zero_false_alert_at(base, silences, 24 * HOUR, UTC) == base + 5 * HOUR
    # with a 36 h limit that day is a normal silence like any other
    assert zero_false_alert_at(base, silences, 36 * HOUR, UTC) == base + 29 * HOUR
