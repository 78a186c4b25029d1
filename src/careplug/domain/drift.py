"""Routine drift: is a household's daily rhythm slowly changing? Pure.

Compares the last two weeks with the two weeks before, from the times careplug saw activity
(the same history the console's activity strips show), in the household's time zone:

- later mornings: the median first activity of the day (from ``morning_from``, 04:00) is later
  by at least ``later_by_s``;
- fewer meals: fewer meal windows (breakfast, lunch, dinner) a day show any use, by at least
  ``meal_drop_share`` of what they were;
- more night activity: more activity a day between ``night`` start and end (00:00-05:00), by
  at least ``night_rise_per_day`` events and ``night_rise_share`` of what it was.

Only days with some activity count (a day away or with every plug offline says nothing about
the routine); each fortnight needs ``min_days`` of them, otherwise the answer is
``insufficient_data``. Slow changes like these are what caseworkers look for on a visit: they
go into the daily summary, never into an alert.
"""

from __future__ import annotations

import enum
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from careplug.domain.model import EpochSeconds

WEEKS_2 = 14


class DriftSign(enum.StrEnum):
    """One way a routine drifts."""

    LATER_MORNINGS = "later_mornings"
    FEWER_MEALS = "fewer_meals"
    MORE_NIGHT_ACTIVITY = "more_night_activity"


class DriftReason(enum.StrEnum):
    """Why a report says what it says."""

    DRIFTING = "drifting"
    STEADY = "steady"
    INSUFFICIENT_DATA = "insufficient_data"


@dataclass(frozen=True, slots=True)
class DriftConfig:
    """Thresholds of :func:`detect_drift`; local times of day, durations in seconds."""

    later_by_s: float = 60 * 60.0
    meal_drop_share: float = 0.3
    night_rise_per_day: float = 1.0
    night_rise_share: float = 0.5
    min_days: int = 7
    morning_from: time = time(4, 0)
    meals: tuple[tuple[time, time], ...] = (
        (time(6, 30), time(9, 30)),
        (time(11, 30), time(13, 30)),
        (time(17, 0), time(19, 30)),
    )
    night: tuple[time, time] = (time(0, 0), time(5, 0))


@dataclass(frozen=True, slots=True)
class DayProfile:
    """One local day of activity: the first activity from ``morning_from`` (seconds after
    local midnight, None if none), meal windows with any use, night events, all events."""

    day: date
    first_activity_s: float | None
    meals: int
    night_events: int
    events: int


@dataclass(frozen=True, slots=True)
class FortnightFigures:
    """Averages over the days with activity of one fortnight."""

    days: int
    first_activity_s: float | None
    """Median first activity of the day, seconds after local midnight."""
    meals_per_day: float
    night_events_per_day: float


@dataclass(frozen=True, slots=True)
class DriftReport:
    """The verdict: the signs found (empty when steady), why, and the figures compared."""

    signs: tuple[DriftSign, ...]
    reason: DriftReason
    earlier: FortnightFigures
    recent: FortnightFigures
    notes: dict[str, float] = field(default_factory=dict)

    @property
    def drifting(self) -> bool:
        """True when at least one sign was found."""
        return bool(self.signs)


def _seconds(t: time) -> float:
    return t.hour * 3600.0 + t.minute * 60.0 + t.second


def _in(t: float, window: tuple[time, time]) -> bool:
    start, end = _seconds(window[0]), _seconds(window[1])
    if start <= end:
        return start <= t < end
    return t >= start or t < end


def daily_profiles(
    times: Iterable[EpochSeconds], tz: str, first_day: date, days: int, config: DriftConfig
) -> list[DayProfile]:
    """Per local day from ``first_day`` for ``days`` days: a :class:`DayProfile` of the
    activity ``times`` (epoch seconds) that fall on it in time zone ``tz``."""
    zone = ZoneInfo(tz)
    by_day: dict[date, list[float]] = defaultdict(list)
    last_day = first_day + timedelta(days=days)
    for at in times:
        local = datetime.fromtimestamp(at, zone)
        if first_day <= local.date() < last_day:
            by_day[local.date()].append(_seconds(local.time()))
    out: list[DayProfile] = []
    morning = _seconds(config.morning_from)
    for n in range(days):
        day = first_day + timedelta(days=n)
        seconds = sorted(by_day.get(day, []))
        first = next((s for s in seconds if s >= morning), None)
        meals = sum(1 for w in config.meals if any(_in(s, w) for s in seconds))
        night = sum(1 for s in seconds if _in(s, config.night))
        out.append(DayProfile(day, first, meals, night, len(seconds)))
    return out


def _figures(days: list[DayProfile]) -> FortnightFigures:
    lived = [d for d in days if d.events > 0]
    firsts = [d.first_activity_s for d in lived if d.first_activity_s is not None]
    n = len(lived)
    return FortnightFigures(
        n,
        statistics.median(firsts) if firsts else None,
        sum(d.meals for d in lived) / n if n else 0.0,
        sum(d.night_events for d in lived) / n if n else 0.0,
    )


def detect_drift(
    times: Iterable[EpochSeconds], tz: str, today: date, config: DriftConfig | None = None
) -> DriftReport:
    """Compare the 14 local days before ``today`` with the 14 before those (``times``: the
    household's activity, epoch seconds; ``tz``: its time zone). ``today`` is excluded: it
    has only begun."""
    config = config or DriftConfig()
    start = today - timedelta(days=2 * WEEKS_2)
    profiles = daily_profiles(times, tz, start, 2 * WEEKS_2, config)
    earlier, recent = _figures(profiles[:WEEKS_2]), _figures(profiles[WEEKS_2:])
    if earlier.days < config.min_days or recent.days < config.min_days:
        return DriftReport((), DriftReason.INSUFFICIENT_DATA, earlier, recent)
    signs: list[DriftSign] = []
    notes: dict[str, float] = {}
    if earlier.first_activity_s is not None and recent.first_activity_s is not None:
        later = recent.first_activity_s - earlier.first_activity_s
        notes["morning_later_s"] = later
        if later >= config.later_by_s:
            signs.append(DriftSign.LATER_MORNINGS)
    if earlier.meals_per_day > 0:
        drop = 1.0 - recent.meals_per_day / earlier.meals_per_day
        notes["meal_drop_share"] = drop
        if drop >= config.meal_drop_share:
            signs.append(DriftSign.FEWER_MEALS)
    rise = recent.night_events_per_day - earlier.night_events_per_day
    notes["night_rise_per_day"] = rise
    if (
        rise >= config.night_rise_per_day
        and recent.night_events_per_day
        >= earlier.night_events_per_day * (1 + config.night_rise_share)
    ):
        signs.append(DriftSign.MORE_NIGHT_ACTIVITY)
    reason = DriftReason.DRIFTING if signs else DriftReason.STEADY
    return DriftReport(tuple(signs), reason, earlier, recent, notes)
