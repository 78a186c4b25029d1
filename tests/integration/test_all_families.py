"""Contract test: the daemon accepts everything the simulator emits, for every firmware family,
over a real Mosquitto (native, Tasmota, Shelly Gen1, Shelly Gen2+, Zigbee2MQTT, ESPHome)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from careplug.registry import load_registry
from tests.conftest import Mosquitto
from tests.integration.daemon_support import DaemonProcess, write_config

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
FAMILIES = ["native", "tasmota", "shelly_gen1", "shelly_gen2", "zigbee2mqtt", "esphome"]


def sim(*args: str) -> None:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}:{ROOT / 'simulators'}")
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from careplug_sim.cli import main; sys.exit(main(sys.argv[1:]))",
            *args,
        ],
        check=True,
        env=env,
        timeout=180,
        capture_output=True,
    )


def test_daemon_handles_every_family_the_simulator_emits(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """Every enrolled plug of every family gets readings; nothing rejected, nothing unassigned."""
    out = tmp_path / "sim"
    family_args = [arg for family in FAMILIES for arg in ("--family", family)]
    sim(
        "record",
        "--out",
        str(out),
        "--households",
        "12",
        "--days",
        "0.3",
        "--seed",
        "3",
        # this seed's draw gives every family a household (the families are drawn per home)
        "--plug-choice",
        "any",
        *family_args,
    )
    households = (out / "households.toml").read_text()
    config = write_config(tmp_path, mosquitto.port, threshold="24h", households=households)
    config.write_text(
        config.read_text()
        .replace(
            'client_id = "careplug-test"',
            'client_id = "careplug-families"\nformats = ["native", "tasmota", "shelly", "shelly2", '
            '"zigbee2mqtt", "esphome"]',
        )
        .replace('level = "debug"', 'level = "info"')
    )
    daemon = DaemonProcess(config, args=["--clock", "replay"])
    daemon.start()
    try:
        daemon.wait_log("broker_connected")
        time.sleep(0.5)
        sim(
            "replay",
            str(out / "traffic.jsonl"),
            "--host",
            "127.0.0.1",
            "--port",
            str(mosquitto.port),
            "--speed",
            "0",
        )
        enrolled = {p.id for h in load_registry(out / "households.toml") for p in h.plugs}
        assert len(enrolled) >= 12
        deadline = time.monotonic() + 60
        seen: set[str] = set()
        while time.monotonic() < deadline:
            with sqlite3.connect(tmp_path / "careplug.db") as db:
                seen = {
                    row[0]
                    for row in db.execute(
                        "SELECT plug FROM plugs WHERE last_reading_at IS NOT NULL"
                    )
                }
            if seen >= enrolled:
                break
            time.sleep(0.5)
        assert enrolled - seen == set()
        events = daemon.log_events()
        assert not [e for e in events if e.get("event") == "message_rejected"]
        assert not [e for e in events if e.get("event") == "unassigned_device_seen"]
        prefixes = {p.split("-")[0] for p in enrolled}
        assert {"plug", "tasmota", "shellyplug", "shellyplusplugs", "esphome"} <= prefixes
    finally:
        daemon.kill()
