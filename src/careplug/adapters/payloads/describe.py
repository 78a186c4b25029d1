"""What careplug makes of one message, as JSON lines: the logic behind ``careplug decode``."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from careplug.adapters.payloads.common import PayloadOptions, PayloadRejected, decode
from careplug.domain.model import DecodedItem, EpochSeconds

EXIT_OK = 0
EXIT_REJECTED = 2


def _iso(at: EpochSeconds | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def item_dict(item: DecodedItem) -> dict[str, object]:
    """One decoded item as the JSON object ``careplug decode`` prints."""
    return {
        "device": item.device,
        "channel": item.channel,
        "time": _iso(item.time),
        "power_w": item.power_w,
        "energy_wh": item.energy_wh,
        "online": item.online,
        "kind": item.kind.value,
    }


def describe(
    topic: str, payload: bytes, fmt: str, received_at: float, options: PayloadOptions
) -> tuple[list[str], int]:
    """The JSON lines to print for one message and the exit code.

    One line per decoded item and exit 0 (no line when the message is understood but carries
    nothing for careplug, e.g. a bridge log); on rejection a single
    ``{"rejected": reason, "detail": ...}`` line and exit 2. ``time`` is ISO 8601 UTC when the
    device's clock was sane, else null (careplug then uses the receive time).
    """
    try:
        items = decode(topic, payload, received_at, fmt, options)
    except PayloadRejected as rejected:
        line = {"rejected": rejected.reason.value, "detail": rejected.detail}
        return [json.dumps(line, ensure_ascii=False)], EXIT_REJECTED
    return [json.dumps(item_dict(item), ensure_ascii=False) for item in items], EXIT_OK
