"""A household's learnt routine: how long silences that start at each hour of the day last,
and how long it usually takes, from a few fixed hours of the day, until the next activity.

Pure and small. For each local hour (weekday and weekend apart) a fixed histogram of the
log-duration of the silences that started in that hour and lasted at least ``MIN_SILENCE_S``
(shorter gaps only count as observed time): 2 x 24 x 16 counts. For each anchor hour
(:data:`ANCHORS_H`, weekday and weekend apart) a histogram of the wait from it to the next
activity, half-hour bins up to 10 h: 2 x 8 x 21 counts. Only the non-zero bins of both are
kept: in a live routine as one sorted array (4 bytes each), in the snapshot the engine holds
and the store keeps as index steps and counts (2 bytes each: under 200 bytes for a real
routine, so a hundred thousand households fit a small machine and restart fast).
Learning is online: one silence at a time, when it ends; a row is halved when it grows large,
so an old routine fades out and memory stays bounded.

Alert thresholds for a silence follow from the quantiles of the histogram pooled over the start
hour and its neighbours (a person's day shifts by an hour now and then), falling back to the
whole day when the hours around are thin; the warning quantile is pushed into the tail for a
household with many silences a day, so that its normal days cause few warnings. The waits add
a second, sharper test: a silence still unbroken long after the hour by which this person is
nearly always active again ("not started the day") is a warning even when silences that long
are common at other times. Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from dataclasses import dataclass
from itertools import accumulate

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
_HEADER_DENSE = b"CPR1"  # before 2026-11: observed_s (float64), then ROWS x BINS uint16 counts
_HEADER_PACKED = b"CPR2"  # 2026-11: observed_s, then the non-zero bins as uint32 index<<16|count
_HEADER = b"CPR3"
"""observed_s (float64), a width byte (bit 0: the steps are uint16, bit 1: the counts are;
else uint8), then the steps from one non-zero bin's index to the next (the first from 0),
then their counts: 2 bytes a bin where the uint32 form took 4."""
_WIDE_STEPS, _WIDE_COUNTS = 1, 2

ANCHORS_H = (1, 4, 7, 10, 13, 16, 19, 22)
"""Local hours at which the wait for the next activity is learnt: how long after 04:00 the day
starts, how long after 16:00 the evening does, and so on."""
WAIT_BIN_H = 0.5
WAIT_LAST_H = 10.0
WAIT_BINS = int(WAIT_LAST_H / WAIT_BIN_H) + 1
"""Half-hour bins of the wait up to 10 h, then one bin for "10 h or more"."""
_WAIT_ROWS = 2 * len(ANCHORS_H)  # weekday rows, then weekend rows
_SILENCE_BINS = ROWS * BINS
_WAIT_BASE = _SILENCE_BINS  # the waits' bins follow the silences' in the one sparse array
_ALL_BINS = _SILENCE_BINS + _WAIT_ROWS * WAIT_BINS


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
    ``warnings_per_month``: how many warnings a household's normal silences may cause per
    month. A household with many silences a day would get ``1 - warning_q`` of each as a
    warning (one person with 6 silences a day: 1.8 a month at the 99 % quantile); its warning
    quantile is raised to ``1 - rate / silences per month`` instead, extrapolated from the
    learnt tail (the log-duration grows as much per tenfold rarer as from 90 % to 99 %).
    ``wait_q`` / ``wait_min_days`` / ``wait_margin_s``: once this many days are learnt, a
    silence still unbroken at one of :data:`ANCHORS_H` longer than the ``wait_q`` quantile of
    this household's wait from that hour to its next activity, plus a margin (at least
    ``wait_margin_s``, more for an irregular person: the spread from the median to that
    quantile), is a warning: "not started the day", "no evening". No such level at an hour
    after which the household is often silent for 10 h or more.
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
    warnings_per_month: float = 1.0
    wait_q: float = 0.98
    wait_min_days: float = 14.0
    wait_margin_s: float = 1 * HOUR


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Silence lengths (s) at which each level is reached, and the usual length for messages."""

    attention_s: float
    warning_s: float
    critical_s: float
    usual_s: float
    usual_by_h: float | None = None
    """Set when the warning comes from an anchor's wait ("not started the day"): the local
    hour by which this household is usually active again."""


