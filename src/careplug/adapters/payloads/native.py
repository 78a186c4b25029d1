"""careplug's own JSON format.

Topics: ``<prefix>/<device>/reading`` carries a JSON object
``{"device": "plug-001", "time": "2026-11-25T07:40:00Z", "power_w": 12.5, "energy_wh": 1234.5}``
(``device`` optional but must match the topic; ``time`` an ISO
8601 string with offset or epoch seconds, optional; ``energy_wh`` a cumulative counter, optional).
``<prefix>/<device>/status`` carries ``online`` or ``offline`` (retained; use it as the Last Will).
"""

from __future__ import annotations

import json
import math
from datetime import datetime

import orjson

from careplug.adapters.payloads.common import (
    Family,
    PayloadOptions,
    PayloadRejected,
    RejectReason,
    check_device_id,
    energy,
    power,
    register,
    sane_device_time,
)
from careplug.domain.model import DecodedItem, EpochSeconds, ItemKind

NAME = "native"


def _split(topic: str, options: PayloadOptions) -> tuple[str, str] | None:
    prefix = options.native_prefix.rstrip("/") + "/"
    if not topic.startswith(prefix):
        return None
    rest = topic[len(prefix) :]
    device, _, leaf = rest.rpartition("/")
    if not device or leaf not in ("reading", "status"):
        return None
    return device, leaf


def matches(topic: str, options: PayloadOptions) -> bool:
    """True for ``<prefix>/<device>/reading`` and ``<prefix>/<device>/status``."""
    return _split(topic, options) is not None


def parse_time(value: object) -> EpochSeconds | None:
    """Epoch seconds from an ISO 8601 string with an offset, or from a number."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise PayloadRejected(RejectReason.BAD_TIME, "boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise PayloadRejected(RejectReason.BAD_TIME, value[:40]) from None
        if parsed.tzinfo is None:
            raise PayloadRejected(RejectReason.BAD_TIME, "no UTC offset")
        return parsed.timestamp()
    raise PayloadRejected(RejectReason.BAD_TIME, type(value).__name__)


def decode(
    topic: str, payload: bytes, received_at: EpochSeconds, options: PayloadOptions
) -> list[DecodedItem]:
    """Decode one native message."""
    split = _split(topic, options)
    if split is None:
        raise PayloadRejected(RejectReason.UNKNOWN_TOPIC, topic[:200])
    device = check_device_id(split[0])
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadRejected(RejectReason.NOT_UTF8) from None
    if split[1] == "status":
        state = text.strip().strip('"').lower()
        if state not in ("online", "offline"):
            raise PayloadRejected(RejectReason.WRONG_SHAPE, f"status {text[:20]!r}")
        return [DecodedItem(ItemKind.AVAILABILITY, device, online=state == "online")]
    try:
        body = json.loads(text)
    except ValueError:
        raise PayloadRejected(RejectReason.NOT_JSON) from None
    if not isinstance(body, dict):
        raise PayloadRejected(RejectReason.WRONG_SHAPE, "not an object")
    named = body.get("device")
    if named is not None and named != device:
        raise PayloadRejected(RejectReason.BAD_DEVICE_ID, "payload device differs from topic")
    watts = power(body.get("power_w"), options, "power_w")
    counter = energy(body.get("energy_wh"), 1.0, "energy_wh")
    if watts is None and counter is None:
        raise PayloadRejected(RejectReason.WRONG_SHAPE, "neither power_w nor energy_wh")
    at = sane_device_time(parse_time(body.get("time")), received_at, options)
    return [DecodedItem(ItemKind.READING, device, time=at, power_w=watts, energy_wh=counter)]


def reading_device(topic: str, options: PayloadOptions) -> str | None:
    """The device of a ``<prefix>/<device>/reading`` topic with a valid device id, else None
    (for :func:`reading_fields`; a caller looks it up once per topic)."""
    split = _split(topic, options)
    if split is None or split[1] != "reading":
        return None
    try:
        return check_device_id(split[0])
    except PayloadRejected:
        return None


def reading_fields(
    device: str, payload: bytes, received_at: EpochSeconds, options: PayloadOptions
) -> tuple[EpochSeconds | None, float | None, float | None] | None:
    """``(time, power_w, energy_wh)`` of a plain, valid reading for ``device``, exactly as
    :func:`decode` would give them (``time`` None when the device clock is not sane), or None
    for anything else: such a message must take :func:`decode`, which accepts or rejects it as
    always. Never raises. Does not check the payload's size (the caller does).

    The fast path for the commonest message: JSON numbers only, no ``DecodedItem``.
    """
    try:
        # orjson: a third of json's time here. What it parses differently from json (NaN,
        # overflow to infinity, lone surrogates, invalid UTF-8) it rejects, which only sends
        # the message to decode(), judged with json as always (test_native_fast_path.py holds
        # the two equal)
        body = orjson.loads(payload)
        if type(body) is not dict:
            return None
        named = body.get("device")
        if named is not None and named != device:
            return None
        watts = body.get("power_w")
        if watts is not None:
            if type(watts) is not float and type(watts) is not int:
                return None  # strings, booleans and the rest: decode() judges them
            watts = float(watts)
            if not 0.0 <= watts <= options.max_power_w:
                return None  # negative, absurd or NaN
        counter = body.get("energy_wh")
        if counter is not None:
            if type(counter) is not float and type(counter) is not int:
                return None
            counter = float(counter)
            if not 0.0 <= counter < math.inf:
                return None
        if watts is None and counter is None:
            return None
        at = body.get("time")
        if at is not None:
            if type(at) is float or type(at) is int:
                at = float(at)
            elif type(at) is str:
                at = parse_time(at)
            else:
                return None
        return sane_device_time(at, received_at, options), watts, counter
    except Exception:  # malformed, overflowing, deeply nested: decode() says why
        return None


def subscriptions(options: PayloadOptions) -> list[str]:
    """Topic filters for the native format."""
    prefix = options.native_prefix.rstrip("/")
    return [f"{prefix}/+/reading", f"{prefix}/+/status"]


register(Family(NAME, matches, decode, subscriptions))
