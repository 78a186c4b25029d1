"""The routine's sparse histogram counts exactly as the dense ``uint16`` one it replaced."""

from __future__ import annotations

import random
import sys
from array import array

from careplug.domain.routine import (
    ANCHORS_H,
    BINS,
    HOUR,
    MIN_SILENCE_S,
    ROW_LIMIT,
    ROWS,
    WAIT_BINS,
    Routine,
    _bin_of,
    snapshot_observed_days,
    snapshot_plus_observed,
)


def dense_reference(events: list[tuple[int, bool, float]]) -> list[int]:
    """The histogram as first specified: one dense row per start hour, halved when full."""
    counts = [0] * (ROWS * BINS)
    for hour, weekend, duration in events:
        if duration < MIN_SILENCE_S:
            continue
        base = ((24 if weekend else 0) + hour) * BINS
        counts[base + _bin_of(duration)] += 1
        if sum(counts[base : base + BINS]) >= ROW_LIMIT:
            for i in range(base, base + BINS):
                counts[i] //= 2
    return counts


def test_sparse_counts_match_the_dense_histogram() -> None:
    """Random silences, many enough to halve rows: the same counts and the same snapshot."""
    for seed in range(40):
        rnd = random.Random(seed)
        events = [
            (
                rnd.choice([7, 9, 22]) if rnd.random() < 0.5 else rnd.randrange(24),
                rnd.random() < 0.3,
                MIN_SILENCE_S * 2 ** (rnd.random() * 9) if rnd.random() < 0.8 else 600.0,
            )
            for _ in range(rnd.choice([5, 200, 3000]))
        ]
        routine = Routine()
        for event in events:
            routine.observe(*event)
        assert list(routine.counts) == dense_reference(events)
        again = Routine.from_bytes(routine.to_bytes())
        assert list(again.counts) == list(routine.counts)
        assert again.to_bytes() == routine.to_bytes()
        assert again.observed_s == routine.observed_s
        # a snapshot written by the dense version before it reads the same
        dense = b"CPR1" + array("d", [routine.observed_s]).tobytes()
        dense += array("H", dense_reference(events)).tobytes()
        legacy = Routine.from_bytes(dense)
        assert legacy.to_bytes() == routine.to_bytes()


def test_malformed_snapshots_give_a_fresh_routine() -> None:
    """Truncated, unsorted or out-of-range sparse data is not trusted, in the snapshot form
    and in the uint32 form of the stores written before it."""
    good = Routine()
    good.observe(9, False, 4 * HOUR)
    good.observe(22, False, 9 * HOUR)
    data = good.to_bytes()
    assert Routine.from_bytes(data).to_bytes() == data
    observed, bins = data[4:12], good._bins
    legacy = b"CPR2" + observed + bins.tobytes()
    assert Routine.from_bytes(legacy).to_bytes() == data
    last = (ROWS * BINS + 2 * len(ANCHORS_H) * WAIT_BINS) << 16 | 1
    for bad in (
        data[:-1],  # a count short
        b"CPR3" + observed + b"\x07" + bytes([5, 1, 1, 1]),  # an unknown width
        b"CPR3" + observed + b"\x00" + bytes([5, 0, 1, 1]),  # the same index twice
        b"CPR3" + observed + b"\x00" + bytes([5, 3, 1, 0]),  # an empty bin
        b"CPR3" + observed + b"\x01" + array("H", [1200]).tobytes() + b"\x01",  # out of range
        legacy[:-1],
        b"CPR2" + observed + array("I", reversed(bins)).tobytes(),
        b"CPR2" + observed + array("I", [last]).tobytes(),
    ):
        assert Routine.from_bytes(bad).observed_s == 0.0
        assert not any(Routine.from_bytes(bad).counts)


def test_wide_steps_and_counts_round_trip() -> None:
    """A first bin beyond index 255 (silences only in the evening) and a count over 255 take
    two bytes each, and read back the same."""
    routine = Routine()
    for _ in range(300):
        routine.observe(20, False, 4 * HOUR)
    routine.observe(23, True, 2 * HOUR)
    routine.observe_wait(7, True, 9.0)
    data = routine.to_bytes()
    assert data[12] == 3  # both wide
    again = Routine.from_bytes(data)
    assert again.counts == routine.counts and again.waits == routine.waits
    assert max(again.counts) == 300
    assert again.to_bytes() == data


def test_a_learnt_routine_is_small_in_memory() -> None:
    """Two months of a regular day keep well under the 1.5 KiB of the dense histogram."""
    routine = Routine()
    for day in range(60):
        weekend = day % 7 >= 5
        for hour, length in ((9, 1.5), (13, 2.5), (15, 3.0), (22, 9.0)):
            routine.observe(hour, weekend, length * HOUR * (1 + 0.1 * (day % 3)))
    assert sys.getsizeof(routine._bins) < 300
    # as the engine holds it: one bytes object of two bytes a bin
    assert sys.getsizeof(routine.to_bytes()) <= 33 + 13 + 2 * len(routine._bins)


def test_a_snapshot_answers_its_observed_days_and_grows_without_decoding() -> None:
    """What the engine reads per activity without decoding: observed days, and a short gap
    added to the observed time (the bins unchanged)."""
    routine = Routine()
    routine.observe(9, False, 4 * HOUR)
    routine.observe(22, True, 9 * HOUR)
    data = routine.to_bytes()
    assert snapshot_observed_days(data) == routine.observed_days == 13 / 24
    grown = snapshot_plus_observed(data, 600.0)
    routine.observed_s += 600.0
    assert grown == routine.to_bytes()
    assert Routine.from_bytes(grown).counts == Routine.from_bytes(data).counts
    for not_a_snapshot in (b"", b"CPR2", b"XXXX" + data[4:]):
        assert snapshot_observed_days(not_a_snapshot) == 0.0


def test_a_trusted_snapshot_skips_only_the_order_check() -> None:
    """``trusted`` (the engine's own copy) decodes the same; the header and length are still
    checked."""
    routine = Routine()
    for hour in range(24):
        routine.observe(hour, hour % 2 == 0, (hour + 1) * 1000.0 + MIN_SILENCE_S)
    routine.observe_wait(2, True, 3.2)
    data = routine.to_bytes()
    assert Routine.from_bytes(data, trusted=True).to_bytes() == data
    assert Routine.from_bytes(data[:-1], trusted=True).to_bytes() == Routine().to_bytes()
