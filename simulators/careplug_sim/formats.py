"""Payload encoders: one function pair per firmware family (reading, availability).

Every encoder returns ``(topic, payload, retain)`` triples. Units follow
/work/shared/formats.md: native ``energy_wh`` in Wh, Tasmota ``ENERGY.Total`` in kWh, Shelly Gen1
``energy`` in watt-minutes, Shelly Gen2 ``aenergy.total`` in Wh, Zigbee2MQTT ``energy`` in kWh,
ESPHome ``energy`` in Wh. Device time is passed in (epoch seconds); nothing here reads a clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

Out = tuple[str, str | bytes, bool]
"""One MQTT message: topic, payload, retain."""

NATIVE_PREFIX = "careplug/plugs"
Z2M_BASE = "zigbee2mqtt"

# Formatting times is the hot path of recording: a table of every second of a day is cheap
_HMS: list[str] = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)]
_DAYS: dict[int, str] = {}
_OFFSETS: dict[tuple[str, int], int] = {}


def _day(day_index: int) -> str:
    text = _DAYS.get(day_index)
    if text is None:
        text = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day_index)).strftime("%Y-%m-%d")
        _DAYS[day_index] = text
    return text


_ISO: dict[int, str] = {}


def iso_utc(t: int) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` for integer epoch seconds (cached, the hot path)."""
    text = _ISO.get(t)
    if text is None:
        if len(_ISO) > 200_000:
            _ISO.clear()
        day, sec = divmod(t, 86400)
        text = _ISO[t] = f"{_DAYS.get(day) or _day(day)}T{_HMS[sec]}Z"
    return text


