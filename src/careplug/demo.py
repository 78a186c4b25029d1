"""``careplug demo``: everything on one machine in about a minute, no broker installed.

A broker (Mosquitto when installed, else the embedded amqtt broker), the daemon following the
replay's event time, and simulated households replayed fast — one resident stops moving. The
terminal shows readings flowing, the household going quiet, the alert, and a simulated
caseworker acknowledging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from careplug.app import Daemon, start_daemon
from careplug.clock import SystemClock, iso, monotonic
from careplug.domain import alerts as alert_rules
from careplug.domain.model import AlertId, AlertState
from careplug.settings import load_settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def embedded_broker(workdir: Path) -> Iterator[tuple[int, str, str]]:
    """A broker on a free loopback port: (port, kind, MQTT protocol careplug should use)."""
    port = _free_port()
    binary = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if binary:
        conf = workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
            "max_inflight_messages 0\n"
        )
        with open(workdir / "mosquitto.log", "ab") as log:
            process = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=log)
        try:
            _wait_port(port)
            yield port, "mosquitto", "5"
        finally:
            process.terminate()
            process.wait(5)
        return
    from amqtt.broker import Broker

    loop = asyncio.new_event_loop()
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "sys_interval": 0,
        "auth": {"allow-anonymous": True},
        "topic-check": {"enabled": False},
    }
    broker = Broker(config, loop=loop)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(broker.start(), loop).result(15)
    try:
        yield port, "amqtt (embedded)", "3.1.1"
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(broker.shutdown(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def _wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = monotonic() + timeout
    while monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"broker did not start on port {port}")


def _say(text: str) -> None:
    print(text, flush=True)


def run_demo(
    households: int = 5,
    speed: float = 3600.0,
    seed: int = 7,
    days: float = 2.5,
    keep: Path | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Run the demo; returns 0 when the incident's alert was raised and acknowledged."""
    from careplug_sim.generator import Simulation
    from careplug_sim.record import registry_toml
    from careplug_sim.replay import PahoPublisher, replay
    from careplug_sim.scenario import Incident, ScenarioConfig, plan

    stop = stop or threading.Event()
    workdir = keep or Path(tempfile.mkdtemp(prefix="careplug-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = ScenarioConfig(households=households, days=days, seed=seed, fridge_p=0.5)
    scenario = plan(cfg)
    victim = scenario.households[0].id
    incident_at = cfg.start_epoch + 86400 + 9 * 3600  # day 2, 09:00 local
    scenario = dataclasses.replace(
        scenario,
        incidents=(Incident(victim, incident_at, None),),
        away=(),
        plug_faults=(),
        power_cuts=(),
    )
    (workdir / "households.toml").write_text(registry_toml(scenario))

    with embedded_broker(workdir) as (port, kind, protocol):
        config = workdir / "careplug.toml"
        config.write_text(
            f'[mqtt]\nport = {port}\nprotocol = "{protocol}"\nclient_id = "careplug-demo"\n'
            '[store]\npath = "careplug.db"\n[registry]\npath = "households.toml"\n'
            '[detection]\ncatch_up_grace = "0s"\n'
            '[detection.tiers]\nhigh = "16h"\nmedium = "16h"\nlow = "16h"\n'
            '[logging]\nlevel = "warning"\n'
        )
        settings = load_settings(config)
        _say(f"careplug demo — broker: {kind} on 127.0.0.1:{port}; state in {workdir}")
        _say(
            f"{households} simulated households, {days:g} days at {speed:g}x; "
            f"resident of {victim} stops moving at {iso(incident_at)} (nobody is told)."
        )
        _say("Inactivity threshold for the demo: 16 h of no sign of life.\n")
        daemon = start_daemon(settings, clock_mode="replay")
        acked = threading.Event()
        watcher = _watch_alerts(port, daemon, acked)
        try:
            if not daemon.mqtt.connected.wait(15):
                _say("could not connect to the broker")
                return 1
            events = (
                (
                    float(at),
                    topic,
                    payload if isinstance(payload, bytes) else payload.encode(),
                    1,
                    retain,
                )
                for at, topic, payload, retain in Simulation(scenario).messages()
            )
            progress = threading.Thread(target=_progress, args=(daemon, stop, acked), daemon=True)
            progress.start()
            with PahoPublisher("127.0.0.1", port, client_id="careplug-demo-sim") as publisher:
                stats = replay(events, publisher.publish, speed, time.sleep, monotonic, stop=stop)
            acked.wait(10)
            _say(
                f"\nreplayed {stats.messages} plug messages; daemon handled "
                f"{daemon.driver.stats.readings} readings, rejected "
                f"{sum(daemon.driver.stats.rejected.values())}."
            )
        finally:
            stop.set()
            watcher.loop_stop()
            watcher.disconnect()
            daemon.stop()
    if acked.is_set():
        _say("demo finished: the quiet household was found and its alert acknowledged.")
        return 0
    _say("demo finished without the expected alert (see the log above).")
    return 1


def _progress(daemon: Daemon, stop: threading.Event, acked: threading.Event) -> None:
    last = -1
    while not stop.wait(3.0):
        readings = daemon.driver.stats.readings
        if readings != last and daemon.clock.now() > 0:
            quiet = []
            for hid, state in daemon.engine.households.items():
                base = state.silence_base
                if base is not None and daemon.clock.now() - base > 4 * 3600:
                    quiet.append(f"{hid} quiet {(daemon.clock.now() - base) / 3600:.0f} h")
            extra = f" — {', '.join(quiet)}" if quiet else ""
            _say(f"  [event time {iso(daemon.clock.now())}] readings handled: {readings}{extra}")
            last = readings


def _watch_alerts(port: int, daemon: Daemon, acked: threading.Event) -> paho.Client:
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id="careplug-demo-watch", protocol=paho.MQTTv311
    )

    def on_message(c: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        alert = body["alert"]
        _say(
            f"\n*** {body['event'].upper()}: {alert['kind']} ({alert['severity']}) for "
            f"{alert['household']} at {body['at']}\n    {alert['message']}"
        )
        if body["event"] == "raised" and alert["kind"] == "inactivity":
            threading.Thread(
                target=_caseworker_acks, args=(daemon, alert["id"]), daemon=True
            ).start()
        if body["event"] == "acknowledged":
            acked.set()

    client.on_message = on_message
    client.on_connect = lambda c, *a: c.subscribe("careplug/alerts/#", qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def _caseworker_acks(daemon: Daemon, alert_id: str) -> None:
    """A simulated caseworker reads the alert and acknowledges it a moment later."""
    time.sleep(1.0)
    from careplug.adapters.store_sqlite import SqliteStore

    store = SqliteStore(daemon.settings.store.path, origin="caseworker")
    alert = store.get_alert(AlertId(alert_id))
    if alert is None or alert.state is not AlertState.OPEN:
        return
    new, audit = alert_rules.acknowledge(alert, "cw-demo", daemon.clock.now(), "calling now")

    store.record_transition(
        new,
        audit,
        AlertState.OPEN,
        daemon.driver.router.for_transition(new, audit),
        SystemClock().now(),  # the outbox runs on processing time
    )
    store.close()
    daemon.delivery.wake()
