"""Routine drift from synthetic activity histories: drifting ones are found, steady ones not."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from careplug.domain.drift import (
    DriftConfig,
    DriftReason,
    DriftSign,
    daily_profiles,
    detect_drift,
)

TODAY = date(2026, 3, 20)
SEOUL = "Asia/Seoul"


def history(
    tz: str = SEOUL,
    *,
    wake: tuple[time, time] = (time(7, 0), time(7, 0)),
    meals: tuple[int, int] = (3, 3),
    night: tuple[int, int] = (0, 0),
    empty_days: frozenset[int] = frozenset(),
    seed: int = 1,
    today: date = TODAY,
) -> list[float]:
    """28 days of activity before ``today``: (earlier, recent) fortnight settings; local
    times with +-15 min of jitter; ``empty_days`` (0 = 28 days ago) have nothing."""
    rng = random.Random(seed)
    zone = ZoneInfo(tz)
    out: list[float] = []
    meal_times = [time(12, 10), time(18, 20), time(8, 40)]
    for n in range(28):
        if n in empty_days:
            continue
        day = today - timedelta(days=28 - n)
        half = 0 if n < 14 else 1

        def at(t: time, jitter: float = 15.0, day: date = day) -> None:
            local = datetime.combine(day, t, tzinfo=zone)
            out.append(local.timestamp() + rng.uniform(-jitter, jitter) * 60)

        at(wake[half], jitter=10)
        at(time(10, 30))
        for t in meal_times[: max(0, meals[half] - 1)]:
            at(t)
        at(time(20, 0))
        at(time(22, 0))
        for k in range(night[half]):
            at(time(1 + k % 3, 30), jitter=20)
    return out


def test_a_steady_routine_does_not_drift() -> None:
    report = detect_drift(history(), SEOUL, TODAY)
    assert report.reason is DriftReason.STEADY
    assert report.signs == ()
    assert not report.drifting
    assert report.earlier.days == report.recent.days == 14


@pytest.mark.parametrize("seed", range(5))
def test_noise_alone_is_not_drift(seed: int) -> None:
    """Jitter and an occasional restless night in both fortnights: steady."""
    assert not detect_drift(history(night=(1, 1), seed=seed), SEOUL, TODAY).drifting


def test_later_mornings() -> None:
    """First activity at 07:00, then at 08:30 for two weeks: later mornings only."""
    report = detect_drift(history(wake=(time(7, 0), time(8, 30))), SEOUL, TODAY)
    assert report.signs == (DriftSign.LATER_MORNINGS,)
    assert report.notes["morning_later_s"] == pytest.approx(90 * 60, abs=15 * 60)


def test_half_an_hour_later_is_below_the_default_threshold_but_not_a_stricter_one() -> None:
    times = history(wake=(time(7, 0), time(7, 40)))
    assert not detect_drift(times, SEOUL, TODAY).drifting
    strict = DriftConfig(later_by_s=20 * 60)
    assert detect_drift(times, SEOUL, TODAY, strict).signs == (DriftSign.LATER_MORNINGS,)


def test_fewer_meals() -> None:
    """Breakfast, lunch and dinner, then breakfast only (the kettle still in the morning)."""
    report = detect_drift(history(meals=(3, 1)), SEOUL, TODAY)
    assert report.signs == (DriftSign.FEWER_MEALS,)
    assert report.earlier.meals_per_day == 3
    assert report.recent.meals_per_day == 1


def test_more_night_activity() -> None:
    report = detect_drift(history(night=(0, 3)), SEOUL, TODAY)
    assert report.signs == (DriftSign.MORE_NIGHT_ACTIVITY,)
    assert report.recent.night_events_per_day == 3


def test_everything_at_once() -> None:
    report = detect_drift(
        history(wake=(time(7, 0), time(9, 0)), meals=(3, 1), night=(0, 2)), SEOUL, TODAY
    )
    assert set(report.signs) == set(DriftSign)


def test_days_without_any_activity_do_not_count_as_fewer_meals() -> None:
    """Five days away in the recent fortnight: the remaining days are as before."""
    report = detect_drift(history(empty_days=frozenset(range(16, 21))), SEOUL, TODAY)
    assert report.reason is DriftReason.STEADY
    assert report.recent.days == 9


def test_too_few_days_is_insufficient_data() -> None:
    """A household enrolled ten days ago cannot drift yet."""
    report = detect_drift(history(empty_days=frozenset(range(18))), SEOUL, TODAY)
    assert report.reason is DriftReason.INSUFFICIENT_DATA
    assert not report.drifting


def test_local_time_across_daylight_saving_is_steady() -> None:
    """Up at 07:00 local in Berlin every day across the March clock change: no drift, though
    in UTC the mornings moved an hour earlier."""
    berlin_today = date(2026, 4, 9)  # 2026-03-29 is the change, in the recent fortnight
    times = history("Europe/Berlin", today=berlin_today)
    report = detect_drift(times, "Europe/Berlin", berlin_today)
    assert report.reason is DriftReason.STEADY
    assert report.notes["morning_later_s"] == pytest.approx(0, abs=15 * 60)


def test_profiles_count_per_local_day() -> None:
    zone = ZoneInfo(SEOUL)
    day = date(2026, 3, 1)
    times = [
        datetime.combine(day, t, tzinfo=zone).timestamp()
        for t in (time(2, 0), time(3, 0), time(6, 50), time(12, 0), time(12, 30), time(23, 0))
    ]
    [profile] = daily_profiles(times, SEOUL, day, 1, DriftConfig())
    assert profile.first_activity_s == 6 * 3600 + 50 * 60  # the 02:00 and 03:00 are night
    assert profile.night_events == 2
    assert profile.meals == 2  # breakfast and lunch windows; two uses at lunch count once
    assert profile.events == 6
