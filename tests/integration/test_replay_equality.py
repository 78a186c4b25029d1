"""The same recorded traffic replayed at 1x and at 1000x gives the same alerts at the same
event times (daemon on `--clock replay`, simulator's `careplug-sim replay`, real Mosquitto)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import Mosquitto
from tests.integration.daemon_support import DaemonProcess, write_config

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
T0 = 1_767_225_600  # 2026-01-01T00:00:00Z

REGISTRY = """
[[household]]
id = "hh-1"
tier = "high"
  [[household.plug]]
  id = "p1"
  appliance = "kettle"
  report_period = "2s"
[[household]]
id = "hh-2"
tier = "high"
  [[household.plug]]
  id = "p2"
  appliance = "tv"
  report_period = "2s"
"""


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def traffic(path: Path) -> None:
    """40 s of two plugs: hh-1 is used, goes quiet past 12 s, comes back; hh-2's plug dies."""
    lines = []

    def reading(t: float, plug: str, power: float) -> None:
        payload = json.dumps({"time": _stamp(t), "power_w": power})
        lines.append(
            {
                "time": _stamp(t),
                "topic": f"careplug/plugs/{plug}/reading",
                "payload": payload,
                "qos": 1,
                "retain": False,
            }
        )

    for k in range(0, 21):
        t = T0 + 2 * k
        p1 = 1500.0 if 2 <= k <= 3 or k == 16 else 0.5  # used at 4-6 s; again at 32 s
        reading(t, "p1", p1)
        if k <= 6:
            reading(t + 1, "p2", 0.8 if k % 2 else 90.0)  # p2 silent after 13 s
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")


def run_replay(tmp: Path, port: int, traffic_file: Path, speed: str) -> list[dict]:
    extra = "\n"
    config = write_config(tmp, port, threshold="12s", households=REGISTRY, extra=extra)
    text = (
        config.read_text()
        .replace('tick = "0.2s"', 'tick = "1s"')
        .replace('client_id = "careplug-test"', f'client_id = "careplug-replay-{speed}"')
        .replace('device_offline_grace = "1s"', 'device_offline_grace = "2s"')
        .replace('catch_up_grace = "1s"', 'catch_up_grace = "0s"')
    )
    config.write_text(text)
    daemon = DaemonProcess(config, args=["--clock", "replay"])
    daemon.start()
    try:
        daemon.wait_log("broker_connected")
        time.sleep(0.5)  # the subscription is in place
        env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}:{ROOT / 'simulators'}")
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from careplug_sim.cli import main; sys.exit(main(sys.argv[1:]))",
                "replay",
                str(traffic_file),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--speed",
                speed,
                "--clock-interval",
                "1",
            ],
            check=True,
            env=env,
            timeout=120,
            capture_output=True,
        )
        previous = None
        for _ in range(40):  # until the alert list is stable
            time.sleep(0.5)
            listed = daemon.cli("alerts", "list", "--all", "--json")
            current = json.loads(listed.stdout)
            if current and current == previous:
                return current
            previous = current
        raise AssertionError(f"alerts never settled: {previous}")
    finally:
        daemon.kill()


def test_1x_and_1000x_replays_raise_the_same_alerts(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Same alerts, same event times, whatever the replay speed."""
    traffic_file = tmp_path / "traffic.jsonl"
    traffic(traffic_file)
    (tmp_path / "fast").mkdir()
    (tmp_path / "slow").mkdir()
    fast = run_replay(tmp_path / "fast", mosquitto.port, traffic_file, "1000")
    slow = run_replay(tmp_path / "slow", mosquitto.port, traffic_file, "1")

    def key(alerts: list[dict]) -> list[tuple]:
        return sorted(
            (a["id"], a["kind"], a["severity"], a["raised_at"], a["resolved_at"], a["outcome"])
            for a in alerts
        )

    assert key(fast) == key(slow)
    kinds = {(a["household"], a["kind"]) for a in fast}
    assert kinds == {("hh-1", "inactivity"), ("hh-2", "device_offline")}
    inactivity = next(a for a in fast if a["kind"] == "inactivity")
    assert inactivity["since"] == _stamp(T0 + 8)  # switched off at 8 s
    assert inactivity["raised_at"] == _stamp(T0 + 20)  # 12 s later, at its event time
    assert inactivity["resolved_at"] == _stamp(T0 + 32)  # the kettle again
