"""Payload decoders: MQTT topic and payload of one firmware family → normalised items.

Each family is a module with ``matches(topic, options) -> bool`` and
``decode(topic, payload, received_at, options) -> list[DecodedItem]``. A decoder raises
:class:`PayloadRejected` with a :class:`RejectReason` for anything it cannot accept, and returns
an empty list for messages it understands but that carry nothing for careplug (e.g. a Zigbee2MQTT
bridge log). Decoders are stateless and never read the clock: ``received_at`` is passed in.
"""

from __future__ import annotations

# Importing a family module registers it; the order is the order ``auto`` tries them.
from careplug.adapters.payloads import native as native
from careplug.adapters.payloads.common import (
    FAMILIES,
    PayloadOptions,
    PayloadRejected,
    RejectReason,
    decode,
    detect_family,
    subscriptions,
)

__all__ = [
    "FAMILIES",
    "PayloadOptions",
    "PayloadRejected",
    "RejectReason",
    "decode",
    "detect_family",
    "subscriptions",
]
