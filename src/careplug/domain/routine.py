"""A household's learnt routine: how long silences that start at each hour of the day last.

Pure and small. For each local hour (weekday and weekend apart) a fixed histogram of the
log-duration of the silences that started in that hour and lasted at least ``MIN_SILENCE_S``
(shorter gaps only count as observed time). 2 x 24 x 16 counts (``uint16`` at most), of which
only the non-zero bins are kept, in memory and in the snapshot (4 bytes each: a few hundred
bytes for a real routine, so a hundred thousand households fit a small machine and restart
fast). Learning is online: one silence at a time, when it ends; a row is halved when it grows
large, so an old routine fades out and memory stays bounded.

Alert thresholds for a silence follow from the quantiles of the histogram pooled over the start
hour and its neighbours (a person's day shifts by an hour now and then), falling back to the
whole day when the hours around are thin. Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
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
_HEADER = b"CPR1"  # dense: observed_s (float64), then ROWS x BINS uint16 counts
_HEADER_SPARSE = b"CPR2"  # observed_s, then the non-zero bins as uint32 ``index << 16 | count``


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


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Silence lengths (s) at which each level is reached, and the usual length for messages."""

    attention_s: float
    warning_s: float
    critical_s: float
    usual_s: float


class Routine:
    """Learnt silence lengths of one household, by local start hour (mutable, bounded).

    The histogram is sparse: ``_bins`` holds ``index << 16 | count`` for every non-zero bin,
    sorted by index (one row's bins are contiguous); :attr:`counts` is the dense view.
    """

    __slots__ = ("_bins", "_cache", "observed_s")

    def __init__(self) -> None:
        self._bins = array("I")
        self.observed_s = 0.0
        self._cache: dict[tuple[int, bool], Thresholds | None] | None = None

    @property
    def counts(self) -> array[int]:
        """The dense histogram: ``ROWS x BINS`` counts, row ``(24 if weekend else 0) + hour``."""
        dense = array("H", bytes(2 * ROWS * BINS))
        for packed in self._bins:
            dense[packed >> 16] = packed & 0xFFFF
        return dense

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
        bins = self._bins
        index = base + _bin_of(duration_s)
        at = bisect_left(bins, index << 16)
        if at < len(bins) and bins[at] >> 16 == index:
            bins[at] += 1
        else:
            bins.insert(at, index << 16 | 1)
        lo, hi = bisect_left(bins, base << 16), bisect_left(bins, (base + BINS) << 16)
        if sum(packed & 0xFFFF for packed in bins[lo:hi]) >= ROW_LIMIT:
            halved = [
                (packed >> 16) << 16 | (packed & 0xFFFF) // 2
                for packed in bins[lo:hi]
                if (packed & 0xFFFF) >= 2  # a bin halved to zero is dropped
            ]
            bins[lo:hi] = array("I", halved)
        self._cache = None

    def thresholds(
        self, start_hour: int, weekend: bool, config: RoutineConfig
    ) -> Thresholds | None:
        """Levels for a silence that began at ``start_hour``; None while still learning."""
        if self.observed_days < config.usable_days:
            return None
        key = (start_hour, weekend)
        cache = self._cache
        if cache is None:
            cache = self._cache = {}
        elif key in cache:
            return cache[key]
        result = self._compute(start_hour, weekend, config)
        cache[key] = result
        return result

    def _pooled(self, hours: list[tuple[int, float]], weekend: bool, split: bool) -> list[float]:
        pooled = [0.0] * BINS
        bins = self._bins
        for hour, weight in hours:
            for kind_weekend in (False, True):
                w = weight
                if split and kind_weekend != weekend:
                    w *= 0.25
                base = ((24 if kind_weekend else 0) + hour % 24) * BINS
                at = bisect_left(bins, base << 16)
                end = bisect_left(bins, (base + BINS) << 16)
                while at < end:  # the row's non-zero bins, in bin order
                    packed = bins[at]
                    pooled[(packed >> 16) - base] += w * (packed & 0xFFFF)
                    at += 1
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
        """A compact snapshot for the store: the non-zero bins only (a few hundred bytes; a
        restart of a hundred thousand households reads them without decoding each bin)."""
        observed = array("d", [self.observed_s])
        return _HEADER_SPARSE + observed.tobytes() + self._bins.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Routine:
        """The routine saved by :meth:`to_bytes` (or by an older version, dense); a fresh one
        if the data is not recognised."""
        routine = cls()
        header = data[:4]
        observed = array("d")
        if header == _HEADER_SPARSE and len(data) >= 12 and (len(data) - 12) % 4 == 0:
            bins = array("I")
            bins.frombytes(data[12:])
            if not _well_formed(bins):
                return routine  # not what to_bytes writes
            routine._bins = bins
        elif header == _HEADER and len(data) == len(_HEADER) + 8 + 2 * ROWS * BINS:
            counts = array("H")
            counts.frombytes(data[12:])
            routine._bins = array("I", [i << 16 | c for i, c in enumerate(counts) if c])
        else:
            return routine
        observed.frombytes(data[4:12])
        routine.observed_s = observed[0]
        return routine


def _well_formed(bins: array[int]) -> bool:
    """Sorted, with valid bin indices: what bisect and the dense view rely on (checked with
    C-level operations only: a restart reads a hundred thousand of these)."""
    values = bins.tolist()
    return values == sorted(values) and (not values or values[-1] >> 16 < ROWS * BINS)


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


def describe_duration(seconds: float) -> str:
    """``45 min``, ``2 h``, ``2.5 h``: a duration as a caseworker reads it."""
    if seconds < HOUR:
        return f"{max(1, round(seconds / 60))} min"
    hours = round(seconds / HOUR * 2) / 2
    return f"{hours:g} h"
