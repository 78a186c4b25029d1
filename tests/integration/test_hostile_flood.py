"""100,000 hostile messages interleaved with good readings: every good reading is handled and
the daemon stays healthy (real Mosquitto, the real daemon process, its /metrics endpoint)."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import Mosquitto, free_port
from tests.integration.daemon_support import DaemonProcess, write_config

pytestmark = pytest.mark.integration

PLUGS = 20
HOSTILE = 100_000
GOOD_EVERY = 50

HOSTILE_MESSAGES: list[tuple[str, bytes]] = [
    ("careplug/plugs/plug-0/reading", b"not json"),
    ("careplug/plugs/plug-1/reading", b"\x00\xff\xfe" * 40),
    ("careplug/plugs/plug-2/reading", b'{"power_w": NaN}'),
    ("careplug/plugs/plug-3/reading", b'{"power_w": 1e999}'),
    ("careplug/plugs/plug-4/reading", b'{"power_w": -3}'),
    ("careplug/plugs/plug-5/reading", b'{"power_w": 99999}'),
    ("careplug/plugs/plug-6/reading", b'{"power_w": "lots"}'),
    ("careplug/plugs/plug-7/reading", b"[1, 2, 3]"),
    ("careplug/plugs/plug-8/reading", b"{}"),
    ("careplug/plugs/plug-9/reading", b'{"power_w": 5, "device": "plug-10"}'),
    ("careplug/plugs/plug-1/reading", b'{"power_w": ' + b"9" * 30000 + b"}"),
    # control characters in a topic never get this far: Mosquitto drops such a publisher
    # (the decoders' own tests cover them); ids the broker accepts but careplug does not:
    ("careplug/plugs/" + "x" * 200 + "/reading", b'{"power_w": 5}'),
    ("careplug/plugs/ghost/reading", b'{"power_w": 5}'),
    ("careplug/plugs/plug-2/reading", b'{"power_w": 5, "time": "yesterday-ish"}'),
    ("careplug/plugs/plug-3/status", b"maybe"),
    ("tele/x/SENSOR", b'{"ENERGY": {"Power": "abc"}}'),
    ("tele/x/SENSOR", b"\xde\xad\xbe\xef"),
    ("shellies/s1/relay/0/power", b"NaN W"),
    ("zigbee2mqtt/lamp", b'{"power": [1, 2]}'),
    ("node1/sensor/power/state", b"--"),
]


def metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def counter(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_flood_of_hostile_input_loses_no_good_reading(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Every good reading is handled, the rejections are counted by reason, /healthz is 200."""
    registry = "".join(
        f'[[household]]\nid = "hh-{i}"\n[[household.plug]]\nid = "plug-{i}"\n' for i in range(PLUGS)
    )
    http_port = free_port()
    config = write_config(
        tmp_path,
        mosquitto.port,
        threshold="1h",
        households=registry,
        extra=f"[http]\nenabled = true\nport = {http_port}\n",
    )
    text = (
        config.read_text()
        .replace(
            'client_id = "careplug-test"',
            'client_id = "careplug-flood"\nformats = ["native", "tasmota", "shelly", "shelly2", '
            '"zigbee2mqtt", "esphome"]',
        )
        .replace('level = "debug"', 'level = "info"')
    )
    config.write_text(text)
    daemon = DaemonProcess(config)
    daemon.start()
    try:
        daemon.wait_log("broker_connected")
        time.sleep(0.5)
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id="flooder", protocol=paho.MQTTv5)
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.connect("127.0.0.1", mosquitto.port)
        client.loop_start()
        # the good readings from a client of their own: paho numbers QoS 0 messages too, so
        # 100,000 hostile ones on one client wrap the packet ids onto a good reading still
        # awaiting its PUBACK, and paho refuses it (ERR_QUEUE_SIZE) on a slow machine
        sender = paho.Client(CallbackAPIVersion.VERSION2, client_id="good", protocol=paho.MQTTv5)
        sender.max_inflight_messages_set(1000)
        sender.max_queued_messages_set(0)
        sender.connect("127.0.0.1", mosquitto.port)
        sender.loop_start()
        good: list[paho.MQTTMessageInfo] = []
        began = time.monotonic()
        for i in range(HOSTILE):
            topic, payload = HOSTILE_MESSAGES[i % len(HOSTILE_MESSAGES)]
            client.publish(topic, payload, qos=0)
            if i % GOOD_EVERY == 0:
                k = i // GOOD_EVERY
                body = json.dumps({"power_w": 0.5 if k % 2 else 250.0})
                good.append(sender.publish(f"careplug/plugs/plug-{k % PLUGS}/reading", body, qos=1))
        for info in good:
            info.wait_for_publish(60)
        published_in = time.monotonic() - began
        deadline = time.monotonic() + 90
        handled = 0.0
        while time.monotonic() < deadline:
            text = metrics(http_port)
            handled = counter(text, "careplug_readings_handled_total")
            if handled >= len(good):
                break
            time.sleep(0.5)
        for each in (client, sender):
            each.loop_stop()
            each.disconnect()
        rejected = counter(text, "careplug_messages_rejected_total")
        print(f"published in {published_in:.1f} s; handled {handled}; rejected {rejected}")
        assert handled == len(good) == HOSTILE // GOOD_EVERY, (handled, published_in)
        reasons = {
            m.group(1)
            for m in re.finditer(r'careplug_messages_rejected_total\{reason="(\w+)"\}', text)
        }
        assert {
            "not_json",
            "not_finite",
            "negative_power",
            "absurd_power",
            "wrong_type",
            "too_large",
            "bad_device_id",
        } <= reasons, reasons
        assert counter(text, "careplug_messages_rejected_total") > HOSTILE * 0.5
        # every message is counted by family (the driver hands paho's counts over per batch)
        native = re.search(r'careplug_messages_received_total\{family="native"\} (\S+)', text)
        assert native is not None and float(native.group(1)) >= len(good)
        received = counter(text, "careplug_messages_received_total")
        assert received >= len(good) + HOSTILE * 0.5, received
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=5) as r:
            assert r.status == 200
        assert daemon.process is not None and daemon.process.poll() is None
        warnings = [e for e in daemon.log_events() if e.get("event") == "message_rejected"]
        assert len(warnings) < 200  # rate-limited, not one line per bad message
        assert daemon.wait_log("unassigned_device_seen")["plug_id"] == "ghost"
    finally:
        daemon.kill()
