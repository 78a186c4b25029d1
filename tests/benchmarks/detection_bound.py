"""How early could any detector that reads a household's day from its clock have been?

Run on demand (minutes; uses the recording ``bench_detection.py`` made)::

    python tests/benchmarks/detection_bound.py [--sim-dir DIR] [--refit DIR]

A reference for the learning detector's delays, from the activity careplug's own engine sees
(its ``ActivitySeen``) and its plug-offline spans.

``bound``: the earliest alert that adds no false alarm to those the tier limit raises anyway.
An alert at time ``t`` in a silence that began at ``base`` would also have been raised in any
normal silence of the same household that spanned the same clock interval (``base`` to ``t``
shifted by whole days, the same day type: weekday or weekend). So the earliest such alert is
the end of the longest such coverage, capped by the tier limit; silences that reach the limit
do not count (its alert is raised in them anyway). It knows every normal silence of the data
set, the past *and the future*, and all known away periods (registered or not), plug-offline
spans and incident windows are taken out of "normal": optimistic on purpose, so that no
detector reading the clock can do better without more false alarms. ``spare`` = k: the same
if the k most covering normal silences were allowed one (false) alert each.
``bound_any_day``: the same comparing every day with every other (weekday or weekend): for a
detector that does not tell them apart (comparing by day type is more optimistic, with fewer
days to compare).
``all_with_cold_start_rule``: the bound after the cold start, the tier limit before it (as
issue 5 prescribes for the first 14 days): what a perfect detector gets under that rule.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import itertools
import json
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from careplug.clock import parse_iso
from careplug.domain.engine import ActivitySeen, DetectionConfig, DeviceStatusChanged, Engine
from careplug.domain.model import Household
from careplug.registry import load_registry
from careplug.runtime.evaluate import (
    households_from_readings,
    load_items,
    read_incidents,
    run_engine,
)

HOUR = 3600.0
DAY = 86400.0
WINDOW_S = 48 * HOUR
Span = tuple[float, float]


def log(event: str, **fields: object) -> None:
    """Progress on stderr."""
    print(json.dumps({"event": event, **fields}), file=sys.stderr, flush=True)


@dataclass
class Seen:
    """What the engine saw of each household: activity times and spans with a plug offline."""

    activity: dict[str, list[float]] = field(default_factory=dict)
    offline: dict[str, list[Span]] = field(default_factory=dict)
    start: float = 0.0
    end: float = 0.0


def engine_view(path: Path, households: list[Household]) -> Seen:
    """Run careplug's engine (fixed detector; activity does not depend on the detector) over
    a readings file and keep what it saw."""
    items = [item for _, item in load_items(path)]
    seen = Seen(start=items[0].at, end=items[-1].at)
    engine = Engine(DetectionConfig(detector="fixed"), households, items[0].at)
    down: dict[str, float] = {}
    for effect in run_engine(engine, items, 60.0, until=items[-1].at):
        if isinstance(effect, ActivitySeen):
            seen.activity.setdefault(effect.household, []).append(effect.at)
        elif isinstance(effect, DeviceStatusChanged):
            if not effect.online:
                down.setdefault(effect.plug, effect.at)
            elif effect.plug in down:
                seen.offline.setdefault(effect.household, []).append(
                    (down.pop(effect.plug), effect.at)
                )
    owner = {p.id: h.id for h in households for p in h.plugs}
    for plug, since in down.items():
        seen.offline.setdefault(owner[plug], []).append((since, seen.end))
    for times in seen.activity.values():
        times.sort()
    return seen


def _overlaps(first: float, last: float, spans: Iterable[Span]) -> bool:
    return any(first < end and last > start for start, end in spans)


def normal_silences(times: list[float], excluded: list[Span]) -> list[Span]:
    """Gaps between consecutive activities that touch no excluded span."""
    return [(a, b) for a, b in itertools.pairwise(times) if not _overlaps(a, b, excluded)]


def _weekend(at: float, zone: ZoneInfo) -> bool:
    return datetime.fromtimestamp(at, zone).weekday() >= 5


def zero_false_alert_at(
    base: float,
    silences: list[Span],
    limit_s: float,
    zone: ZoneInfo,
    spare: int = 0,
    by_day_type: bool = True,
) -> float:
    """The earliest alert in a silence from ``base`` that no normal silence (shifted by whole
    days, same day type) would also have raised, ``spare`` of them excepted; at most the
    tier limit. Silences that reach the limit do not count: the limit raises their (false)
    alert anyway. ``by_day_type=False``: every day is compared with every other (a detector
    that does not tell weekends apart)."""
    weekend = _weekend(base, zone)
    covered: list[float] = []
    for first, last in silences:
        if last - first >= limit_s:
            continue  # raises the limit's alert anyway: an earlier one adds no false alert
        day = math.ceil((first - base) / DAY)
        while base + day * DAY < last:
            if day != 0 and (not by_day_type or _weekend(base + day * DAY, zone) == weekend):
                covered.append(last - day * DAY)
                break
            day += 1
    covered.sort(reverse=True)
    reach = covered[spare] if len(covered) > spare else base
    return min(max(reach, base), base + limit_s)


def _summary(delays: list[float]) -> dict[str, object]:
    ordered = sorted(delays)
    if not ordered:
        return {"incidents": 0}

    def pct(q: float) -> float:
        # the same nearest-rank percentile as careplug.runtime.evaluate
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    return {
        "incidents": len(ordered),
        "delay_h_median": round(pct(0.5), 2),
        "delay_h_p90": round(pct(0.9), 2),
        "delay_h_max": round(ordered[-1], 2),
    }


@dataclass
class DataSet:
    """One data set's inputs for the reference detectors."""

    households: list[Household]
    seen: Seen
    normal: Seen  # where normal silences come from (the clean traces, if there are any)
    incidents: list[tuple[str, float]]
    away: list[tuple[str, float, float]]  # registered or not
    cold_until: float | None


