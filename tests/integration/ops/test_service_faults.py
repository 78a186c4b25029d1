"""Services around the daemon failing and coming back while it runs (issue 7's fault tests).

The real daemon process against a real Mosquitto, VictoriaMetrics and aiosmtpd, each on a free
loopback port: the broker killed with SIGKILL and restarted while readings flow, the SMTP
receiver down then up, VictoriaMetrics stopped and restarted. careplug stays up, says what is
wrong (``/readyz``, ``/metrics``, its log), loses nothing and recovers by itself.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import Mosquitto, free_port
from tests.integration.daemon_support import DaemonProcess, Watcher, write_config
from tests.integration.test_daemon import Reporter

from .conftest import VictoriaMetrics

pytestmark = pytest.mark.integration


def registry(plugs: int) -> str:
    """``plugs`` households of one TV plug each."""
    return "".join(
        f'[[household]]\nid = "hh-{i}"\ntier = "high"\n'
        f'[[household.plug]]\nid = "plug-{i}"\nappliance = "tv"\nreport_period = "5s"\n'
        for i in range(plugs)
    )


def influx_and_http(vm: VictoriaMetrics, http_port: int) -> str:
    """Config sections: history to VictoriaMetrics (quick flushes and retries), /readyz on."""
    return (
        f'[influx]\nurl = "{vm.url}"\ntoken = "unused"\n'
        'flush_interval = "0.2s"\nretry_max = "1s"\n'
        f"[http]\nenabled = true\nport = {http_port}\n"
    )


def readyz(port: int) -> tuple[int, dict[str, Any]]:
    """Status and body of the daemon's /readyz."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def metric(port: int, name: str) -> float:
    """One unlabelled sample from the daemon's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} is not in /metrics")


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)


def stored_powers(vm: VictoriaMetrics) -> dict[str, set[float]]:
    """Every reading's power VictoriaMetrics holds, by plug."""
    out: dict[str, set[float]] = {}
    for row in vm.export('{__name__="reading_power_w"}'):
        labels = row["metric"]
        values = row["values"]
        assert isinstance(labels, dict) and isinstance(values, list)
        out.setdefault(str(labels["plug"]), set()).update(float(v) for v in values)
    return out


class Feeder:
    """Plugs publishing readings with QoS 1 at a steady pace, each with its own power value
    (so every reading is one distinct sample in VictoriaMetrics). paho keeps what it could not
    hand to the broker and sends it after reconnecting, as a plug's firmware would."""

    def __init__(self, port: int, plugs: int, rate: float) -> None:
        self.plugs = plugs
        self.rate = rate
        self.published: dict[str, list[float]] = {f"plug-{i}": [] for i in range(plugs)}
        self.stop = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="feeder", protocol=paho.MQTTv5
        )
        self.client.max_inflight_messages_set(0)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 1)
        self.acknowledged: set[int] = set()
        self.client.on_publish = lambda client, userdata, mid, *rest: self.acknowledged.add(mid)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.infos: list[paho.MQTTMessageInfo] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        k = 0
        last = 0.0
        while not self.stop.is_set():
            plug = f"plug-{k % self.plugs}"
            power = 1000.0 + k
            at = max(time.time(), last + 0.001)
            last = at
            body = json.dumps({"power_w": power, "time": at})
            self.infos.append(self.client.publish(f"careplug/plugs/{plug}/reading", body, qos=1))
            self.published[plug].append(power)
            k += 1
            time.sleep(1 / self.rate)

    def start(self) -> None:
        self.thread.start()

    def finish(self, timeout: float = 30.0) -> int:
        """Stop publishing, wait until the broker acknowledged everything; the count sent."""
        self.stop.set()
        self.thread.join(5)
        # (wait_for_publish refuses messages queued while disconnected, though paho sends them)
        mids = {info.mid for info in self.infos}
        wait_until(lambda: mids <= self.acknowledged, "the broker acknowledged every reading")
        return len(mids)

    def close(self) -> None:
        self.stop.set()
        self.client.loop_stop()
        self.client.disconnect()


def test_broker_killed_and_restarted_under_load_loses_nothing(
    tmp_path: Path, mosquitto: Mosquitto, victoria: VictoriaMetrics
) -> None:
    """Mosquitto gets SIGKILL while readings flow and comes back 3 s later: /readyz says the
    broker is down meanwhile, careplug reconnects by itself, and every reading published with
    QoS 1 is handled (each one is in VictoriaMetrics)."""
    http_port = free_port()
    config = write_config(
        tmp_path,
        mosquitto.port,
        threshold="1h",
        households=registry(10),
        extra=influx_and_http(victoria, http_port),
    )
    daemon = DaemonProcess(config)
    daemon.start()
    feeder: Feeder | None = None
    try:
        daemon.wait_log("broker_connected")
        time.sleep(1.5)  # the broker's autosave (every second) has careplug's session on disk
        feeder = Feeder(mosquitto.port, plugs=10, rate=100)
        feeder.start()
        time.sleep(2.0)
        assert mosquitto.process is not None
        mosquitto.process.kill()  # SIGKILL: no clean shutdown, no final save
        mosquitto.process.wait(10)
        mosquitto.process = None
        wait_until(lambda: readyz(http_port)[0] == 503, "/readyz reports the broker down")
        check = readyz(http_port)[1]["checks"]["broker_connected"]
        assert (check["ok"], check["reason"]) == (False, "down")
        time.sleep(2.0)  # readings keep coming: the plugs hold them
        mosquitto.start()
        wait_until(lambda: readyz(http_port)[0] == 200, "careplug reconnects by itself")
        time.sleep(2.0)
        # readings published while the broker was away (paho held them and sent them later)
        held = sum(1 for info in feeder.infos if info.rc == paho.MQTT_ERR_NO_CONN)
        sent = feeder.finish()
        published = feeder.published

        def all_handled() -> bool:
            stored = stored_powers(victoria)
            return all(set(v) <= stored.get(p, set()) for p, v in published.items())

        try:
            wait_until(all_handled, "every published reading handled", timeout=30)
        except AssertionError:
            stored = stored_powers(victoria)
            missing = {p: sorted(set(v) - stored.get(p, set())) for p, v in published.items()}
            raise AssertionError(f"readings not handled: {missing}") from None
        assert sent > 400 and held > 50
        events = [e["event"] for e in daemon.log_events()]
        assert "broker_disconnected" in events
        connected = [e for e in daemon.log_events() if e.get("event") == "broker_connected"]
        assert len(connected) >= 2 and connected[-1]["session_present"] is True
        assert daemon.process is not None and daemon.process.poll() is None
    finally:
        if feeder is not None:
            feeder.close()
        daemon.kill()


