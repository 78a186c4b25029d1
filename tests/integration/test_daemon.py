"""The daemon end to end: a real Mosquitto, the real `careplug run` process, real clocks."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Mosquitto
from tests.integration.daemon_support import DaemonProcess, Watcher, wait_power, write_config

pytestmark = pytest.mark.integration


@pytest.fixture
def watcher(mosquitto: Mosquitto) -> Iterator[Watcher]:
    w = Watcher(mosquitto.port)
    try:
        yield w
    finally:
        w.close()


def feed(watcher: Watcher, seconds: float, power: float, plug: str = "plug-1") -> None:
    """Report ``power`` every 0.5 s for ``seconds`` (a plug keeping itself online)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        watcher.reading(plug, power)
        time.sleep(0.5)


class Reporter:
    """A plug in the background that keeps reporting a constant standby load."""

    def __init__(self, watcher: Watcher, power: float = 0.5) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(watcher, power), daemon=True)
        self.thread.start()

    def _run(self, watcher: Watcher, power: float) -> None:
        while not self.stop.is_set():
            try:
                watcher.reading("plug-1", power)
            except Exception:  # broker briefly away in the restart test
                pass
            self.stop.wait(0.5)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


class HookReceiver:
    """A real HTTP server that records webhook POSTs (body, headers)."""

    def __init__(self, port: int = 0) -> None:
        import http.server

        received = self.received = queue.Queue()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.put((json.loads(body), dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, event: str, timeout: float = 20.0) -> tuple[dict, dict, bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                body, headers, raw = self.received.get(timeout=0.2)
            except queue.Empty:
                continue
            if body.get("event") == event:
                return body, headers, raw
        raise AssertionError(f"no {event} webhook")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_inactivity_alert_reaches_topic_cli_and_webhook_then_auto_resolves(
    tmp_path: Path, mosquitto: Mosquitto, watcher: Watcher
) -> None:
    """Readings, then a quiet plug: the alert is published, listed, posted to the webhook
    (signed, with an idempotency key), and resolved on activity."""
    hook = HookReceiver()
    extra = f'[webhook]\nurl = "{hook.url}"\nsecret = "s3cret"\n'
    daemon = DaemonProcess(write_config(tmp_path, mosquitto.port, threshold="4s", extra=extra))
    daemon.start()
    try:
        daemon.wait_log("broker_connected")
        feed(watcher, 1.5, 0.5)
        watcher.reading("plug-1", 150.0)  # switched on: activity
        activity_at = time.time()
        reporter = Reporter(watcher, 150.0)  # left on: constant load is not life
        raised = watcher.next_alert("raised")
        assert raised["alert"]["kind"] == "inactivity"
        assert raised["alert"]["household"] == "hh-1"
        assert raised["alert"]["severity"] == "critical"
        body, headers, raw = hook.next("raised")
        assert body["alert"]["id"] == raised["alert"]["id"]
        assert headers["Idempotency-Key"] == f"{raised['alert']['id']}:raised"
        from careplug.adapters.notifiers.webhook import sign

        assert headers["X-Careplug-Signature"] == sign("s3cret", raw)
        listed = daemon.cli("alerts", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        alerts = json.loads(listed.stdout)
        assert [a["kind"] for a in alerts] == ["inactivity"]
        from careplug.clock import parse_iso

        delay = parse_iso(alerts[0]["raised_at"]) - activity_at
        assert 3.0 <= delay <= 7.0, delay
        reporter.close()
        watcher.reading("plug-1", 0.4)  # switched off: life resumes
        resolved = watcher.next_alert("resolved")
        assert resolved["alert"]["outcome"] == "activity_resumed"
        assert hook.next("resolved")[0]["alert"]["outcome"] == "activity_resumed"
        assert json.loads(daemon.cli("alerts", "list", "--json").stdout) == []
        took = daemon.terminate()
        assert took < 5.0
    finally:
        hook.close()
        if daemon.process and daemon.process.poll() is None:
            daemon.kill()


def test_caseworker_ack_and_resolve_through_the_cli(
    tmp_path: Path, mosquitto: Mosquitto, watcher: Watcher
) -> None:
    """ack and resolve are stored, audited, announced, and illegal steps are refused."""
    daemon = DaemonProcess(write_config(tmp_path, mosquitto.port, threshold="3s"))
    daemon.start()
    reporter = None
    try:
        daemon.wait_log("broker_connected")
        watcher.reading("plug-1", 0.5)
        reporter = Reporter(watcher, 0.5)
        alert_id = watcher.next_alert("raised")["alert"]["id"]
        ack = daemon.cli("alerts", "ack", alert_id, "--by", "cw-kim", "--note", "calling")
        assert ack.returncode == 0, ack.stderr
        assert watcher.next_alert("acknowledged")["actor"] == "cw-kim"
        again = daemon.cli("alerts", "ack", alert_id, "--by", "cw-lee")
        assert again.returncode == 1 and "not open" in again.stderr
        done = daemon.cli(
            "alerts",
            "resolve",
            alert_id,
            "--by",
            "cw-kim",
            "--outcome",
            "visited_ok",
            "--note",
            "resident fine",
            "--json",
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["outcome"] == "visited_ok"
        assert watcher.next_alert("resolved")["alert"]["resolved_by"] == "cw-kim"
        shown = json.loads(daemon.cli("alerts", "show", alert_id, "--json").stdout)
        assert [e["action"] for e in shown["audit"]] == ["raised", "acknowledged", "resolved"]
        bad = daemon.cli("alerts", "resolve", alert_id, "--by", "x", "--outcome", "bogus")
        assert bad.returncode == 2
    finally:
        if reporter:
            reporter.close()
        daemon.kill()


def test_kill_9_keeps_the_original_deadline(
    tmp_path: Path, mosquitto: Mosquitto, watcher: Watcher
) -> None:
    """Killed while a household is quiet, restarted: the alert fires at the first deadline."""
    daemon = DaemonProcess(write_config(tmp_path, mosquitto.port, threshold="10s"))
    daemon.start()
    reporter = None
    try:
        daemon.wait_log("broker_connected")
        watcher.reading("plug-1", 0.5)
        time.sleep(0.6)
        watcher.reading("plug-1", 200.0)  # activity
        activity_at = time.time()
        time.sleep(1.0)
        watcher.reading("plug-1", 0.5)  # switched off: the last activity
        activity_at = time.time()
        reporter = Reporter(watcher, 0.5)
        time.sleep(2.5)
        daemon.kill()
        time.sleep(2.0)  # readings published now queue at the broker (persistent session)
        daemon.start()
        raised = watcher.next_alert("raised", timeout=20)
        from careplug.clock import parse_iso

        raised_at = parse_iso(raised["alert"]["raised_at"])
        assert raised_at - activity_at <= 12.0, raised_at - activity_at  # not 10 s after restart
        assert raised_at - activity_at >= 9.0
        time.sleep(2)
        alerts = json.loads(daemon.cli("alerts", "list", "--all", "--json").stdout)
        assert len(alerts) == 1  # nothing duplicated
        handled = [e for e in daemon.log_events() if e.get("event") == "alert_raised"]
        assert len(handled) == 1
    finally:
        if reporter:
            reporter.close()
        daemon.kill()


def test_broker_restart_reconnects_and_queued_readings_arrive(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """The broker goes away and comes back: careplug reconnects, raises nothing about the
    outage; readings published while careplug itself was down are delivered to it later."""
    daemon = DaemonProcess(write_config(tmp_path, mosquitto.port, threshold="30s"))
    daemon.start()
    try:
        daemon.wait_log("broker_connected")
        w = Watcher(mosquitto.port)
        w.reading("plug-1", 0.5)
        time.sleep(1.0)
        w.close()
        mosquitto.stop()
        time.sleep(4.0)  # longer than three report periods: the plug looks silent
        mosquitto.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if sum(e.get("event") == "broker_connected" for e in daemon.log_events()) >= 2:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("careplug did not reconnect")
        w = Watcher(mosquitto.port)
        feed(w, 2.0, 0.5)
        # careplug down, broker up: these readings wait in careplug's persistent session
        daemon.kill()
        w.reading("plug-1", 0.5)
        w.reading("plug-1", 180.0)
        daemon.start()
        # the queued "switched on" reading reaches the new process
        wait_power(tmp_path / "careplug.db", "plug-1", 180.0)
        listed = daemon.cli("alerts", "list", "--all", "--json")
        assert json.loads(listed.stdout) == []  # no alert about the outage at all
        w.close()
    finally:
        daemon.kill()


def test_bad_payloads_are_counted_and_do_not_stop_good_ones(
    tmp_path: Path, mosquitto: Mosquitto, watcher: Watcher
) -> None:
    """Non-JSON, wrong types, NaN, negative watts and unknown devices: logged, daemon fine."""
    daemon = DaemonProcess(write_config(tmp_path, mosquitto.port, threshold="60s"))
    daemon.start()
    try:
        daemon.wait_log("broker_connected")
        for payload in (
            b"not json",
            b'{"power_w": "lots"}',
            b'{"power_w": NaN}',
            b'{"power_w": -5}',
            b"\xff\xfe\x00",
            b"[1,2]",
        ):
            watcher.raw("careplug/plugs/plug-1/reading", payload)
        watcher.reading("stranger-9", 10.0)
        watcher.reading("plug-1", 300.0)
        rejected = daemon.wait_log("message_rejected")
        assert rejected["reason"] in {
            "not_json",
            "wrong_type",
            "not_finite",
            "negative_power",
            "not_utf8",
            "wrong_shape",
        }
        assert daemon.wait_log("unassigned_device_seen")["plug_id"] == "stranger-9"
        wait_power(tmp_path / "careplug.db", "plug-1", 300.0)
        assert daemon.process is not None and daemon.process.poll() is None
    finally:
        daemon.kill()


def test_broken_config_stops_start_up_naming_the_field(tmp_path: Path) -> None:
    """`careplug run` and `check-config` refuse a bad file with the field's dotted path."""
    config = tmp_path / "c.toml"
    config.write_text('[detection.tiers]\nhigh = "tomorrow"\n')
    daemon = DaemonProcess(config)
    result = daemon.cli("check-config")
    assert result.returncode == 2
    assert "detection.tiers.high" in result.stderr
    run = daemon.cli("run")
    assert run.returncode == 78  # EX_CONFIG: systemd does not restart into the same error
    assert "detection.tiers.high" in run.stderr


def test_sighup_reloads_registry_and_keeps_old_one_when_invalid(
    tmp_path: Path, mosquitto: Mosquitto, watcher: Watcher
) -> None:
    """A plug added to the registry is watched after SIGHUP; a broken registry is refused and
    the running one kept."""
    import signal

    config = write_config(tmp_path, mosquitto.port, threshold="60s")
    daemon = DaemonProcess(config)
    daemon.start()
    try:
        daemon.wait_log("broker_connected")
        registry = tmp_path / "households.toml"
        registry.write_text(
            registry.read_text() + '[[household]]\nid = "hh-2"\n[[household.plug]]\nid = "plug-2"\n'
        )
        assert daemon.process is not None
        daemon.process.send_signal(signal.SIGHUP)
        assert daemon.wait_log("config_reloaded")["households"] == 2
        watcher.reading("plug-2", 40.0)
        wait_power(tmp_path / "careplug.db", "plug-2", 40.0)
        assert not [e for e in daemon.log_events() if e.get("event") == "unassigned_device_seen"]
        registry.write_text('[[household]]\nid = "hh-3"\ntier = "extreme"\n')
        daemon.process.send_signal(signal.SIGHUP)
        failed = daemon.wait_log("config_reload_failed")
        assert "tier" in failed["error"]
        watcher.reading("plug-2", 0.5)
        wait_power(tmp_path / "careplug.db", "plug-2", 0.5)  # the old registry still runs
        assert daemon.process.poll() is None
    finally:
        daemon.kill()
