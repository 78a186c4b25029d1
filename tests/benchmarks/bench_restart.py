"""Restart benchmark: start-to-ready time of ``careplug run`` with stored state.

Fills a SQLite store with the state of ``--households`` households (two plugs each: last
readings, learnt standby, last activity, and a learnt routine of two months), writes the
matching CSV registry and a config, starts a real Mosquitto, then starts the daemon
``--repeat`` times and times, from process start, the ``daemon_started`` log event and
``broker_connected`` (ready: subscribed and receiving). The start-up phases are also timed in
process (registry load, store reads, engine restore) to show where the time goes.

Run: ``python tests/benchmarks/bench_restart.py [--households 100000] [--repeat 2] [--keep DIR]``.
``--keep DIR`` fills and keeps the registry, store and config in DIR (reused by later runs with
the same ``--households``), e.g. to profile ``careplug run --config DIR/careplug.toml`` against
them (py-spy, ``python -X importtime``). Progress on stderr, one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import benchlib as b

from careplug.clock import monotonic


def fill_store(db: Path, households: int, now: float) -> None:
    """State as a running daemon would have stored it."""
    from careplug.adapters.store_sqlite import SqliteStore
    from careplug.domain.engine import HouseholdMemory, PlugMemory
    from careplug.domain.model import HouseholdId, PlugId

    plugs = []
    homes = []
    routines = b.learnt_routines()  # the learning detector's state: two months learnt
    for h in range(households):
        for p in range(2):
            at = now - 60 - (h % 300)
            plugs.append(
                PlugMemory(
                    PlugId(f"p{h:06d}-{p}"),
                    at,
                    at,
                    1.1,
                    at,
                    100.0 + h % 50,
                    at,
                    False,
                    1.0,
                    None,
                    None,
                )
            )
        homes.append(
            HouseholdMemory(
                HouseholdId(f"hh{h:06d}"),
                now - 3600,
                now - 86400,
                None,
                0.0,
                None,
                routine=routines[h % len(routines)],
            )
        )
    store = SqliteStore(db)
    store.save_state(plugs, homes)
    store.close()


def phases(tmp: Path) -> dict[str, float]:
    """Time the start-up steps in process (what ``start_daemon`` does before connecting)."""
    from careplug.adapters.store_sqlite import SqliteStore
    from careplug.domain.engine import DetectionConfig, Engine
    from careplug.heap import bulk_build
    from careplug.registry import load_registry

    with bulk_build():  # as start_daemon builds them
        t0 = monotonic()
        households = load_registry(tmp / "households.csv")
        t1 = monotonic()
        store = SqliteStore(tmp / "careplug.db")
        plugs, homes, alerts = (
            store.load_plugs(),
            store.load_households(),
            store.list_alerts(open_only=True),
        )
        t2 = monotonic()
        # the daemon's default detector: every household also gets a routine
        engine = Engine(DetectionConfig(detector="learning"), households, b.wall())
        t3 = monotonic()
        engine.restore(plugs, homes, alerts)
        t4 = monotonic()
    store.close()
    return {
        "phase_registry_load_s": round(t1 - t0, 2),
        "phase_store_read_s": round(t2 - t1, 2),
        "phase_engine_build_s": round(t3 - t2, 2),
        "phase_engine_restore_s": round(t4 - t3, 2),
    }


@contextlib.contextmanager
def work_dir(keep: Path | None) -> Iterator[Path]:
    """A temporary directory, or ``keep`` (created if need be, left in place)."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="bench-restart-") as name:
        yield Path(name)


def main() -> None:
    """Fill, restart, time."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--keep", type=Path, help="fill (once) and keep the files in this directory"
    )
    args = parser.parse_args()
    b.exit_on_sigterm()
    figures: dict[str, object] = {
        "households": args.households,
        "plugs": 2 * args.households,
        "load_average_before": b.load_average(),
    }
    with work_dir(args.keep) as tmp:
        marker = tmp / "filled-households"
        reuse = marker.is_file() and marker.read_text() == str(args.households)
        db, pristine = tmp / "careplug.db", tmp / "careplug.db.filled"
        for stale in (tmp / "careplug.db-wal", tmp / "careplug.db-shm"):
            stale.unlink(missing_ok=True)
        if reuse:
            # the state as filled (not as the last daemon left it); its times age, though
            b.log(f"reusing the registry and store in {tmp}")
            shutil.copyfile(pristine, db)
        else:
            marker.unlink(missing_ok=True)
            db.unlink(missing_ok=True)
            b.write_registry(tmp / "households.csv", args.households, 2)
            b.log(f"filling the store with {args.households} households")
            t0 = monotonic()
            fill_store(db, args.households, b.wall())
            figures["fill_seconds"] = round(monotonic() - t0, 1)
            if args.keep is not None:
                shutil.copyfile(db, pristine)
                marker.write_text(str(args.households))
        figures["store_mib"] = round((tmp / "careplug.db").stat().st_size / 2**20, 1)
        with b.mosquitto(tmp) as port:
            config = b.write_config(tmp, port)
            started, ready, rss = [], [], []
            for i in range(args.repeat):
                b.log(f"start {i + 1}/{args.repeat}")
                daemon = b.Daemon(config)
                daemon.start()
                try:
                    started.append(daemon.wait_event("daemon_started", 120) - daemon.started_at)
                    ready.append(daemon.wait_event("broker_connected", 120) - daemon.started_at)
                    assert daemon.proc is not None
                    rss.append(b.rss_kib(daemon.proc.pid))
                finally:
                    daemon.stop()
        figures.update(
            {
                "daemon_started_s": [round(s, 2) for s in started],
                "broker_connected_s": [round(s, 2) for s in ready],
                "ready_s_best": round(min(ready), 2),
                "rss_after_start_mib": round(max(rss) / 1024, 1),
                "target_met_under_5s": min(ready) < 5.0,
            }
        )
        figures.update(phases(tmp))
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
