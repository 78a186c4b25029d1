"""Issue 5 item 7: a plug's unplugged memory and a gateway outage survive a restart through the
real SQLite store (migration 4)."""

from __future__ import annotations

from pathlib import Path

from careplug.adapters.store_sqlite import SqliteStore
from careplug.domain.engine import AlertChanged, DetectionConfig, Engine
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
from tests.unit.detect.test_blind_spots import area, everyone_reports, plug_ids
from tests.unit.test_engine import T0, H, Timeline, household, make

CONFIG = DetectionConfig(catch_up_grace_s=0.0)


def restart_through_store(t: Timeline, path: Path, at: float, *homes: Household) -> Timeline:
    """Save what the engine would have committed, open the store afresh, restore a new
    engine started at ``at`` from it."""
    store = SqliteStore(path)
    for effect in t.effects:
        if isinstance(effect, AlertChanged):
            store.record_transition(effect.alert, effect.audit, effect.previous)
    store.save_state(*t.engine.take_dirty())
    store.close()
    again = SqliteStore(path)
    engine = Engine(CONFIG, homes, at)
    engine.restore(again.load_plugs(), again.load_households(), again.list_alerts(open_only=True))
    again.close()
    return Timeline(engine, at)


def test_a_plug_unplugged_before_a_restart_is_reported_on_its_original_schedule(
    tmp_path: Path,
) -> None:
    """A TV with 2 W standby draws nothing from +2 h; the daemon restarts at +5 h. The
    unplugged alert still comes 6 h after the load vanished, and the 12 h tier never turns
    the blind time into inactivity."""
    home = household(RiskTier.HIGH)
    t = make(home)
    t.reports(T0, T0 + 2 * H, power=2.0)
    vanished = T0 + 2 * H + 300
    t.reports(vanished, T0 + 5 * H, power=0.0)
    assert t.alerts(AlertKind.UNPLUGGED) == []

    t2 = restart_through_store(t, tmp_path / "state.db", T0 + 5 * H, home)
    t2.reports(T0 + 5 * H + 300, T0 + 16 * H, power=0.0)
    (raised,) = t2.alerts(AlertKind.UNPLUGGED)
    assert vanished + 6 * H <= raised.alert.raised_at <= vanished + 6 * H + 360
    assert raised.alert.since == vanished
    assert t2.alerts(AlertKind.INACTIVITY) == []


def test_a_gateway_outage_open_at_a_restart_still_holds_back_and_resolves(
    tmp_path: Path,
) -> None:
    """8 of 20 plugs (one per area, so no area outage) report through one bridge that goes
    down: one gateway outage. After a restart with the bridge still down its plugs stay held
    back (no device_offline storm), and the same outage resolves when the bridge is back."""
    homes = [
        Household(
            HouseholdId(f"g-{i}"),
            tier=RiskTier.HIGH,
            area=f"area-{i}",
            plugs=(PlugSpec(PlugId(f"g-tv-{i}"), Appliance.TV),),
        )
        for i in range(20)
    ]
    plugs = plug_ids(homes)
    bridged = plugs[:8]
    t = make(*homes)
    for plug in bridged:
        t.engine.note_gateway(plug, "bridge-1")
    everyone_reports(t, plugs, T0, T0 + H)
    t.effects.extend(
        t.engine.on_availability(PlugAvailability(PlugId("bridge-1"), T0 + H + 60, False, True))
    )
    everyone_reports(t, plugs[8:], T0 + H + 300, T0 + 2 * H)
    (outage,) = t.alerts(AlertKind.AREA_OUTAGE)
    assert outage.alert.household == "gateway:bridge-1"

    # the restarted daemon has not heard from the bridge's plugs: only the store knows them
    t2 = restart_through_store(t, tmp_path / "state.db", T0 + 2 * H, *homes)
    everyone_reports(t2, plugs[8:], T0 + 2 * H, T0 + 3 * H)
    assert t2.alerts(AlertKind.DEVICE_OFFLINE) == []
    assert t2.alerts(AlertKind.AREA_OUTAGE) == []
    t2.effects.extend(
        t2.engine.on_availability(PlugAvailability(PlugId("bridge-1"), T0 + 3 * H + 60, True, True))
    )
    everyone_reports(t2, plugs, T0 + 3 * H + 300, T0 + 4 * H)
    (resolved,) = t2.alerts(AlertKind.AREA_OUTAGE, "resolved")
    assert resolved.alert.id == outage.alert.id
    assert resolved.alert.outcome is Outcome.DEVICE_BACK_ONLINE
    assert t2.alerts(AlertKind.DEVICE_OFFLINE) == []


def test_an_area_outage_open_at_a_restart_is_rebuilt_from_the_store(tmp_path: Path) -> None:
    """8 of 20 plugs of one area send LWT offline: one area outage; after a restart through
    the store the same outage holds their alerts back and resolves when they are back."""
    homes = area("gangnam", 20, "g")
    plugs = plug_ids(homes)
    t = make(*homes)
    everyone_reports(t, plugs, T0, T0 + H)
    for plug in plugs[:8]:
        t.effects.extend(t.engine.on_availability(PlugAvailability(plug, T0 + H + 60, False)))
    everyone_reports(t, plugs[8:], T0 + H + 300, T0 + 2 * H)
    (outage,) = t.alerts(AlertKind.AREA_OUTAGE)

    t2 = restart_through_store(t, tmp_path / "state.db", T0 + 2 * H, *homes)
    everyone_reports(t2, plugs[8:], T0 + 2 * H, T0 + 3 * H)
    assert t2.alerts(AlertKind.DEVICE_OFFLINE) == []
    everyone_reports(t2, plugs, T0 + 3 * H + 300, T0 + 4 * H)
    (resolved,) = t2.alerts(AlertKind.AREA_OUTAGE, "resolved")
    assert resolved.alert.id == outage.alert.id
    assert t2.alerts(AlertKind.DEVICE_OFFLINE) == []
