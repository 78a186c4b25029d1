"""ESPHome: ``<node>/sensor/<name>/state`` plain numbers and ``<node>/status``.

``<node>`` is the node's ``topic_prefix`` (by default its name) and the device id; ``<name>``
is the sensor's object id (lower case, ``_`` for spaces). The unit lives in the node's YAML, not
in the message, so which sensors are power (W) or energy (× ``esphome_energy_scale`` → Wh) is
configured by name words in :class:`PayloadOptions` (default: ``power`` → W, ``energy`` → Wh,
``power_factor``/``apparent``/``reactive`` ignored). ``nan`` means no reading: no item. Other
sensors and components yield no item. ``<node>/status`` is ``online``/``offline`` (retained).
"""

from __future__ import annotations

from careplug.adapters.payloads.common import (
    Family,
    PayloadOptions,
    PayloadRejected,
    RejectReason,
    check_device_id,
    energy,
    online_flag,
    power,
    register,
    text_of,
)
from careplug.domain.model import DecodedItem, EpochSeconds, ItemKind

NAME = "esphome"
# ``<x>/status`` topics that are not ESPHome nodes: Home Assistant's birth message and
# careplug's own Last Will
_NOT_NODES = frozenset({"homeassistant", "careplug"})


def _split(topic: str, options: PayloadOptions) -> tuple[str, str, str] | None:
    """(node, component, name) for state topics; (node, "status", "") for status."""
    if topic.endswith("/status"):
        node = topic[: -len("/status")]
        kind = ("status", "")
    else:
        parts = topic.rsplit("/", 3)
        if len(parts) != 4 or parts[3] != "state" or not parts[0] or not parts[2]:
            return None
        node = parts[0]
        kind = (parts[1], parts[2])
    if not node or node in _NOT_NODES:
        return None
    if options.esphome_nodes and node not in options.esphome_nodes:
        return None
    return node, kind[0], kind[1]


def matches(topic: str, options: PayloadOptions) -> bool:
    """True for ``<node>/status`` and ``<node>/<component>/<name>/state``."""
    return _split(topic, options) is not None


def _classify(name: str, options: PayloadOptions) -> str | None:
    lowered = name.lower()
    if any(word in lowered for word in options.esphome_ignore_words):
        return None
    if any(word in lowered for word in options.esphome_energy_words):
        return "energy"
    if any(word in lowered for word in options.esphome_power_words):
        return "power"
    return None


def decode(
    topic: str, payload: bytes, received_at: EpochSeconds, options: PayloadOptions
) -> list[DecodedItem]:
    """Decode one ESPHome message."""
    split = _split(topic, options)
    if split is None:
        raise PayloadRejected(RejectReason.UNKNOWN_TOPIC, topic[:200])
    node, component, name = split
    device = check_device_id(node)
    if component == "status" and not name:
        return [DecodedItem(ItemKind.AVAILABILITY, device, online=online_flag(payload))]
    if component != "sensor":
        return []
    role = _classify(name, options)
    text = text_of(payload)
    if role is None:
        return []
    if role == "power":
        watts = power(text, options, name)
        if watts is None:
            return []
        return [DecodedItem(ItemKind.READING, device, power_w=watts)]
    counter = energy(text, options.esphome_energy_scale, name)
    if counter is None:
        return []
    return [DecodedItem(ItemKind.READING, device, energy_wh=counter)]


def subscriptions(options: PayloadOptions) -> list[str]:
    """``<node>/status`` and sensor states, per configured node or for any one-level node."""
    nodes = options.esphome_nodes or ("+",)
    filters: list[str] = []
    for node in nodes:
        filters += [f"{node}/status", f"{node}/sensor/+/state"]
    return filters


register(Family(NAME, matches, decode, subscriptions))
