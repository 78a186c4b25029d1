"""A resident's day: when each appliance runs, drawn from a seeded generator.

A household is a small parameter set (:class:`Routine`); :func:`day_schedule` turns it and one
local date into appliance segments ``(start, end, watts)`` in epoch seconds. Everything random
comes from the ``random.Random`` passed in, never the global one, so a seed fixes the output.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from careplug_sim.appliances import ApplianceParams

Segment = tuple[int, int, float]
"""An appliance drawing ``watts`` from ``start`` to ``end`` (epoch seconds, end exclusive)."""


@dataclass(frozen=True, slots=True)
class Routine:
    """How one resident lives; times are local hours (float)."""

    wake_h: float
    wake_sd_h: float
    sleep_h: float
    sleep_sd_h: float
    weekend_shift_h: float
    late_night_p: float
    day_out_p: float
    weekend_out_p: float
    kettle_per_day: float
    microwave_p: float
    morning_tv_p: float
    afternoon_tv_p: float
    cooks_rice_p: float


def draw_routine(rng: random.Random) -> Routine:
    """A believable routine for one elderly resident living alone."""
    return Routine(
        wake_h=rng.uniform(5.5, 8.0),
        wake_sd_h=rng.uniform(0.2, 0.6),
        sleep_h=rng.uniform(21.0, 23.5),
        sleep_sd_h=rng.uniform(0.25, 0.7),
        weekend_shift_h=rng.uniform(0.0, 1.0),
        late_night_p=rng.uniform(0.03, 0.12),
        day_out_p=rng.uniform(0.05, 0.2),
        weekend_out_p=rng.uniform(0.1, 0.35),
        kettle_per_day=rng.uniform(1.0, 4.0),
        microwave_p=rng.uniform(0.2, 0.8),
        morning_tv_p=rng.uniform(0.2, 0.7),
        afternoon_tv_p=rng.uniform(0.2, 0.6),
        cooks_rice_p=rng.uniform(0.5, 0.95),
    )


_MIDNIGHTS: dict[tuple[str, date], int] = {}


def local_midnight(day: date, tz: str) -> int:
    """Epoch seconds of 00:00 local time on ``day`` (cached: called once per household-day)."""
    key = (tz, day)
    found = _MIDNIGHTS.get(key)
    if found is None:
        found = int(datetime.combine(day, time(0), ZoneInfo(tz)).timestamp())
        _MIDNIGHTS[key] = found
    return found


def day_schedule(
    routine: Routine,
    appliances: dict[str, ApplianceParams],
    day: date,
    tz: str,
    rng: random.Random,
) -> dict[str, list[Segment]]:
    """Segments of every human-driven appliance the household has, for one local day.

    The day runs from waking to going to sleep (which may be after midnight on a late night).
    """
    midnight = local_midnight(day, tz)
    weekend = day.weekday() >= 5
    r = routine
    wake = r.wake_h + (r.weekend_shift_h if weekend else 0.0) + rng.gauss(0.0, r.wake_sd_h)
    sleep = r.sleep_h + rng.gauss(0.0, r.sleep_sd_h)
    if rng.random() < r.late_night_p:
        sleep += rng.uniform(1.5, 3.5)
    wake = min(max(wake, 4.0), 10.0)
    sleep = max(sleep, wake + 10.0)
    out: tuple[float, float] | None = None
    if rng.random() < (r.weekend_out_p if weekend else r.day_out_p):
        leave = rng.uniform(wake + 1.5, wake + 4.0)
        out = (leave, min(rng.uniform(leave + 3.0, leave + 9.0), sleep - 1.0))

    segs: dict[str, list[Segment]] = {kind: [] for kind in appliances}

    def at(hour: float) -> int:
        return midnight + int(hour * 3600.0)

    def home(hour: float) -> bool:
        return out is None or not (out[0] <= hour < out[1])

    def add(kind: str, start_h: float, seconds: float, watts: float) -> None:
        if kind in segs and home(start_h) and wake <= start_h < sleep:
            start = at(start_h)
            segs[kind].append((start, start + max(10, int(seconds)), watts))

    breakfast = wake + rng.uniform(0.2, 0.8)
    lunch = rng.uniform(11.5, 13.0)
    dinner = rng.uniform(17.3, 19.0)
    meals = (breakfast, lunch, dinner)

    kettle = appliances.get("kettle")
    if kettle is not None:
        uses = int(r.kettle_per_day) + (1 if rng.random() < r.kettle_per_day % 1 else 0)
        times = [wake + rng.uniform(0.05, 0.4)]
        times += [rng.uniform(wake + 1.0, sleep - 0.5) for _ in range(uses - 1)]
        for t in times:
            # boil median 130 s, p10 60 s, p90 260 s (traces)
            add("kettle", t, min(300.0, max(50.0, rng.lognormvariate(4.87, 0.5))), kettle.on_w)

    rice = appliances.get("rice_cooker")
    if rice is not None:
        for meal in (breakfast, dinner):
            if rng.random() < r.cooks_rice_p:
                start_h = meal - rng.uniform(0.6, 0.9)
                cook = rng.uniform(1800.0, 3000.0)
                add("rice_cooker", start_h, cook, rice.on_w)
                warm_h = rng.uniform(1.0, 5.0)
                end_h = min(start_h + cook / 3600.0 + warm_h, sleep)
                add("rice_cooker", start_h + cook / 3600.0, (end_h - start_h) * 3600 - cook, 0)

    micro = appliances.get("microwave")
    if micro is not None:
        for meal in meals:
            if rng.random() < r.microwave_p:
                # run median 70 s, p90 290 s (traces)
                secs = min(420.0, max(20.0, rng.lognormvariate(4.25, 0.7)))
                add("microwave", meal + rng.uniform(-0.2, 0.1), secs, micro.on_w)

    tv = appliances.get("tv")
    if tv is not None:
        if rng.random() < r.morning_tv_p:
            add("tv", breakfast + 0.1, rng.uniform(1200.0, 5400.0), tv.on_w)
        if rng.random() < r.afternoon_tv_p or (weekend and rng.random() < 0.5):
            add("tv", rng.uniform(13.5, 15.5), rng.uniform(1800.0, 7200.0), tv.on_w)
        evening = dinner + rng.uniform(0.5, 1.2)
        add("tv", evening, max(600.0, (sleep - evening - rng.uniform(0.1, 0.4)) * 3600), tv.on_w)

    lamp = appliances.get("lamp")
    if lamp is not None:
        on_h = max(rng.uniform(17.5, 19.0), wake)
        add("lamp", on_h, max(600.0, (sleep - on_h) * 3600.0), lamp.on_w)
        if wake < 6.5:
            add("lamp", wake, (6.8 - wake) * 3600.0, lamp.on_w)

    for kind, items in segs.items():
        items.sort()
        merged: list[Segment] = []
        for item in items:
            seg = item
            if merged and seg[0] < merged[-1][1]:
                seg = (merged[-1][1], max(merged[-1][1], seg[1]), seg[2])
                if seg[1] <= seg[0]:
                    continue
            merged.append(seg)
        if kind == "rice_cooker":
            merged = [(s, e, w if w > 0 else rice.warm_w if rice else 0.0) for s, e, w in merged]
        segs[kind] = merged
    return segs


def days(start: date, count: int) -> list[date]:
    """``count`` consecutive dates from ``start``."""
    return [start + timedelta(days=i) for i in range(count)]
