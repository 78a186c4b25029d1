"""The decoder registry, options and rejection reasons shared by every family."""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from careplug.domain.model import DecodedItem, EpochSeconds
from careplug.errors import CareplugError, ConfigError


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
    BAD_CHANNEL = "bad_channel"
    DECODER_ERROR = "decoder_error"
    """A decoder failed unexpectedly (a bug); the detail names the exception."""


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
    # Tasmota: the device's FullTopic template and the zone its local ``Time`` is in
    tasmota_full_topic: str = "%prefix%/%topic%/"
    tasmota_timezone: str = "Asia/Seoul"
    # Shelly Gen1: the fixed first topic level
    shelly_prefix: str = "shellies"
    # Shelly Gen2+: topic prefixes to subscribe to; empty means any one-level prefix (``+``)
    shelly2_prefixes: tuple[str, ...] = ()
    # Zigbee2MQTT: base topics of every bridge (``base_topic`` in its configuration.yaml)
    zigbee2mqtt_base_topics: tuple[str, ...] = ("zigbee2mqtt",)
    # ESPHome: node topic prefixes to subscribe to; empty means any one-level node (``+``)
    esphome_nodes: tuple[str, ...] = ()
    # ESPHome sensor names (lower-cased object ids) are classified by substring: names
    # containing an ``ignore`` word are skipped, then ``energy`` words, then ``power`` words.
    esphome_power_words: tuple[str, ...] = ("power",)
    esphome_energy_words: tuple[str, ...] = ("energy",)
    esphome_ignore_words: tuple[str, ...] = ("factor", "apparent", "reactive")
    # Wh per unit of the ESPHome energy sensors (1000.0 when they report kWh)
    esphome_energy_scale: float = 1.0

    def __post_init__(self) -> None:
        # a bad layout must stop start-up, not turn every message into a decoder_error
        levels = self.tasmota_full_topic.strip("/").split("/")
        if "%prefix%" not in levels or not any(
            lv.startswith("%") and lv.endswith("%") and lv != "%prefix%" for lv in levels
        ):
            raise ConfigError(
                "mqtt.tasmota_full_topic: needs %prefix% and %topic% as whole levels, "
                f"got {self.tasmota_full_topic!r}"
            )
        try:
            ZoneInfo(self.tasmota_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"mqtt.tasmota_timezone: unknown time zone {self.tasmota_timezone!r}"
            ) from None
        if not (math.isfinite(self.esphome_energy_scale) and self.esphome_energy_scale > 0):
            raise ConfigError("mqtt.esphome_energy_scale: must be a positive number")


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
    """Decode one MQTT message with the named family (or detect it with ``auto``).

    Raises :class:`PayloadRejected` and nothing else: an unexpected exception in a decoder (a
    bug) becomes a rejection with reason ``decoder_error``, so one bad decoder cannot stop the
    daemon.
    """
    opts = options or PayloadOptions()
    if len(payload) > opts.max_payload_bytes:
        raise PayloadRejected(RejectReason.TOO_LARGE, f"{len(payload)} bytes")
    name = fmt
    try:
        if fmt == "auto":
            family = detect_family(topic, opts)
            if family is None:
                raise PayloadRejected(RejectReason.UNKNOWN_TOPIC, topic[:200])
        else:
            try:
                family = FAMILIES[fmt]
            except KeyError:
                raise PayloadRejected(RejectReason.UNKNOWN_FORMAT, fmt[:40]) from None
        name = family.name
        return family.decode(topic, payload, received_at, opts)
    except PayloadRejected:
        raise
    except Exception as exc:  # the daemon must survive a decoder bug
        detail = f"{name}: {type(exc).__name__}: {exc}"
        raise PayloadRejected(RejectReason.DECODER_ERROR, detail[:300]) from exc


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

# wildcards, NUL and the other C0 control characters, DEL (one regex search: this runs per message)
_FORBIDDEN_ID_CHARS = re.compile("[+#\x00-\x1f\x7f]")


def check_device_id(device: str) -> str:
    """Reject ids that could inject into topics or logs: wildcards, control characters."""
    if not device or len(device) > 128:
        raise PayloadRejected(RejectReason.BAD_DEVICE_ID, "empty or longer than 128")
    if _FORBIDDEN_ID_CHARS.search(device) is not None:
        raise PayloadRejected(RejectReason.BAD_DEVICE_ID, repr(device[:64]))
    return device


def number(value: object, what: str) -> float | None:
    """A finite float from a JSON number or numeric string; None for null/missing/"nan"."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise PayloadRejected(RejectReason.WRONG_TYPE, f"{what} is a boolean")
    if isinstance(value, int | float):
        try:
            result = float(value)
        except OverflowError:  # a JSON integer with hundreds of digits
            raise PayloadRejected(RejectReason.NOT_FINITE, what) from None
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


def text_of(payload: bytes) -> str:
    """The payload as UTF-8 text, or a ``not_utf8`` rejection."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadRejected(RejectReason.NOT_UTF8) from None


def json_of(payload: bytes) -> object:
    """The payload parsed as JSON; ``not_utf8`` or ``not_json`` when it cannot be."""
    text = text_of(payload)
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        # RecursionError: deeply nested arrays, a cheap way to attack a JSON parser
        raise PayloadRejected(RejectReason.NOT_JSON) from None


def json_object(payload: bytes) -> dict[str, object]:
    """The payload as a JSON object; ``wrong_shape`` for any other JSON value."""
    body = json_of(payload)
    if not isinstance(body, dict):
        raise PayloadRejected(RejectReason.WRONG_SHAPE, "not a JSON object")
    return body


_TRUE_WORDS = frozenset({"online", "true", "1", "on"})
_FALSE_WORDS = frozenset({"offline", "false", "0", "off"})


def online_flag(payload: bytes) -> bool:
    """An availability payload (``online``/``offline``, ``true``/``false``, any case) as a bool.

    Also accepts a JSON string or a JSON object ``{"state": "online"}`` (Zigbee2MQTT 1.x+).
    """
    text = text_of(payload).strip()
    if text.startswith("{"):
        body = json_of(payload)
        state = body.get("state") if isinstance(body, dict) else None
        if not isinstance(state, str):
            raise PayloadRejected(RejectReason.WRONG_SHAPE, "availability without state")
        text = state
    word = text.strip().strip('"').strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise PayloadRejected(RejectReason.WRONG_SHAPE, f"availability {text[:20]!r}")


def channel_number(text: str) -> int:
    """A relay/switch index from a topic level (``0``…``999``), or a ``bad_channel`` rejection."""
    if not (0 < len(text) <= 3 and text.isascii() and text.isdigit()):
        raise PayloadRejected(RejectReason.BAD_CHANNEL, repr(text[:20]))
    return int(text)
