"""Zigbee2MQTT: ``<base>/<friendly_name>`` JSON, ``…/availability``, ``<base>/bridge/state``.

``power`` is W and ``energy`` kWh (→ Wh × 1000); ``energy_today``, ``energy_month`` … reset and
are never used. A message with neither ``power`` nor ``energy`` (only ``state``,
``linkquality`` …) yields no item: relay state is not evidence of use. Availability is
``{"state":"online"}`` (1.x+: plain ``online``/``offline``). ``<base>/bridge/state`` is the
bridge's Last Will: when it goes offline every plug behind it is offline, not inactive, so it
becomes a ``gateway_availability`` item with ``device=<base>``; every plug item carries
``gateway=<base>``. The rest of ``<base>/bridge/…`` and the ``/set``, ``/get`` command topics
yield no item. Friendly names may contain ``/``. Base topics come from
``PayloadOptions.zigbee2mqtt_base_topics``; the longest matching one wins.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from careplug.adapters.payloads.common import (
    Family,
    PayloadOptions,
    PayloadRejected,
    RejectReason,
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

NAME = "zigbee2mqtt"
_COMMANDS = frozenset({"set", "get"})


@lru_cache(maxsize=16)
def _bases(bases: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(base, base + "/") longest first, so ``z2m/floor2`` wins over ``z2m``."""
    cleaned = sorted({b.strip("/") for b in bases if b.strip("/")}, key=len, reverse=True)
    return tuple((b, b + "/") for b in cleaned)


def _split(topic: str, options: PayloadOptions) -> tuple[str, str] | None:
    for base, with_slash in _bases(options.zigbee2mqtt_base_topics):
        if topic.startswith(with_slash) and len(topic) > len(with_slash):
            return base, topic[len(with_slash) :]
    return None


def matches(topic: str, options: PayloadOptions) -> bool:
    """True for every topic under a configured base topic."""
    return _split(topic, options) is not None


def _last_seen(value: object) -> EpochSeconds | None:
    """Z2M's optional ``last_seen``: ISO 8601 with offset, or epoch milliseconds."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        millis = number(value, "last_seen")
        return None if millis is None else millis / 1000.0
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise PayloadRejected(RejectReason.BAD_TIME, value[:40]) from None
        if parsed.tzinfo is None:
            return None  # no offset: cannot place it in time, use the receive time
        try:
            return parsed.timestamp()
        except (OverflowError, ValueError):
            raise PayloadRejected(RejectReason.BAD_TIME, value[:40]) from None
    raise PayloadRejected(RejectReason.BAD_TIME, type(value).__name__)


def decode(
    topic: str, payload: bytes, received_at: EpochSeconds, options: PayloadOptions
) -> list[DecodedItem]:
    """Decode one Zigbee2MQTT message."""
    split = _split(topic, options)
    if split is None:
        raise PayloadRejected(RejectReason.UNKNOWN_TOPIC, topic[:200])
    base, rest = split
    if rest == "bridge/state":
        gateway = check_device_id(base)
        return [DecodedItem(ItemKind.GATEWAY_AVAILABILITY, gateway, online=online_flag(payload))]
    if rest.startswith("bridge/") or rest == "bridge":
        return []
    name, _, leaf = rest.rpartition("/")
    if name and leaf == "availability":
        device = check_device_id(name)
        online = online_flag(payload)
        return [DecodedItem(ItemKind.AVAILABILITY, device, online=online, gateway=base)]
    if name and (leaf in _COMMANDS or "/set/" in rest):
        return []  # commands to the device, published by someone else
    device = check_device_id(rest)
    body = json_object(payload)
    watts = power(body.get("power"), options, "power")
    counter = energy(body.get("energy"), 1000.0, "energy")
    if watts is None and counter is None:
        return []
    at = sane_device_time(_last_seen(body.get("last_seen")), received_at, options)
    return [
        DecodedItem(
            ItemKind.READING, device, time=at, power_w=watts, energy_wh=counter, gateway=base
        )
    ]


def subscriptions(options: PayloadOptions) -> list[str]:
    """Everything under each base topic (friendly names may contain ``/``)."""
    return [f"{base}/#" for base, _ in _bases(options.zigbee2mqtt_base_topics)]


register(Family(NAME, matches, decode, subscriptions))
