"""Memory benchmark: resident memory per household with every plug reporting.

For each size a fresh interpreter imports careplug, notes its RSS (from /proc), then does what
the daemon does at start-up and in steady state, in process: loads a generated CSV registry
(two plugs per household), builds the Engine, feeds every plug a day's worth of readings in
event-time order (standby, use, standby: learnt standby levels, activity, timers), evaluates
ticks, and commits the changed state to a SQLite store as the Driver does. The growth of RSS
over the import baseline, divided by the households, is the figure (it includes the registry
objects, the engine's state and timers, and SQLite's page cache). With ``--detector learning``
(the daemon's default) every household also holds a learnt routine: two months of a regular
day (one of three patterns, with jitter), as a restart restores it from the store. Start-up is
built the daemon's way (``careplug.heap``: no GC passes while building, freed heap trimmed).
Then night: 2.5 h more of standby readings (each power value its own float, as decoded from
a payload), so that every learning household is in a silence past the attention floor and
holds its learnt levels, as a daemon's households do at night: ``kib_per_household_night``.
The target counts the larger of day and night.

Run: ``python tests/benchmarks/bench_memory.py [--sizes 10000,100000] [--readings-per-plug 8]
[--detector learning|fixed]``.
Progress on stderr, one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

import benchlib as b

from careplug.clock import monotonic


def child(households: int, per_plug: int, trace: bool, detector: str) -> dict[str, object]:
    """Measure one size in this (fresh) process (with ``trace``: Python bytes still held, by
    tracemalloc, which RSS cannot separate from freed-but-kept arenas)."""
    from careplug.adapters.store_sqlite import SqliteStore
    from careplug.domain.engine import DetectionConfig, Engine
    from careplug.domain.model import PlugId, Reading
    from careplug.domain.routine import Routine
    from careplug.heap import bulk_build, release_freed_memory
    from careplug.registry import load_registry

    gc.collect()
    if trace:
        tracemalloc.start()
    base = b.rss_kib(os.getpid())
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as name:
        tmp = Path(name)
        # the plug ids are not kept here: the daemon holds no list of them (each reading's id
        # is decoded from its topic), and a bench-owned copy of 200,000 strings, freed just
        # before the last measurement, left ~12 MB of free pools inside live arenas
        b.write_registry(tmp / "households.csv", households, 2)
        t0 = monotonic()
        with bulk_build(freeze=False):  # as the daemon builds (freezing would hide garbage)
            registry = load_registry(tmp / "households.csv")
        gc.collect()
        release_freed_memory()
        after_registry = b.rss_kib(os.getpid())
        traced_registry = tracemalloc.get_traced_memory()[0] if trace else 0
        start = 1_764_000_000.0
        with bulk_build(freeze=False):
            engine = Engine(DetectionConfig(detector=detector), registry, start)
            if detector == "learning":
                blobs = b.learnt_routines()
                for i, state in enumerate(engine.households.values()):
                    state.routine = Routine.from_bytes(blobs[i % len(blobs)])
        gc.collect()
        release_freed_memory()
        after_engine = b.rss_kib(os.getpid())
        traced_engine = tracemalloc.get_traced_memory()[0] if trace else 0
        store = SqliteStore(tmp / "careplug.db")
        period = 300.0  # the default report period: no plug counts as offline
        for k in range(per_plug):
            at = start + k * period
            power = 120.0 if k % 8 == 3 else 1.0 + 0.1 * (k % 2)
            for i in range(2 * households):
                plug = PlugId(f"p{i // 2:06d}-{i % 2}")  # as benchlib.write_registry names them
                engine.on_reading(Reading(plug, at + i * 0.01, power, k * 3.0))
            engine.tick(at + period - 1)
            store.save_state(*engine.take_dirty())
        load_s = monotonic() - t0
        del registry
        gc.collect()
        release_freed_memory()
        after = b.rss_kib(os.getpid())
        traced_end = tracemalloc.get_traced_memory()[0] if trace else 0
        # night: standby only, every plug reporting (under the 3 missed reports that make it
        # offline), until every household's silence is past the attention floor (2 h), so
        # that each learning household holds its silence's learnt levels, as a daemon's do
        # at night; each reading's power its own float, as decoded from a payload
        last = start + (per_plug - 1) * period
        night_period = 2.5 * period
        for k in range(1, int(2.5 * 3600 / night_period) + 1):
            at = last + k * night_period
            for i in range(2 * households):
                plug = PlugId(f"p{i // 2:06d}-{i % 2}")
                power = 1.0 + 0.001 * (k % 2) + 0.0001 * (i % 7)  # a new float object each
                engine.on_reading(Reading(plug, at + i * 0.01, power, None))
            engine.tick(at + night_period - 1)
            store.save_state(*engine.take_dirty())
        gc.collect()
        release_freed_memory()
        after_night = b.rss_kib(os.getpid())
        traced_night = tracemalloc.get_traced_memory()[0] if trace else 0
        holding_levels = sum(
            1
            for state in engine.households.values()
            if state.levels is not None and len(state.levels) > 8
        )
        store.close()
    growth = after - base
    traced: dict[str, object] = {}
    if trace:
        traced = {
            "traced_kib_per_household_registry": round(traced_registry / 1024 / households, 2),
            "traced_kib_per_household_engine_built": round(
                (traced_engine - traced_registry) / 1024 / households, 2
            ),
            "traced_kib_per_household_engine_state": round(
                (traced_end - traced_registry) / 1024 / households, 2
            ),
            "traced_kib_per_household_total": round(traced_end / 1024 / households, 2),
            "traced_kib_per_household_night": round(traced_night / 1024 / households, 2),
        }
    return traced | {
        "households": households,
        "plugs": 2 * households,
        "detector": detector,
        "readings_per_plug": per_plug,
        "rss_baseline_mib": round(base / 1024, 1),
        "rss_after_mib": round(after / 1024, 1),
        "kib_per_household": round(growth / households, 2),
        "kib_per_household_registry": round((after_registry - base) / households, 2),
        "kib_per_household_engine_built": round((after_engine - after_registry) / households, 2),
        "kib_per_household_fed_and_stored": round((after - after_engine) / households, 2),
        "kib_per_household_night": round((after_night - base) / households, 2),
        "households_holding_learnt_levels_at_night": holding_levels,
        "build_and_feed_seconds": round(load_s, 1),
        "engine_open_alerts": len(engine.open_alerts),
    }


def main() -> None:
    """Run each size in its own interpreter and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--readings-per-plug", type=int, default=8)
    parser.add_argument("--detector", choices=("learning", "fixed"), default="learning")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    b.exit_on_sigterm()
    if args.child:
        print(
            json.dumps(child(args.child, args.readings_per_plug, args.trace, args.detector)),
            flush=True,
        )
        return
    results = []
    sizes = [int(s) for s in args.sizes.split(",")]
    # RSS for every size; then the smallest again under tracemalloc for what Python really holds
    for size, trace in [(s, False) for s in sizes] + [(sizes[0], True)]:
        b.log(f"measuring {size} households" + (" (tracemalloc)" if trace else ""))
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(size),
                "--readings-per-plug",
                str(args.readings_per_plug),
                "--detector",
                args.detector,
            ]
            + (["--trace"] if trace else []),
            stdout=subprocess.PIPE,
            check=True,
            timeout=900,
        ).stdout
        results.append(json.loads(out))
    figures: dict[str, object] = {
        "method": "in-process registry + Engine + SQLite state commits (no MQTT, no threads)",
        "sizes": results,
        "target_kib_per_household": 2.0,
        "target_met": all(
            max(float(r["kib_per_household"]), float(r["kib_per_household_night"])) < 2.0
            for r in results[: len(sizes)]
        ),
        "load_average_before": b.load_average(),
    }
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
