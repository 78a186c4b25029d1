"""Documented payloads of every family decode to exactly the expected items (units included)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from careplug.adapters.payloads import PayloadOptions, decode, detect_family
from careplug.domain.model import DecodedItem

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "payloads"
CASES = sorted(FIXTURES.glob("*/*.json"))


def _as_dict(item: DecodedItem) -> dict[str, Any]:
    return {
        "kind": item.kind.value,
        "device": item.device,
        "channel": item.channel,
        "time": item.time,
        "power_w": item.power_w,
        "energy_wh": item.energy_wh,
        "online": item.online,
        "gateway": item.gateway,
    }


def _load(path: Path) -> tuple[dict[str, Any], PayloadOptions]:
    case = json.loads(path.read_text(encoding="utf-8"))
    options = PayloadOptions()
    if "options" in case:
        options = replace(options, **case["options"])
    return case, options


def test_every_family_has_fixtures() -> None:
    """Each firmware family has documented fixtures."""
    families = {path.parent.name for path in CASES}
    assert families == {"tasmota", "shelly", "shelly2", "zigbee2mqtt", "esphome"}
    for path in CASES:
        assert json.loads(path.read_text(encoding="utf-8"))["source"]


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_fixture_decodes_exactly(path: Path) -> None:
    """The fixture decodes, with its family named and with ``auto``, to the expected items."""
    case, options = _load(path)
    payload = case["payload"].encode("utf-8")
    family = path.parent.name
    for fmt in (family, "auto"):
        items = decode(case["topic"], payload, case["received_at"], fmt, options)
        got = [_as_dict(item) for item in items]
        expected = case["expected"]
        assert len(got) == len(expected), (fmt, got)
        for one, want in zip(got, expected, strict=True):
            for key, value in want.items():
                if isinstance(value, float):
                    # exact up to float representation (0.003 kWh x 1000 is not 3.0 bit-for-bit)
                    assert one[key] == pytest.approx(value, rel=1e-12, abs=1e-9), (fmt, key)
                else:
                    assert one[key] == value, (fmt, key, one)
    detected = detect_family(case["topic"], options)
    assert detected is not None
    assert detected.name == family
