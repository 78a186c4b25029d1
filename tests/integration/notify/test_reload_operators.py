"""After a reload (SIGHUP), dead-letter notices go to the operators of the new recipients
file, not those of start-up (the daemon in process, real Mosquitto, real HTTP receiver)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from careplug.app import reload, start_daemon
from careplug.ports import Notification
from careplug.settings import load_settings
from tests.conftest import Mosquitto
from tests.integration.daemon_support import write_config
from tests.integration.notify.conftest import HttpReceiver

pytestmark = pytest.mark.integration

RECIPIENTS = """
[[recipient]]
id = "cw-kim"
role = "caseworker"
channels = [{{ channel = "webhook" }}]

[[recipient]]
id = "{operator}"
role = "operator"
locale = "en"
channels = [{{ channel = "webhook" }}]
"""


def dead_notices(receiver: HttpReceiver, key: str, timeout: float = 10.0) -> list[str]:
    """Recipients of the dead-letter notices about ``key`` once at least one arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [
            str(r.json()["recipient"])  # type: ignore[index]
            for r in receiver.received
            if r.headers.get("Idempotency-Key") == f"{key}:dead"
        ]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no dead-letter notice about {key}")


def test_dead_letter_notice_follows_the_reloaded_recipients(
    tmp_path: Path, mosquitto: Mosquitto, http_receiver: HttpReceiver
) -> None:
    """ops-old is told before the reload; ops-new (only) after it."""
    recipients = tmp_path / "recipients.toml"
    recipients.write_text(RECIPIENTS.format(operator="ops-old"))
    extra = (
        '[notify]\nrecipients = "recipients.toml"\n'
        f'[webhook]\nurl = "{http_receiver.url("/hook")}"\n'
    )
    config = write_config(tmp_path, mosquitto.port, extra=extra)
    daemon = start_daemon(load_settings(config), config_path=config)
    try:

        def fail_once(key: str) -> None:
            # an SMS channel nobody configured: a permanent failure, so a dead letter at once
            note = Notification(key, "sms", "cw-kim", "s", "t")
            daemon.store.enqueue([note], time.time())
            daemon.delivery.wake()

        fail_once("before-reload")
        assert dead_notices(http_receiver, "before-reload") == ["ops-old"]

        recipients.write_text(RECIPIENTS.format(operator="ops-new"))
        assert reload(daemon)
        fail_once("after-reload")
        assert dead_notices(http_receiver, "after-reload") == ["ops-new"]
    finally:
        daemon.stop()
