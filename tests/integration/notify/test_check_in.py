"""The check-in before the tier limit, end to end: real `careplug run`, Mosquitto, the console
served by the daemon and an HTTP receiver standing in for the care-call service and the
caseworkers' webhook."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import Mosquitto, free_port
from tests.integration.daemon_support import (
    DaemonProcess,
    Watcher,
    one_household,
    write_config,
)
from tests.integration.notify.conftest import HttpReceiver, Received
from tests.integration.test_daemon import Reporter

pytestmark = pytest.mark.integration

LIMIT_S = 24.0
LEAD_S = 8.0
ANSWER_TIMEOUT_S = 4.0

RECIPIENTS = f"""
[[recipient]]
id = "cw-kim"
role = "caseworker"
channels = [{{ channel = "webhook" }}]

[[self_check]]
household = "hh-1"
channel = "webhook"
timeout = "{ANSWER_TIMEOUT_S:g}s"
"""


def midday_zone() -> str:
    """A fixed-offset zone where it is about noon now: check-ins are asked by day only, and
    this test must not depend on the hour CI runs it."""
    offset = (12 - datetime.now(UTC).hour + 12) % 24 - 12  # hours east of UTC
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"


def wait_for(receiver: HttpReceiver, recipient: str, after: int, timeout: float) -> Received:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for request in receiver.received[after:]:
            if request.json()["recipient"] == recipient:  # type: ignore[index]
                return request
        time.sleep(0.05)
    raise AssertionError(f"nothing for {recipient} within {timeout}s")


def to(receiver: HttpReceiver, recipient: str) -> list[Received]:
    return [r for r in receiver.received if r.json()["recipient"] == recipient]  # type: ignore[index]


def test_resident_answers_the_check_in_and_no_caseworker_is_paged(
    tmp_path: Path, mosquitto: Mosquitto, http_receiver: HttpReceiver
) -> None:
    """Silent: the resident is asked LEAD_S before the limit; the one-tap answer closes the
    alert and restarts the count, so nobody is paged at the limit. The next check-in goes
    unanswered: the caseworker hears when the self-check expires, before the limit."""
    console = free_port()
    (tmp_path / "recipients.toml").write_text(RECIPIENTS)
    extra = (
        '[notify]\nrecipients = "recipients.toml"\n'
        f'[webhook]\nurl = "{http_receiver.url("/hook")}"\n'
        f'[console]\nenabled = true\nport = {console}\npublic_url = "http://127.0.0.1:{console}"\n'
        'self_check_secret = "check-in-secret-0123456789"\n'
    )
    config = write_config(
        tmp_path,
        mosquitto.port,
        threshold=f"{LIMIT_S:g}s",
        households=one_household(timezone=midday_zone()),
        extra=extra,
    )
    text = config.read_text()
    config.write_text(
        text.replace("[detection]\n", f'[detection]\ncheck_in_before = "{LEAD_S:g}s"\n')
    )
    daemon = DaemonProcess(config)
    daemon.start()
    watcher = Watcher(mosquitto.port)
    reporter = None
    try:
        daemon.wait_log("console_started")
        watcher.reading("plug-1", 0.5)
        watcher.reading("plug-1", 120.0)  # switched on: a sign of life
        watcher.reading("plug-1", 0.5)
        began = time.time()
        reporter = Reporter(watcher, 0.5)  # online, standby only

        raised = watcher.next_alert("raised", timeout=LIMIT_S)["alert"]
        assert raised["severity"] == "warning"
        asked = wait_for(http_receiver, "resident:hh-1", 0, 10)
        assert LIMIT_S - LEAD_S - 1 <= asked.at - began < LIMIT_S - 2
        link = re.search(r"/fine/([0-9a-f]+)", asked.body.decode())
        assert link is not None, asked.body
        answered = httpx.post(f"http://127.0.0.1:{console}/fine/{link.group(1)}", timeout=10)
        assert answered.status_code == 200
        answered_at = time.time()
        resolved = watcher.next_alert("resolved", timeout=10)["alert"]
        assert resolved["id"] == raised["id"] and resolved["outcome"] == "resident_ok"

        # past the first limit: no critical, nobody paged
        while time.time() < began + LIMIT_S + 2:
            time.sleep(0.2)
        assert to(http_receiver, "cw-kim") == []

        # the count restarted at the answer: asked again LEAD_S before the new limit
        before = len(http_receiver.received)
        again = wait_for(http_receiver, "resident:hh-1", before, LIMIT_S)
        assert again.at - answered_at >= LIMIT_S - LEAD_S - 1
        # unanswered: the caseworker is paged when the self-check expires, before the limit
        paged = wait_for(http_receiver, "cw-kim", before, ANSWER_TIMEOUT_S + 6)
        assert paged.at - again.at >= ANSWER_TIMEOUT_S - 0.5
        assert paged.at < answered_at + LIMIT_S
    finally:
        if reporter:
            reporter.close()
        watcher.close()
        daemon.kill()
