"""Ingest benchmark: careplug against the broker's own limit and against a Node-RED flow.

One stream of native readings is queued once at a real Mosquitto for three persistent QoS 1
sessions, then each consumer drains the same backlog in turn, alone on the machine:

- ``mosquitto_sub -q 1 > /dev/null``: the broker's own delivery limit here;
- ``careplug run`` (full daemon: decode, activity, state, SQLite commit, PUBACK after commit,
  InfluxDB line protocol to a real VictoriaMetrics);
- Node-RED 4: ``mqtt in`` → function node spotting power changes → per-topic ``trigger`` node
  re-armed on every message (the inactivity watchdog).

Draining a queued backlog measures each consumer's rate, not the publisher's (a Python
publisher is slower than mosquitto_sub). A careplug reading counts as handled when it is in
VictoriaMetrics (it was decoded and fed); the run is over when every plug's last reading is
committed in the ``plugs`` table; after that careplug is killed with SIGKILL and its session is
reopened: whatever the broker redelivers was never acknowledged.

Run: ``python tests/benchmarks/bench_ingest.py [--readings 200000] [--plugs 2000]
[--node-red-dir DIR] [--profile DIR] [--skip-node-red] [--repeat N]``. Progress on stderr, one
JSON object on stdout; with ``--repeat N`` the N measurements' figures under ``runs`` and each
ratio's values and median.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import benchlib as b

from careplug.clock import monotonic

NODE_RED_VERSION = "4"
DEFAULT_NODE_RED_DIR = Path(
    os.environ.get("CAREPLUG_BENCH_NODE_RED", Path.home() / ".cache/careplug-bench/node-red")
)

FUNCTION = """
const last = context.get('last') || {};
if (!context.get('last')) context.set('last', last);
const p = msg.payload && msg.payload.power_w;
const prev = last[msg.topic];
last[msg.topic] = p;
const n = (global.get('count') || 0) + 1;
global.set('count', n);
const now = Date.now();
if (n === 1) global.set('first', now);
global.set('last', now);
msg.changed = prev === undefined || Math.abs(p - prev) >= 10;
return msg;
"""

COUNT = """
msg.payload = {count: global.get('count') || 0, first: global.get('first') || 0,
               last: global.get('last') || 0};
return msg;
"""


def stream(
    readings: int, plugs: list[str], now: float
) -> tuple[list[tuple[str, bytes]], dict[str, float]]:
    """Round-robin readings, in event-time order, all in the past; each plug's last time."""
    rounds = math.ceil(readings / len(plugs))
    base = now - 3600.0
    spacing = 3000.0 / rounds
    messages: list[tuple[str, bytes]] = []
    final: dict[str, float] = {}
    for k in range(rounds):
        at = round(base + k * spacing, 3)
        # a plug is in use two rounds in eight, with a step inside: activity to detect
        phase = k % 8
        power = 1.2 + 0.1 * (k % 2) if phase < 6 else (90.0 if phase == 6 else 180.0)
        for i, plug in enumerate(plugs):
            if len(messages) == readings:
                break
            body = {"device": plug, "time": at, "power_w": power, "energy_wh": 10.0 * k + i % 7}
            messages.append((f"careplug/plugs/{plug}/reading", json.dumps(body).encode()))
            final[plug] = at
    return messages, final


