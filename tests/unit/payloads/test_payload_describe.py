"""``describe``: the JSON lines and exit code behind ``careplug decode``."""

from __future__ import annotations

import json

from careplug.adapters.payloads import PayloadOptions
from careplug.adapters.payloads.describe import EXIT_OK, EXIT_REJECTED, describe

OPTS = PayloadOptions()
NOW = 1_700_000_001.0


def test_multi_channel_tasmota_prints_one_line_per_channel() -> None:
    """Each channel is a line with device, channel, ISO time, W and Wh."""
    payload = b'{"Time":"2023-11-15T07:13:20","ENERGY":{"Power":[52,5],"Total":[2.813,0.254]}}'
    lines, code = describe("tele/dual/SENSOR", payload, "auto", NOW, OPTS)
    assert code == EXIT_OK
    rows = [json.loads(line) for line in lines]
    # 07:13:20 KST on 2023-11-15 is 22:13:20Z the day before, 1 s before NOW
    assert rows[0] == {
        "device": "dual",
        "channel": 1,
        "time": "2023-11-14T22:13:20Z",
        "power_w": 52.0,
        "energy_wh": 2813.0,
        "online": None,
        "kind": "reading",
    }
    assert (rows[1]["channel"], rows[1]["power_w"]) == (2, 5.0)
    assert rows[1]["energy_wh"] == 254.0


def test_untrusted_clock_prints_null_time() -> None:
    """A reading without a sane device time prints ``"time": null``."""
    lines, code = describe("shellies/p/relay/0/power", b"12.5", "shelly", NOW, OPTS)
    assert code == EXIT_OK
    assert json.loads(lines[0]) == {
        "device": "p",
        "channel": 0,
        "time": None,
        "power_w": 12.5,
        "energy_wh": None,
        "online": None,
        "kind": "reading",
    }


def test_availability_and_gateway_kinds() -> None:
    """Availability and bridge state print their kind and online flag."""
    lines, _ = describe("zigbee2mqtt/bridge/state", b'{"state":"offline"}', "auto", NOW, OPTS)
    row = json.loads(lines[0])
    assert (row["kind"], row["device"], row["online"]) == (
        "gateway_availability",
        "zigbee2mqtt",
        False,
    )
    lines, _ = describe("node/status", b"online", "esphome", NOW, OPTS)
    assert json.loads(lines[0])["kind"] == "availability"


def test_rejection_prints_reason_and_exits_2() -> None:
    """A rejected payload prints one line with the reason and detail, exit code 2."""
    lines, code = describe("tele/k/SENSOR", b'{"ENERGY":{"Power":-5}}', "auto", NOW, OPTS)
    assert code == EXIT_REJECTED
    assert json.loads(lines[0]) == {"rejected": "negative_power", "detail": "ENERGY.Power=-5.0"}
    lines, code = describe("x", b"", "bogus", NOW, OPTS)
    assert (json.loads(lines[0])["rejected"], code) == ("unknown_format", EXIT_REJECTED)


def test_understood_but_empty_prints_nothing() -> None:
    """A message careplug understands but ignores prints no line and exits 0."""
    assert describe("zigbee2mqtt/bridge/logging", b"{}", "auto", NOW, OPTS) == ([], EXIT_OK)


def test_hostile_device_id_is_not_echoed_raw() -> None:
    """Control characters in a rejected id come back escaped in valid JSON."""
    lines, code = describe("tele/a\x1b[2J/LWT", b"Online", "auto", NOW, OPTS)
    assert code == EXIT_REJECTED
    assert "\x1b" not in lines[0]
    assert json.loads(lines[0])["rejected"] == "bad_device_id"
