"""Property tests: whatever arrives, a decoder yields sane items or a PayloadRejected."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careplug.adapters.payloads import (
    FAMILIES,
    PayloadOptions,
    PayloadRejected,
    RejectReason,
    decode,
)
from careplug.domain.model import DecodedItem, ItemKind

OPTS = PayloadOptions()
NOW = 1_800_000_000.0
FORMATS = [*FAMILIES, "auto"]

# a topic level: mostly plausible, sometimes wildcards, control characters, empty
LEVEL = st.one_of(
    st.sampled_from(
        [
            "tele",
            "stat",
            "SENSOR",
            "STATE",
            "LWT",
            "STATUS8",
            "STATUS10",
            "shellies",
            "relay",
            "emeter",
            "0",
            "1",
            "power",
            "energy",
            "total",
            "online",
            "events",
            "rpc",
            "status",
            "switch:0",
            "pm1:1",
            "zigbee2mqtt",
            "bridge",
            "availability",
            "sensor",
            "state",
            "careplug",
            "plugs",
            "reading",
            "+",
            "#",
            "",
        ]
    ),
    st.text(min_size=0, max_size=12),
)
TOPICS = st.lists(LEVEL, min_size=1, max_size=7).map("/".join)

KEYS = st.sampled_from(
    [
        "ENERGY",
        "Power",
        "Total",
        "Today",
        "Time",
        "StatusSNS",
        "method",
        "params",
        "ts",
        "switch:0",
        "pm1:0",
        "switch:x",
        "apower",
        "aenergy",
        "total",
        "by_minute",
        "power",
        "energy",
        "state",
        "last_seen",
        "device",
        "time",
        "power_w",
        "energy_wh",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["NotifyStatus", "online", "nan", " 12 ", "2026-11-25T16:40:00", "-1"]),
    st.text(max_size=10),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(KEYS | st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=25,
)


def _payload_of(value: object) -> bytes:
    return json.dumps(value).encode()  # NaN/Infinity are emitted as JSON extensions


PAYLOADS = st.one_of(st.binary(max_size=300), JSON_VALUES.map(_payload_of))


def _check(item: DecodedItem) -> None:
    assert isinstance(item, DecodedItem)
    assert item.device
    for value in (item.power_w, item.energy_wh, item.time):
        if value is not None:
            assert math.isfinite(value)
    for value in (item.power_w, item.energy_wh):
        if value is not None:
            assert value >= 0
    if item.power_w is not None:
        assert item.power_w <= OPTS.max_power_w
    if item.time is not None:
        assert abs(item.time - NOW) <= OPTS.max_clock_skew_s
    if item.kind is ItemKind.READING:
        assert item.power_w is not None or item.energy_wh is not None
        assert item.online is None
    else:
        assert item.online is not None
    if item.channel is not None:
        assert 0 <= item.channel < 1000
    for ch in item.device:
        assert ch not in "+#" and ord(ch) >= 0x20 and ord(ch) != 0x7F


def _decode_or_reject(topic: str, payload: bytes, fmt: str) -> None:
    try:
        items = decode(topic, payload, NOW, fmt, OPTS)
    except PayloadRejected as rejected:
        # a decoder bug would show up as decoder_error: none is allowed
        assert rejected.reason is not RejectReason.DECODER_ERROR, rejected.detail
        return
    for item in items:
        _check(item)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(topic=TOPICS, payload=PAYLOADS, fmt=st.sampled_from(FORMATS))
def test_arbitrary_topics_and_payloads(topic: str, payload: bytes, fmt: str) -> None:
    """Any topic and payload, for any family: sane items or a rejection, never a crash."""
    _decode_or_reject(topic, payload, fmt)


FAMILY_TOPICS = st.one_of(
    st.builds(
        lambda d, leaf: f"tele/{d}/{leaf}", LEVEL, st.sampled_from(["SENSOR", "STATE", "LWT"])
    ),
    st.builds(lambda d: f"stat/{d}/STATUS10", LEVEL),
    st.builds(
        lambda d, n, leaf: f"shellies/{d}/relay/{n}/{leaf}",
        LEVEL,
        LEVEL,
        st.sampled_from(["power", "energy"]),
    ),
    st.builds(lambda d, c: f"{d}/status/{c}", LEVEL, st.sampled_from(["switch:0", "pm1:2"])),
    st.builds(lambda d: f"{d}/events/rpc", LEVEL),
    st.builds(lambda d: f"zigbee2mqtt/{d}", LEVEL),
    st.builds(lambda d: f"zigbee2mqtt/{d}/availability", LEVEL),
    st.builds(lambda d, s: f"{d}/sensor/{s}/state", LEVEL, st.sampled_from(["power", "energy"])),
)
SHAPED = st.one_of(
    st.builds(
        lambda p, t: {"Time": t, "ENERGY": {"Power": p, "Total": p}},
        JSON_VALUES,
        SCALARS,
    ),
    st.builds(lambda p: {"StatusSNS": {"ENERGY": {"Power": p}}}, JSON_VALUES),
    st.builds(
        lambda ts, a, e: {"method": "NotifyStatus", "params": {"ts": ts, "switch:0": a | e}},
        SCALARS,
        st.fixed_dictionaries({"apower": SCALARS}),
        st.fixed_dictionaries({"aenergy": JSON_VALUES}),
    ),
    st.builds(lambda p, e: {"power": p, "energy": e, "last_seen": "x"}, SCALARS, SCALARS),
    st.builds(lambda a, e: {"apower": a, "aenergy": {"total": e}}, SCALARS, SCALARS),
    SCALARS,
)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(topic=FAMILY_TOPICS, body=SHAPED, fmt=st.sampled_from(FORMATS))
def test_family_shaped_topics_with_hostile_values(topic: str, body: object, fmt: str) -> None:
    """Real topic layouts with hostile values and ids: sane items or a rejection."""
    _decode_or_reject(topic, _payload_of(body), fmt)


@given(
    watts=st.floats(min_value=0, max_value=20_000, allow_nan=False),
    kwh=st.floats(min_value=0, max_value=1e9, allow_nan=False),
)
def test_tasmota_units_round_trip(watts: float, kwh: float) -> None:
    """Any valid Power/Total decodes to the same W and to Total x 1000 Wh."""
    payload = _payload_of({"ENERGY": {"Power": watts, "Total": kwh}})
    (item,) = decode("tele/p/SENSOR", payload, NOW, "auto", OPTS)
    assert item.power_w == watts
    assert item.energy_wh == kwh * 1000.0


@given(watt_minutes=st.floats(min_value=0, max_value=1e12, allow_nan=False))
def test_shelly_gen1_energy_is_watt_minutes(watt_minutes: float) -> None:
    """Gen1 relay energy is watt-minutes: Wh = value / 60."""
    (item,) = decode("shellies/p/relay/0/energy", repr(watt_minutes).encode(), NOW, "auto", OPTS)
    assert item.energy_wh is not None
    assert math.isclose(item.energy_wh * 60.0, watt_minutes, rel_tol=1e-12, abs_tol=1e-9)