def figures(data: DataSet, spares: tuple[int, ...] = (0, 1, 2)) -> dict[str, object]:
    """The bound's delays, per ``spare``: for all incidents and those after the cold start."""
    tiers = DetectionConfig().tier_thresholds
    limits = {h.id: tiers[h.tier] for h in data.households}
    zones = {h.id: ZoneInfo(h.timezone) for h in data.households}
    windows: dict[str, list[Span]] = {}
    for household, start in data.incidents:
        windows.setdefault(household, []).append((start, start + WINDOW_S))
    away: dict[str, list[Span]] = {}
    for household, first, last in data.away:
        away.setdefault(household, []).append((first, last))

    def excluded(household: str) -> list[Span]:
        return (
            windows.get(household, [])
            + away.get(household, [])
            + data.normal.offline.get(household, [])
        )

    out: dict[str, object] = {}
    for (label, by_day_type), spare in itertools.product(
        (("bound", True), ("bound_any_day", False)), spares
    ):
        delays: list[tuple[float, float, float]] = []  # start, bound, the limit's delay
        for household, start in data.incidents:
            times = data.seen.activity.get(household, [])
            at = bisect.bisect_right(times, start) - 1
            base = times[at] if at >= 0 else data.seen.start
            silences = normal_silences(data.normal.activity.get(household, []), excluded(household))
            alert = zero_false_alert_at(
                base, silences, limits[household], zones[household], spare, by_day_type
            )
            limit = max(0.0, base + limits[household] - start) / HOUR
            delays.append((start, max(0.0, alert - start) / HOUR, limit))
        entry = {"all": _summary([d for _, d, _ in delays])}
        if data.cold_until is not None:
            cold = data.cold_until
            entry["after_cold_start"] = _summary([d for s, d, _ in delays if s >= cold])
            # the cold start: the tier limit only, whatever is known
            entry["all_with_cold_start_rule"] = _summary(
                [d if s >= cold else limit for s, d, limit in delays]
            )
        out[f"{label}_spare_{spare}"] = entry
    return out


def simulated(sim: Path) -> DataSet:
    """The population ``bench_detection.py`` recorded."""
    truth = json.loads((sim / "truth.json").read_text(encoding="utf-8"))
    households = load_registry(sim / "households.toml")
    seen = engine_view(sim / "readings.csv", households)
    start = parse_iso(truth["start"])
    return DataSet(
        households,
        seen,
        seen,
        [(i.household, i.start) for i in read_incidents(sim / "incidents.csv")],
        [(a["household"], parse_iso(a["start"]), parse_iso(a["end"])) for a in truth["away"]],
        start + 14 * DAY,
    )


def refit(folder: Path) -> DataSet:
    """The REFIT house: delays on the incident traces, normal silences from the clean ones."""
    meta = next(csv.DictReader((folder / "meta.csv").open(encoding="utf-8")))
    pairs = load_items(folder / "incidents.csv.gz")
    households = households_from_readings(pairs, "Europe/London")
    seen = engine_view(folder / "incidents.csv.gz", households)
    normal = engine_view(folder / "clean.csv.gz", households)
    holiday = []
    for period in filter(None, meta.get("quiet", "").split(";")):
        first, last = period.split("/")
        holiday.append(
            (meta["household"], parse_iso(first + "T00:00:00Z"), parse_iso(last + "T00:00:00Z"))
        )
    return DataSet(
        households,
        seen,
        normal,
        [(i.household, i.start) for i in read_incidents(folder / "incidents.csv")],
        holiday,
        None,
    )


def main() -> int:
    """Print the bound's figures as one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim-dir", default="/tmp/careplug-bench-detection")
    parser.add_argument(
        "--refit", default=str(Path(__file__).parents[3] / "shared/data/refit_house2")
    )
    args = parser.parse_args()
    out: dict[str, object] = {}
    sim = Path(args.sim_dir)
    if (sim / "truth.json").exists():
        log("simulated")
        out["simulated"] = figures(simulated(sim))
    else:
        out["simulated"] = {"skipped": f"no recording in {sim}: run bench_detection.py first"}
    folder = Path(args.refit)
    if (folder / "meta.csv").exists():
        log("refit")
        out["refit_house2"] = figures(refit(folder))
    else:
        out["refit_house2"] = {"skipped": f"no REFIT data at {folder} (--refit DIR)"}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