def iso_local(t: int, tz: str) -> str:
    """Local wall time without an offset, as Tasmota prints ``Time``."""
    key = (tz, t // 3600)
    offset = _OFFSETS.get(key)
    if offset is None:
        delta = datetime.fromtimestamp(t, ZoneInfo(tz)).utcoffset()
        offset = int(delta.total_seconds()) if delta is not None else 0
        _OFFSETS[key] = offset
    day, sec = divmod(t + offset, 86400)
    return f"{_DAYS.get(day) or _day(day)}T{_HMS[sec]}"


def _dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


# -- careplug native ------------------------------------------------------------------------


def native_reading(device: str, t: int, tz: str, power_w: float, energy_wh: float) -> list[Out]:
    """``careplug/plugs/<device>/reading`` JSON with ISO UTC time, W and cumulative Wh."""
    payload = (
        f'{{"device": "{device}", "time": "{iso_utc(t)}", '
        f'"power_w": {power_w:.1f}, "energy_wh": {energy_wh:.3f}}}'
    )
    return [(f"{NATIVE_PREFIX}/{device}/reading", payload, False)]


def native_status(device: str, online: bool) -> list[Out]:
    """Retained ``online``/``offline`` on ``careplug/plugs/<device>/status``."""
    return [(f"{NATIVE_PREFIX}/{device}/status", "online" if online else "offline", True)]


# -- Tasmota --------------------------------------------------------------------------------


def tasmota_reading(device: str, t: int, tz: str, power_w: float, energy_wh: float) -> list[Out]:
    """``tele/<topic>/SENSOR`` with ``ENERGY`` (Total kWh, Power W) and local ``Time``."""
    volts = 220.0
    payload = _dumps(
        {
            "Time": iso_local(t, tz),
            "ENERGY": {
                "TotalStartTime": "2024-01-01T00:00:00",
                "Total": round(energy_wh / 1000.0, 3),
                "Power": round(power_w),
                "ApparentPower": round(power_w),
                "ReactivePower": 0,
                "Factor": 1.0 if power_w >= 1.0 else 0.0,
                "Voltage": round(volts),
                "Current": round(power_w / volts, 3),
            },
        }
    )
    return [(f"tele/{device}/SENSOR", payload, False)]


def tasmota_status(device: str, online: bool) -> list[Out]:
    """Retained ``tele/<topic>/LWT`` ``Online``/``Offline``."""
    return [(f"tele/{device}/LWT", "Online" if online else "Offline", True)]


# -- Shelly Gen1 ----------------------------------------------------------------------------


def shelly_gen1_reading(
    device: str, t: int, tz: str, power_w: float, energy_wh: float
) -> list[Out]:
    """``shellies/<id>/relay/0/power`` (W) and ``.../energy`` (watt-minutes), plain text."""
    base = f"shellies/{device}/relay/0"
    return [
        (f"{base}/power", f"{power_w:.2f}", False),
        (f"{base}/energy", str(int(energy_wh * 60.0)), False),
    ]


def shelly_gen1_status(device: str, online: bool) -> list[Out]:
    """Retained ``shellies/<id>/online`` ``true``/``false``."""
    return [(f"shellies/{device}/online", "true" if online else "false", True)]


# -- Shelly Gen2+ ---------------------------------------------------------------------------


def shelly_gen2_reading(
    device: str, t: int, tz: str, power_w: float, energy_wh: float
) -> list[Out]:
    """``<id>/status/switch:0`` with ``apower`` (W) and ``aenergy.total`` (Wh)."""
    payload = _dumps(
        {
            "id": 0,
            "source": "init",
            "output": True,
            "apower": round(power_w, 1),
            "voltage": 220.0,
            "current": round(power_w / 220.0, 3),
            "aenergy": {"total": round(energy_wh, 3), "by_minute": [0.0, 0.0, 0.0], "minute_ts": t},
            "temperature": {"tC": 30.0, "tF": 86.0},
        }
    )
    return [(f"{device}/status/switch:0", payload, False)]


def shelly_gen2_status(device: str, online: bool) -> list[Out]:
    """Retained ``<id>/online`` ``true``/``false``."""
    return [(f"{device}/online", "true" if online else "false", True)]


# -- Zigbee2MQTT ----------------------------------------------------------------------------


def z2m_reading(device: str, t: int, tz: str, power_w: float, energy_wh: float) -> list[Out]:
    """``zigbee2mqtt/<name>`` JSON with ``power`` (W) and ``energy`` (kWh); no device time."""
    payload = _dumps(
        {
            "current": round(power_w / 230.0, 3),
            "energy": round(energy_wh / 1000.0, 3),
            "linkquality": 120,
            "power": round(power_w, 1),
            "state": "ON",
            "voltage": 230,
        }
    )
    return [(f"{Z2M_BASE}/{device}", payload, False)]


def z2m_status(device: str, online: bool) -> list[Out]:
    """Retained ``zigbee2mqtt/<name>/availability`` ``{"state": "online"}``."""
    state = '{"state":"online"}' if online else '{"state":"offline"}'
    return [(f"{Z2M_BASE}/{device}/availability", state, True)]


def z2m_bridge(online: bool) -> list[Out]:
    """Retained ``zigbee2mqtt/bridge/state``: the bridge's Last Will."""
    state = '{"state":"online"}' if online else '{"state":"offline"}'
    return [(f"{Z2M_BASE}/bridge/state", state, True)]


# -- ESPHome --------------------------------------------------------------------------------


def esphome_reading(device: str, t: int, tz: str, power_w: float, energy_wh: float) -> list[Out]:
    """``<node>/sensor/power/state`` (W) and ``<node>/sensor/energy/state`` (Wh since boot)."""
    return [
        (f"{device}/sensor/power/state", f"{power_w:.1f}", False),
        (f"{device}/sensor/energy/state", f"{energy_wh:.1f}", False),
    ]


def esphome_status(device: str, online: bool) -> list[Out]:
    """Retained ``<node>/status`` ``online``/``offline``."""
    return [(f"{device}/status", "online" if online else "offline", True)]


ReadingEncoder = Callable[[str, int, str, float, float], list[Out]]
StatusEncoder = Callable[[str, bool], list[Out]]


@dataclass(frozen=True, slots=True)
class Family:
    """A firmware family: device-id prefix, encoders, and firmware habits."""

    name: str
    id_prefix: str
    reading: ReadingEncoder
    status: StatusEncoder
    report_on_change: bool
    counter_survives_power_loss: bool


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("native", "plug", native_reading, native_status, False, True),
        Family("tasmota", "tasmota", tasmota_reading, tasmota_status, False, True),
        Family("shelly_gen1", "shellyplug-s", shelly_gen1_reading, shelly_gen1_status, True, False),
        Family(
            "shelly_gen2", "shellyplusplugs", shelly_gen2_reading, shelly_gen2_status, True, True
        ),
        Family("zigbee2mqtt", "z2m", z2m_reading, z2m_status, True, True),
        Family("esphome", "esphome", esphome_reading, esphome_status, False, False),
    )
}
"""Families by name; ``report_on_change`` is the firmware's default."""
