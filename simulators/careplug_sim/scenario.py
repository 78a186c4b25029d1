"""Scenarios: what to simulate (a :class:`ScenarioConfig`) and what gets injected (a :class:`Plan`).

A config comes from CLI options or a small TOML file; :func:`plan` draws households and every
injected event from seeded generators, so the same config gives the same plan. The plan is the
ground truth written next to the traffic.
"""

from __future__ import annotations

import dataclasses
import functools
import random
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from careplug_sim.appliances import HUMAN_APPLIANCES, ApplianceParams, draw_appliance
from careplug_sim.formats import FAMILIES
from careplug_sim.household import Routine, draw_routine, local_midnight

MONTH_S = 30 * 86400
DAILY_APPLIANCES = ("tv", "rice_cooker", "kettle")
DAILY_WEIGHTS = (0.7, 0.2, 0.1)
"""The first plug's appliance with ``plug_choice = "daily"``."""
_APPLIANCE_ORDER = (*HUMAN_APPLIANCES, "fridge")
"""A household's plugs in this order (the fridge, a distractor, last)."""


@dataclass(frozen=True, slots=True)
class ScenarioConfig:
    """Everything a simulation run needs; field names are the TOML keys and CLI options."""

    households: int = 10
    days: float = 7.0
    seed: int = 1
    start: date = date(2026, 1, 5)
    timezone: str = "Asia/Seoul"
    start_time: int | None = None
    """Epoch seconds to start at instead of local midnight of ``start`` (live runs: now)."""
    report_period: int = 300
    """Seconds between a plug's telemetry reports."""
    jitter: float = 2.0
    """Each report is up to this many seconds early or late."""
    families: dict[str, float] = field(default_factory=lambda: {"native": 1.0})
    """Firmware family weights, e.g. ``{"native": 1, "tasmota": 1}``."""
    report_on_change: bool | None = None
    """None: each family's default (Shelly, Zigbee2MQTT report changes; Tasmota does not)."""
    fridge_p: float = 0.3
    plug_choice: str = "daily"
    """``daily``: the first plug goes on an appliance the resident uses every day (mostly the
    TV), as programmes install it; the others on any appliance. ``any``: every plug on any
    appliance (the population of earlier versions, sparse homes included)."""
    households_per_area: int = 50
    high_tier_daily_plugs: int = 1
    """Plugs on distinct daily-used appliances (TV, rice cooker, kettle) a high-risk home gets
    at least: a programme that sets a 12 h limit may also install a second plug there. 1: the
    high-risk homes are drawn like the others."""
    incidents: int = 0
    """Households that become incapacitated at a random time."""
    incident_rate: float = 0.0
    """Alternatively, incapacitations per household-month (each household at most one)."""
    left_on_p: float = 0.3
    trips: int = 0
    hospital_stays: int = 0
    registered_p: float = 0.5
    """Chance an away period (trip or hospital stay) is registered with careplug."""
    unplugged: int = 0
    offline: int = 0
    power_cuts: int = 0
    skewed: int = 0
    history_days: float = 0.0
    """Days at the start with no injected event (incident, away period, fault, power cut): the
    residents' history before the window that is scored, as a running programme has it (the
    REFIT traces score incidents after 28 days of learning the same way)."""
    tail_days: float = 0.0
    """Days at the end with no injected event either: room for the slowest rule (a 36 h tier
    limit) to fire before the recording ends."""
    duplicate_rate: float = 0.0
    late_rate: float = 0.0
    malformed_rate: float = 0.0

    @property
    def start_epoch(self) -> int:
        """``start_time`` if set, else local midnight of ``start`` in ``timezone``."""
        if self.start_time is not None:
            return self.start_time
        return local_midnight(self.start, self.timezone)

    @property
    def end_epoch(self) -> int:
        """Start plus ``days``."""
        return self.start_epoch + int(self.days * 86400)


def load_config(path: Path, **overrides: object) -> ScenarioConfig:
    """A config from a TOML file (keys as :class:`ScenarioConfig` fields), then overrides."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    known = {f.name for f in dataclasses.fields(ScenarioConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{path}: unknown scenario keys {unknown}")
    if isinstance(data.get("start"), str):
        data["start"] = date.fromisoformat(data["start"])
    data.update({k: v for k, v in overrides.items() if v is not None})
    return ScenarioConfig(**data)


@dataclass(frozen=True, slots=True)
class PlugSpec:
    """One simulated plug."""

    device: str
    household: str
    appliance: str
    family: str
    report_period: int
    report_on_change: bool
    params: ApplianceParams
    skew_s: int = 0


@dataclass(frozen=True, slots=True)
class HouseholdSpec:
    """One household: registry fields, the resident's routine and the plugs."""

    id: str
    number: int
    timezone: str
    tier: str
    area: str
    caseworkers: tuple[str, ...]
    routine: Routine
    plugs: tuple[PlugSpec, ...]


