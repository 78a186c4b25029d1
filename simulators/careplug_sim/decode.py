"""Read back what the simulator writes: readings in native units, for ``export-csv``.

Deliberately independent of careplug's own decoders (the simulator must not import the daemon);
it only understands the exact shapes :mod:`careplug_sim.formats` produces.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from careplug.clock import parse_iso
from careplug_sim.formats import NATIVE_PREFIX, Z2M_BASE, iso_utc

Row = tuple[str, str, str, str, str]
"""time, device, power_w, energy_wh, household (empty string = unknown)."""


def _num(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _fmt(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


class ReadingDecoder:
    """Stateful decoder: joins the power and energy messages a reading is split into."""

    def __init__(self, households: dict[str, str]) -> None:
        self.households = households
        self.pending_power: dict[str, tuple[float, float]] = {}

    @classmethod
    def from_registry(cls, path: Path | None) -> ReadingDecoder:
        """Map devices to households from a ``households.toml`` (or no mapping)."""
        mapping: dict[str, str] = {}
        if path is not None:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            for h in data.get("household", []):
                for p in h.get("plug", []):
                    mapping[p["id"]] = h["id"]
        return cls(mapping)

    def _row(self, at: float, device: str, power: float | None, energy: float | None) -> Row:
        return (
            iso_utc(int(at)),
            device,
            _fmt(power, 1),
            _fmt(energy, 3),
            self.households.get(device, ""),
        )

    def decode(self, at: float, topic: str, payload: bytes) -> list[Row]:
        """Rows for one message (none for status, bridge and malformed messages)."""
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            return []
        parts = topic.split("/")
        try:
            if topic.startswith(NATIVE_PREFIX + "/") and parts[-1] == "reading":
                obj = json.loads(text)
                device = topic[len(NATIVE_PREFIX) + 1 : -len("/reading")]
                when = parse_iso(obj["time"]) if isinstance(obj.get("time"), str) else at
                power, energy = _num(obj.get("power_w")), _num(obj.get("energy_wh"))
                if power is None and energy is None:
                    return []
                return [self._row(when, device, power, energy)]
            if parts[0] == "tele" and parts[-1] == "SENSOR":
                e = json.loads(text)["ENERGY"]
                total = _num(e.get("Total"))
                return [
                    self._row(
                        at,
                        parts[1],
                        _num(e.get("Power")),
                        None if total is None else total * 1000.0,
                    )
                ]
            if parts[0] == "shellies" and parts[-3:-1] == ["relay", "0"]:
                device = "/".join(parts[1:-3])
                if parts[-1] == "power":
                    value = _num(text)
                    if value is not None:
                        self.pending_power[device] = (at, value)
                    return []
                if parts[-1] == "energy":
                    value = _num(text)
                    held = self.pending_power.pop(device, None)
                    power = held[1] if held and held[0] == at else None
                    return [self._row(at, device, power, None if value is None else value / 60)]
            if parts[-2:] == ["status", "switch:0"]:
                obj = json.loads(text)
                total = _num((obj.get("aenergy") or {}).get("total"))
                return [self._row(at, "/".join(parts[:-2]), _num(obj.get("apower")), total)]
            if parts[0] == Z2M_BASE and len(parts) == 2 and parts[1] != "bridge":
                obj = json.loads(text)
                kwh = _num(obj.get("energy"))
                return [
                    self._row(
                        at, parts[1], _num(obj.get("power")), None if kwh is None else kwh * 1000.0
                    )
                ]
            if parts[-3:-1] == ["sensor", "power"]:
                value = _num(text)
                if value is not None:
                    self.pending_power["/".join(parts[:-3])] = (at, value)
                return []
            if parts[-3:-1] == ["sensor", "energy"]:
                device = "/".join(parts[:-3])
                held = self.pending_power.pop(device, None)
                power = held[1] if held and held[0] == at else None
                return [self._row(at, device, power, _num(text))]
        except (ValueError, KeyError, TypeError, AttributeError):
            return []
        return []
