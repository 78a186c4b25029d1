"""A household's learnt routine: how long silences that start at each hour of the day last.

Pure and small. For each local hour (weekday and weekend apart) a fixed histogram of the
log-duration of the silences that started in that hour and lasted at least ``MIN_SILENCE_S``
(shorter gaps only count as observed time). 2 x 24 x 16 counts as ``uint16``: 1,536 bytes per
household, serialised as-is. Learning is online: one silence at a time, when it ends; a row is
halved when it grows large, so an old routine fades out and memory stays bounded.

Alert thresholds for a silence follow from the quantiles of the histogram pooled over the start
hour and its neighbours (a person's day shifts by an hour now and then), falling back to the
whole day when the hours around are thin. Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass

HOUR = 3600.0
DAY = 86400.0

MIN_SILENCE_S = 1800.0
"""Silences shorter than this are not binned (a normal gap between two uses)."""
BINS = 16
BIN_LOG2_WIDTH = 0.5
"""Bin i holds durations in [MIN_SILENCE_S * 2**(i/2), MIN_SILENCE_S * 2**((i+1)/2)); the last
bin is open-ended (from 90.5 h)."""
ROWS = 48  # 24 weekday hours, then 24 weekend hours
ROW_LIMIT = 400
"""A row whose total reaches this is halved: recent weeks weigh more, counts fit uint16."""
_NEIGHBOUR_WEIGHTS = ((0, 4), (-1, 2), (1, 2), (-2, 1), (2, 1))
_HEADER_V1 = b"CPR1"
_HEADER = b"CPR2"

NIGHT_ANCHOR_H = 4.0
"""The local hour every night silence spans: the first activity after it starts the day."""
DAY_START_LAST_H = 14.0
"""A night silence still unbroken at this local hour counts as "no morning start"."""
DAY_START_BIN_H = 0.25
DAY_START_BINS = int((DAY_START_LAST_H - NIGHT_ANCHOR_H) / DAY_START_BIN_H) + 1
"""Quarter-hour bins of the day-start time from 04:00 to 14:00, then one overflow bin."""


def _bin_of(duration_s: float) -> int:
    index = int(math.log2(duration_s / MIN_SILENCE_S) / BIN_LOG2_WIDTH)
    return min(max(index, 0), BINS - 1)


def _edge(index: float) -> float:
    return float(MIN_SILENCE_S * 2.0 ** (index * BIN_LOG2_WIDTH))


@dataclass(frozen=True, slots=True)
class RoutineConfig:
    """How learnt thresholds are derived; durations in seconds.

    ``usable_days``: observed (non-away, non-incident) days before learnt thresholds apply.
    ``split_days``: observed days before weekday and weekend are told apart.
    ``min_samples``: pooled silences needed around an hour, else the whole day is used.
    ``attention_q`` / ``warning_q``: quantiles of the pooled silences for the two levels;
    ``warning_factor`` / ``critical_factor`` stretch the warning quantile beyond what was seen.
    ``*_min_s``: floors, so a normal short gap never raises anything.
    ``day_start_q`` / ``day_start_min_nights`` / ``day_start_margin_s``: "not started the
    day": once this many nights are learnt, a night silence still unbroken past the
    ``day_start_q`` quantile of the household's day-start time plus a margin (at least
    ``day_start_margin_s``, more for an irregular sleeper: the spread from the median to that
    quantile) is a warning. No such level when the household often has no morning activity.
    """

    usable_days: float = 14.0
    split_days: float = 28.0
    min_samples: float = 12.0
    attention_q: float = 0.95
    warning_q: float = 0.99
    warning_factor: float = 1.0
    critical_factor: float = 1.3
    attention_min_s: float = 2 * HOUR
    warning_min_s: float = 4 * HOUR
    critical_min_s: float = 6 * HOUR
    day_start_q: float = 0.98
    day_start_min_nights: float = 14.0
    day_start_margin_s: float = 1 * HOUR


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Silence lengths (s) at which each level is reached, and the usual length for messages."""

    attention_s: float
    warning_s: float
    critical_s: float
    usual_s: float
    day_start_h: float | None = None
    """Set when the warning comes from "not started the day": the local hour by which this
    household is usually active."""


