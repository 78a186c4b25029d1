"""Appliance power profiles.

Constants derived from the tracebase single-appliance traces (10-second means of real smart-plug
measurements, tracebase.org, ODbL 1.0; Reinhardt et al., SustainIT 2012) summarised in
/work/shared/data/appliances/: "on" = samples above 30 W, runs counted in 10 s samples.

- kettle (9 plugs, 442 boils): on-level median 2106 W (p10 1749, p90 2629); boil median 130 s
  (p10 60 s, p90 260 s); standby median 0.3 W.
- microwave (8 plugs, 202 runs): on-level median 996 W (p10 348, p90 1398); run median 70 s
  (p90 290 s); standby (clock display) median 1.1 W.
- LCD TV (10 plugs, 269 sessions): on-level median 111 W (p10 63, p90 161); session median
  46 min (p10 4 min, p90 3.5 h); standby median 0.7 W.
- lamp (10 plugs): on-level median 62 W (p10 40, p90 203); off draw about 1 W.
- fridge (11 plugs, 3885 cycles): compressor median 80 W (p10 72, p90 132); on-cycle median
  13 min (p10 6, p90 31); off-gap median 35 min (p10 20, p90 48); idle draw median 15.7 W.
- rice cooker: not in the traces; typical Korean 6-cup cookers are rated 900-1100 W cooking and
  draw 40-80 W keeping warm (manufacturers' spec sheets), a cook lasts 30-50 min.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

HUMAN_APPLIANCES = ("tv", "kettle", "rice_cooker", "microwave", "lamp")
"""Appliances only a person switches on."""


@dataclass(frozen=True, slots=True)
class ApplianceParams:
    """One appliance's power levels (W) for one simulated plug."""

    kind: str
    on_w: float
    standby_w: float
    warm_w: float = 0.0
    """Rice cooker keep-warm level."""
    idle_w: float = 0.0
    """Fridge draw between compressor cycles."""


def draw_appliance(kind: str, rng: random.Random) -> ApplianceParams:
    """Power levels of one appliance of ``kind``, spread like the traces' plugs."""
    if kind == "kettle":
        return ApplianceParams(kind, rng.uniform(1750.0, 2630.0), rng.uniform(0.0, 0.7))
    if kind == "microwave":
        return ApplianceParams(kind, rng.uniform(800.0, 1400.0), rng.uniform(0.8, 2.0))
    if kind == "tv":
        return ApplianceParams(kind, rng.uniform(63.0, 161.0), rng.uniform(0.3, 1.2))
    if kind == "lamp":
        return ApplianceParams(kind, rng.uniform(40.0, 75.0), rng.uniform(0.0, 1.0))
    if kind == "rice_cooker":
        return ApplianceParams(
            kind, rng.uniform(900.0, 1100.0), rng.uniform(0.5, 2.0), warm_w=rng.uniform(40, 80)
        )
    if kind == "fridge":
        return ApplianceParams(kind, rng.uniform(72.0, 132.0), 0.0, idle_w=rng.uniform(1.0, 16.0))
    raise ValueError(f"unknown appliance {kind!r}")


def fridge_cycle(rng: random.Random) -> tuple[float, float]:
    """One compressor cycle: (on seconds, following off seconds), from the trace percentiles."""
    return rng.uniform(360.0, 1860.0), rng.uniform(1200.0, 2880.0)
