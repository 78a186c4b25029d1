"""The decoder registry, options and rejection reasons shared by every family."""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass

from careplug.domain.model import DecodedItem, EpochSeconds
from careplug.errors import CareplugError


class RejectReason(enum.StrEnum):
    """Why a message was rejected; used as a metric label and a log key."""

    TOO_LARGE = "too_large"
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    WRONG_SHAPE = "wrong_shape"
    WRONG_TYPE = "wrong_type"
    NOT_FINITE = "not_finite"
    NEGATIVE_POWER = "negative_power"
    ABSURD_POWER = "absurd_power"
    NEGATIVE_ENERGY = "negative_energy"
    BAD_DEVICE_ID = "bad_device_id"
    BAD_TIME = "bad_time"
    UNKNOWN_TOPIC = "unknown_topic"
    UNKNOWN_FORMAT = "unknown_format"


class PayloadRejected(CareplugError):
    """A message careplug cannot accept, with a reason from :class:`RejectReason`."""

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class PayloadOptions:
    """Topic layouts and sanity limits for every family (set from the ``[mqtt]`` config)."""

    native_prefix: str = "careplug/plugs"
    max_payload_bytes: int = 16 * 1024
    max_power_w: float = 20_000.0
    # device clocks further than this from the receive time are not trusted
    max_clock_skew_s: float = 600.0


Decoder = Callable[[str, bytes, EpochSeconds, PayloadOptions], list[DecodedItem]]
Matcher = Callable[[str, PayloadOptions], bool]


@dataclass(frozen=True, slots=True)
class Family:
    """One firmware family: how to recognise its topics, decode them, and subscribe."""

    name: str
    matches: Matcher
    decode: Decoder
    subscriptions: Callable[[PayloadOptions], list[str]]


FAMILIES: dict[str, Family] = {}


def register(family: Family) -> None:
    """Add a family to the registry (called by each family module at import)."""
    FAMILIES[family.name] = family


def detect_family(topic: str, options: PayloadOptions) -> Family | None:
    """The first family whose topic layout matches, or None."""
    for family in FAMILIES.values():
        if family.matches(topic, options):
            return family
    return None


def decode(
    topic: str,
    payload: bytes,
    received_at: EpochSeconds,
    fmt: str = "auto",
    options: PayloadOptions | None = None,
) -> list[DecodedItem]:
    """Decode one MQTT message with the named family (or detect it with ``auto``)."""
    opts = options or PayloadOptions()
    if len(payload) > opts.max_payload_bytes:
        raise PayloadRejected(RejectReason.TOO_LARGE, f"{len(payload)} bytes")
    if fmt == "auto":
        family = detect_family(topic, opts)
        if family is None:
            raise PayloadRejected(RejectReason.UNKNOWN_TOPIC, topic[:200])
    else:
        try:
            family = FAMILIES[fmt]
        except KeyError:
            raise PayloadRejected(RejectReason.UNKNOWN_FORMAT, fmt) from None
    return family.decode(topic, payload, received_at, opts)


def subscriptions(options: PayloadOptions, families: list[str] | None = None) -> list[str]:
    """MQTT topic filters for the named families (all when None)."""
    names = families if families is not None else list(FAMILIES)
    filters: list[str] = []
    for name in names:
        for topic_filter in FAMILIES[name].subscriptions(options):
            if topic_filter not in filters:
                filters.append(topic_filter)
    return filters


# -- helpers shared by the family modules -------------------------------------------------

_FORBIDDEN_ID_CHARS = frozenset("+#\x00")


def check_device_id(device: str) -> str:
    """Reject ids that could inject into topics or logs: wildcards, control characters."""
    if not device or len(device) > 128:
        raise PayloadRejected(RejectReason.BAD_DEVICE_ID, "empty or longer than 128")
    for ch in device:
        if ch in _FORBIDDEN_ID_CHARS or ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise PayloadRejected(RejectReason.BAD_DEVICE_ID, repr(device[:64]))
    return device


def number(value: object, what: str) -> float | None:
    """A finite float from a JSON number or numeric string; None for null/missing/"nan"."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise PayloadRejected(RejectReason.WRONG_TYPE, f"{what} is a boolean")
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.lower() in ("", "nan", "null", "none", "unknown", "unavailable"):
            return None
        try:
            result = float(text)
        except ValueError:
            raise PayloadRejected(RejectReason.WRONG_TYPE, f"{what}={value[:40]!r}") from None
    else:
        raise PayloadRejected(RejectReason.WRONG_TYPE, f"{what} is {type(value).__name__}")
    if not math.isfinite(result):
        raise PayloadRejected(RejectReason.NOT_FINITE, what)
    return result


def power(value: object, options: PayloadOptions, what: str = "power") -> float | None:
    """A power in W, checked against the plug's physical range."""
    watts = number(value, what)
    if watts is None:
        return None
    if watts < 0:
        raise PayloadRejected(RejectReason.NEGATIVE_POWER, f"{what}={watts}")
    if watts > options.max_power_w:
        raise PayloadRejected(RejectReason.ABSURD_POWER, f"{what}={watts}")
    return watts


def energy(value: object, scale: float, what: str = "energy") -> float | None:
    """A cumulative energy counter converted to Wh by ``scale``."""
    amount = number(value, what)
    if amount is None:
        return None
    if amount < 0:
        raise PayloadRejected(RejectReason.NEGATIVE_ENERGY, f"{what}={amount}")
    return amount * scale


def sane_device_time(
    device_time: EpochSeconds | None, received_at: EpochSeconds, options: PayloadOptions
) -> EpochSeconds | None:
    """The device's timestamp when it is plausible, else None (use the receive time).

    Unsynced clocks read 0 or uptime; others are off by a time zone. A device time is kept only
    when it is within ``max_clock_skew_s`` of the receive time.
    """
    if device_time is None or not math.isfinite(device_time):
        return None
    if abs(device_time - received_at) > options.max_clock_skew_s:
        return None
    return device_time