class Routine:
    """Learnt silence lengths and waits of one household, by local hour (mutable, bounded).

    The histograms are sparse: ``_bins`` holds ``index << 16 | count`` for every non-zero bin,
    sorted by index (one row's bins are contiguous; the silences' rows, then the waits');
    :attr:`counts` and :attr:`waits` are the dense views.
    """

    # two slots: the 48-byte size class (whether it changed since saved is a bit of the
    # household's state in the engine, where it costs nothing)
    __slots__ = ("_bins", "observed_s")

    def __init__(self) -> None:
        self._bins = array("I")
        self.observed_s = 0.0

    @property
    def counts(self) -> array[int]:
        """The silences' dense histogram: ``ROWS x BINS`` counts, row
        ``(24 if weekend else 0) + hour``."""
        return array("H", self._dense(0, _SILENCE_BINS))

    @property
    def waits(self) -> array[int]:
        """The waits' dense histogram: ``2 x len(ANCHORS_H)`` rows of ``WAIT_BINS`` counts."""
        return array("B", self._dense(_WAIT_BASE, _WAIT_ROWS * WAIT_BINS))

    @property
    def observed_days(self) -> float:
        """Days of usable observation learnt so far."""
        return self.observed_s / DAY

    def _dense(self, base: int, length: int) -> list[int]:
        """Counts of bins ``base .. base + length - 1``."""
        dense = [0] * length
        bins = self._bins
        at, end = bisect_left(bins, base << 16), bisect_left(bins, (base + length) << 16)
        while at < end:
            packed = bins[at]
            dense[(packed >> 16) - base] = packed & 0xFFFF
            at += 1
        return dense

    def _count(self, index: int, base: int, length: int, limit: int) -> None:
        """One more in bin ``index`` of the row ``base .. base + length - 1``; the row is
        halved when its total reaches ``limit`` (a bin halved to zero is dropped)."""
        bins = self._bins
        at = bisect_left(bins, index << 16)
        if at < len(bins) and bins[at] >> 16 == index:
            bins[at] += 1
        else:
            bins.insert(at, index << 16 | 1)
        lo, hi = bisect_left(bins, base << 16), bisect_left(bins, (base + length) << 16)
        if sum(packed & 0xFFFF for packed in bins[lo:hi]) >= limit:
            halved = [
                (packed >> 16) << 16 | (packed & 0xFFFF) // 2
                for packed in bins[lo:hi]
                if (packed & 0xFFFF) >= 2
            ]
            bins[lo:hi] = array("I", halved)

    def observe(self, start_hour: int, weekend: bool, duration_s: float) -> None:
        """Learn one finished silence that began at local hour ``start_hour``."""
        if duration_s <= 0:
            return
        self.observed_s += duration_s
        if duration_s < MIN_SILENCE_S:
            return
        base = ((24 if weekend else 0) + start_hour) * BINS
        self._count(base + _bin_of(duration_s), base, BINS, ROW_LIMIT)

    def observe_wait(self, anchor: int, weekend: bool, wait_h: float) -> None:
        """Learn one day's wait from ``ANCHORS_H[anchor]`` (local) to the next activity."""
        index = min(int(max(wait_h, 0.0) / WAIT_BIN_H), WAIT_BINS - 1)
        base = _WAIT_BASE + ((len(ANCHORS_H) if weekend else 0) + anchor) * WAIT_BINS
        # halved at about six months of such days: recent weeks weigh more
        self._count(base + index, base, WAIT_BINS, ROW_LIMIT // 4)

    def expected_wait(
        self, anchor: int, weekend: bool, config: RoutineConfig
    ) -> tuple[float, float] | None:
        """(usual, improbable): hours after ``ANCHORS_H[anchor]`` by which this household is
        usually active again and after which a silence is improbable; None while fewer days
        are learnt, or when a silence of 10 h or more from that hour is common here.
        Weekday and weekend are told apart as the silences are."""
        own = self._dense(
            _WAIT_BASE + ((len(ANCHORS_H) if weekend else 0) + anchor) * WAIT_BINS, WAIT_BINS
        )
        other = self._dense(
            _WAIT_BASE + ((0 if weekend else len(ANCHORS_H)) + anchor) * WAIT_BINS, WAIT_BINS
        )
        weight = 0.25 if self.observed_days >= config.split_days else 1.0
        pooled = [own[i] + weight * other[i] for i in range(WAIT_BINS)]
        total = sum(pooled)
        if total < config.wait_min_days:
            return None
        target = config.wait_q * total
        if total - pooled[-1] < target:
            return None  # often silent for 10 h or more from here: nothing to expect
        high = _wait_quantile(pooled, target)
        median = _wait_quantile(pooled, 0.5 * total)
        return high, high + max(config.wait_margin_s / HOUR, high - median)

    def thresholds(
        self, start_hour: int, weekend: bool, config: RoutineConfig
    ) -> Thresholds | None:
        """Levels for a silence that began at ``start_hour``; None while still learning."""
        if self.observed_days < config.usable_days:
            return None
        # not cached here: the engine keeps the levels of the current silence (and learning a
        # silence changes them anyway); a second copy cost ~250 B per silent household
        return self._compute(start_hour, weekend, config)

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
        high = self._rare(pooled, config)
        warning = max(config.warning_min_s, attention, high * config.warning_factor)
        critical = max(config.critical_min_s, warning, high * config.critical_factor)
        return Thresholds(attention, warning, critical, _quantile(pooled, config.attention_q))

    def _rare(self, pooled: list[float], config: RoutineConfig) -> float:
        """The warning quantile's duration, pushed into the tail so that this household's
        normal silences cause about ``warnings_per_month`` warnings at most."""
        high = _quantile(pooled, config.warning_q)
        tail = 1.0 - config.warning_q
        silences = sum(packed & 0xFFFF for packed in self._bins if packed >> 16 < _SILENCE_BINS)
        per_month = 30.0 * silences / max(self.observed_days, 1.0)
        if config.warnings_per_month <= 0 or per_month * tail <= config.warnings_per_month:
            return high
        wanted = config.warnings_per_month / per_month
        low = _quantile(pooled, 0.9)
        if low <= 0 or high <= low or tail >= 0.1:
            return high
        per_decade = math.log(high / low) / math.log10(0.1 / tail)
        return float(high * math.exp(per_decade * math.log10(tail / wanted)))

    # -- persistence -------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """A compact snapshot: the non-zero bins only, as index steps and counts of a byte
        each where they fit (150-200 bytes for a learnt routine). The engine holds every
        household's routine in this form and the store keeps it as is."""
        observed = array("d", [self.observed_s])
        indices = [packed >> 16 for packed in self._bins]
        steps = [index - previous for previous, index in zip([0, *indices], indices, strict=False)]
        counts = [packed & 0xFFFF for packed in self._bins]
        width = (_WIDE_STEPS if steps and max(steps) > 0xFF else 0) | (
            _WIDE_COUNTS if counts and max(counts) > 0xFF else 0
        )
        return b"".join(
            (
                _HEADER,
                observed.tobytes(),
                bytes((width,)),
                array("H" if width & _WIDE_STEPS else "B", steps).tobytes(),
                array("H" if width & _WIDE_COUNTS else "B", counts).tobytes(),
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, trusted: bool = False) -> Routine:
        """The routine saved by :meth:`to_bytes` (or by an older version, dense and without
        the waits); a fresh one if the data is not recognised. ``trusted``: ``data`` is
        known to come from :meth:`to_bytes` in this process (the engine's own copy), so the
        bins' order is not checked again."""
        routine = cls()
        header = data[:4]
        observed = array("d")
        if header == _HEADER and len(data) >= 13:
            bins = _unpacked_steps(data, trusted)
            if bins is None:
                return routine  # not what to_bytes writes
            routine._bins = bins
        elif header == _HEADER_PACKED and len(data) >= 12 and (len(data) - 12) % 4 == 0:
            bins = array("I")
            bins.frombytes(data[12:])
            if not trusted and not _well_formed(bins):
                return routine  # not what to_bytes writes
            routine._bins = bins  # (a decoded routine is short-lived: the engine keeps bytes)
        elif header == _HEADER_DENSE and len(data) == len(_HEADER_DENSE) + 8 + 2 * _SILENCE_BINS:
            counts = array("H")
            counts.frombytes(data[12:])
            routine._bins = array("I", [i << 16 | c for i, c in enumerate(counts) if c])
        else:
            return routine
        observed.frombytes(data[4:12])
        routine.observed_s = observed[0]
        return routine


EMPTY_SNAPSHOT = Routine().to_bytes()
"""What a fresh routine saves: the engine's starting value for every household (one object,
shared)."""


def snapshot_observed_days(data: bytes) -> float:
    """Days of usable observation in a snapshot (:meth:`Routine.to_bytes`), without decoding
    its bins; 0 for data that is not a snapshot."""
    if len(data) < 12 or data[:4] not in (_HEADER, _HEADER_PACKED, _HEADER_DENSE):
        return 0.0
    observed = array("d")
    observed.frombytes(data[4:12])
    return observed[0] / DAY


def snapshot_plus_observed(data: bytes, seconds: float) -> bytes:
    """A snapshot whose observed time is ``seconds`` longer (a short gap between two uses:
    no bin changes, so the bins are copied, not decoded)."""
    observed = array("d")
    observed.frombytes(data[4:12])
    observed[0] += seconds
    return data[:4] + observed.tobytes() + data[12:]


def _unpacked_steps(data: bytes, trusted: bool) -> array[int] | None:
    """The ``index << 16 | count`` bins of a CPR3 snapshot; None if it is not well formed
    (checked with C-level operations unless ``trusted``)."""
    width = data[12]
    step_size = 2 if width & _WIDE_STEPS else 1
    count_size = 2 if width & _WIDE_COUNTS else 1
    body = len(data) - 13
    if width > _WIDE_STEPS | _WIDE_COUNTS or body % (step_size + count_size):
        return None
    split = 13 + body // (step_size + count_size) * step_size
    steps = array("H" if step_size == 2 else "B")
    steps.frombytes(data[13:split])
    counts = array("H" if count_size == 2 else "B")
    counts.frombytes(data[split:])
    # (unless trusted) indices strictly increasing and in range, no empty bin
    if (
        not trusted
        and counts
        and (min(steps[1:], default=1) < 1 or sum(steps) >= _ALL_BINS or min(counts) < 1)
    ):
        return None
    indices = accumulate(steps)
    return array("I", [index << 16 | count for index, count in zip(indices, counts, strict=True)])


def _well_formed(bins: array[int]) -> bool:
    """Sorted, with valid bin indices: what bisect and the dense views rely on (checked with
    C-level operations only: a restart reads a hundred thousand of these)."""
    values = bins.tolist()
    return values == sorted(values) and (not values or values[-1] >> 16 < _ALL_BINS)


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


def _wait_quantile(pooled: list[float], target: float) -> float:
    """The wait (h) within which ``target`` of the learnt waits had ended."""
    running = 0.0
    for i, count in enumerate(pooled):
        if count and running + count >= target:
            return (i + (target - running) / count) * WAIT_BIN_H
        running += count
    return WAIT_LAST_H


def describe_duration(seconds: float) -> str:
    """``45 min``, ``2 h``, ``2.5 h``: a duration as a caseworker reads it."""
    if seconds < HOUR:
        return f"{max(1, round(seconds / 60))} min"
    hours = round(seconds / HOUR * 2) / 2
    return f"{hours:g} h"
