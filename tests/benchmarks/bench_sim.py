"""Simulator benchmark: recording speed and a sustained live rate against a real Mosquitto.

Run on demand: ``python tests/benchmarks/bench_sim.py [--households 1000] [--days 30]
[--live-plugs 10000] [--live-seconds 30]``. Prints progress to stderr and one JSON object of
figures at the end on stdout.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from careplug.clock import SystemClock, monotonic
from careplug_sim.cli import live_events
from careplug_sim.generator import Simulation
from careplug_sim.record import record
from careplug_sim.replay import PahoPublisher, replay
from careplug_sim.scenario import ScenarioConfig, plan

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def bench_record(households: int, days: float, workers: int, out: Path) -> dict[str, object]:
    """Record ``days`` of ``households`` and time it."""
    scenario = plan(ScenarioConfig(households=households, days=days, seed=1, incidents=10))
    t0 = monotonic()
    count = record(scenario, out, workers=workers)
    seconds = monotonic() - t0
    size = (out / "traffic.jsonl").stat().st_size
    return {
        "record_households": households,
        "record_days": days,
        "record_workers": workers,
        "record_plugs": sum(len(h.plugs) for h in scenario.households),
        "record_messages": count,
        "record_seconds": round(seconds, 2),
        "record_msgs_per_s": round(count / seconds),
        "record_bytes": size,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _broker(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stderr=subprocess.DEVNULL)
    deadline = monotonic() + 10
    while monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("mosquitto did not start")


def _live_scenario(plugs: int, start: int) -> tuple[ScenarioConfig, int]:
    households = plugs // 2
    while True:
        cfg = ScenarioConfig(
            households=households, days=1, seed=2, report_period=60, start_time=start
        )
        n = sum(len(h.plugs) for h in plan(cfg).households)
        if n >= plugs:
            return cfg, n
        households += max(1, (plugs - n) // 2)


def bench_live(plugs: int, seconds: float, tmp: Path) -> dict[str, object]:
    """Publish ``plugs`` plugs reporting once a minute in real time for ``seconds``."""
    proc, port = _broker(tmp)
    received = 0
    lock = threading.Lock()

    def on_message(c: mqtt.Client, u: object, m: mqtt.MQTTMessage) -> None:
        nonlocal received
        with lock:
            received += 1

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-sub")
    ready = threading.Event()
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe("#", qos=1)
    sub.on_subscribe = lambda c, u, mid, rc, p: ready.set()
    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    try:
        ready.wait(10)
        cfg, n_plugs = _live_scenario(plugs, int(SystemClock().now()))
        sim = Simulation(plan(cfg))
        stop = threading.Event()
        timer = threading.Timer(seconds, stop.set)
        t0 = monotonic()
        timer.start()
        with PahoPublisher("127.0.0.1", port, client_id="bench-pub") as pub:
            stats = replay(live_events(sim), pub.publish, 1.0, time.sleep, monotonic, stop=stop)
        wall = monotonic() - t0
        time.sleep(1.0)
        with lock:
            delivered = received
        # steady state: the first second carries every plug's retained "online"
        readings = stats.messages - n_plugs
        # capacity: how fast one process generates and publishes with no pacing
        cfg2, _ = _live_scenario(plugs, int(SystemClock().now()))
        sim2 = Simulation(plan(cfg2))
        t1 = monotonic()
        with PahoPublisher("127.0.0.1", port, client_id="bench-pub-fast") as pub:
            fast = replay(
                itertools.islice(live_events(sim2), 50_000),
                pub.publish,
                math.inf,
                time.sleep,
                monotonic,
            )
        fast_wall = monotonic() - t1  # includes waiting for the broker's acks
    finally:
        sub.loop_stop()
        sub.disconnect()
        proc.terminate()
        proc.wait(10)
    return {
        "live_plugs": n_plugs,
        "live_report_period_s": 60,
        "live_seconds": round(wall, 2),
        "live_messages": stats.messages,
        "live_reading_msgs_per_s": round(readings / wall, 1),
        "live_target_msgs_per_s": round(n_plugs / 60, 1),
        "live_max_lag_s": round(stats.max_lag_s, 3),
        "live_received_by_subscriber": delivered,
        "max_unpaced_msgs_per_s_acked": round(fast.messages / fast_wall),
    }


def main() -> int:
    """Run both benchmarks and print one JSON object."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=1000)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--live-plugs", type=int, default=10_000)
    parser.add_argument("--live-seconds", type=float, default=30)
    parser.add_argument("--skip-record", action="store_true")
    args = parser.parse_args()
    figures: dict[str, object] = {"cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_record:
            figures |= bench_record(args.households, args.days, args.workers, Path(tmp) / "rec")
            shutil.rmtree(Path(tmp) / "rec")
            print(json.dumps(figures), file=sys.stderr)
        figures |= bench_live(args.live_plugs, args.live_seconds, Path(tmp))
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
