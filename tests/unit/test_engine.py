"""The detection engine, driven as timelines with explicit event times (no clock)."""

from __future__ import annotations

import pytest

from careplug.domain.activity import ActivityConfig, ActivityReason, PlugActivity
from careplug.domain.engine import (
    ActivitySeen,
    AlertChanged,
    DetectionConfig,
    DeviceStatusChanged,
    Effect,
    Engine,
    UnassignedDevice,
)
from careplug.domain.model import (
    AlertKind,
    AlertState,
    Appliance,
    Household,
    HouseholdId,
    Outcome,
    PlugAvailability,
    PlugId,
    PlugSpec,
    Reading,
    RiskTier,
    Severity,
)

H = 3600.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
HH = HouseholdId("hh-1")
TV = PlugId("tv-1")
FRIDGE = PlugId("fridge-1")


def household(tier: RiskTier = RiskTier.MEDIUM, *plugs: PlugSpec) -> Household:
    return Household(HH, tier=tier, plugs=plugs or (PlugSpec(TV, Appliance.TV),))


class Timeline:
    """Feeds an engine like the driver does: readings in order, a tick every minute."""

    def __init__(self, engine: Engine, start: float = T0) -> None:
        self.engine = engine
        self.now = start
        self.effects: list[Effect] = []

    def reading(
        self, at: float, plug: PlugId = TV, power: float | None = 1.0, energy: float | None = None
    ) -> list[Effect]:
        self.run_until(at)
        out = self.engine.on_reading(Reading(plug, at, power, energy))
        self.effects.extend(out)
        return out

    def reports(
        self, start: float, end: float, power: float, plug: PlugId = TV, period: float = 300.0
    ) -> None:
        """A plug reporting the same power every ``period`` from start to end."""
        at = start
        while at <= end:
            self.reading(at, plug, power)
            at += period

    def run_until(self, at: float) -> None:
        while self.now + 60 <= at:
            self.now += 60
            self.effects.extend(self.engine.tick(self.now))
        self.now = max(self.now, at)

    def alerts(self, kind: AlertKind | None = None, event: str = "raised") -> list[AlertChanged]:
        return [
            e
            for e in self.effects
            if isinstance(e, AlertChanged)
            and e.event == event
            and (kind is None or e.alert.kind is kind)
        ]


def make(
    *households: Household, config: DetectionConfig | None = None, start: float = T0
) -> Timeline:
    cfg = config or DetectionConfig(catch_up_grace_s=0.0)
    return Timeline(Engine(cfg, households, start), start)


@pytest.mark.parametrize(
    ("tier", "hours"), [(RiskTier.HIGH, 12), (RiskTier.MEDIUM, 24), (RiskTier.LOW, 36)]
)
def test_inactivity_alert_fires_at_the_tier_threshold(tier: RiskTier, hours: int) -> None:
    """No sign of life for the tier's hours raises one critical inactivity alert, not before."""
    t = make(household(tier))
    t.reading(T0 + 60, power=1.0)
    t.reading(T0 + 360, power=120.0)  # TV switched on: activity at +360 s
    t.reports(T0 + 660, T0 + 360 + hours * H + 1200, power=120.0)  # left on: constant load
    raised = t.alerts(AlertKind.INACTIVITY)
    assert len(raised) == 1
    alert = raised[0].alert
    assert alert.severity is Severity.CRITICAL
    assert alert.since == T0 + 360
    assert T0 + 360 + hours * H <= alert.raised_at <= T0 + 360 + hours * H + 60


def test_standby_noise_is_not_activity() -> None:
    """Readings wobbling under the in-use margin never count as a sign of life."""
    t = make(household(RiskTier.HIGH))
    noise = [0.0, 3.2, 0.4, 4.9, 1.1, 0.0, 2.5]
    for i in range(int(13 * H / 300)):
        t.reading(T0 + 300 * i, power=noise[i % len(noise)])
    assert not [e for e in t.effects if isinstance(e, ActivitySeen)]
    assert len(t.alerts(AlertKind.INACTIVITY)) == 1


def test_constant_load_is_not_activity_but_switching_is() -> None:
    """A TV left on is not life; switching it off and on is."""
    t = make(household())
    t.reading(T0, power=0.5)
    t.reading(T0 + 300, power=95.0)
    t.reading(T0 + 600, power=97.0)
    t.reading(T0 + 900, power=93.0)
    t.reading(T0 + 1200, power=0.6)
    reasons = [e.reason for e in t.effects if isinstance(e, ActivitySeen)]
    assert reasons == [ActivityReason.SWITCHED_ON, ActivityReason.SWITCHED_OFF]


