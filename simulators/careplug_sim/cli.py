"""``careplug-sim``: record, run live, replay, export CSV."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

import structlog

from careplug.clock import SystemClock, monotonic
from careplug_sim.generator import Simulation
from careplug_sim.record import export_csv, read_traffic, record
from careplug_sim.replay import Event, PahoPublisher, replay
from careplug_sim.scenario import ScenarioConfig, load_config, plan

log = structlog.get_logger("careplug_sim")

_FIELDS = {f.name: f for f in dataclasses.fields(ScenarioConfig)}


def _scenario_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("scenario (also settable in --scenario TOML; options win)")
    g.add_argument("--scenario", type=Path, help="TOML file with ScenarioConfig keys")
    g.add_argument("--households", type=int)
    g.add_argument("--days", type=float)
    g.add_argument("--seed", type=int)
    g.add_argument("--start", type=date.fromisoformat, help="first local date, YYYY-MM-DD")
    g.add_argument("--timezone")
    g.add_argument("--report-period", type=int, help="seconds between reports (default 300)")
    g.add_argument("--jitter", type=float)
    g.add_argument(
        "--family",
        action="append",
        dest="families_list",
        metavar="NAME[=WEIGHT]",
        help="firmware family (native, tasmota, shelly_gen1, shelly_gen2, zigbee2mqtt, "
        "esphome); repeat to mix",
    )
    g.add_argument("--report-on-change", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--fridge-p", type=float)
    g.add_argument(
        "--plug-choice",
        choices=["daily", "any"],
        help="daily: the first plug on a daily-used appliance (default); any: uniform",
    )
    g.add_argument("--incidents", type=int, help="households that become incapacitated")
    g.add_argument("--incident-rate", type=float, help="incapacitations per household-month")
    g.add_argument("--left-on-p", type=float)
    g.add_argument("--trips", type=int)
    g.add_argument("--hospital-stays", type=int)
    g.add_argument("--registered-p", type=float)
    g.add_argument("--unplugged", type=int)
    g.add_argument("--offline", type=int, help="plugs that lose Wi-Fi for a while")
    g.add_argument("--power-cuts", type=int)
    g.add_argument("--skewed", type=int, help="plugs with a wrong clock")
    g.add_argument(
        "--history-days", type=float, help="days at the start without injected events (history)"
    )
    g.add_argument("--tail-days", type=float, help="days at the end without injected events")
    g.add_argument(
        "--high-tier-daily-plugs", type=int, help="daily-used appliances plugged in high-risk homes"
    )
    g.add_argument("--duplicate-rate", type=float)
    g.add_argument("--late-rate", type=float)
    g.add_argument("--malformed-rate", type=float)


def _config(args: argparse.Namespace, start_time: int | None = None) -> ScenarioConfig:
    values = {k: v for k, v in vars(args).items() if k in _FIELDS and v is not None}
    if args.families_list:
        fams: dict[str, float] = {}
        for item in args.families_list:
            name, _, weight = item.partition("=")
            fams[name] = float(weight or 1)
        values["families"] = fams
    if start_time is not None and args.start is None:
        values["start_time"] = start_time
    if args.scenario is not None:
        return load_config(args.scenario, **values)
    return ScenarioConfig(**values)


def _broker_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--speed", type=float, default=1.0, help="x real time; 0 = as fast as possible")
    p.add_argument("--clock-interval", type=float, default=10.0)


def build_parser() -> argparse.ArgumentParser:
    """The ``careplug-sim`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="careplug-sim",
        description="Simulated care-plug households: record to files, run live, replay.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="write a scenario to files (no broker)")
    rec.add_argument("--out", type=Path, required=True, help="output directory")
    rec.add_argument("--csv", action="store_true", help="also write readings.csv")
    rec.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="parallel processes (the output does not depend on it)",
    )
    _scenario_args(rec)
    run = sub.add_parser("run", help="publish a scenario live to a broker")
    _broker_args(run)
    _scenario_args(run)
    rep = sub.add_parser("replay", help="publish a recorded traffic.jsonl")
    rep.add_argument("file", type=Path)
    _broker_args(rep)
    exp = sub.add_parser("export-csv", help="readings of a traffic file as CSV")
    exp.add_argument("file", type=Path)
    exp.add_argument("--out", type=Path, required=True)
    exp.add_argument("--registry", type=Path, help="households.toml (default: next to FILE)")
    return parser


def live_events(sim: Simulation, chunk_s: int = 60) -> Iterator[Event]:
    """The simulation's messages as replay events, generated a chunk at a time."""
    for part in sim.chunks(chunk_s):
        for t, topic, payload, retain in part:
            data = payload.encode("utf-8") if isinstance(payload, str) else payload
            yield (float(t), topic, data, 1, retain)


def _publish(events: Iterator[Event], args: argparse.Namespace) -> int:
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    speed = math.inf if args.speed <= 0 else args.speed
    try:
        with PahoPublisher(args.host, args.port) as pub:
            stats = replay(
                events,
                pub.publish,
                speed,
                time.sleep,
                monotonic,
                clock_interval=args.clock_interval,
                stop=stop,
            )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info(
        "replay_finished",
        messages=stats.messages,
        clock_ticks=stats.clock_ticks,
        max_lag_s=round(stats.max_lag_s, 3),
        stopped=stop.is_set(),
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``careplug-sim``."""
    args = build_parser().parse_args(argv)
    if args.command == "record":
        scenario = plan(_config(args))
        t0 = monotonic()
        count = record(scenario, args.out, readings_csv=args.csv, workers=args.workers)
        summary = {
            "messages": count,
            "seconds": round(monotonic() - t0, 3),
            "households": len(scenario.households),
            "out": str(args.out),
        }
        print(json.dumps(summary))
        return 0
    if args.command == "run":
        scenario = plan(_config(args, start_time=int(SystemClock().now())))
        return _publish(live_events(Simulation(scenario)), args)
    if args.command == "replay":
        return _publish(read_traffic(args.file), args)
    if args.command == "export-csv":
        rows = export_csv(args.file, args.out, args.registry)
        print(json.dumps({"rows": rows, "out": str(args.out)}))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
