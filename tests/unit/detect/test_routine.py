"""The learnt routine: per-hour silence histograms, their thresholds and their snapshot."""

from __future__ import annotations

from careplug.domain.routine import (
    DAY,
    HOUR,
    Routine,
    RoutineConfig,
    describe_duration,
)

CONFIG = RoutineConfig()


def trained(days: int, silence_h: float = 1.5, night_h: float = 9.0) -> Routine:
    """A routine with a short morning silence and a long night one per day."""
    routine = Routine()
    for _ in range(days):
        routine.observe_day_start(7.0)
        routine.observe(9, False, silence_h * HOUR)
        routine.observe(22, False, night_h * HOUR)
        routine.observe(12, False, 0.2 * HOUR)  # a short gap: observed time only
        routine.observe(12, False, DAY - (silence_h + night_h + 0.2) * HOUR)
    return routine


def test_no_thresholds_before_fourteen_days_of_observation() -> None:
    """Cold start: nothing learnt is used until 14 usable days were observed."""
    assert trained(13).thresholds(9, False, CONFIG) is None
    assert trained(14).thresholds(9, False, CONFIG) is not None


def test_night_silences_allow_longer_than_morning_ones() -> None:
    """A silence starting at night may last much longer than one starting in the morning."""
    routine = trained(30)
    morning = routine.thresholds(9, False, CONFIG)
    night = routine.thresholds(22, False, CONFIG)
    assert morning is not None and night is not None
    assert morning.warning_s < 6 * HOUR
    assert night.attention_s > 8 * HOUR
    assert night.warning_s > 9 * HOUR * 1.2
    assert morning.attention_s <= morning.warning_s <= morning.critical_s


def test_floors_keep_normal_short_gaps_quiet() -> None:
    """However short the usual silences, levels never drop below 2 h / 4 h / 6 h."""
    routine = trained(30, silence_h=0.6)
    levels = routine.thresholds(9, False, CONFIG)
    assert levels is not None
    assert levels.attention_s >= 2 * HOUR
    assert levels.warning_s >= 4 * HOUR
    assert levels.critical_s >= 6 * HOUR


def test_snapshot_is_small_and_round_trips() -> None:
    """The persisted routine stays under 2 KiB and restores the same thresholds."""
    routine = trained(30)
    data = routine.to_bytes()
    assert len(data) < 2048
    again = Routine.from_bytes(data)
    assert again.observed_days == routine.observed_days
    assert again.thresholds(22, False, CONFIG) == routine.thresholds(22, False, CONFIG)
    assert again.day_start(CONFIG) == routine.day_start(CONFIG) is not None
    assert Routine.from_bytes(b"garbage").observed_days == 0.0


def test_a_snapshot_of_the_first_format_still_loads() -> None:
    """Routines stored before day starts were learnt (``CPR1``) keep their silences."""
    routine = trained(30)
    old = b"CPR1" + routine.to_bytes()[4 : 12 + len(routine.counts) * 2]
    again = Routine.from_bytes(old)
    assert again.observed_days == routine.observed_days
    assert again.thresholds(22, False, CONFIG) == routine.thresholds(22, False, CONFIG)
    assert again.day_start(CONFIG) is None  # learnt afresh


def test_day_start_is_learnt_from_nights_and_needs_regular_mornings() -> None:
    """Up between 06:30 and 07:30: a day not started by about 08:30 is improbable. A
    household with no morning activity one day in four has no such expectation."""
    regular = Routine()
    for night in range(20):
        regular.observe_day_start(6.5 + (night % 5) / 4)
    usual_by, improbable_after = regular.day_start(CONFIG) or (0.0, 0.0)
    assert 7.5 <= usual_by <= 7.75  # the quarter-hour of the latest start
    assert improbable_after == usual_by + 1.0  # the 1 h margin: the spread is smaller
    assert Routine().day_start(CONFIG) is None  # nothing learnt
    sparse = Routine()
    for night in range(20):
        sparse.observe_day_start(None if night % 4 == 0 else 7.0)
    assert sparse.day_start(CONFIG) is None


def test_memory_stays_bounded_over_years() -> None:
    """Rows are halved as they fill: counts never overflow and old habits fade."""
    routine = Routine()
    for _ in range(3000):
        routine.observe(9, False, 8 * HOUR)
    for _ in range(2000):
        routine.observe(9, False, 1 * HOUR)
    routine.observed_s = 30 * DAY
    levels = routine.thresholds(9, False, CONFIG)
    assert levels is not None
    assert max(routine.counts) < 2**16
    assert levels.usual_s < 8 * HOUR  # the recent habit dominates


def test_durations_read_plainly() -> None:
    """Durations in messages: minutes below an hour, else half hours."""
    assert describe_duration(40 * 60) == "40 min"
    assert describe_duration(2.1 * HOUR) == "2 h"
    assert describe_duration(2.6 * HOUR) == "2.5 h"