def run_mosquitto_sub(port: int, n: int) -> dict[str, object]:
    """Drain the queued backlog with mosquitto_sub."""
    t0 = monotonic()
    proc = subprocess.run(
        [
            "mosquitto_sub",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-c",
            "-i",
            "bench-sub",
            "-q",
            "1",
            "-t",
            b.READING_TOPIC,
            "-C",
            str(n),
            "-W",
            "300",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    seconds = monotonic() - t0
    return {
        "mosquitto_sub_seconds": round(seconds, 2),
        "mosquitto_sub_readings_per_s": round(n / seconds),
        "mosquitto_sub_complete": proc.returncode == 0,
    }


def run_paho(port: int, n: int) -> dict[str, object]:
    """Drain the backlog with a bare paho subscriber (MQTT 3.1.1, auto-ack): Python's floor."""
    done = threading.Event()
    got = {"n": 0}

    def on_message(c: object, u: object, m: object) -> None:
        got["n"] += 1
        if got["n"] >= n:
            done.set()

    client = b.paho_client("bench-paho")
    client.on_message = on_message
    t0 = monotonic()
    client.connect("127.0.0.1", port)
    client.loop_start()
    done.wait(300)
    seconds = monotonic() - t0
    client.disconnect()
    client.loop_stop()
    return {
        "paho_seconds": round(seconds, 2),
        "paho_readings_per_s": round(got["n"] / seconds),
        "paho_complete": got["n"] >= n,
    }


def run_careplug(
    daemon: b.Daemon,
    mqtt_port: int,
    vm_port: int,
    n: int,
    final: dict[str, float],
    profile: Path | None,
) -> dict[str, object]:
    """Drain the backlog with the full daemon; time from broker connection to the last commit."""
    db = daemon.config.parent / "careplug.db"
    daemon.start()
    t0 = daemon.wait_event("broker_connected", 60)
    assert daemon.proc is not None
    cpu0 = b.cpu_seconds(daemon.proc.pid)
    profiler = b.Profiler(daemon.proc.pid, profile, 15) if profile else None
    last_progress, progress, t1 = monotonic(), 0.0, None
    peak_rss = 0
    while monotonic() - last_progress < 30:
        times = b.plug_times(db)
        complete = sum(1 for plug, at in final.items() if times.get(plug, -1.0) >= at)
        peak_rss = max(peak_rss, b.rss_kib(daemon.proc.pid))
        if complete == len(final):
            t1 = monotonic()
            break
        if sum(times.values()) != progress:  # committed readings moved on
            progress, last_progress = sum(times.values()), monotonic()
        time.sleep(0.05)
    seconds = (t1 or monotonic()) - t0
    cpu = b.cpu_seconds(daemon.proc.pid) - cpu0
    figures: dict[str, object] = {}
    if profiler is not None:
        figures["careplug_profile"] = profiler.finish()
    # The InfluxDB sink writes in the background (it flushes every second and may lag a fast
    # drain): count what reaches VictoriaMetrics until all is there or nothing came for 5 s.
    done_at = monotonic()
    handled, grew_at = 0, done_at
    while True:
        time.sleep(0.5)
        count = b.vm_count(vm_port, "reading_power_w", 4 * 3600)
        if count > handled:
            handled, grew_at = count, monotonic()
        if handled >= n or monotonic() - grew_at > 5.0:
            break
    history_lag = grew_at - done_at
    daemon.kill()
    unacked = b.count_redelivered(mqtt_port, "careplug-bench")
    figures.update(
        {
            "careplug_seconds": round(seconds, 2),
            "careplug_readings_per_s": round(handled / seconds) if t1 else 0,
            "careplug_complete": t1 is not None,
            "careplug_readings_in_victoriametrics": handled,
            # after the last commit, until the last reading reached VictoriaMetrics
            "careplug_history_lag_s": round(history_lag, 2),
            "careplug_redelivered_after_kill": unacked,
            "careplug_peak_rss_mib": round(peak_rss / 1024, 1),
            "careplug_cpu_seconds": round(cpu, 2),
            "careplug_cpu_us_per_reading": round(1e6 * cpu / max(1, handled), 1),
        }
    )
    return figures


@contextlib.contextmanager
def cpu_per_reading(
    figures: dict[str, object], phase: str, servers: dict[str, int | None], readings: int
) -> Iterator[None]:
    """Each server's CPU µs per reading while ``phase`` drains the stream (the broker's
    and VictoriaMetrics' share of the machine); for mosquitto_sub also its own."""
    before = {name: b.cpu_seconds(pid) for name, pid in servers.items() if pid is not None}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    yield
    for name, pid in servers.items():
        if pid is not None:
            used = b.cpu_seconds(pid) - before[name]
            figures[f"{name}_cpu_us_per_reading_during_{phase}"] = round(1e6 * used / readings, 1)
    if phase == "mosquitto_sub":
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
        figures["mosquitto_sub_cpu_us_per_reading"] = round(1e6 * own / readings, 1)


def cpu_bounds(figures: dict[str, object]) -> dict[str, object]:
    """What the CPU figures allow on this machine, were careplug's work per reading kept: in one
    process (its GIL-bound thread at most one core), and spread over every core with the
    broker's and VictoriaMetrics' share taken off first (no inter-process cost counted)."""
    own = figures.get("careplug_cpu_us_per_reading")
    broker = figures.get("broker_cpu_us_per_reading_during_careplug")
    vm = figures.get("victoriametrics_cpu_us_per_reading_during_careplug")
    if not all(isinstance(v, float) and v > 0 for v in (own, broker, vm)):
        return {}
    assert isinstance(own, float) and isinstance(broker, float) and isinstance(vm, float)
    cores = os.cpu_count() or 1
    return {
        "cores": cores,
        "bound_one_process_readings_per_s": round(1e6 / own),
        "bound_all_cores_readings_per_s": round(cores * 1e6 / (own + broker + vm)),
    }


def ensure_node_red(directory: Path) -> Path:
    """node-red installed with npm in ``directory`` (kept for the next run); its red.js."""
    red = directory / "node_modules" / "node-red" / "red.js"
    if not red.exists():
        b.log(f"installing node-red@{NODE_RED_VERSION} into {directory} with npm")
        directory.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--prefix",
                str(directory),
                "--no-audit",
                "--no-fund",
                f"node-red@{NODE_RED_VERSION}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return red


def node_red_flow(mqtt_port: int) -> list[dict[str, object]]:
    """mqtt in → change-spotting function → per-topic trigger; GET /count reports progress."""
    return [
        {"id": "tab1", "type": "tab", "label": "bench"},
        {
            "id": "broker1",
            "type": "mqtt-broker",
            "broker": "127.0.0.1",
            "port": str(mqtt_port),
            "clientid": "nodered-bench",
            "autoConnect": True,
            "usetls": False,
            "protocolVersion": "4",
            "keepalive": "60",
            "cleansession": False,
            "autoUnsubscribe": False,
            "birthTopic": "",
            "closeTopic": "",
            "willTopic": "",
        },
        {
            "id": "in1",
            "type": "mqtt in",
            "z": "tab1",
            "topic": b.READING_TOPIC,
            "qos": "1",
            "datatype": "json",
            "broker": "broker1",
            "nl": False,
            "rap": False,
            "inputs": 0,
            "wires": [["fn1"]],
        },
        {
            "id": "fn1",
            "type": "function",
            "z": "tab1",
            "func": FUNCTION,
            "outputs": 1,
            "wires": [["trig1"]],
        },
        {
            "id": "trig1",
            "type": "trigger",
            "z": "tab1",
            "op1": "",
            "op2": "inactive",
            "op1type": "nul",
            "op2type": "str",
            "duration": "12",
            "extend": True,
            "overrideDelay": False,
            "units": "hr",
            "reset": "",
            "bytopic": "topic",
            "topic": "topic",
            "outputs": 1,
            "wires": [[]],
        },
        {
            "id": "http1",
            "type": "http in",
            "z": "tab1",
            "url": "/count",
            "method": "get",
            "wires": [["fn2"]],
        },
        {
            "id": "fn2",
            "type": "function",
            "z": "tab1",
            "func": COUNT,
            "outputs": 1,
            "wires": [["resp1"]],
        },
        {"id": "resp1", "type": "http response", "z": "tab1", "wires": []},
    ]


def run_node_red(red: Path, tmp: Path, mqtt_port: int, n: int) -> dict[str, object]:
    """Drain the backlog with the Node-RED flow; rate between its first and last message."""
    user = tmp / "node-red-user"
    user.mkdir()
    port = b.free_port()
    (user / "flows.json").write_text(json.dumps(node_red_flow(mqtt_port)), encoding="utf-8")
    (user / "settings.js").write_text(
        "module.exports = { flowFile: 'flows.json', uiHost: '127.0.0.1', httpAdminRoot: false,"
        " logging: { console: { level: 'warn' } }, diagnostics: { enabled: false },"
        " telemetry: { enabled: false }, credentialSecret: false };\n",
        encoding="utf-8",
    )
    logf = (tmp / "node-red.log").open("wb")
    proc = subprocess.Popen(
        ["node", str(red), "-u", str(user), "-s", str(user / "settings.js"), "-p", str(port)],
        stdout=logf,
        stderr=logf,
    )
    try:
        b.wait_port(port, 60)
        state = {"count": 0, "first": 0, "last": 0}
        last_progress = monotonic()
        while monotonic() - last_progress < 30 and state["count"] < n:
            try:
                raw = urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=10).read()
            except OSError:
                time.sleep(0.2)
                continue
            new = json.loads(raw)
            if new["count"] != state["count"]:
                last_progress = monotonic()
            state = new
            time.sleep(0.1)
        peak = b.rss_kib(proc.pid)
    finally:
        b.stop_process(proc)
        logf.close()
    seconds = max(0.001, (state["last"] - state["first"]) / 1000)
    return {
        "node_red_seconds": round(seconds, 2),
        "node_red_readings_per_s": round(state["count"] / seconds),
        "node_red_readings": state["count"],
        "node_red_complete": state["count"] >= n,
        "node_red_rss_mib": round(peak / 1024, 1),
    }


def main() -> None:
    """Run the three consumers on one queued stream and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--plugs", type=int, default=2_000)
    parser.add_argument("--node-red-dir", type=Path, default=DEFAULT_NODE_RED_DIR)
    parser.add_argument("--protocol", choices=["5", "3.1.1"], default="5", help="careplug's")
    parser.add_argument("--skip-node-red", action="store_true")
    parser.add_argument("--profile", type=Path, help="py-spy the daemon, output in this dir")
    parser.add_argument(
        "--repeat", type=int, default=1, help="whole measurements in a row (medians of ratios)"
    )
    args = parser.parse_args()
    b.exit_on_sigterm()
    red = None if args.skip_node_red else ensure_node_red(args.node_red_dir)
    if args.repeat <= 1:
        print(json.dumps(measure(args, red)), flush=True)
        return
    runs = []
    for k in range(args.repeat):
        b.log(f"measurement {k + 1} of {args.repeat}")
        runs.append(measure(args, red))
    print(json.dumps(summarise(runs)), flush=True)


def summarise(runs: list[dict[str, object]]) -> dict[str, object]:
    """Every run's figures, and per ratio its values and median: on a shared VM one pair of
    drains can be off by a third either way, several in a row show where the ratio lies."""
    out: dict[str, object] = {"runs": runs}
    for ref in ("node_red", "mosquitto_sub", "paho"):
        values = [r[f"ratio_careplug_to_{ref}"] for r in runs if f"ratio_careplug_to_{ref}" in r]
        floats = sorted(float(v) for v in values if isinstance(v, int | float))
        if floats:
            out[f"ratios_careplug_to_{ref}"] = floats
            out[f"median_ratio_careplug_to_{ref}"] = round(statistics.median(floats), 2)
    out["careplug_readings_lost"] = sum(int(str(r["careplug_readings_lost"])) for r in runs)
    return out


def measure(args: argparse.Namespace, red: Path | None) -> dict[str, object]:
    """One measurement: a fresh broker, VictoriaMetrics and stream, drained by each consumer."""
    figures: dict[str, object] = {
        "careplug_mqtt_protocol": args.protocol,
        "readings": args.readings,
        "plugs": args.plugs,
        "load_average_before": b.load_average(),
    }
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as name:
        tmp = Path(name)
        plugs = b.write_registry(tmp / "households.csv", args.plugs // 2, 2)
        with b.mosquitto(tmp) as mqtt_port, b.victoria_metrics(tmp) as vm_port:
            config = b.write_config(
                tmp,
                mqtt_port,
                influx_port=vm_port,
                detection='default_report_period = "1h"',
                protocol=args.protocol,
            )
            daemon = b.Daemon(config)
            # persistent sessions first, so the broker queues the stream for each consumer
            daemon.start()
            daemon.wait_event("broker_connected", 60)
            daemon.stop()
            b.make_session(mqtt_port, "bench-sub", b.READING_TOPIC)
            b.make_session(mqtt_port, "bench-paho", b.READING_TOPIC)
            if red is not None:
                b.make_session(mqtt_port, "nodered-bench", b.READING_TOPIC)
            messages, final = stream(args.readings, plugs, b.wall())
            b.log(f"publishing {len(messages)} readings for {len(plugs)} plugs")
            seconds = b.publish_all(mqtt_port, messages)
            figures["publish_readings_per_s"] = round(len(messages) / seconds)
            del messages
            # the servers' CPU per reading: what is left of the machine for a consumer
            servers = {
                "broker": b.pid_with_argument(str(tmp / "mosquitto.conf")),
                "victoriametrics": b.pid_with_argument(f"127.0.0.1:{vm_port}"),
            }
            b.log("draining with mosquitto_sub")
            with cpu_per_reading(figures, "mosquitto_sub", servers, args.readings):
                figures.update(run_mosquitto_sub(mqtt_port, args.readings))
            b.log("draining with a bare paho subscriber")
            figures.update(run_paho(mqtt_port, args.readings))
            b.log("draining with careplug")
            with cpu_per_reading(figures, "careplug", servers, args.readings):
                figures.update(
                    run_careplug(daemon, mqtt_port, vm_port, args.readings, final, args.profile)
                )
            if red is not None:
                b.log("draining with node-red")
                figures.update(run_node_red(red, tmp, mqtt_port, args.readings))
    cp = figures["careplug_readings_per_s"]
    assert isinstance(cp, int)
    for ref in ("mosquitto_sub", "paho", "node_red"):
        other = figures.get(f"{ref}_readings_per_s")
        if isinstance(other, int) and other:
            figures[f"ratio_careplug_to_{ref}"] = round(cp / other, 2)
    handled = figures["careplug_readings_in_victoriametrics"]
    assert isinstance(handled, int)
    figures["careplug_readings_lost"] = args.readings - handled
    figures.update(cpu_bounds(figures))
    return figures


if __name__ == "__main__":
    main()