@dataclass(frozen=True, slots=True)
class Incident:
    """From ``start`` on the resident does nothing; ``left_on`` names an appliance left on."""

    household: str
    start: int
    left_on: str | None


@dataclass(frozen=True, slots=True)
class Away:
    """The resident is away (``trip`` or ``hospital``); ``registered`` with careplug or not."""

    household: str
    start: int
    end: int
    kind: str
    registered: bool


@dataclass(frozen=True, slots=True)
class PlugFault:
    """A plug ``unplugged`` (no power, counter may reset) or ``offline`` (Wi-Fi loss)."""

    plug: str
    household: str
    kind: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class PowerCut:
    """Every plug in ``area`` loses power from ``start`` to ``end``."""

    area: str
    start: int
    end: int
    households: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """A scenario drawn from its config: households and every injected event."""

    config: ScenarioConfig
    households: tuple[HouseholdSpec, ...]
    incidents: tuple[Incident, ...]
    away: tuple[Away, ...]
    plug_faults: tuple[PlugFault, ...]
    power_cuts: tuple[PowerCut, ...]


def _pick_family(rng: random.Random, weights: dict[str, float]) -> str:
    names = sorted(weights)
    for name in names:
        if name not in FAMILIES:
            raise ValueError(f"unknown family {name!r}; known: {sorted(FAMILIES)}")
    return rng.choices(names, [weights[n] for n in names])[0]


def _plug_spec(
    cfg: ScenarioConfig,
    n: int,
    household: str,
    prefix: str,
    family: str,
    report_on_change: bool,
    kind: str,
    draw: random.Random,
) -> PlugSpec:
    return PlugSpec(
        device=f"{prefix}-{n:04d}-{kind.replace('_', '-')}",
        household=household,
        appliance=kind,
        family=family,
        report_period=cfg.report_period,
        report_on_change=report_on_change,
        params=draw_appliance(kind, draw),
    )


def _households(cfg: ScenarioConfig, rng: random.Random) -> list[HouseholdSpec]:
    out: list[HouseholdSpec] = []
    for n in range(1, cfg.households + 1):
        hid = f"hh-{n:04d}"
        routine = draw_routine(rng)
        count = rng.choices([1, 2, 3], [0.4, 0.4, 0.2])[0]  # most homes get one or two plugs
        if cfg.plug_choice == "any":
            kinds = rng.sample(HUMAN_APPLIANCES, count)
        elif cfg.plug_choice == "daily":
            # Programmes put the plug on "an appliance the resident uses often, such as the TV"
            # (Seoul's smart-plug programme; rice cooker and kettle are the other daily ones);
            # a microwave or a lamp alone would leave most of the day unseen.
            first = rng.choices(DAILY_APPLIANCES, DAILY_WEIGHTS)[0]
            others = [k for k in HUMAN_APPLIANCES if k != first]
            kinds = [first, *rng.sample(others, count - 1)]
        else:
            raise ValueError(f"unknown plug_choice {cfg.plug_choice!r}; choose daily or any")
        kinds.sort(key=HUMAN_APPLIANCES.index)
        if rng.random() < cfg.fridge_p:
            kinds.append("fridge")
        family = _pick_family(rng, cfg.families)
        fam = FAMILIES[family]
        roc = fam.report_on_change if cfg.report_on_change is None else cfg.report_on_change

        plug = functools.partial(_plug_spec, cfg, n, hid, fam.id_prefix, family, roc)
        plugs = [plug(kind, rng) for kind in kinds]
        tier = rng.choices(["high", "medium", "low"], [0.3, 0.5, 0.2])[0]
        if tier == "high" and cfg.high_tier_daily_plugs > 1:
            # drawn apart, so the rest of the population stays the same with or without it
            extra = random.Random(cfg.seed * 7919 + 11 * n + 5)
            missing = [k for k in DAILY_APPLIANCES if k not in kinds]
            while len(DAILY_APPLIANCES) - len(missing) < cfg.high_tier_daily_plugs and missing:
                kind = extra.choices(
                    missing, [DAILY_WEIGHTS[DAILY_APPLIANCES.index(k)] for k in missing]
                )[0]
                missing.remove(kind)
                plugs.append(plug(kind, extra))
            plugs.sort(key=lambda p: _APPLIANCE_ORDER.index(p.appliance))
        area_no = (n - 1) // max(1, cfg.households_per_area) + 1
        out.append(
            HouseholdSpec(
                id=hid,
                number=n,
                timezone=cfg.timezone,
                tier=tier,
                area=f"area-{area_no:02d}",
                caseworkers=(f"cw-{area_no:02d}",),
                routine=routine,
                plugs=tuple(plugs),
            )
        )
    return out