def test_energy_counter_reveals_a_kettle_boil_between_reports() -> None:
    """A 3-minute 2 kW boil between two 5-minute samples shows only in the counter."""
    act = PlugActivity()
    cfg = ActivityConfig()
    assert act.observe(T0, 0.0, 1000.0, cfg) is None
    assert act.observe(T0 + 300, 0.0, 1000.0, cfg) is None
    assert act.observe(T0 + 600, 0.0, 1100.0, cfg) is ActivityReason.HIDDEN_USE


def test_energy_counter_reset_is_never_activity() -> None:
    """A counter that drops (reboot, midnight) is a reset, not use."""
    act = PlugActivity()
    cfg = ActivityConfig()
    act.observe(T0, 0.0, 5000.0, cfg)
    assert act.observe(T0 + 300, 0.0, 0.0, cfg) is None
    assert act.observe(T0 + 600, 0.0, 0.5, cfg) is None


def test_activity_resolves_the_inactivity_alert() -> None:
    """When life resumes the open alert is resolved by careplug with activity_resumed."""
    t = make(household(RiskTier.HIGH))
    t.reading(T0, power=0.5)
    t.reports(T0 + 300, T0 + 13 * H, power=0.5)
    assert len(t.alerts(AlertKind.INACTIVITY)) == 1
    t.reading(T0 + 13 * H + 300, power=80.0)
    resolved = t.alerts(AlertKind.INACTIVITY, "resolved")
    assert len(resolved) == 1
    assert resolved[0].alert.outcome is Outcome.ACTIVITY_RESUMED
    assert resolved[0].alert.state is AlertState.RESOLVED
    assert resolved[0].previous is AlertState.OPEN
    assert not t.engine.open_alerts


def test_silent_plug_gets_device_offline_never_inactivity() -> None:
    """A plug that stops reporting makes the household blind: device_offline only."""
    t = make(household(RiskTier.HIGH))
    t.reading(T0, power=0.5)
    t.reading(T0 + 300, power=0.5)
    t.run_until(T0 + 40 * H)
    assert t.alerts(AlertKind.INACTIVITY) == []
    offline = t.alerts(AlertKind.DEVICE_OFFLINE)
    assert len(offline) == 1
    # three missed periods after the last message, then the grace
    assert offline[0].alert.raised_at <= T0 + 300 + 3 * 300 + 300 + 60
    assert [e for e in t.effects if isinstance(e, DeviceStatusChanged) and not e.online]


def test_lwt_offline_and_back_online() -> None:
    """LWT offline raises device_offline after the grace; a message resolves it."""
    t = make(household())
    t.reading(T0, power=0.5)
    t.run_until(T0 + 60)
    t.effects.extend(t.engine.on_availability(PlugAvailability(TV, T0 + 60, online=False)))
    t.run_until(T0 + 60 + 301 + 60)
    assert len(t.alerts(AlertKind.DEVICE_OFFLINE)) == 1
    t.reading(T0 + 1000, power=0.5)
    t.run_until(T0 + 1100)
    resolved = t.alerts(AlertKind.DEVICE_OFFLINE, "resolved")
    assert len(resolved) == 1
    assert resolved[0].alert.outcome is Outcome.DEVICE_BACK_ONLINE


def test_blind_time_does_not_count_as_silence() -> None:
    """Two offline hours push the inactivity deadline back by two hours."""
    t = make(household(RiskTier.HIGH))
    t.reading(T0, power=80.0)
    t.reading(T0 + 300, power=0.5)  # switched off: activity at +300
    t.effects.extend(t.engine.on_availability(PlugAvailability(TV, T0 + 1 * H, online=False)))
    t.run_until(T0 + 3 * H)
    t.reports(T0 + 3 * H, T0 + 15 * H, power=0.5)
    raised = t.alerts(AlertKind.INACTIVITY)
    assert len(raised) == 1
    assert raised[0].alert.raised_at >= T0 + 300 + 12 * H + 2 * H - 60


