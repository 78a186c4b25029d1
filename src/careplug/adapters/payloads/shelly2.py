"""Shelly Gen2/Plus/Pro/Gen3/Gen4: ``<prefix>/status/switch:<n>``, ``pm1:<n>``, ``events/rpc``.

``<prefix>`` is the device's MQTT topic prefix (by default its id, e.g.
``shellyplusplugs-a8032abe54dc``; users may change it); it is the device id.
``status/switch:<n>`` and ``status/pm1:<n>`` carry the full component status: ``apower`` W and
``aenergy.total`` Wh (``aenergy.by_minute`` is mWh per minute and never used as the counter).
``events/rpc`` carries ``NotifyStatus`` frames whose component objects are **partial**: a key
that is absent is unknown (never 0 W). ``params.ts`` is epoch seconds, but right after boot it
may be uptime, so it is kept only when sane. ``<prefix>/online`` is ``true``/``false``.
Other status components and RPC methods yield no item. Channel ``n`` 0 is the plain device id.
"""

from __future__ import annotations

import re

from careplug.adapters.payloads.common import (
    Family,
    PayloadOptions,
    PayloadRejected,
    RejectReason,
    channel_number,
    check_device_id,
    energy,
    json_object,
    number,
    online_flag,
    power,
    register,
    sane_device_time,
)
from careplug.domain.model import DecodedItem, EpochSeconds, ItemKind

NAME = "shelly2"
# a Gen2 component key: lower-case type, optional ``:<id>`` (switch:0, pm1:0, sys, wifi)
_COMPONENT = re.compile(r"[a-z][a-z0-9_]*(?::[0-9]{1,3})?")
_METERED = ("switch:", "pm1:")
_STATUS_METHODS = frozenset({"NotifyStatus", "NotifyFullStatus"})


def _split(topic: str) -> tuple[str, str, str] | None:
    """(prefix, kind, component) for Gen2 topics, kind one of status/rpc/online."""
    if topic.endswith("/events/rpc"):
        prefix = topic[: -len("/events/rpc")]
        return (prefix, "rpc", "") if prefix else None
    if topic.endswith("/online"):
        prefix = topic[: -len("/online")]
        return (prefix, "online", "") if prefix else None
    head, _, component = topic.rpartition("/")
    prefix, _, status = head.rpartition("/")
    # ``state`` is an ESPHome leaf (``<node>/sensor/status/state``), never a Gen2 component
    if status == "status" and prefix and component != "state" and _COMPONENT.fullmatch(component):
        return prefix, "status", component
    return None


def matches(topic: str, options: PayloadOptions) -> bool:
    """True for ``<prefix>/events/rpc``, ``<prefix>/online`` and ``<prefix>/status/<comp>``."""
    split = _split(topic)
    if split is None:
        return False
    if options.shelly2_prefixes:
        return split[0] in options.shelly2_prefixes
    return True


def _meter_item(
    device: str,
    component: str,
    status: object,
    at: EpochSeconds | None,
    options: PayloadOptions,
) -> DecodedItem | None:
    """One reading from a (possibly partial) switch/pm1 status object, or None if it has none."""
    if not isinstance(status, dict):
        raise PayloadRejected(RejectReason.WRONG_SHAPE, f"{component} is not an object")
    channel = channel_number(component.partition(":")[2])
    watts = power(status.get("apower"), options, f"{component}.apower")
    counter = None
    aenergy = status.get("aenergy")
    if aenergy is not None:
        if not isinstance(aenergy, dict):
            raise PayloadRejected(RejectReason.WRONG_SHAPE, f"{component}.aenergy")
        counter = energy(aenergy.get("total"), 1.0, f"{component}.aenergy.total")
    if watts is None and counter is None:
        return None  # e.g. only ``output`` changed: relay state is not evidence of use
    return DecodedItem(
        ItemKind.READING, device, channel=channel, time=at, power_w=watts, energy_wh=counter
    )


def decode(
    topic: str, payload: bytes, received_at: EpochSeconds, options: PayloadOptions
) -> list[DecodedItem]:
    """Decode one Shelly Gen2+ message."""
    split = _split(topic)
    if split is None:
        raise PayloadRejected(RejectReason.UNKNOWN_TOPIC, topic[:200])
    prefix, kind, component = split
    device = check_device_id(prefix)
    if kind == "online":
        return [DecodedItem(ItemKind.AVAILABILITY, device, online=online_flag(payload))]
    body = json_object(payload)
    if kind == "status":
        if not component.startswith(_METERED):
            return []
        item = _meter_item(device, component, body, None, options)
        return [item] if item is not None else []
    if body.get("method") not in _STATUS_METHODS:
        return []
    params = body.get("params")
    if not isinstance(params, dict):
        raise PayloadRejected(RejectReason.WRONG_SHAPE, "params is not an object")
    ts = number(params.get("ts"), "params.ts")
    at = sane_device_time(ts, received_at, options)
    items: list[DecodedItem] = []
    for key, status in params.items():
        if key.startswith(_METERED) and _COMPONENT.fullmatch(key):
            item = _meter_item(device, key, status, at, options)
            if item is not None:
                items.append(item)
    return items


def subscriptions(options: PayloadOptions) -> list[str]:
    """Filters per configured prefix, or one-level ``+`` prefixes (the default device ids)."""
    prefixes = options.shelly2_prefixes or ("+",)
    filters: list[str] = []
    for prefix in prefixes:
        filters += [f"{prefix}/online", f"{prefix}/events/rpc", f"{prefix}/status/+"]
    return filters


register(Family(NAME, matches, decode, subscriptions))
