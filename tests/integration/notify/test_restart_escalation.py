"""Restart in the middle of an escalation: the ladder keeps its original times and nothing
already delivered is sent again (real `careplug run`, Mosquitto, HTTP webhook receiver)."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import Mosquitto
from tests.integration.daemon_support import DaemonProcess, Watcher, one_household, write_config
from tests.integration.notify.conftest import HttpReceiver, Received
from tests.integration.test_daemon import Reporter

pytestmark = pytest.mark.integration

ACK_TIMEOUT_S = 12.0  # long enough to tell "kept its time" from "restarted from zero" under load

RECIPIENTS = f"""
[[recipient]]
id = "cw-kim"
role = "caseworker"
channels = [{{ channel = "webhook" }}]

[[recipient]]
id = "lead-choi"
role = "team_lead"
locale = "en"
channels = [{{ channel = "webhook" }}]

[[team]]
area = "a1"
members = ["cw-kim", "lead-choi"]

[[escalation]]
severity = "critical"
ack_timeout = "{ACK_TIMEOUT_S:g}s"
levels = ["team_lead"]
"""


def keyed(receiver: HttpReceiver, suffix: str) -> list[Received]:
    """Requests whose Idempotency-Key ends with ``suffix`` (one recipient and channel)."""
    return [r for r in receiver.received if r.headers.get("Idempotency-Key", "").endswith(suffix)]


def wait_keyed(receiver: HttpReceiver, suffix: str, timeout: float) -> Received:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = keyed(receiver, suffix)
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no webhook with a key ending {suffix!r} within {timeout}s")


def wait_delivered(db: Path, key: str, timeout: float = 10.0) -> None:
    """Poll the outbox until ``key`` is marked delivered (so a kill cannot undo it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            row = conn.execute("SELECT delivered_at FROM outbox WHERE key = ?", (key,)).fetchone()
        if row is not None and row[0] is not None:
            return
        time.sleep(0.05)
    raise AssertionError(f"{key} not marked delivered")


def test_kill_mid_escalation_keeps_the_ladder_time_and_sends_nothing_twice(
    tmp_path: Path, mosquitto: Mosquitto, http_receiver: HttpReceiver
) -> None:
    """Raised → caseworker; SIGKILL and restart before ack_timeout; the team lead is told at
    raised_at + ack_timeout (not restart + ack_timeout), and no key arrives twice."""
    (tmp_path / "recipients.toml").write_text(RECIPIENTS)
    extra = (
        '[notify]\nrecipients = "recipients.toml"\n'
        f'[webhook]\nurl = "{http_receiver.url("/hook")}"\n'
        '[delivery]\nretry_base = "0.5s"\nretry_max = "1s"\n'
    )
    config = write_config(
        tmp_path, mosquitto.port, threshold="3s", households=one_household(area="a1"), extra=extra
    )
    daemon = DaemonProcess(config)
    daemon.start()
    watcher = Watcher(mosquitto.port)
    reporter = None
    try:
        daemon.wait_log("broker_connected")
        watcher.reading("plug-1", 0.5)
        reporter = Reporter(watcher, 0.5)  # online, but no sign of life
        raised = watcher.next_alert("raised")["alert"]
        assert raised["severity"] == "critical"
        raised_at = datetime.fromisoformat(raised["raised_at"]).timestamp()
        first_key = f"{raised['id']}:0:cw-kim:webhook"
        wait_keyed(http_receiver, ":0:cw-kim:webhook", timeout=10)
        wait_delivered(tmp_path / "careplug.db", first_key)
        # halfway up the ladder: a restart that counted from zero would be clearly late
        while time.time() < raised_at + ACK_TIMEOUT_S / 2:
            assert not keyed(http_receiver, ":1:lead-choi:webhook")
            time.sleep(0.05)
        daemon.kill()
        killed_at = time.time()
        assert killed_at < raised_at + ACK_TIMEOUT_S - 4, "too slow to test a restart"
        daemon.start()
        restarted_at = time.time()

        lead = wait_keyed(http_receiver, ":1:lead-choi:webhook", timeout=ACK_TIMEOUT_S + 15)
        # the ladder kept its stored start: due at raised_at + ack_timeout, not counted again
        # from the restart (raised_at has whole seconds, hence the one-second slack)
        assert lead.at >= raised_at + ACK_TIMEOUT_S - 1.0
        assert lead.at < restarted_at + ACK_TIMEOUT_S - 2.0
        assert lead.at < raised_at + ACK_TIMEOUT_S + 3.0
        assert lead.json()["event"] == "escalated"  # type: ignore[index]

        time.sleep(1.0)  # let anything a restart might resend arrive
        keys = Counter(
            (r.headers["Idempotency-Key"], r.json()["recipient"])  # type: ignore[index]
            for r in http_receiver.received
        )
        assert [k for k, n in keys.items() if n > 1] == []
        assert keys[(first_key, "cw-kim")] == 1
        assert daemon.wait_log("daemon_started")
    finally:
        if reporter:
            reporter.close()
        watcher.close()
        daemon.kill()
