"""Faults around the daemon: a notification channel down then up."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import Mosquitto, free_port
from tests.integration.daemon_support import DaemonProcess, Watcher, write_config
from tests.integration.test_daemon import HookReceiver, Reporter

pytestmark = pytest.mark.integration


def test_webhook_down_then_up_delivers_each_step_once(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Alerts raised while the receiver is down are retried and arrive exactly once after."""
    port = free_port()
    extra = (
        f'[webhook]\nurl = "http://127.0.0.1:{port}/hook"\n'
        '[delivery]\nretry_base = "0.3s"\nretry_max = "1s"\n'
    )
    daemon = DaemonProcess(write_config(tmp_path, mosquitto.port, threshold="2s", extra=extra))
    daemon.start()
    watcher = Watcher(mosquitto.port)
    reporter = None
    hook = None
    try:
        daemon.wait_log("broker_connected")
        watcher.reading("plug-1", 0.5)
        reporter = Reporter(watcher, 0.5)
        alert = watcher.next_alert("raised")["alert"]
        time.sleep(3.0)  # several attempts fail: connection refused
        failures = [e for e in daemon.log_events() if e.get("event") == "outbox_retry_scheduled"]
        assert len(failures) >= 2
        assert all(e["channel"] == "webhook" for e in failures)
        hook = HookReceiver(port)
        body, _, _ = hook.next("raised")
        assert body["alert"]["id"] == alert["id"]
        time.sleep(3.0)
        later = []
        while not hook.received.empty():
            later.append(hook.received.get()[0])
        assert [b for b in later if b.get("event") == "raised"] == []  # once, not again
        delivered = [
            e
            for e in daemon.log_events()
            if e.get("event") == "outbox_delivered" and e["channel"] == "webhook"
        ]
        assert [e["key"] for e in delivered] == [f"{alert['id']}:raised"]
    finally:
        if reporter:
            reporter.close()
        if hook:
            hook.close()
        watcher.close()
        daemon.kill()
