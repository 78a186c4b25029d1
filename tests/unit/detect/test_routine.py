"""The learnt routine: per-hour silence histograms, their thresholds and their snapshot."""

from __future__ import annotations

from array import array

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
        routine.observe_wait(1, False, 3.0)  # up at 07:00
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
    assert (
        again.expected_wait(1, False, CONFIG) == routine.expected_wait(1, False, CONFIG) is not None
    )
    assert Routine.from_bytes(b"garbage").observed_days == 0.0


def test_a_snapshot_of_the_first_format_still_loads() -> None:
    """Routines stored before day starts were learnt (``CPR1``) keep their silences."""
    routine = trained(30)
    old = b"CPR1" + array("d", [routine.observed_s]).tobytes() + routine.counts.tobytes()
    again = Routine.from_bytes(old)
    assert again.observed_days == routine.observed_days
    assert again.thresholds(22, False, CONFIG) == routine.thresholds(22, False, CONFIG)
    assert again.expected_wait(1, False, CONFIG) is None  # learnt afresh


def test_the_wait_from_an_anchor_hour_is_learnt_and_needs_regular_days() -> None:
    """Up between 06:30 and 07:30 (2.5-3.5 h after the 04:00 anchor): a morning still silent
    about an hour past the latest start is improbable. A household silent for 10 h or more
    after 04:00 one day in four expects nothing of its mornings."""
    regular = Routine()
    for night in range(20):
        regular.observe_wait(1, False, 2.5 + (night % 5) / 4)
    usual, improbable = regular.expected_wait(1, False, CONFIG) or (0.0, 0.0)
    assert 3.5 <= usual <= 4.0  # the half-hour of the latest start
    assert improbable == usual + 1.0  # the 1 h margin: the spread is smaller
    assert Routine().expected_wait(1, False, CONFIG) is None  # nothing learnt
    assert regular.expected_wait(2, False, CONFIG) is None  # another anchor: nothing learnt
    sparse = Routine()
    for night in range(20):
        sparse.observe_wait(1, False, 11.0 if night % 4 == 0 else 3.0)
    assert sparse.expected_wait(1, False, CONFIG) is None


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
    for _ in range(3000):
        routine.observe_wait(1, False, 3.0)
    assert max(routine.counts) < 2**16
    assert max(routine.waits) < 2**8
    assert levels.usual_s < 8 * HOUR  # the recent habit dominates


def test_durations_read_plainly() -> None:
    """Durations in messages: minutes below an hour, else half hours."""
    assert describe_duration(40 * 60) == "40 min"
    assert describe_duration(2.1 * HOUR) == "2 h"
    assert describe_duration(2.6 * HOUR) == "2.5 h"
