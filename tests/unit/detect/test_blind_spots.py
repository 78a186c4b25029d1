"""Blind spots of issue 5 that are not inactivity: ``unplugged`` and ``area_outage``."""

from __future__ import annotations

from careplug.domain.engine import DetectionConfig
from careplug.domain.model import (
    AlertKind,
    Appliance,
    Household,
    HouseholdId,
    Outcome,
    PlugSpec,
    RiskTier,
)
from tests.unit.test_engine import HH, T0, TV, H, household, make


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
