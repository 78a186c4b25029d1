"""The console served by the daemon: a caseworker sees the activity the daemon detected and
acknowledges the alert through the API; the daemon follows and announces it."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Mosquitto, free_port
from tests.integration.daemon_support import SRC, DaemonProcess, Watcher, write_config
from tests.integration.test_daemon import Reporter

pytestmark = pytest.mark.integration

HOUSEHOLDS = """
[[household]]
id = "hh-1"
tier = "high"
caseworkers = ["cw-kim"]
  [[household.plug]]
  id = "plug-1"
  appliance = "tv"
  report_period = "1s"
[[household]]
id = "hh-2"
caseworkers = ["cw-lee"]
  [[household.plug]]
  id = "plug-2"
"""


def api(
    port: int, method: str, path: str, token: str | None = None, body: dict[str, Any] | None = None
) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def test_caseworker_acknowledges_in_the_console_served_by_the_daemon(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """Activity strips filled by the daemon, only own households, ack announced on MQTT."""
    port = free_port()
    config = write_config(
        tmp_path,
        mosquitto.port,
        threshold="3s",
        households=HOUSEHOLDS,
        extra=f"[console]\nenabled = true\nport = {port}\n",
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "careplug",
            "users",
            "add",
            "cw-kim",
            "--password-stdin",
            "--config",
            str(config),
        ],
        input="correct horse battery\n",
        text=True,
        check=True,
        capture_output=True,
        env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"},
    )
    daemon = DaemonProcess(config)
    daemon.start()
    watcher = Watcher(mosquitto.port)
    reporter = None
    try:
        daemon.wait_log("console_started")
        watcher.reading("plug-1", 0.5)
        watcher.reading("plug-1", 120.0)  # switched on: activity
        reporter = Reporter(watcher, 120.0)
        raised = watcher.next_alert("raised")["alert"]
        token = api(
            port,
            "POST",
            "/api/v1/session",
            body={"username": "cw-kim", "password": "correct horse battery"},
        )["token"]
        households = api(port, "GET", "/api/v1/households", token)
        assert [h["id"] for h in households] == ["hh-1"]  # not cw-lee's hh-2
        detail = api(port, "GET", "/api/v1/households/hh-1", token)
        assert detail["status"] == "critical"
        assert sum(cell["count"] for cell in detail["strip_24h"]) >= 1
        acked = api(
            port, "POST", f"/api/v1/alerts/{raised['id']}/acknowledge", token, {"note": "calling"}
        )
        assert acked["state"] == "acknowledged"
        announced = watcher.next_alert("acknowledged")
        assert announced["actor"] == "cw-kim"
        # the resident turns out to be in hospital: an away period closes the alert and
        # stops inactivity alerts until the expected return
        away = api(port, "POST", "/api/v1/households/hh-1/away", token, {"note": "hospital"})
        assert away["household"] == "hh-1"
        closed = watcher.next_alert("resolved")
        assert closed["alert"]["outcome"] == "away"
        assert daemon.wait_log("away_period_followed")["household_id"] == "hh-1"
        try:
            api(port, "GET", "/api/v1/households/hh-2", token)
            raise AssertionError("cw-kim read another caseworker's household")
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
    finally:
        if reporter:
            reporter.close()
        watcher.close()
        daemon.kill()
