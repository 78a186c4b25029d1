"""Blind spots of issue 5 that are not inactivity: ``unplugged`` and ``area_outage``."""

from __future__ import annotations

from careplug.domain.engine import AREA_NONE, DetectionConfig, Engine
from careplug.domain.model import (
    AlertKind,
    Appliance,
    Household,
    HouseholdId,
    Outcome,
    PlugAvailability,
    PlugId,
    PlugSpec,
    RiskTier,
)
from tests.unit.test_engine import HH, T0, TV, H, Timeline, household, make


def test_load_vanishing_where_standby_was_shown_raises_unplugged_not_inactivity() -> None:
    """A TV with 2 W standby drawing 0 W for 6 h: unplugged, the household is blind."""
    t = make(household(RiskTier.HIGH))
    t.reports(T0, T0 + 2 * H, power=2.0)
    t.reports(T0 + 2 * H + 300, T0 + 8 * H + 200, power=0.0)
    assert t.alerts(AlertKind.UNPLUGGED) == []  # not yet 6 h
    t.reports(T0 + 8 * H + 300, T0 + 30 * H, power=0.0)
    raised = t.alerts(AlertKind.UNPLUGGED)
    assert len(raised) == 1
    assert raised[0].alert.details["plugs"] == [TV]
    assert T0 + 8 * H + 300 <= raised[0].alert.raised_at <= T0 + 8 * H + 400
    # 30 h of "silence" on a HIGH-risk (12 h) household: blind, never an inactivity alert
    assert t.alerts(AlertKind.INACTIVITY) == []
    assert t.engine.households[HH].blind_since is not None
    assert t.engine.household_status(HH) == "offline"
    # standby back: resolved, and monitoring resumes
    t.reports(T0 + 30 * H + 300, T0 + 31 * H, power=2.0)
    resolved = t.alerts(AlertKind.UNPLUGGED, "resolved")
    assert len(resolved) == 1
    assert resolved[0].alert.outcome is Outcome.CONDITION_CLEARED
    assert t.engine.households[HH].blind_since is None


def test_appliance_without_standby_reading_zero_is_not_unplugged() -> None:
    """A kettle showing 0 W when idle always did so: nothing vanished."""
    t = make(household(RiskTier.LOW))
    t.reports(T0, T0 + 20 * H, power=0.0)
    assert t.alerts(AlertKind.UNPLUGGED) == []


def test_short_zero_dip_is_not_unplugged() -> None:
    """Two hours at 0 W (a power strip switched off overnight) then standby: no alert."""
    t = make(household(RiskTier.LOW))
    t.reports(T0, T0 + H, power=1.5)
    t.reports(T0 + H + 300, T0 + 3 * H, power=0.0)
    t.reports(T0 + 3 * H + 300, T0 + 12 * H, power=1.5)
    assert t.alerts(AlertKind.UNPLUGGED) == []


def test_unplugged_delay_is_configurable() -> None:
    cfg = DetectionConfig(catch_up_grace_s=0.0, unplugged_after_s=1 * H)
    two = Household(
        HouseholdId("hh-2"),
        tier=RiskTier.MEDIUM,
        plugs=(PlugSpec(TV, Appliance.TV),),
    )
    t = make(two, config=cfg)
    t.reports(T0, T0 + H, power=3.0)
    t.reports(T0 + H + 300, T0 + 3 * H, power=0.1)
    raised = t.alerts(AlertKind.UNPLUGGED)
    assert len(raised) == 1
    assert raised[0].alert.raised_at <= T0 + 2 * H + 400


def area(name: str | None, count: int, prefix: str) -> list[Household]:
    return [
        Household(
            HouseholdId(f"{prefix}-{i}"),
            tier=RiskTier.HIGH,
            area=name,
            plugs=(PlugSpec(PlugId(f"{prefix}-tv-{i}"), Appliance.TV),),
        )
        for i in range(count)
    ]


def plug_ids(households: list[Household]) -> list[PlugId]:
    return [h.plugs[0].id for h in households]


def everyone_reports(t: Timeline, plugs: list[PlugId], start: float, end: float) -> None:
    at = start
    while at <= end:
        for plug in plugs:
            t.reading(at, plug, 1.0)
        at += 300


def test_a_share_of_an_area_going_offline_is_one_area_outage_and_no_storm() -> None:
    """8 of 20 plugs in one area send LWT offline within a minute: one area_outage alert,
    no device_offline, no inactivity; back online, the outage resolves."""
    gangnam, other = area("gangnam", 20, "g"), area("mapo", 10, "m")
    t = make(*gangnam, *other)
    everyone = plug_ids(gangnam) + plug_ids(other)
    everyone_reports(t, everyone, T0, T0 + H)
    down = plug_ids(gangnam)[:8]
    for i, plug in enumerate(down):
        t.effects.extend(
            t.engine.on_availability(PlugAvailability(plug, T0 + H + 60 + 5 * i, False))
        )
    up = [p for p in everyone if p not in down]
    everyone_reports(t, up, T0 + H + 300, T0 + 20 * H)
    outage = t.alerts(AlertKind.AREA_OUTAGE)
    assert len(outage) == 1
    alert = outage[0].alert
    assert alert.household == "area:gangnam"
    assert alert.details["area"] == "gangnam"
    # raised at the 6th plug (30 % of 20); the two after it join the same outage
    assert alert.details["plugs"] == 6
    assert alert.details["households"] == 6
    assert alert.raised_at == T0 + H + 60 + 5 * 5
    assert t.alerts(AlertKind.DEVICE_OFFLINE) == []
    # 19 h blind on a 12 h tier: never inactivity for them (the others, silent, do get it)
    down_homes = {f"g-{i}" for i in range(8)}
    assert not [a for a in t.alerts(AlertKind.INACTIVITY) if a.alert.household in down_homes]
    assert len(t.alerts(AlertKind.INACTIVITY)) == 22
    assert t.alerts(AlertKind.MONITORING_BLIND) == []
    everyone_reports(t, everyone, T0 + 20 * H + 300, T0 + 21 * H)
    resolved = t.alerts(AlertKind.AREA_OUTAGE, "resolved")
    assert len(resolved) == 1
    assert resolved[0].alert.outcome is Outcome.DEVICE_BACK_ONLINE
    assert t.alerts(AlertKind.DEVICE_OFFLINE) == []
    assert not [a for a in t.alerts(AlertKind.INACTIVITY) if a.alert.household in down_homes]


