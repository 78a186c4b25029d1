"""Hostile input: every decoder rejects it with a reason and never raises anything else."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from careplug.adapters.payloads import (
    FAMILIES,
    PayloadOptions,
    PayloadRejected,
    RejectReason,
    decode,
)
from careplug.adapters.payloads.common import Family, register
from careplug.domain.model import DecodedItem, EpochSeconds

OPTS = PayloadOptions()
NOW = 1_800_000_000.0
R = RejectReason

CASES: list[tuple[str, str, bytes, RejectReason]] = [
    # malformed JSON, binary garbage, wrong shapes
    ("tasmota", "tele/k/SENSOR", b'{"ENERGY":{"Power":', R.NOT_JSON),
    ("tasmota", "tele/k/SENSOR", b"\xff\xfe\x00garbage", R.NOT_UTF8),
    ("tasmota", "tele/k/SENSOR", b"[1,2,3]", R.WRONG_SHAPE),
    ("tasmota", "tele/k/SENSOR", b'{"ENERGY":[1]}', R.WRONG_SHAPE),
    ("tasmota", "tele/k/SENSOR", b'{"ENERGY":{"Power":"lots"}}', R.WRONG_TYPE),
    ("tasmota", "tele/k/SENSOR", b'{"ENERGY":{"Power":true}}', R.WRONG_TYPE),
    ("tasmota", "tele/k/SENSOR", b'{"ENERGY":{"Power":{"a":1}}}', R.WRONG_TYPE),
    ("tasmota", "tele/k/SENSOR", b'{"ENERGY":{"Power":[]}}', R.WRONG_SHAPE),
    ("tasmota", "tele/k/STATE", b"not json", R.NOT_JSON),
    ("tasmota", "tele/k/LWT", b"Maybe", R.WRONG_SHAPE),
    ("tasmota", "stat/k/STATUS10", b'{"ENERGY":{"Power":1}}', R.WRONG_SHAPE),
    ("tasmota", "tele/k/SENSOR", b'{"Time":"yesterday","ENERGY":{"Power":1}}', R.BAD_TIME),
    ("tasmota", "tele/k/SENSOR", b'{"Time":12,"ENERGY":{"Power":1}}', R.BAD_TIME),
    # NaN, Infinity, huge numbers, negative and absurd power, negative energy
    ("tasmota", "tele/k/SENSOR", b'{"ENERGY":{"Power":NaN}}', R.NOT_FINITE),
    ("tasmota", "tele/k/SENSOR", b'{"ENERGY":{"Power":Infinity}}', R.NOT_FINITE),
    ("tasmota", "tele/k/SENSOR", b'{"ENERGY":{"Power":1e400}}', R.NOT_FINITE),
    ("tasmota", "tele/k/SENSOR", b'{"ENERGY":{"Power":' + b"9" * 400 + b"}}", R.NOT_FINITE),
    ("tasmota", "tele/k/SENSOR", b'{"ENERGY":{"Power":-5}}', R.NEGATIVE_POWER),
    ("tasmota", "tele/k/SENSOR", b'{"ENERGY":{"Power":[5,25000]}}', R.ABSURD_POWER),
    ("tasmota", "tele/k/SENSOR", b'{"ENERGY":{"Total":-0.1}}', R.NEGATIVE_ENERGY),
    ("tasmota", "tele/k/SENSOR", b"[" * 100_000 + b"]" * 100_000, R.TOO_LARGE),
    # nesting deep enough to exhaust the parser's recursion, yet under the size cap
    ("tasmota", "tele/k/SENSOR", b"[" * 5000 + b"]" * 5000, R.NOT_JSON),
    ("tasmota", "tele/k/SENSOR", b'{"a":' * 2000 + b"1" + b"}" * 2000, R.NOT_JSON),
    # device ids that inject into topics or logs
    ("tasmota", "tele/k+/SENSOR", b'{"ENERGY":{"Power":1}}', R.BAD_DEVICE_ID),
    ("tasmota", "tele/#/LWT", b"Online", R.BAD_DEVICE_ID),
    ("tasmota", "tele/a\x1b[31m/LWT", b"Online", R.BAD_DEVICE_ID),
    ("tasmota", "tele//LWT", b"Online", R.BAD_DEVICE_ID),
    ("shelly", "shellies/x+/relay/0/power", b"5", R.BAD_DEVICE_ID),
    ("shelly", "shellies/a\nb/online", b"true", R.BAD_DEVICE_ID),
    ("shelly", "shellies/p/relay/0/power", b"-1", R.NEGATIVE_POWER),
    ("shelly", "shellies/p/relay/0/power", b"inf", R.NOT_FINITE),
    ("shelly", "shellies/p/relay/0/power", b"30000", R.ABSURD_POWER),
    ("shelly", "shellies/p/relay/0/power", b"five", R.WRONG_TYPE),
    ("shelly", "shellies/p/relay/0/energy", b"-60", R.NEGATIVE_ENERGY),
    ("shelly", "shellies/p/relay/99999/power", b"5", R.BAD_CHANNEL),
    ("shelly", "shellies/p/relay/x/power", b"5", R.BAD_CHANNEL),
    ("shelly", "shellies/p/online", b"\x00\x01", R.WRONG_SHAPE),
    ("shelly", "shellies/p/online", b"\xc3\x28", R.NOT_UTF8),
    ("shelly2", "dev/status/switch:0", b'{"apower":NaN}', R.NOT_FINITE),
    ("shelly2", "dev/status/switch:0", b'{"apower":-Infinity}', R.NOT_FINITE),
    ("shelly2", "dev/status/switch:0", b'{"apower":-3}', R.NEGATIVE_POWER),
    ("shelly2", "dev/status/switch:0", b'{"apower":1e9}', R.ABSURD_POWER),
    ("shelly2", "dev/status/switch:0", b'{"aenergy":5}', R.WRONG_SHAPE),
    ("shelly2", "dev/status/switch:0", b'{"aenergy":{"total":-1}}', R.NEGATIVE_ENERGY),
    ("shelly2", "dev/status/switch:0", b"7", R.WRONG_SHAPE),
    ("shelly2", "dev/events/rpc", b'{"method":"NotifyStatus","params":[1]}', R.WRONG_SHAPE),
    ("shelly2", "dev/events/rpc", b'{"method":"NotifyStatus","params":{"ts":"x"}}', R.WRONG_TYPE),
    (
        "shelly2",
        "dev/events/rpc",
        b'{"method":"NotifyStatus","params":{"switch:0":"on"}}',
        R.WRONG_SHAPE,
    ),
    ("shelly2", "dev+/status/switch:0", b'{"apower":1}', R.BAD_DEVICE_ID),
    ("shelly2", "dev/status/switch:9999", b'{"apower":1}', R.UNKNOWN_TOPIC),
    ("zigbee2mqtt", "zigbee2mqtt/p", b'{"power":-1}', R.NEGATIVE_POWER),
    ("zigbee2mqtt", "zigbee2mqtt/p", b'{"power":"Infinity"}', R.NOT_FINITE),
    ("zigbee2mqtt", "zigbee2mqtt/p", b'{"energy":-2}', R.NEGATIVE_ENERGY),
    ("zigbee2mqtt", "zigbee2mqtt/p", b"null", R.WRONG_SHAPE),
    ("zigbee2mqtt", "zigbee2mqtt/p", b'{"power":5,"last_seen":"soon"}', R.BAD_TIME),
    ("zigbee2mqtt", "zigbee2mqtt/p#", b'{"power":5}', R.BAD_DEVICE_ID),
    ("zigbee2mqtt", "zigbee2mqtt/p/availability", b'{"state":1}', R.WRONG_SHAPE),
    ("zigbee2mqtt", "zigbee2mqtt/bridge/state", b"{}", R.WRONG_SHAPE),
    ("esphome", "node/sensor/power/state", b"-0.5", R.NEGATIVE_POWER),
    ("esphome", "node/sensor/power/state", b"1e30", R.ABSURD_POWER),
    ("esphome", "node/sensor/power/state", b"12 W", R.WRONG_TYPE),
    ("esphome", "node/sensor/energy/state", b"-1", R.NEGATIVE_ENERGY),
    ("esphome", "no\x7fde/sensor/power/state", b"1", R.BAD_DEVICE_ID),
    ("esphome", "node/status", b"maybe", R.WRONG_SHAPE),
    # a topic of another family given to a decoder by name
    ("esphome", "tele/k/SENSOR", b"{}", R.UNKNOWN_TOPIC),
    ("tasmota", "zigbee2mqtt/p", b"{}", R.UNKNOWN_TOPIC),
    ("nope", "tele/k/SENSOR", b"{}", R.UNKNOWN_FORMAT),
]


@pytest.mark.parametrize(("fmt", "topic", "payload", "reason"), CASES)
def test_hostile_input_is_rejected_with_a_reason(
    fmt: str, topic: str, payload: bytes, reason: RejectReason
) -> None:
    """Each hostile message raises PayloadRejected with the expected reason."""
    with pytest.raises(PayloadRejected) as caught:
        decode(topic, payload, NOW, fmt, OPTS)
    assert caught.value.reason is reason, caught.value.detail


@pytest.mark.parametrize(
    ("fmt", "topic", "payload", "reason"),
    [case for case in CASES if case[3] not in (R.UNKNOWN_TOPIC, R.UNKNOWN_FORMAT)],
)
def test_hostile_input_is_rejected_by_auto_too(
    fmt: str, topic: str, payload: bytes, reason: RejectReason
) -> None:
    """``auto`` detects the family and rejects the same messages for the same reason."""
    with pytest.raises(PayloadRejected) as caught:
        decode(topic, payload, NOW, "auto", OPTS)
    assert caught.value.reason is reason, caught.value.detail


def test_far_off_device_time_falls_back_to_receive_time() -> None:
    """A timestamp a year ahead is not trusted: the reading stays, its time is None."""
    payload = b'{"method":"NotifyStatus","params":{"ts":%d,"switch:0":{"apower":5}}}' % (
        NOW + 365 * 86400
    )
    (item,) = decode("dev/events/rpc", payload, NOW, "shelly2", OPTS)
    assert (item.time, item.power_w) == (None, 5.0)


def _broken(
    topic: str, payload: bytes, received_at: EpochSeconds, options: PayloadOptions
) -> list[DecodedItem]:
    return [DecodedItem.__new__(DecodedItem)] if payload == b"ok" else [][int(payload)]


@pytest.fixture
def broken_family() -> Iterator[str]:
    """A family whose decoder has a bug (IndexError / ValueError)."""
    register(Family("broken", lambda t, o: t.startswith("broken/"), _broken, lambda o: []))
    yield "broken"
    del FAMILIES["broken"]


def test_a_decoder_bug_becomes_a_decoder_error_rejection(broken_family: str) -> None:
    """An unexpected exception inside a decoder is reported as ``decoder_error`` with detail."""
    for payload, exc_name in ((b"3", "IndexError"), (b"x", "ValueError")):
        with pytest.raises(PayloadRejected) as caught:
            decode("broken/topic", payload, NOW, broken_family, OPTS)
        assert caught.value.reason is RejectReason.DECODER_ERROR
        assert caught.value.detail.startswith(f"broken: {exc_name}")
    with pytest.raises(PayloadRejected) as caught:
        decode("broken/topic", b"3", NOW, "auto", OPTS)
    assert caught.value.reason is RejectReason.DECODER_ERROR