def plan(cfg: ScenarioConfig) -> Plan:
    """Draw households and injected events for ``cfg`` (deterministic in ``cfg.seed``)."""
    rng = random.Random(cfg.seed * 7919 + 1)
    homes = _households(cfg, rng)
    start, end = cfg.start_epoch, cfg.end_epoch
    span = end - start
    # incidents and away periods need room around them to be visible in the traffic
    margin = min(86400, span // 4)
    first = start + max(margin, int(cfg.history_days * 86400))
    last = end - max(margin, int(cfg.tail_days * 86400))
    if (cfg.history_days or cfg.tail_days) and first >= last:
        raise ValueError(
            f"history_days {cfg.history_days:g} and tail_days {cfg.tail_days:g} "
            f"leave no room for events in {cfg.days:g} days"
        )

    def when(rng: random.Random) -> int:
        return rng.randrange(first, max(first + 1, last))

    ev = random.Random(cfg.seed * 7919 + 2)
    order = list(range(len(homes)))
    ev.shuffle(order)
    n_inc = cfg.incidents
    if cfg.incident_rate > 0:
        n_inc += sum(ev.random() < cfg.incident_rate * span / MONTH_S for _ in homes)
    n_inc = min(n_inc, len(homes))
    incidents = []
    for i in order[:n_inc]:
        human = [p.appliance for p in homes[i].plugs if p.appliance in ("tv", "lamp")]
        left = ev.choice(human) if human and ev.random() < cfg.left_on_p else None
        incidents.append(Incident(homes[i].id, when(ev), left))
    incidents.sort(key=lambda x: x.household)

    rest = order[n_inc:]
    away: list[Away] = []
    for kind, count, lo, hi in (
        ("trip", cfg.trips, 1.0, 4.0),
        ("hospital", cfg.hospital_stays, 2.0, 10.0),
    ):
        for _ in range(min(count, len(rest))):
            i = rest.pop(0)
            a_start = when(ev)
            a_end = min(end, a_start + int(ev.uniform(lo, hi) * 86400))
            away.append(Away(homes[i].id, a_start, a_end, kind, ev.random() < cfg.registered_p))
    away.sort(key=lambda x: (x.household, x.start))

    all_plugs = [p for h in homes for p in h.plugs]
    faults: list[PlugFault] = []
    for kind, count, lo, hi in (
        ("unplugged", cfg.unplugged, 2.0, 48.0),
        ("offline", cfg.offline, 0.3, 12.0),
    ):
        for plug in ev.sample(all_plugs, min(count, len(all_plugs))):
            f_start = when(ev)
            f_end = min(end, f_start + int(ev.uniform(lo, hi) * 3600))
            faults.append(PlugFault(plug.device, plug.household, kind, f_start, f_end))
    faults.sort(key=lambda x: (x.plug, x.start))

    areas = sorted({h.area for h in homes})
    cuts: list[PowerCut] = []
    for _ in range(cfg.power_cuts):
        area = ev.choice(areas)
        c_start = when(ev)
        members = tuple(h.id for h in homes if h.area == area)
        cuts.append(
            PowerCut(area, c_start, min(end, c_start + int(ev.uniform(0.5, 4) * 3600)), members)
        )
    cuts.sort(key=lambda x: x.start)

    if cfg.skewed:
        skewed = {p.device for p in ev.sample(all_plugs, min(cfg.skewed, len(all_plugs)))}
        offsets = [-32400, 32400, 3600, -600, 900, 120]
        homes = [
            dataclasses.replace(
                h,
                plugs=tuple(
                    dataclasses.replace(p, skew_s=ev.choice(offsets)) if p.device in skewed else p
                    for p in h.plugs
                ),
            )
            for h in homes
        ]
    return Plan(cfg, tuple(homes), tuple(incidents), tuple(away), tuple(faults), tuple(cuts))