def test_a_few_plugs_offline_is_not_an_outage() -> None:
    """3 of 20 (below the 30 % share): each household gets its own device_offline."""
    gangnam = area("gangnam", 20, "g")
    t = make(*gangnam)
    everyone_reports(t, plug_ids(gangnam), T0, T0 + H)
    for plug in plug_ids(gangnam)[:3]:
        t.effects.extend(t.engine.on_availability(PlugAvailability(plug, T0 + H + 60, False)))
    everyone_reports(t, plug_ids(gangnam)[3:], T0 + H + 300, T0 + 2 * H)
    assert t.alerts(AlertKind.AREA_OUTAGE) == []
    assert len(t.alerts(AlertKind.DEVICE_OFFLINE)) == 3


def test_silence_of_a_third_of_all_plugs_is_one_outage() -> None:
    """Missed reports (no LWT): households without an area form one area."""
    homes = area(None, 30, "h")
    t = make(*homes)
    plugs = plug_ids(homes)
    everyone_reports(t, plugs, T0, T0 + H)
    everyone_reports(t, plugs[10:], T0 + H + 300, T0 + 3 * H)
    outage = t.alerts(AlertKind.AREA_OUTAGE)
    assert len(outage) == 1
    assert outage[0].alert.household == f"area:{AREA_NONE}"
    assert outage[0].alert.details["plugs"] == 9  # raised at 30 % of 30; the 10th joins it
    assert t.alerts(AlertKind.DEVICE_OFFLINE) == []


def test_plugs_still_offline_after_the_outage_get_their_own_alerts() -> None:
    gangnam = area("gangnam", 20, "g")
    t = make(*gangnam)
    plugs = plug_ids(gangnam)
    everyone_reports(t, plugs, T0, T0 + H)
    for plug in plugs[:10]:
        t.effects.extend(t.engine.on_availability(PlugAvailability(plug, T0 + H + 60, False)))
    everyone_reports(t, plugs[10:], T0 + H + 300, T0 + 2 * H)
    assert len(t.alerts(AlertKind.AREA_OUTAGE)) == 1
    # 8 of 10 come back; 2 stay offline
    everyone_reports(t, plugs[2:], T0 + 2 * H + 300, T0 + 3 * H)
    assert len(t.alerts(AlertKind.AREA_OUTAGE, "resolved")) == 1
    offline = t.alerts(AlertKind.DEVICE_OFFLINE)
    assert sorted(a.alert.household for a in offline) == ["g-0", "g-1"]
    # a fresh grace after the outage ends (plugs reconnect over a report period), then alerts
    ended = t.alerts(AlertKind.AREA_OUTAGE, "resolved")[0].alert.resolved_at
    assert ended is not None
    assert all(ended + 300 <= a.alert.raised_at <= ended + 360 for a in offline)


def test_an_outage_open_at_a_restart_still_holds_back_and_resolves() -> None:
    gangnam = area("gangnam", 20, "g")
    t = make(*gangnam)
    plugs = plug_ids(gangnam)
    everyone_reports(t, plugs, T0, T0 + H)
    for plug in plugs[:8]:
        t.effects.extend(t.engine.on_availability(PlugAvailability(plug, T0 + H + 60, False)))
    t.run_until(T0 + H + 120)
    (raised,) = t.alerts(AlertKind.AREA_OUTAGE)
    memories, _ = t.engine.take_dirty()
    restarted = Engine(DetectionConfig(catch_up_grace_s=0.0), gangnam, T0 + 2 * H)
    restarted.restore(memories, [], list(t.engine.open_alerts.values()))
    t2 = Timeline(restarted, T0 + 2 * H)
    everyone_reports(t2, plugs[8:], T0 + 2 * H, T0 + 3 * H)
    assert t2.alerts(AlertKind.DEVICE_OFFLINE) == []
    everyone_reports(t2, plugs, T0 + 3 * H + 300, T0 + 4 * H)
    (resolved,) = t2.alerts(AlertKind.AREA_OUTAGE, "resolved")
    assert resolved.alert.id == raised.alert.id
    assert t2.alerts(AlertKind.DEVICE_OFFLINE) == []


def test_a_stray_reading_is_not_a_standby() -> None:
    """A 0 W microwave with one stray 10 W sample (seen in REFIT house 2), then 0 W for 10 h."""
    t = make(household(RiskTier.LOW))
    t.reports(T0, T0 + H, power=0.0)
    t.reading(T0 + H + 300, power=10.0)
    t.reports(T0 + H + 600, T0 + 12 * H, power=0.0)
    assert t.alerts(AlertKind.UNPLUGGED) == []
