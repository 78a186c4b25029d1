"""The reference detectors of ``detection_bound.py`` on a household whose day is known exactly:
up at 07:00, lunch at 12:00, the evening at 19:00, every day (UTC, so clock = epoch)."""

from __future__ import annotations

import math
from zoneinfo import ZoneInfo

from detection_bound import OnlineRule, normal_silences, online_alerts, zero_false_alert_at

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


def test_the_online_detector_alerts_past_the_longest_wait_seen_plus_its_margin() -> None:
    # the resident stops after the morning activity of day 20 (a Saturday is day 5, 12, 19:
    # day 20 is a Sunday; use day 22, a Tuesday)
    times = [t for t in routine(40) if t <= MONDAY + 22 * DAY + 7 * HOUR]
    start, end = MONDAY, MONDAY + 40 * DAY
    incident = [(MONDAY + 22 * DAY + 7 * HOUR, end)]
    rows = online_alerts(times, start, end, 24 * HOUR, UTC, [], incident, OnlineRule())
    last = rows[-1]
    assert last[0] == MONDAY + 22 * DAY + 7 * HOUR
    assert last[2] == last[0] + 5 * HOUR + HOUR  # the usual 5 h to lunch, plus the margin
    # a normal day raises nothing, and nothing is learnt in the first 14 days: the limit only
    assert all(alert == math.inf for _, _, alert in rows[:-1])
    early = online_alerts(times[:30], start, MONDAY + 12 * DAY, 6 * HOUR, UTC, [], [], OnlineRule())
    assert early[-1][2] == early[-1][0] + 6 * HOUR


def test_the_online_detector_learns_nothing_from_untrained_or_blind_spans() -> None:
    # day 16 (a Wednesday) has no lunch: learnt, the next weekday silences from 07:00 may last
    # 12 h; marked untrained (an incident), they may not
    times = routine(30, {16: {12}})
    start, end = MONDAY, MONDAY + 30 * DAY
    long_day = (MONDAY + 16 * DAY + 7 * HOUR, MONDAY + 16 * DAY + 19 * HOUR)
    learnt = online_alerts(times, start, end, 24 * HOUR, UTC, [], [], OnlineRule())
    untrained = online_alerts(times, start, end, 24 * HOUR, UTC, [], [long_day], OnlineRule())
    blind = online_alerts(times, start, end, 24 * HOUR, UTC, [long_day], [], OnlineRule())
    # the long day itself raised an alert (after 5 h + 1 h) in the first two, none when blind
    assert [a for f, _, a in learnt if f == long_day[0]] == [long_day[0] + 6 * HOUR]
    assert [a for f, _, a in untrained if f == long_day[0]] == [long_day[0] + 6 * HOUR]
    assert not [a for f, _, a in blind if f == long_day[0]]
    # a later weekday silence of 12.5 h from 07:00 is alerted only when the 12 h day was not
    # learnt
    later = MONDAY + 23 * DAY + 7 * HOUR
    probe = sorted([t for t in times if not later < t < later + 13 * HOUR] + [later + 12.5 * HOUR])
    with_it = online_alerts(probe, start, end, 24 * HOUR, UTC, [], [], OnlineRule())
    without = online_alerts(probe, start, end, 24 * HOUR, UTC, [], [long_day], OnlineRule())
    assert [a for f, _, a in with_it if f == later] == [math.inf]
    assert [a for f, _, a in without if f == later] == [later + 6 * HOUR]


def test_silences_that_reach_the_limit_do_not_hold_the_bound_back() -> None:
    # a weekday with nothing from 07:00 to the next day's 12:00 (29 h): the 24 h limit raises
    # its alert anyway, so an alert at 12:00 on other days adds no false alarm
    times = routine(28, {9: {12, 19}, 10: {7}})
    base = MONDAY + 15 * DAY + 7 * HOUR
    silences = normal_silences(times, [])
    assert zero_false_alert_at(base, silences, 24 * HOUR, UTC) == base + 5 * HOUR
    # with a 36 h limit that day is a normal silence like any other
    assert zero_false_alert_at(base, silences, 36 * HOUR, UTC) == base + 29 * HOUR