class Inbox:
    """aiosmtpd on a fixed loopback port, started and stopped by the test."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[EmailMessage] = []
        self.controller: Any = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        inbox = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                msg = BytesParser(policy=policy.default).parsebytes(envelope.content)
                assert isinstance(msg, EmailMessage)
                inbox.messages.append(msg)
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    """An SMTP receiver that is down until the test starts it."""
    box = Inbox(free_port())
    try:
        yield box
    finally:
        box.stop()


RECIPIENTS = """
[[recipient]]
id = "cw-kim"
role = "caseworker"
channels = [{ channel = "email", address = "cw-kim@welfare.example" }]
"""


def test_smtp_down_then_up_delivers_the_email_once(
    tmp_path: Path, mosquitto: Mosquitto, inbox: Inbox
) -> None:
    """The caseworker's SMTP server is down when the alert is raised: careplug retries (and
    says so in its log) and, once the server is back, the email arrives exactly once."""
    (tmp_path / "recipients.toml").write_text(RECIPIENTS)
    extra = (
        '[notify]\nrecipients = "recipients.toml"\n'
        f'[email]\nhost = "127.0.0.1"\nport = {inbox.port}\nstarttls = false\n'
        'sender = "careplug@welfare.example"\n'
        '[delivery]\nretry_base = "0.3s"\nretry_max = "1s"\n'
    )
    config = write_config(tmp_path, mosquitto.port, threshold="2s", extra=extra)
    daemon = DaemonProcess(config)
    daemon.start()
    watcher = Watcher(mosquitto.port)
    reporter = None
    try:
        daemon.wait_log("broker_connected")
        watcher.reading("plug-1", 0.5)
        reporter = Reporter(watcher, 0.5)
        alert = watcher.next_alert("raised")["alert"]

        def email_retries() -> list[dict[str, Any]]:
            return [
                e
                for e in daemon.log_events()
                if e.get("event") == "outbox_retry_scheduled" and e.get("channel") == "email"
            ]

        wait_until(lambda: len(email_retries()) >= 2, "failed attempts are retried")
        assert inbox.messages == []
        inbox.start()
        wait_until(lambda: len(inbox.messages) >= 1, "the email arrives once SMTP is back")
        time.sleep(3.0)  # longer than several retry periods: nothing is sent again
        [message] = inbox.messages
        assert message["To"] == "cw-kim@welfare.example"
        assert alert["household"] in message.get_content()
        delivered = [
            e
            for e in daemon.log_events()
            if e.get("event") == "outbox_delivered" and e.get("channel") == "email"
        ]
        assert len(delivered) == 1 and delivered[0]["key"].startswith(alert["id"])
        assert daemon.process is not None and daemon.process.poll() is None
    finally:
        if reporter:
            reporter.close()
        watcher.close()
        daemon.kill()


def test_victoriametrics_stopped_and_restarted_buffers_then_writes(
    tmp_path: Path, mosquitto: Mosquitto, victoria: VictoriaMetrics
) -> None:
    """VictoriaMetrics goes away while readings arrive: /metrics shows the points buffered
    and the failed writes retried; once it is back every point is written, none dropped."""
    http_port = free_port()
    config = write_config(
        tmp_path,
        mosquitto.port,
        threshold="1h",
        households=registry(1),
        extra=influx_and_http(victoria, http_port),
    )
    daemon = DaemonProcess(config)
    daemon.start()
    watcher = Watcher(mosquitto.port)
    start = time.time()
    try:
        daemon.wait_log("broker_connected")
        for k in range(10):
            watcher.reading("plug-0", 100.0 + k, at=start + k * 0.01)
        wait_until(
            lambda: len(stored_powers(victoria).get("plug-0", set())) == 10, "first points written"
        )
        victoria.stop()
        for k in range(10, 60):
            watcher.reading("plug-0", 100.0 + k, at=start + k * 0.01)
        wait_until(
            lambda: metric(http_port, "careplug_history_write_retries_total") >= 2,
            "failed writes are retried",
        )
        assert metric(http_port, "careplug_history_points_buffered") == 50
        assert daemon.process is not None and daemon.process.poll() is None
        victoria.start()
        wait_until(
            lambda: metric(http_port, "careplug_history_points_buffered") == 0,
            "the buffer drains once VictoriaMetrics is back",
        )
        assert stored_powers(victoria)["plug-0"] == {100.0 + k for k in range(60)}
        assert metric(http_port, "careplug_history_points_dropped_total") == 0
        assert metric(http_port, "careplug_history_points_written_total") >= 60
    finally:
        watcher.close()
        daemon.kill()