class Routine:
    """Learnt silence lengths of one household, by local start hour (mutable, bounded)."""

    __slots__ = ("_cache", "counts", "observed_s", "starts")

    def __init__(self) -> None:
        self.counts = array("H", bytes(2 * ROWS * BINS))
        self.observed_s = 0.0
        # when the day started (first activity after the 04:00 of a night silence)
        self.starts = array("H", bytes(2 * DAY_START_BINS))
        self._cache: dict[tuple[int, bool], Thresholds | None] = {}

    @property
    def observed_days(self) -> float:
        """Days of usable observation learnt so far."""
        return self.observed_s / DAY

    def observe(self, start_hour: int, weekend: bool, duration_s: float) -> None:
        """Learn one finished silence that began at local hour ``start_hour``."""
        if duration_s <= 0:
            return
        self.observed_s += duration_s
        if duration_s < MIN_SILENCE_S:
            return
        row = (24 if weekend else 0) + start_hour
        base = row * BINS
        counts = self.counts
        counts[base + _bin_of(duration_s)] += 1
        if sum(counts[base : base + BINS]) >= ROW_LIMIT:
            for i in range(base, base + BINS):
                counts[i] //= 2
        self._cache.clear()

    def observe_day_start(self, hour: float | None) -> None:
        """Learn one night: the local hour (from 04:00) its silence ended, or None when it was
        still unbroken at 14:00 (no morning activity that day)."""
        if hour is None or hour >= DAY_START_LAST_H:
            index = DAY_START_BINS - 1
        else:
            index = int((max(hour, NIGHT_ANCHOR_H) - NIGHT_ANCHOR_H) / DAY_START_BIN_H)
        starts = self.starts
        starts[index] += 1
        if sum(starts) >= ROW_LIMIT // 4:
            # about three months of nights: recent weeks weigh more
            for i in range(DAY_START_BINS):
                starts[i] //= 2

    def day_start(self, config: RoutineConfig) -> tuple[float, float] | None:
        """(usually active by, improbable after): local hours of the morning for a day not yet
        started; None while fewer nights are learnt, or when mornings without activity are
        common."""
        starts = self.starts
        total = sum(starts)
        if total < config.day_start_min_nights:
            return None
        target_hi = config.day_start_q * total
        if total - starts[DAY_START_BINS - 1] < target_hi:
            return None  # too many mornings without any activity: no "day start" to expect
        high = _bin_quantile(starts, target_hi)
        median = _bin_quantile(starts, 0.5 * total)
        margin = max(config.day_start_margin_s / HOUR, high - median)
        return high, high + margin

    def thresholds(
        self, start_hour: int, weekend: bool, config: RoutineConfig
    ) -> Thresholds | None:
        """Levels for a silence that began at ``start_hour``; None while still learning."""
        if self.observed_days < config.usable_days:
            return None
        key = (start_hour, weekend)
        if key in self._cache:
            return self._cache[key]
        result = self._compute(start_hour, weekend, config)
        self._cache[key] = result
        return result

    def _pooled(self, hours: list[tuple[int, float]], weekend: bool, split: bool) -> list[float]:
        pooled = [0.0] * BINS
        counts = self.counts
        for hour, weight in hours:
            for kind_weekend in (False, True):
                w = weight
                if split and kind_weekend != weekend:
                    w *= 0.25
                base = ((24 if kind_weekend else 0) + hour % 24) * BINS
                for i in range(BINS):
                    c = counts[base + i]
                    if c:
                        pooled[i] += w * c
        return pooled

    def _compute(self, hour: int, weekend: bool, config: RoutineConfig) -> Thresholds | None:
        split = self.observed_days >= config.split_days
        # thin around the start hour: widen the window step by step (a day shifts by hours
        # now and then) before falling back to the whole day
        window: list[tuple[int, float]] = [(hour + d, float(w)) for d, w in _NEIGHBOUR_WEIGHTS]
        pooled = self._pooled(window, weekend, split)
        for reach in (3, 4, 5, 6, 12):
            if sum(pooled) / 4.0 >= config.min_samples:
                break
            window += [(hour - reach, 1.0), (hour + reach, 1.0)]
            if reach == 12:
                window = [(h, 1.0) for h in range(24)]
            pooled = self._pooled(window, weekend, split)
        if sum(pooled) < config.min_samples:
            return None
        attention = max(config.attention_min_s, _quantile(pooled, config.attention_q))
        high = _quantile(pooled, config.warning_q)
        warning = max(config.warning_min_s, attention, high * config.warning_factor)
        critical = max(config.critical_min_s, warning, high * config.critical_factor)
        return Thresholds(attention, warning, critical, _quantile(pooled, config.attention_q))

    # -- persistence -------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """A compact snapshot (about 1.6 KiB) for the store."""
        observed = array("d", [self.observed_s])
        return _HEADER + observed.tobytes() + self.counts.tobytes() + self.starts.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Routine:
        """The routine saved by :meth:`to_bytes` (or by the previous format, without day
        starts); a fresh one if the data is not recognised."""
        routine = cls()
        size_v1 = len(_HEADER) + 8 + 2 * ROWS * BINS
        if data.startswith(_HEADER_V1) and len(data) == size_v1:
            starts = b""
        elif data.startswith(_HEADER) and len(data) == size_v1 + 2 * DAY_START_BINS:
            starts = data[size_v1:]
        else:
            return routine
        observed = array("d")
        observed.frombytes(data[4:12])
        routine.observed_s = observed[0]
        routine.counts = array("H")
        routine.counts.frombytes(data[12:size_v1])
        if starts:
            routine.starts = array("H")
            routine.starts.frombytes(starts)
        return routine


def _quantile(pooled: list[float], q: float) -> float:
    """The ``q`` quantile of binned durations, interpolated geometrically within a bin."""
    total = sum(pooled)
    if total <= 0:
        return 0.0
    target = q * total
    running = 0.0
    for i, weight in enumerate(pooled):
        if weight <= 0:
            continue
        if running + weight >= target:
            fraction = (target - running) / weight
            return _edge(i + fraction)
        running += weight
    return _edge(BINS)


def _bin_quantile(starts: array[int], target: float) -> float:
    """The local hour by which ``target`` of the learnt day starts had happened."""
    running = 0.0
    for i, count in enumerate(starts):
        if count and running + count >= target:
            return NIGHT_ANCHOR_H + (i + (target - running) / count) * DAY_START_BIN_H
        running += count
    return DAY_START_LAST_H


def describe_duration(seconds: float) -> str:
    """``45 min``, ``2 h``, ``2.5 h``: a duration as a caseworker reads it."""
    if seconds < HOUR:
        return f"{max(1, round(seconds / 60))} min"
    hours = round(seconds / HOUR * 2) / 2
    return f"{hours:g} h"
