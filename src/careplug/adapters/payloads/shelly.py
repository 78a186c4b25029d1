"""Shelly Gen1: ``shellies/<id>/relay/<n>/power|energy``, ``emeter/<n>/power|total``, ``online``.

``relay/<n>/power`` is plain text W; ``relay/<n>/energy`` is a counter in **watt-minutes**
(÷ 60 → Wh) that restarts at reboot; EM/3EM ``emeter/<n>/total`` is already Wh.
``shellies/<id>/online`` is ``true``/``false`` (retained, the Last Will). Everything else under
``shellies/`` (``announce``, ``info``, relay state, inputs, temperatures) yields no item: relay
state is not evidence of use. Device ids may contain ``/``; relay ``n`` is the channel (relay 0
is the plain device id). Gen1 messages carry no device time.
"""

from __future__ import annotations

from careplug.adapters.payloads.common import (
    Family,
    PayloadOptions,
    PayloadRejected,
    RejectReason,
    channel_number,
    check_device_id,
    energy,
    number,
    online_flag,
    power,
    register,
    text_of,
)
from careplug.domain.model import DecodedItem, EpochSeconds, ItemKind

NAME = "shelly"
_METERS = frozenset({"relay", "emeter", "meter"})
# Gen2+ devices configured with a ``shellies/…`` prefix publish these; leave them to shelly2
_GEN2_MARKERS = ("/events/rpc", "/status/switch:", "/status/pm1:")


def matches(topic: str, options: PayloadOptions) -> bool:
    """True for topics under the Gen1 prefix that are not Gen2+ RPC/status topics."""
    if not topic.startswith(options.shelly_prefix + "/"):
        return False
    return not any(marker in topic for marker in _GEN2_MARKERS)


def decode(
    topic: str, payload: bytes, received_at: EpochSeconds, options: PayloadOptions
) -> list[DecodedItem]:
    """Decode one Shelly Gen1 message."""
    if not matches(topic, options):
        raise PayloadRejected(RejectReason.UNKNOWN_TOPIC, topic[:200])
    parts = topic.split("/")
    leaf = parts[-1]
    if leaf == "online" and len(parts) >= 3:
        device = check_device_id("/".join(parts[1:-1]))
        return [DecodedItem(ItemKind.AVAILABILITY, device, online=online_flag(payload))]
    if len(parts) >= 5 and parts[-3] in _METERS and leaf in ("power", "energy", "total"):
        device = check_device_id("/".join(parts[1:-3]))
        channel = channel_number(parts[-2])
        text = text_of(payload)
        kind = parts[-3]
        if leaf == "power":
            watts = power(text, options, f"{kind}/power")
            if watts is None:
                return []
            return [DecodedItem(ItemKind.READING, device, channel=channel, power_w=watts)]
        if leaf == "energy" and kind != "emeter":
            counter = energy(text, 1.0 / 60.0, f"{kind}/energy")  # watt-minutes → Wh
        elif leaf == "total" and kind == "emeter":
            counter = energy(text, 1.0, "emeter/total")  # already Wh
        else:
            number(text, leaf)  # understood, not a counter careplug uses (emeter/energy)
            return []
        if counter is None:
            return []
        return [DecodedItem(ItemKind.READING, device, channel=channel, energy_wh=counter)]
    return []


def subscriptions(options: PayloadOptions) -> list[str]:
    """Everything under the Gen1 prefix: ids may contain ``/``, so ``+`` cannot match them."""
    return [f"{options.shelly_prefix}/#"]


register(Family(NAME, matches, decode, subscriptions))
