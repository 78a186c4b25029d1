"""Alert latency benchmark: from a household's deadline to its alert on careplug/alerts/#.

A real Mosquitto, VictoriaMetrics and ``careplug run`` with the production tick and lateness
(1 s each, overridable). ``--victims`` high-tier households have a 5 s inactivity threshold;
each one's plug reports every second from the start, switching on and off every 2 s (activity)
until it switches on at its own T and keeps a constant load, so the household's deadline is
exactly T + 5 s while its plug stays online. The Ts are spread over ``--seconds``. Meanwhile a
separate process publishes ``--rate`` readings/s of ingest load to ``--load-plugs`` other
plugs (medium tier, long threshold). Latency = wall time the ``raised`` inactivity event
arrives on the alert topic minus the deadline.

Run: ``python tests/benchmarks/bench_latency.py [--victims 80] [--rate 2000] [--seconds 30]``.
Progress on stderr, one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import benchlib as b

from careplug.clock import monotonic

THRESHOLD_S = 5.0


def load_worker(port: int, rate: int, seconds: float, plugs: int) -> None:
    """Publish ``rate`` readings/s round-robin over the load plugs (its own process)."""
    client = b.paho_client()
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    ids = [f"p{h:06d}-{p}" for h in range(plugs // 2) for p in range(2)]
    t0 = monotonic()
    sent, k = 0, 0
    while (elapsed := monotonic() - t0) < seconds:
        due = int(elapsed * rate)
        now = b.wall()
        while sent < due:
            plug = ids[sent % len(ids)]
            k = sent // len(ids)
            power = 150.0 if k % 6 == 5 else 1.0 + 0.1 * (k % 2)
            body = json.dumps({"device": plug, "time": round(now, 3), "power_w": power})
            client.publish(f"careplug/plugs/{plug}/reading", body, qos=1)
            sent += 1
        time.sleep(0.005)
    client.disconnect()
    client.loop_stop()
    print(json.dumps({"sent": sent, "rate": round(sent / (monotonic() - t0))}), flush=True)


def write_registry(path: Path, load_plugs: int, victims: int) -> None:
    """Load households (medium tier) and victims (high tier, one plug reporting every 1 s)."""
    lines = ["household,plug,timezone,tier,caseworkers,area,appliance,report_period\n"]
    for h in range(load_plugs // 2):
        for p in range(2):
            lines.append(f"hh{h:06d},p{h:06d}-{p},Asia/Seoul,medium,cw-1,a,tv,1h\n")
    for v in range(victims):
        lines.append(f"victim{v:04d},v{v:04d},Asia/Seoul,high,cw-1,a,tv,1s\n")
    path.write_text("".join(lines), encoding="utf-8")


def main() -> None:
    """Run load and victims against the daemon; print latency percentiles."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--victims", type=int, default=80)
    parser.add_argument("--rate", type=int, default=2000, help="ingest load, readings/s")
    parser.add_argument("--load-plugs", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=32.0, help="span of the deadlines")
    parser.add_argument("--tick", default="0.5s")
    parser.add_argument("--lateness", default="1s")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    parser.add_argument("--load-worker", nargs=4, type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    b.exit_on_sigterm()
    if args.load_worker:
        port, rate, seconds, plugs = args.load_worker
        load_worker(int(port), int(rate), seconds, int(plugs))
        return
    figures: dict[str, object] = {
        "victims": args.victims,
        "load_rate": args.rate,
        "load_plugs": args.load_plugs,
        "tick": args.tick,
        "lateness": args.lateness,
        "threshold_s": THRESHOLD_S,
        "load_average_before": b.load_average(),
    }
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as name:
        tmp = args.keep or Path(name)
        tmp.mkdir(parents=True, exist_ok=True)
        write_registry(tmp / "households.csv", args.load_plugs, args.victims)
        with b.mosquitto(tmp) as port, b.victoria_metrics(tmp) as vm_port:
            config = b.write_config(
                tmp,
                port,
                influx_port=vm_port,
                detection=f'tick = "{args.tick}"\nlateness = "{args.lateness}"\n'
                'catch_up_grace = "5s"\ndefault_report_period = "1h"\n',
                tiers='high = "5s"\nmedium = "24h"\nlow = "36h"\n',
            )
            daemon = b.Daemon(config)
            daemon.start()
            try:
                daemon.wait_event("broker_connected", 60)
                figures.update(run(port, args, daemon))
            finally:
                daemon.stop()
    print(json.dumps(figures), flush=True)


def run(port: int, args: argparse.Namespace, daemon: b.Daemon) -> dict[str, object]:
    """Victims and load against a running daemon; the figures."""
    received: dict[str, float] = {}
    lock = threading.Lock()

    def on_message(c: object, u: object, m: object) -> None:
        body = json.loads(m.payload)  # type: ignore[attr-defined]
        alert = body.get("alert", {})
        if body.get("event") == "raised" and alert.get("kind") == "inactivity":
            with lock:
                received.setdefault(alert["household"], b.wall())

    sub = b.paho_client()
    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.subscribe("careplug/alerts/#", qos=1)
    sub.loop_start()
    pub = b.paho_client()
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    # Every household is first evaluated when the catch-up grace ends; a household first seen
    # later is not evaluated again before never_reported_grace (a finding), so every victim
    # reports from the start, switching its appliance on and off every 2 s (activity), until
    # it switches on at its T and keeps a constant load.
    t0 = b.wall() + 0.2
    steps = max(1, int(args.seconds // 4))
    span = 10 + 4 * steps + THRESHOLD_S + 8.0
    load = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--load-worker",
            str(port),
            str(args.rate),
            str(span),
            str(args.load_plugs),
        ],
        stdout=subprocess.PIPE,
    )
    offset = {v: (v * 0.377) % 1.0 for v in range(args.victims)}
    k_act = {v: 10 + 4 * (v % steps) for v in range(args.victims)}
    deadlines = {
        f"victim{v:04d}": t0 + offset[v] + k_act[v] + THRESHOLD_S for v in range(args.victims)
    }
    end = t0 + span
    sent_rounds = dict.fromkeys(range(args.victims), 0)
    while b.wall() < end:
        now = b.wall()
        for v in range(args.victims):
            k = sent_rounds[v]
            at = t0 + offset[v] + k
            if at <= now:
                on = k >= k_act[v] or (k // 2) % 2 == 1
                body = json.dumps(
                    {"device": f"v{v:04d}", "time": round(at, 3), "power_w": 100.0 if on else 1.0}
                )
                pub.publish(f"careplug/plugs/v{v:04d}/reading", body, qos=1)
                sent_rounds[v] = k + 1
        time.sleep(0.01)
    time.sleep(3.0)
    load_out = load.communicate(timeout=60)[0]
    pub.disconnect()
    pub.loop_stop()
    sub.disconnect()
    sub.loop_stop()
    latencies = [received[h] - d for h, d in deadlines.items() if h in received]
    early = [x for x in latencies if x < 0]
    load_figures = json.loads(load_out) if load_out else {}
    return {
        "alerts_received": len(latencies),
        "alerts_missing": args.victims - len(latencies),
        "alerts_early": len(early),
        "latency_p50_s": round(b.percentile(latencies, 0.5), 3),
        "latency_p99_s": round(b.percentile(latencies, 0.99), 3),
        "latency_max_s": round(max(latencies), 3) if latencies else None,
        "load_sent": load_figures.get("sent"),
        "load_rate_achieved": load_figures.get("rate"),
        "target_met_p99_under_2s": bool(latencies) and b.percentile(latencies, 0.99) < 2.0,
    }


if __name__ == "__main__":
    main()
