"""The native fast path gives exactly what the full decoder gives, or steps aside."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careplug.adapters.payloads import PayloadOptions, PayloadRejected, decode
from careplug.adapters.payloads.native import reading_device, reading_fields
from careplug.domain.model import ItemKind

OPTS = PayloadOptions()
NOW = 1_800_000_000.0
TOPIC = "careplug/plugs/plug-001/reading"

# JSON values a field may hold: numbers of every sort, and what must not pass as one
VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([NOW, NOW - 30, NOW + 5000, 0, -1, 20_000, 20_000.5, 1e308, -0.0]),
    st.text(max_size=12),
    st.sampled_from(["12.5", "nan", "2026-11-25T07:40:00Z", "2027-01-15T08:00:00+09:00"]),
    st.lists(st.integers(), max_size=2),
)
BODY = st.dictionaries(
    st.sampled_from(["device", "time", "power_w", "energy_wh", "other"]),
    VALUE | st.sampled_from(["plug-001", "plug-002"]),
)


def _both(payload: bytes) -> tuple[object, object]:
    """(fast path result, full decoder's items or its rejection reason)."""
    fast = reading_fields("plug-001", payload, NOW, OPTS)
    try:
        full: object = decode(TOPIC, payload, NOW, "native", OPTS)
    except PayloadRejected as exc:
        full = exc.reason
    return fast, full


def _assert_same(payload: bytes) -> bool:
    """The fast path's fields equal the decoder's single reading; True if it took it."""
    fast, full = _both(payload)
    if fast is None:
        return False
    assert isinstance(full, list) and len(full) == 1, (payload, full)
    item = full[0]
    assert item.kind is ItemKind.READING and item.device == "plug-001"
    assert fast == (item.time, item.power_w, item.energy_wh), payload
    for got, want in zip(fast, (item.time, item.power_w, item.energy_wh), strict=True):
        assert type(got) is type(want)
    return True


@settings(max_examples=1500, deadline=None)
@given(BODY)
def test_any_object_gives_the_decoders_reading_or_none(body: dict[str, object]) -> None:
    """Whatever the fields hold, a fast result is exactly the decoder's one reading."""
    _assert_same(json.dumps(body).encode())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_any_bytes_give_the_decoders_reading_or_none(payload: bytes) -> None:
    """Not UTF-8, not JSON, not an object: the fast path steps aside (never raises)."""
    _assert_same(payload)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"device": "plug-001", "time": 1800000000.5, "power_w": 12.5, "energy_wh": 1234.5}',
        b'{"time": 1800000000, "power_w": 0, "energy_wh": 7}',
        b'{"power_w": 20000}',
        b'{"energy_wh": 0.0}',
        b'{"time": "2027-01-15T08:00:00+09:00", "power_w": 3.5}',
        b'{"time": 1700000000, "power_w": 1.0}',  # far-off device clock: receive time
        b' \t{"power_w": 1}\r\n ',  # JSON whitespace around the object
    ],
)
def test_plain_readings_take_the_fast_path(payload: bytes) -> None:
    """The commonest messages do take it, with the decoder's values."""
    assert _assert_same(payload)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"power_w": -1}',
        b'{"power_w": 20000.5}',
        b'{"power_w": NaN}',
        b'{"power_w": Infinity}',
        b'{"energy_wh": -0.5}',
        b'{"power_w": true}',
        b'{"power_w": "12"}',
        b'{"device": "plug-002", "power_w": 1}',
        b'{"time": "yesterday", "power_w": 1}',
        b'{"time": false, "power_w": 1}',
        b'{"other": 1}',
        b"[1, 2]",
        b"\xff\xfe{}",
        b'{"power_w": 1e999}',
        b"[" * 100_000,
        b'{"power_w": 1} {}',  # more after the object
        b'{"power_w": 1}\x0c',  # not JSON whitespace after it
        b'\xef\xbb\xbf{"power_w": 1}',  # a UTF-8 byte order mark
        b"",
    ],
)
def test_anything_else_is_left_to_the_decoder(payload: bytes) -> None:
    """Rejected or unusual messages get None: the decoder judges (and counts) them."""
    assert reading_fields("plug-001", payload, NOW, OPTS) is None


def test_only_valid_reading_topics_have_a_fast_device() -> None:
    """A status topic, a foreign prefix or a bad device id never take the fast path."""
    assert reading_device(TOPIC, OPTS) == "plug-001"
    assert reading_device("careplug/plugs/plug-001/status", OPTS) is None
    assert reading_device("other/plugs/plug-001/reading", OPTS) is None
    assert reading_device("careplug/plugs/bad\x01id/reading", OPTS) is None
