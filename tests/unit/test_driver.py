"""The driver on the calling thread with injected clocks: event-time order and clock steps."""

from __future__ import annotations

from pathlib import Path

from careplug.adapters.store_sqlite import SqliteStore
from careplug.clock import VirtualClock
from careplug.domain.engine import AlertChanged, DetectionConfig, Engine
from careplug.domain.model import (
    Appliance,
    Household,
    HouseholdId,
    PlugId,
    PlugSpec,
    Reading,
    RiskTier,
)
from careplug.runtime.driver import Driver

H = 3600.0
T0 = 1_767_225_600.0
HOUSEHOLD = Household(
    HouseholdId("hh"), tier=RiskTier.HIGH, plugs=(PlugSpec(PlugId("p"), Appliance.TV),)
)


class Rig:
    """An engine, a store and a driver whose event and processing clocks the test moves."""

    def __init__(self, tmp: Path) -> None:
        self.wall = VirtualClock(T0)
        self.mono = 1000.0
        engine = Engine(DetectionConfig(catch_up_grace_s=60.0), [HOUSEHOLD], T0)
        self.store = SqliteStore(tmp / "s.db")
        self.driver = Driver(
            engine,
            self.store,
            self.wall,
            tick_s=1.0,
            lateness_s=0.0,
            processing_clock=lambda: self.mono,
        )
        self.raised: list[float] = []

    def run(
        self, seconds: float, step: float = 300.0, power: float = 0.5, wall_jump: float = 0.0
    ) -> None:
        """Let time pass with the plug reporting ``power`` every ``step`` seconds."""
        self.wall.advance(wall_jump)
        end = self.wall.now() + seconds
        while self.wall.now() < end:
            self.wall.advance(step)
            self.mono += step
            self.driver.submit(Reading(PlugId("p"), self.wall.now(), power, None))
            for effect in self.driver.process_pending():
                if isinstance(effect, AlertChanged) and effect.event == "raised":
                    self.raised.append(effect.alert.raised_at)


def test_a_forward_clock_step_is_not_silence(tmp_path: Path) -> None:
    """NTP steps the host clock 2 h forward 11 h into a quiet spell: no alert at 12 h wall
    time; the step counts as blind time, so the alert comes 2 h later than the wall says."""
    rig = Rig(tmp_path)
    rig.run(300, power=0.5)
    rig.run(600, power=120.0)  # switched on
    rig.run(300, power=0.5)  # switched off: the last activity
    last_activity = T0 + 1200
    rig.run(11 * H)
    assert rig.raised == []
    rig.run(600, wall_jump=2 * H)  # the wall clock leaps; only 10 minutes really pass
    assert rig.raised == []
    rig.run(2 * H)
    assert len(rig.raised) == 1
    assert rig.raised[0] >= last_activity + 12 * H + 2 * H


def test_without_a_step_the_alert_comes_at_the_threshold(tmp_path: Path) -> None:
    """The same quiet spell with a steady clock alerts at 12 h (the control case)."""
    rig = Rig(tmp_path)
    rig.run(300, power=0.5)
    rig.run(600, power=120.0)
    rig.run(300, power=0.5)
    rig.run(12 * H + 600)
    assert len(rig.raised) == 1
    assert T0 + 1200 + 12 * H <= rig.raised[0] <= T0 + 1200 + 12 * H + 301


def test_a_backward_clock_step_raises_no_burst_and_still_alerts_once(tmp_path: Path) -> None:
    """NTP steps the host clock 2 h back 11 h into a quiet spell: nothing is raised at the
    step, nothing twice, and the alert still comes — 12 h of quiet by the corrected clock
    after the last activity's stamp (so at most the step later in real time: the stamps
    before the step were taken by a clock that ran ahead, and are not rewritten)."""
    rig = Rig(tmp_path)
    rig.run(300, power=0.5)
    rig.run(600, power=120.0)
    rig.run(300, power=0.5)
    last_activity = T0 + 1200
    rig.run(11 * H)
    assert rig.raised == []
    rig.run(600, wall_jump=-2 * H)  # the wall clock falls back; time really goes on
    assert rig.raised == []
    rig.run(2 * H)
    assert rig.raised == []  # by the corrected clock only about 11 h have passed
    rig.run(2 * H)
    assert len(rig.raised) == 1
    assert last_activity + 12 * H <= rig.raised[0] <= last_activity + 12 * H + 301
