"""Tasmota: ``tele/<topic>/SENSOR``, ``STATE``, ``LWT`` and ``stat/<topic>/STATUS8|STATUS10``.

The topic layout follows the device's FullTopic template (``PayloadOptions.tasmota_full_topic``,
default ``%prefix%/%topic%/``; reordered or with extra literal levels, e.g.
``home/%topic%/%prefix%/``). Every placeholder other than ``%prefix%`` is one topic level and
together they form the device id.

``ENERGY.Power`` is W, a list on multi-channel devices (one plug per channel, channels 1..n);
``ENERGY.Total`` is kWh (→ Wh × 1000). ``Today``, ``Yesterday`` and ``Period`` are never used:
they reset daily or per message. ``Time`` is the device's local time without an offset (read in
``PayloadOptions.tasmota_timezone``) and is kept only when sane. Old firmware sends numbers as
strings, sometimes space-padded.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from careplug.adapters.payloads.common import (
    Family,
    PayloadOptions,
    PayloadRejected,
    RejectReason,
    check_device_id,
    energy,
    json_object,
    online_flag,
    power,
    register,
    sane_device_time,
    text_of,
)
from careplug.domain.model import DecodedItem, EpochSeconds, ItemKind

NAME = "tasmota"
_PREFIXES = frozenset({"tele", "stat"})
_PREFIX = "%prefix%"
# at most this many channels on one device (Tasmota supports up to 8 relays with energy)
_MAX_CHANNELS = 32


@lru_cache(maxsize=16)
def _template(full_topic: str) -> tuple[str, ...]:
    """The FullTopic template as levels (the trailing ``/`` is where the leaf goes)."""
    levels = tuple(full_topic.strip("/").split("/"))
    if _PREFIX not in levels or not any(lv.startswith("%") and lv != _PREFIX for lv in levels):
        raise ValueError(f"Tasmota FullTopic {full_topic!r} needs %prefix% and %topic%")
    return levels


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _split(topic: str, options: PayloadOptions) -> tuple[str, str, str] | None:
    """(prefix, device, leaf) when the topic fits the FullTopic template, else None."""
    template = _template(options.tasmota_full_topic)
    parts = topic.split("/")
    if len(parts) != len(template) + 1:
        return None
    leaf = parts[-1]
    # Tasmota leaves are upper case (SENSOR, STATE, LWT, STATUS10, RESULT); this keeps
    # lower-case Shelly Gen2 or ESPHome topics of the same depth out.
    if not leaf.isupper():
        return None
    prefix = ""
    device_levels: list[str] = []
    for level, part in zip(template, parts, strict=False):
        if level == _PREFIX:
            prefix = part
        elif level.startswith("%") and level.endswith("%"):
            device_levels.append(part)
        elif level != part:
            return None
    if prefix not in _PREFIXES:
        return None
    return prefix, "/".join(device_levels), leaf


def matches(topic: str, options: PayloadOptions) -> bool:
    """True for ``tele/…`` and ``stat/…`` topics that fit the FullTopic template."""
    return _split(topic, options) is not None


def parse_local_time(value: object, options: PayloadOptions) -> EpochSeconds | None:
    """Epoch seconds from Tasmota's ``Time``: local time without offset, or with one."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadRejected(RejectReason.BAD_TIME, type(value).__name__)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise PayloadRejected(RejectReason.BAD_TIME, value[:40]) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_zone(options.tasmota_timezone))
    try:
        return parsed.timestamp()
    except (OverflowError, ValueError):
        raise PayloadRejected(RejectReason.BAD_TIME, value[:40]) from None


def _per_channel(value: object, what: str) -> list[object] | None:
    """A list value (multi-channel) as a list; None for a scalar."""
    if isinstance(value, list):
        if not value or len(value) > _MAX_CHANNELS:
            raise PayloadRejected(RejectReason.WRONG_SHAPE, f"{what} has {len(value)} channels")
        return value
    return None


def _energy_items(
    device: str, body: dict[str, object], received_at: EpochSeconds, options: PayloadOptions
) -> list[DecodedItem]:
    readings = body.get("ENERGY")
    if readings is None:
        return []  # a SENSOR message from another sensor (temperature, …)
    if not isinstance(readings, dict):
        raise PayloadRejected(RejectReason.WRONG_SHAPE, "ENERGY is not an object")
    raw_power = readings.get("Power")
    raw_total = readings.get("Total")
    powers = _per_channel(raw_power, "Power")
    totals = _per_channel(raw_total, "Total")
    at = sane_device_time(parse_local_time(body.get("Time"), options), received_at, options)
    if powers is None and totals is None:
        watts = power(raw_power, options, "ENERGY.Power")
        counter = energy(raw_total, 1000.0, "ENERGY.Total")
        if watts is None and counter is None:
            return []
        return [DecodedItem(ItemKind.READING, device, time=at, power_w=watts, energy_wh=counter)]
    count = len(powers) if powers is not None else len(totals or ())
    if powers is not None and totals is not None and len(totals) != count:
        # a device-wide Total next to per-channel Power cannot be split between channels
        totals = None
    items: list[DecodedItem] = []
    for index in range(count):
        watts = power(powers[index], options, f"ENERGY.Power[{index}]") if powers else None
        counter = energy(totals[index], 1000.0, f"ENERGY.Total[{index}]") if totals else None
        if watts is None and counter is None:
            continue
        items.append(
            DecodedItem(
                ItemKind.READING,
                device,
                channel=index + 1,
                time=at,
                power_w=watts,
                energy_wh=counter,
            )
        )
    return items


def decode(
    topic: str, payload: bytes, received_at: EpochSeconds, options: PayloadOptions
) -> list[DecodedItem]:
    """Decode one Tasmota message; other ``tele``/``stat`` leaves (RESULT, INFO…) yield []."""
    split = _split(topic, options)
    if split is None:
        raise PayloadRejected(RejectReason.UNKNOWN_TOPIC, topic[:200])
    prefix, device, leaf = split
    device = check_device_id(device)
    if prefix == "tele":
        if leaf == "SENSOR":
            return _energy_items(device, json_object(payload), received_at, options)
        if leaf == "STATE":
            json_object(payload)  # a heartbeat: it must at least be what Tasmota sends
            return [DecodedItem(ItemKind.AVAILABILITY, device, online=True)]
        if leaf == "LWT":
            return [DecodedItem(ItemKind.AVAILABILITY, device, online=online_flag(payload))]
        return []
    if leaf in ("STATUS8", "STATUS10"):
        body = json_object(payload)
        inner = body.get("StatusSNS")
        if not isinstance(inner, dict):
            raise PayloadRejected(RejectReason.WRONG_SHAPE, f"{leaf} without StatusSNS")
        return _energy_items(device, inner, received_at, options)
    text_of(payload)
    return []


def subscriptions(options: PayloadOptions) -> list[str]:
    """Topic filters for the leaves careplug reads, following the FullTopic template."""
    template = _template(options.tasmota_full_topic)
    filters: list[str] = []
    for prefix, leaves in (("tele", ("SENSOR", "STATE", "LWT")), ("stat", ("STATUS8", "STATUS10"))):
        base = "/".join(
            prefix if lv == _PREFIX else "+" if lv.startswith("%") else lv for lv in template
        )
        filters.extend(f"{base}/{leaf}" for leaf in leaves)
    return filters


register(Family(NAME, matches, decode, subscriptions))
