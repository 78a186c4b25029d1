"""Shared helpers for the benchmark scripts: real services on free loopback ports.

Not a test module (pytest collects ``test_*.py`` only); every helper starts a real process
(Mosquitto, VictoriaMetrics, ``careplug run``, Node-RED) and stops it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from careplug.clock import SystemClock, monotonic

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
VICTORIA = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"
READING_TOPIC = "careplug/plugs/+/reading"


def wall() -> float:
    """Wall-clock epoch seconds (through careplug's one clock seam)."""
    return SystemClock().now()


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so every started service is stopped on the way out."""

    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, _exit)


def log(msg: str) -> None:
    """Progress on stderr (stdout carries only the final JSON object)."""
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 15.0) -> None:
    """Wait until something listens on ``port``."""
    deadline = monotonic() + timeout
    while monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds used so far by ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pid_with_argument(fragment: str) -> int | None:
    """The process whose command line has an argument containing ``fragment`` (a broker's
    config file, a server's listen address): to measure the CPU it spends."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(fragment.encode() in arg for arg in args[1:]):
            return int(entry.name)
    return None


def load_average() -> float:
    """The 1-minute load average (other work on the machine skews absolute figures)."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it does not exit in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def mosquitto(tmp: Path) -> Iterator[int]:
    """A Mosquitto without queue or in-flight limits; yields its port."""
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_inflight_messages 0\nmax_queued_bytes 0\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield port
    finally:
        stop_process(proc)


@contextlib.contextmanager
def victoria_metrics(tmp: Path) -> Iterator[int]:
    """VictoriaMetrics (the InfluxDB write API on /write); yields its HTTP port."""
    if not Path(VICTORIA).exists():
        raise RuntimeError("victoria-metrics is missing: apt-get install -y victoria-metrics")
    port = free_port()
    data = tmp / "vm-data"
    proc = subprocess.Popen(
        [
            VICTORIA,
            f"-httpListenAddr=127.0.0.1:{port}",
            f"-storageDataPath={data}",
            "-search.latencyOffset=0s",
            "-loggerLevel=ERROR",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        yield port
    finally:
        stop_process(proc)


def vm_count(port: int, metric: str, window_s: int) -> int:
    """Samples of ``metric`` stored in VictoriaMetrics over the last ``window_s`` seconds."""
    urllib.request.urlopen(f"http://127.0.0.1:{port}/internal/force_flush", timeout=10).read()
    query = urllib.parse.quote(f"sum(count_over_time({metric}[{window_s}s]))")
    url = f"http://127.0.0.1:{port}/api/v1/query?query={query}&time={wall() + 60:.0f}"
    body = json.loads(urllib.request.urlopen(url, timeout=30).read())
    result = body["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def write_registry(
    path: Path, households: int, plugs_per: int = 2, tier: str = "medium"
) -> list[str]:
    """A CSV registry of ``households`` × ``plugs_per`` plugs; the plug ids in order."""
    plugs: list[str] = []
    lines = ["household,plug,timezone,tier,caseworkers,area,appliance\n"]
    appliances = ("tv", "kettle", "rice_cooker")
    for h in range(households):
        for p in range(plugs_per):
            plug = f"p{h:06d}-{p}"
            plugs.append(plug)
            lines.append(
                f"hh{h:06d},{plug},Asia/Seoul,{tier},cw-{h % 50},area-{h % 20},"
                f"{appliances[p % len(appliances)]}\n"
            )
    path.write_text("".join(lines), encoding="utf-8")
    return plugs


def write_config(
    tmp: Path,
    mqtt_port: int,
    *,
    influx_port: int | None = None,
    http_port: int | None = None,
    client_id: str = "careplug-bench",
    detection: str = "",
    tiers: str = "",
    level: str = "info",
    protocol: str = "5",
) -> Path:
    """A daemon config in ``tmp`` (registry ``households.csv``, store ``careplug.db``)."""
    influx = (
        f'[influx]\nurl = "http://127.0.0.1:{influx_port}"\ntoken = "x"\n'
        "max_points = 1000000\nbatch_size = 5000\n"
        if influx_port
        else ""
    )
    http = f"[http]\nenabled = true\nport = {http_port}\n" if http_port else ""
    config = tmp / "careplug.toml"
    config.write_text(
        f"""
[mqtt]
host = "127.0.0.1"
port = {mqtt_port}
client_id = "{client_id}"
protocol = "{protocol}"
max_clock_skew = "2h"
[store]
path = "careplug.db"
[registry]
path = "households.csv"
[detection]
{detection}
[detection.tiers]
{tiers}
{influx}
{http}
[logging]
format = "json"
level = "{level}"
""",
        encoding="utf-8",
    )
    return config


@dataclass
class Daemon:
    """``careplug run`` as a child process, its JSON log in a file."""

    config: Path
    clock: str = "system"
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)
    started_at: float = 0.0
    _offset: int = 0
    _seen: list[dict[str, object]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.log_path = self.config.parent / "careplug.log"

    def start(self) -> None:
        """Start the process (monotonic start time in ``started_at``)."""
        env = dict(os.environ)
        handle = self.log_path.open("ab")
        self._offset = self.log_path.stat().st_size
        self.started_at = monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "careplug", "run", "--config", str(self.config)]
            + (["--clock", self.clock] if self.clock != "system" else []),
            stdout=handle,
            stderr=handle,
            env=env,
        )
        handle.close()

    def events(self) -> list[dict[str, object]]:
        """Log events written since the last call."""
        with self.log_path.open("rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        out = []
        for line in data[:end].splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        self._seen.extend(out)
        return out

    def wait_event(self, name: str, timeout: float = 60.0) -> float:
        """Wait for log event ``name``; the monotonic time it was seen (polled every 10 ms)."""
        deadline = monotonic() + timeout
        if any(e.get("event") == name for e in self._seen):
            return monotonic()
        while monotonic() < deadline:
            if any(e.get("event") == name for e in self.events()):
                return monotonic()
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"careplug exited ({self.proc.returncode}); see {self.log_path}")
            time.sleep(0.01)
        raise RuntimeError(f"no {name} in {timeout} s; see {self.log_path}")

    def stop(self) -> None:
        """SIGTERM (orderly shutdown)."""
        if self.proc is not None:
            stop_process(self.proc, 15)

    def kill(self) -> None:
        """SIGKILL: nothing more is acknowledged."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)


def plug_times(db: Path) -> dict[str, float]:
    """Every plug's committed ``last_reading_at`` in the daemon's store."""
    if not db.exists():
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = con.execute(
            "SELECT plug, last_reading_at FROM plugs WHERE last_reading_at IS NOT NULL"
        ).fetchall()
    except sqlite3.Error:
        return {}
    finally:
        con.close()
    return {str(p): float(t) for p, t in rows}


def paho_client(client_id: str = "", v5: bool = False) -> paho.Client:
    """A paho 2.x client (MQTT 3.1.1 or 5)."""
    if v5:
        return paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    return paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho.MQTTv311,
        clean_session=not client_id,
    )


def make_session(port: int, client_id: str, topic: str, v5: bool = False) -> None:
    """Create a persistent QoS 1 session for ``client_id`` so the broker queues for it."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    client = paho_client(client_id, v5)
    done = {"sub": False}
    client.on_subscribe = lambda *a: done.__setitem__("sub", True)
    if v5:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        client.connect("127.0.0.1", port, clean_start=False, properties=props)
    else:
        client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe(topic, qos=1)
    deadline = monotonic() + 10
    while not done["sub"] and monotonic() < deadline:
        time.sleep(0.01)
    client.disconnect()
    client.loop_stop()
    if not done["sub"]:
        raise RuntimeError(f"could not subscribe {client_id}")


def publish_all(port: int, messages: list[tuple[str, bytes]], qos: int = 1) -> float:
    """Publish every message and wait for the broker's acks; the seconds it took."""
    client = paho_client()
    # a wide window, but QoS 1 has only 65,535 message ids for everything not yet acked
    # (paho's in-flight accounting scans every outstanding message per PUBACK, so its own
    # window is left unlimited and this loop keeps the count below the ids instead)
    window = 30_000
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)
    acked = {"n": 0}
    client.on_publish = lambda *a: acked.__setitem__("n", acked["n"] + 1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    t0 = monotonic()
    for sent, (topic, payload) in enumerate(messages):
        while sent - acked["n"] >= window:
            time.sleep(0.001)
        client.publish(topic, payload, qos=qos)
    deadline = monotonic() + 600
    while acked["n"] < len(messages) and monotonic() < deadline:
        time.sleep(0.005)
    seconds = monotonic() - t0
    client.disconnect()
    client.loop_stop()
    return seconds


def count_redelivered(port: int, client_id: str, seconds: float = 2.0) -> int:
    """Reconnect as ``client_id`` (MQTT 5, session kept) and count what the broker redelivers:
    messages it sent before and never got a PUBACK for, plus anything still queued."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    got = {"n": 0}
    client = paho_client(client_id, v5=True)
    client.on_message = lambda c, u, m: got.__setitem__("n", got["n"] + 1)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    time.sleep(seconds)
    client.disconnect()
    client.loop_stop()
    return got["n"]


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


class Profiler:
    """py-spy attached to a pid: a flame graph and the top functions by own time."""

    def __init__(self, pid: int, out_dir: Path, seconds: float) -> None:
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.raw = out_dir / "ingest.collapsed.txt"
        self.proc = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(int(seconds)),
                "--rate",
                "200",
                "--threads",
                "--gil",
                "--format",
                "raw",
                "-o",
                str(self.raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def finish(self, top: int = 15) -> dict[str, object]:
        """Wait for py-spy; own-time and inclusive shares of the hottest functions."""
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(30)
        if not self.raw.exists():
            return {"error": "py-spy wrote nothing (ptrace not permitted?)"}
        own: dict[str, int] = {}
        inclusive: dict[str, int] = {}
        threads: dict[str, int] = {}
        total = 0
        for line in self.raw.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack:
                continue
            n = int(count_text)
            total += n
            frames = stack.split(";")
            threads[frames[0]] = threads.get(frames[0], 0) + n
            names = [_short(f) for f in frames[1:]]
            if names:
                own[names[-1]] = own.get(names[-1], 0) + n
            for name in set(names):
                inclusive[name] = inclusive.get(name, 0) + n

        def share(table: dict[str, int]) -> dict[str, float]:
            best = sorted(table.items(), key=lambda kv: -kv[1])[:top]
            return {k: round(100 * v / max(1, total), 1) for k, v in best}

        return {
            "samples": total,
            "threads_pct": share(threads),
            "own_time_pct": share(own),
            "inclusive_pct": share(inclusive),
            "collapsed": str(self.raw),
        }


def _short(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)"
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    parts = Path(path).parts
    tail = "/".join(parts[-2:]) if parts else path
    return f"{name} ({tail})"


def learnt_routines() -> list[bytes]:
    """Three households' routines after two months (snapshots, as the store keeps them)."""
    from careplug.domain.routine import HOUR, Routine

    patterns = (
        ((7, 2.0), (10, 1.5), (13, 3.0), (22, 9.0)),
        ((8, 1.0), (12, 2.5), (15, 4.0), (21, 10.0)),
        ((6, 3.0), (11, 1.0), (14, 2.0), (19, 1.5), (23, 7.5)),
    )
    blobs = []
    for pattern in patterns:
        routine = Routine()
        for day in range(60):
            weekend = day % 7 >= 5
            for hour, length in pattern:
                jitter = 1 + 0.15 * ((day * 7 + hour) % 5 - 2)
                routine.observe((hour + day % 3 - 1) % 24, weekend, length * HOUR * jitter)
        blobs.append(routine.to_bytes())
    return blobs
