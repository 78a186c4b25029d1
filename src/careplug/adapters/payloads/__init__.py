"""Payload decoders: MQTT topic and payload of one firmware family → normalised items.

Each family is a module with ``matches(topic, options) -> bool`` and
``decode(topic, payload, received_at, options) -> list[DecodedItem]``. A decoder raises
:class:`PayloadRejected` with a :class:`RejectReason` for anything it cannot accept, and returns
an empty list for messages it understands but that carry nothing for careplug (e.g. a Zigbee2MQTT
bridge log). Decoders are stateless and never read the clock: ``received_at`` is passed in.
"""

from __future__ import annotations

# Importing a family module registers it.
from careplug.adapters.payloads import esphome as esphome
from careplug.adapters.payloads import native as native
from careplug.adapters.payloads import shelly as shelly
from careplug.adapters.payloads import shelly2 as shelly2
from careplug.adapters.payloads import tasmota as tasmota
from careplug.adapters.payloads import zigbee2mqtt as zigbee2mqtt
from careplug.adapters.payloads.common import (
    FAMILIES,
    PayloadOptions,
    PayloadRejected,
    RejectReason,
    decode,
    detect_family,
    subscriptions,
)

# The order ``auto`` tries the families in. Explicit prefixes first (native, Zigbee2MQTT base
# topics, Shelly Gen1 ``shellies/``), then the Tasmota FullTopic template (upper-case leaves),
# then the shape-only layouts: Shelly Gen2's arbitrary prefix (``online``, ``events/rpc``,
# ``status/<component>``) and ESPHome's node (``status``, ``sensor/<name>/state``).
DETECTION_ORDER = ("native", "zigbee2mqtt", "shelly", "tasmota", "shelly2", "esphome")
_ordered = {name: FAMILIES[name] for name in DETECTION_ORDER} | {
    name: family for name, family in FAMILIES.items() if name not in DETECTION_ORDER
}
FAMILIES.clear()
FAMILIES.update(_ordered)

__all__ = [
    "DETECTION_ORDER",
    "FAMILIES",
    "PayloadOptions",
    "PayloadRejected",
    "RejectReason",
    "decode",
    "detect_family",
    "subscriptions",
]