def test_fridge_cycles_are_not_signs_of_life() -> None:
    """A fridge cycling by itself keeps the plug online but never resets the silence."""
    hh = household(
        RiskTier.HIGH,
        PlugSpec(TV, Appliance.TV),
        PlugSpec(FRIDGE, Appliance.FRIDGE, shows_activity=False),
    )
    t = make(hh)
    t.reading(T0, TV, 0.5)
    t.reading(T0 + 300, TV, 70.0)
    for i in range(int(13 * H / 300)):
        at = T0 + 600 + 300 * i
        t.reading(at, FRIDGE, 90.0 if (i // 3) % 2 else 1.0)
        t.reading(at, TV, 70.0)
    assert len(t.alerts(AlertKind.INACTIVITY)) == 1


def test_broker_outage_is_blind_time_and_raises_nothing() -> None:
    """While careplug is disconnected no alert is raised, and the outage is not silence."""
    t = make(household(RiskTier.HIGH), config=DetectionConfig(catch_up_grace_s=120.0))
    t.reading(T0, power=0.5)
    t.reading(T0 + 300, power=80.0)
    t.engine.connection_lost(T0 + 600)
    t.run_until(T0 + 3 * H)
    assert t.alerts() == []
    t.engine.connection_restored(T0 + 3 * H)
    t.reports(T0 + 3 * H + 60, T0 + 3 * H + 12 * H, power=80.0)
    assert t.alerts(AlertKind.DEVICE_OFFLINE) == []
    raised = t.alerts(AlertKind.INACTIVITY)
    assert len(raised) == 1
    assert raised[0].alert.raised_at >= T0 + 300 + 12 * H + (3 * H - 600) - 60


def test_unassigned_device_reported_once() -> None:
    """A plug not in the registry is reported once, not dropped silently, not repeated."""
    t = make(household())
    first = t.engine.on_reading(Reading(PlugId("stranger"), T0, 5.0, None))
    second = t.engine.on_reading(Reading(PlugId("stranger"), T0 + 300, 5.0, None))
    assert first == [UnassignedDevice(PlugId("stranger"), T0)]
    assert second == []


def test_stale_retained_reading_is_not_activity() -> None:
    """A retained message replayed at subscribe time is old news."""
    t = make(household())
    t.reading(T0, power=0.5)
    out = t.engine.on_reading(Reading(TV, T0 + 60, 150.0, None, stale=True))
    assert not [e for e in out if isinstance(e, ActivitySeen)]


def test_restored_state_keeps_the_original_deadline() -> None:
    """After a restart the deadline comes from the stored last activity, not from zero."""
    t = make(household(RiskTier.HIGH))
    t.reading(T0, power=0.5)
    t.reading(T0 + 300, power=80.0)
    t.reports(T0 + 600, T0 + 4 * H, power=80.0)
    plugs, households = t.engine.take_dirty()

    restart_at = T0 + 4 * H + 60
    fresh = Engine(DetectionConfig(catch_up_grace_s=120.0), [household(RiskTier.HIGH)], restart_at)
    fresh.restore(plugs, households, [])
    t2 = Timeline(fresh, restart_at)
    t2.reports(restart_at + 60, T0 + 13 * H, power=80.0)
    raised = t2.alerts(AlertKind.INACTIVITY)
    assert len(raised) == 1
    assert T0 + 300 + 12 * H <= raised[0].alert.raised_at <= T0 + 300 + 12 * H + 60


def test_caseworker_resolution_rearms_instead_of_reraising() -> None:
    """A person resolving an inactivity alert restarts the count from their resolution."""
    from careplug.domain import alerts as rules

    t = make(household(RiskTier.HIGH))
    t.reading(T0, power=0.5)
    t.reports(T0 + 300, T0 + 12 * H + 600, power=0.5)
    alert = t.alerts(AlertKind.INACTIVITY)[0].alert
    resolved, _ = rules.resolve(alert, "cw-kim", T0 + 12 * H + 700, Outcome.RESIDENT_OK)
    t.engine.apply_external(resolved)
    t.reports(T0 + 12 * H + 900, T0 + 20 * H, power=0.5)
    assert len(t.alerts(AlertKind.INACTIVITY)) == 1  # not raised again within 12 h
    t.reports(T0 + 20 * H + 300, T0 + 25 * H, power=0.5)
    assert len(t.alerts(AlertKind.INACTIVITY)) == 2  # 12 h after the resolution


def test_never_reported_plug() -> None:
    """An enrolled plug with no message within the grace is reported as such."""
    t = make(household(), config=DetectionConfig(catch_up_grace_s=0, never_reported_grace_s=H))
    t.run_until(T0 + 2 * H)
    assert len(t.alerts(AlertKind.NEVER_REPORTED)) == 1
    assert t.alerts(AlertKind.INACTIVITY) == []


def test_a_plug_first_heard_after_start_up_is_watched_from_then() -> None:
    """A threshold shorter than the never-reported grace still alerts on time for a plug that
    first reports after careplug started (its timer is not left at the grace)."""
    cfg = DetectionConfig(
        catch_up_grace_s=0.0,
        never_reported_grace_s=6 * H,
        tier_thresholds={RiskTier.HIGH: H, RiskTier.MEDIUM: H, RiskTier.LOW: H},
    )
    t = make(household(RiskTier.HIGH), config=cfg)
    t.run_until(T0 + 600)
    t.reports(T0 + 600, T0 + 600 + 2 * H, power=0.5)
    raised = t.alerts(AlertKind.INACTIVITY)
    assert len(raised) == 1
    assert raised[0].alert.raised_at <= T0 + 600 + H + 60
