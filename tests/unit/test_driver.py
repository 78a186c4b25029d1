"""The driver on the calling thread with injected clocks: event-time order and clock steps."""

from __future__ import annotations

from pathlib import Path

from careplug.adapters.store_sqlite import SqliteStore
from careplug.clock import VirtualClock, iso
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


def _mixed_messages() -> list[tuple[str, bytes, bool, int, int]]:
    """Plain readings, an unknown plug, rejections, a status and careplug's own topic."""
    at = T0 + 10
    reading = "careplug/plugs/{}/reading"
    return [
        (reading.format("p"), f'{{"time": {at}, "power_w": 0.5}}'.encode(), False, 1, 1),
        (reading.format("p"), b'{"power_w": -3}', False, 2, 1),  # negative_power
        (reading.format("stranger"), f'{{"time": {at + 1}, "power_w": 9}}'.encode(), False, 3, 1),
        ("careplug/status", b"online", True, 4, 1),
        (reading.format("p"), b"not json", False, 5, 1),  # not_json
        (reading.format("p"), f'{{"time": {at + 2}, "power_w": 150.0}}'.encode(), True, 6, 1),
        ("careplug/plugs/p/status", b"offline", False, 7, 1),
        ("somewhere/else", b"{}", False, 8, 0),  # unknown_topic
        (reading.format("p"), f'{{"time": "{iso(at + 3)}", "power_w": 160}}'.encode(), False, 9, 1),
    ]


def _driven(tmp: Path, batched: bool) -> tuple[Driver, list[tuple[int, int]]]:
    clock = VirtualClock(T0 + 20)
    engine = Engine(DetectionConfig(catch_up_grace_s=60.0), [HOUSEHOLD], T0)
    driver = Driver(
        engine,
        SqliteStore(tmp / f"s{batched}.db"),
        clock,
        lateness_s=0.0,
        own_topics=frozenset({"careplug/status"}),
    )
    acked: list[tuple[int, int]] = []
    driver.set_ack(acked.extend)
    if batched:
        driver.submit_messages(_mixed_messages())
    else:
        for message in _mixed_messages():
            driver.submit_message(*message)
    driver.process_pending()
    return driver, acked


def test_a_receive_buffer_at_once_is_handled_as_its_messages_one_by_one(tmp_path: Path) -> None:
    """submit_messages (one call per receive buffer) feeds, rejects, counts and acknowledges
    exactly what submit_message per message does, every message acknowledged once."""
    one, one_acked = _driven(tmp_path, batched=False)
    many, many_acked = _driven(tmp_path, batched=True)
    assert (
        sorted(many_acked)
        == sorted(one_acked)
        == [(m, 1) for m in range(1, 8)]
        + [
            (8, 0),
            (9, 1),
        ]
    )
    assert many.stats.readings == one.stats.readings == 4
    assert many.stats.rejected == one.stats.rejected
    assert dict(many.stats.rejected) == {"negative_power": 1, "not_json": 1, "unknown_topic": 1}
    assert many.stats.messages == one.stats.messages
    assert many.stats.unassigned == one.stats.unassigned == 1
    plugs = many.store.load_plugs()
    assert plugs == one.store.load_plugs()
    assert [(p.plug, p.power_w, p.power_at) for p in plugs] == [("p", 160.0, T0 + 13)]


def test_a_read_only_store_holds_the_acks_and_recovers(tmp_path: Path) -> None:
    """SQLite refusing writes ("attempt to write a readonly database", what a filesystem
    remounted read-only gives): nothing more is acknowledged and the driver reports the store
    unwritable; once it takes writes again, what was held is stored and acknowledged, once."""
    import sqlite3

    engine = Engine(DetectionConfig(catch_up_grace_s=60.0), [HOUSEHOLD], T0)
    store = SqliteStore(tmp_path / "s.db")
    driver = Driver(engine, store, VirtualClock(T0 + 20), lateness_s=0.0)
    acked: list[tuple[int, int]] = []
    driver.set_ack(acked.extend)
    topic = "careplug/plugs/p/reading"

    def reading(mid: int, at: float, power: float) -> None:
        payload = f'{{"time": {at}, "power_w": {power}}}'.encode()
        driver.submit_message(topic, payload, False, mid, 1)
        driver.process_pending()

    reading(1, T0 + 10, 0.5)
    assert acked == [(1, 1)] and driver.store_ok
    store._db.execute("PRAGMA query_only = ON")  # writes now fail as on a read-only mount
    try:
        store._db.execute("UPDATE plugs SET power_w = 0")
        raise AssertionError("the store still took a write")
    except sqlite3.OperationalError as exc:
        assert "readonly" in str(exc)
    reading(2, T0 + 11, 150.0)
    reading(3, T0 + 12, 0.5)
    assert acked == [(1, 1)] and not driver.store_ok
    assert [(p.plug, p.power_w) for p in store.load_plugs()] == [("p", 0.5)]
    store._db.execute("PRAGMA query_only = OFF")
    reading(4, T0 + 13, 160.0)
    assert acked == [(1, 1), (2, 1), (3, 1), (4, 1)] and driver.store_ok
    assert [(p.plug, p.power_w, p.power_at) for p in store.load_plugs()] == [("p", 160.0, T0 + 13)]
