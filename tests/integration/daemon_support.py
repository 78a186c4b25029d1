"""Run the real daemon as a process against a real broker, and watch what it publishes."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

SRC = str(Path(__file__).resolve().parents[2] / "src")


def one_household(tier: str = "high", area: str | None = None, timezone: str | None = None) -> str:
    """The registry of most daemon tests: hh-1 (caseworker cw-kim) with one TV plug, plug-1,
    reporting every second."""
    lines = ["[[household]]", 'id = "hh-1"', f'tier = "{tier}"', 'caseworkers = ["cw-kim"]']
    if area is not None:
        lines.append(f'area = "{area}"')
    if timezone is not None:
        lines.append(f'timezone = "{timezone}"')
    lines += ["[[household.plug]]", 'id = "plug-1"', 'appliance = "tv"', 'report_period = "1s"']
    return "\n".join(lines) + "\n"


def write_config(
    tmp: Path,
    port: int,
    *,
    tier: str = "high",
    threshold: str = "8s",
    extra: str = "",
    households: str | None = None,
) -> Path:
    """A config with second-scale thresholds so a test sees a whole alert life in seconds."""
    registry = tmp / "households.toml"
    registry.write_text(households or one_household(tier))
    config = tmp / "careplug.toml"
    config.write_text(
        f"""
[mqtt]
host = "127.0.0.1"
port = {port}
client_id = "careplug-test"
reconnect_min = "1s"
reconnect_max = "2s"
[store]
path = "careplug.db"
[registry]
path = "households.toml"
[detection]
tick = "0.2s"
lateness = "0.2s"
default_report_period = "1s"
offline_after_periods = 3
device_offline_grace = "1s"
catch_up_grace = "1s"
[detection.tiers]
high = "{threshold}"
medium = "{threshold}"
low = "{threshold}"
[logging]
format = "json"
level = "debug"
{extra}
"""
    )
    return config


@dataclass
class DaemonProcess:
    """``careplug run`` in a child process, its stderr in a file."""

    config: Path
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ, PYTHONPATH=SRC)
        with open(self.config.parent / "daemon.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "careplug", "run", "--config", str(self.config), *self.args],
                stdout=log,
                stderr=log,
                env=env,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def terminate(self) -> float:
        """SIGTERM; returns how long the shutdown took."""
        assert self.process is not None
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(10)
        return time.monotonic() - began

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in (self.config.parent / "daemon.log").read_text().splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events

    def wait_log(self, event: str, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.log_events():
                if entry.get("event") == event:
                    return entry
            time.sleep(0.1)
        raise AssertionError(
            f"no {event} in the daemon log:\n"
            + (self.config.parent / "daemon.log").read_text()[-3000:]
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, PYTHONPATH=SRC)
        return subprocess.run(
            [sys.executable, "-m", "careplug", *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
            check=False,
        )


class Watcher:
    """An MQTT client that publishes plug readings and collects alert messages."""

    def __init__(self, port: int) -> None:
        self.alerts: queue.Queue[dict[str, Any]] = queue.Queue()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"watcher-{port}", protocol=paho.MQTTv5
        )
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *a: c.subscribe("careplug/alerts/#", qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        self.alerts.put(json.loads(msg.payload))

    def reading(self, plug: str, power: float, at: float | None = None) -> None:
        body: dict[str, Any] = {"power_w": power}
        if at is not None:
            body["time"] = at
        info = self.client.publish(f"careplug/plugs/{plug}/reading", json.dumps(body), qos=1)
        info.wait_for_publish(5)

    def raw(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def next_alert(self, event: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = self.alerts.get(timeout=0.2)
            except queue.Empty:
                continue
            if message.get("event") == event:
                return message
        raise AssertionError(f"no '{event}' alert message within {timeout}s")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def wait_power(store: Path, plug: str, power: float, timeout: float = 30.0) -> None:
    """Poll the daemon's store until the plug's last power is ``power`` (a reading handled)."""
    import sqlite3

    row = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(store) as db:
            row = db.execute("SELECT power_w FROM plugs WHERE plug = ?", (plug,)).fetchone()
        if row == (power,):
            return
        time.sleep(0.2)
    raise AssertionError(f"{plug} power is {row}, not {power}")
