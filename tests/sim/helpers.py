"""Reading simulated traffic back in tests."""

from __future__ import annotations

import json
from dataclasses import dataclass

from careplug.clock import parse_iso
from careplug_sim.generator import Simulation
from careplug_sim.scenario import Plan, ScenarioConfig, plan


@dataclass(frozen=True)
class NativeReading:
    """One decoded native reading."""

    published: int
    device_time: float
    device: str
    power_w: float
    energy_wh: float


def simulate(**kw: object) -> tuple[Plan, list[tuple[int, str, str | bytes, bool]], Simulation]:
    """Plan and every message of a scenario."""
    p = plan(ScenarioConfig(**kw))  # type: ignore[arg-type]
    sim = Simulation(p)
    return p, list(sim.messages()), sim


def native_readings(msgs: list[tuple[int, str, str | bytes, bool]]) -> list[NativeReading]:
    """Native readings whose payload is well formed."""
    out = []
    for t, topic, payload, _ in msgs:
        if topic.startswith("careplug/plugs/") and topic.endswith("/reading"):
            try:
                obj = json.loads(payload)
                out.append(
                    NativeReading(
                        t,
                        parse_iso(obj["time"]),
                        obj["device"],
                        float(obj["power_w"]),
                        float(obj["energy_wh"]),
                    )
                )
            except (ValueError, KeyError, TypeError):
                continue
    return out


HUMAN_ON_W = 20.0
"""Above every standby (at most ~2.6 W with noise), below every human appliance's on-level."""
