"""Issue 7's storm test: a third of an area's plugs going offline at once is one
``area_outage`` incident, not a storm of per-household alerts (real Mosquitto, real daemon)."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Mosquitto
from tests.integration.daemon_support import DaemonProcess, Watcher, wait_power, write_config

pytestmark = pytest.mark.integration

HOUSEHOLDS = 30
DOWN = 12  # 40 % of the area, above the 30 % share and the 5-plug minimum


def registry() -> str:
    return "".join(
        f'[[household]]\nid = "hh-{i:02d}"\ntier = "high"\narea = "gangnam"\n'
        f'[[household.plug]]\nid = "plug-{i:02d}"\nappliance = "tv"\nreport_period = "1s"\n'
        for i in range(HOUSEHOLDS)
    )


class Plugs:
    """Every plug of the area in one background thread, each reporting standby twice a second
    while it is up."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher
        self.up = {f"plug-{i:02d}" for i in range(HOUSEHOLDS)}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                up = sorted(self.up)
            for plug in up:
                self.watcher.reading(plug, 0.5)
            self.stop.wait(0.5)

    def set_up(self, plugs: set[str], up: bool) -> None:
        with self.lock:
            if up:
                self.up |= plugs
            else:
                self.up -= plugs

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


@pytest.fixture
def watcher(mosquitto: Mosquitto) -> Iterator[Watcher]:
    w = Watcher(mosquitto.port)
    try:
        yield w
    finally:
        w.close()


def drain(watcher: Watcher, seconds: float) -> list[dict[str, Any]]:
    """Every alert message published within ``seconds``."""
    out: list[dict[str, Any]] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            out.append(watcher.alerts.get(timeout=0.1))
        except queue.Empty:
            continue
    return out


def kinds(messages: list[dict[str, Any]], event: str) -> list[str]:
    return [m["alert"]["kind"] for m in messages if m["event"] == event]


def test_a_third_of_an_area_going_offline_is_one_area_outage(
    mosquitto: Mosquitto, watcher: Watcher, tmp_path: Path
) -> None:
    config = write_config(tmp_path, mosquitto.port, threshold="10m", households=registry())
    daemon = DaemonProcess(config)
    daemon.start()
    plugs = Plugs(watcher)
    try:
        daemon.wait_log("broker_connected")
        wait_power(tmp_path / "careplug.db", f"plug-{HOUSEHOLDS - 1:02d}", 0.5)
        time.sleep(2.0)  # past the catch-up grace, every plug seen
        settled = drain(watcher, 1.0)
        assert settled == [], settled

        # a power cut: 12 plugs of the area drop their connection within one second
        down = {f"plug-{i:02d}" for i in range(DOWN)}
        plugs.set_up(down, up=False)
        began = time.monotonic()
        for plug in sorted(down):
            watcher.raw(f"careplug/plugs/{plug}/status", b"offline")
        assert time.monotonic() - began < 1.0

        # 8 s: past the offline grace (1 s) and the missed-reports limit (3 s) many times over
        during = drain(watcher, 8.0)
        raised = [m for m in during if m["event"] == "raised"]
        assert [m["alert"]["kind"] for m in raised] == ["area_outage"], during
        outage = raised[0]["alert"]
        assert outage["household"] == "area:gangnam"
        assert outage["details"]["area"] == "gangnam"
        assert outage["details"]["plugs"] >= 9  # 30 % of 30
        assert outage["details"]["households"] == outage["details"]["plugs"]

        # power back: the plugs reconnect and report again
        for plug in sorted(down):
            watcher.raw(f"careplug/plugs/{plug}/status", b"online")
        plugs.set_up(down, up=True)
        after = drain(watcher, 5.0)
        assert kinds(after, "resolved") == ["area_outage"], after
        assert kinds(after, "raised") == [], after
        resolved = next(m for m in after if m["event"] == "resolved")
        assert resolved["alert"]["id"] == outage["id"]
        assert resolved["alert"]["outcome"] == "device_back_online"
    finally:
        plugs.close()
        daemon.terminate()

    listed = daemon.cli("alerts", "list", "--json")
    if listed.returncode == 0 and listed.stdout.strip():
        stored = json.loads(listed.stdout)
        assert [a["kind"] for a in stored] in ([], ["area_outage"])
