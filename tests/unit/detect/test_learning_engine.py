"""The learning detector in the engine, driven as timelines in a household's local time."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from careplug.adapters.store_sqlite import SqliteStore
from careplug.domain import alerts as alert_rules
from careplug.domain.engine import AlertChanged, DetectionConfig, Effect, Engine
from careplug.domain.model import (
    Alert,
    AlertKind,
    Appliance,
    Household,
    HouseholdId,
    Outcome,
    PlugAvailability,
    PlugId,
    PlugSpec,
    Reading,
    Severity,
)
from careplug.domain.routine import BINS

H = 3600.0
SEOUL = ZoneInfo("Asia/Seoul")
T0 = datetime(2026, 1, 5, tzinfo=SEOUL).timestamp()  # a Monday, local midnight
HH = HouseholdId("hh-1")
TV = PlugId("tv-1")
# local hours the TV is on each day: the silences between are 2-2.5 h, the night 9.5 h
USE = ((7.0, 7.5), (9.5, 10.0), (12.0, 12.5), (15.0, 15.5), (18.0, 19.0), (21.0, 21.5))


def engine(detector: str = "learning") -> Engine:
    home = Household(HH, plugs=(PlugSpec(TV, Appliance.TV),))
    return Engine(DetectionConfig(detector=detector), [home], T0)


def power_at(at: float, stop_at: float | None) -> float:
    hour = ((at - T0) % 86400) / H
    if stop_at is not None and at >= stop_at:
        return 1.0
    return 100.0 if any(a <= hour < b for a, b in USE) else 1.0


def live(eng: Engine, start: float, end: float, stop_at: float | None = None) -> list[Effect]:
    """Report every 5 minutes from ``start`` to ``end``; the resident stops at ``stop_at``."""
    effects: list[Effect] = []
    at = start
    while at < end:
        effects += eng.tick(at)
        effects += eng.on_reading(Reading(TV, at, power_at(at, stop_at), None))
        at += 300.0
    return effects


def inactivity(effects: list[Effect]) -> list[tuple[str, Severity, float, Alert]]:
    return [
        (e.event, e.alert.severity, e.audit.at, e.alert)
        for e in effects
        if isinstance(e, AlertChanged) and e.alert.kind is AlertKind.INACTIVITY
    ]


def test_learnt_routine_raises_graded_alerts_hours_before_the_backstop() -> None:
    """After 3 weeks of routine, a morning collapse gets attention, warning, then critical."""
    eng = engine()
    assert not inactivity(live(eng, T0, T0 + 21 * 86400))
    stop = T0 + 21 * 86400 + 7.5 * H  # last use ends 07:30 local
    steps = inactivity(live(eng, T0 + 21 * 86400, T0 + 23 * 86400, stop_at=stop))
    assert [(event, sev) for event, sev, _, _ in steps] == [
        ("raised", Severity.ATTENTION),
        ("escalated", Severity.WARNING),
        ("escalated", Severity.CRITICAL),
    ]
    assert len({alert.id for *_, alert in steps}) == 1  # one alert, escalating
    attention_at, warning_at, critical_at = (at for _, _, at, _ in steps)
    assert 2 * H <= attention_at - stop <= 3 * H
    assert 4 * H <= warning_at - stop <= 5 * H
    assert critical_at - stop <= 8 * H
    message = steps[1][3].message
    assert message.startswith("no activity since 07:30; usually active again within")
    assert message.endswith("at this hour")


def test_fixed_detector_keeps_todays_threshold_only() -> None:
    """``fixed``: the same collapse is reported once, critical, at the 24 h tier limit."""
    eng = engine("fixed")
    live(eng, T0, T0 + 21 * 86400)
    stop = T0 + 21 * 86400 + 7.5 * H
    steps = inactivity(live(eng, T0 + 21 * 86400, T0 + 23 * 86400, stop_at=stop))
    assert [(event, sev) for event, sev, _, _ in steps] == [("raised", Severity.CRITICAL)]
    assert 24 * H <= steps[0][2] - stop <= 24 * H + 600


def test_cold_start_uses_the_tier_threshold_only() -> None:
    """With under 14 days of history nothing is learnt yet: only the backstop fires."""
    eng = engine()
    live(eng, T0, T0 + 10 * 86400)
    stop = T0 + 10 * 86400 + 7.5 * H
    steps = inactivity(live(eng, T0 + 10 * 86400, T0 + 12 * 86400, stop_at=stop))
    assert [(sev, round((at - stop) / H)) for _, sev, at, _ in steps] == [(Severity.CRITICAL, 24)]


def test_away_period_silences_alerts_and_a_missed_return_is_reported() -> None:
    """Away: no inactivity; no activity 12 h after the expected return is its own alert."""
    eng = engine()
    live(eng, T0, T0 + 21 * 86400)
    leave = T0 + 21 * 86400 + 7.5 * H
    back = leave + 3 * 86400
    eng.set_away(HH, leave, back)
    effects = live(eng, T0 + 21 * 86400, back + 14 * H, stop_at=leave)
    raised = [
        (e.alert.kind, e.audit.at)
        for e in effects
        if isinstance(e, AlertChanged) and e.event == "raised"
    ]
    assert raised == [(AlertKind.NOT_BACK_FROM_AWAY, raised[0][1])]
    assert 12 * H <= raised[0][1] - back <= 12 * H + 600
    # the resident comes home: the alert resolves by itself
    at = back + 14 * H + 300
    resumed = eng.on_reading(Reading(TV, at, 100.0, None))
    assert any(
        isinstance(e, AlertChanged)
        and e.alert.kind is AlertKind.NOT_BACK_FROM_AWAY
        and e.event == "resolved"
        for e in resumed
    )


def test_learnt_routine_survives_a_restart_through_the_store(tmp_path: Path) -> None:
    """What is learnt is persisted (migration 3) and restored: a new engine alerts as early."""
    eng = engine()
    live(eng, T0, T0 + 21 * 86400)
    store = SqliteStore(tmp_path / "state.db")
    plugs, households = eng.take_dirty()
    assert households[0].routine is not None and len(households[0].routine) < 2048
    store.save_state(plugs, households)
    store.close()

    again = SqliteStore(tmp_path / "state.db")
    restarted = engine()
    restarted.restore(again.load_plugs(), again.load_households(), [])
    stop = T0 + 21 * 86400 + 7.5 * H
    steps = inactivity(live(restarted, T0 + 21 * 86400, T0 + 22 * 86400, stop_at=stop))
    assert steps[0][1] is Severity.ATTENTION
    assert any(sev is Severity.WARNING and at - stop <= 5 * H for _, sev, at, _ in steps)
    again.close()


def long_silences_learnt_at_7(eng: Engine) -> int:
    """Learnt weekday silences that began at 07:xx and lasted 16 h or more."""
    routine = eng.households[HH].routine
    assert routine is not None
    row = 7 * BINS
    return sum(routine.counts[row + i] for i in range(BINS) if 1800.0 * 2 ** (i / 2) >= 16 * H)


@pytest.mark.parametrize(
    ("outcome", "learnt"),
    [(Outcome.HOSPITAL, 0), (Outcome.VISITED_OK, 0), (Outcome.RESIDENT_OK, 1)],
)
def test_a_silence_a_person_found_to_be_an_incident_is_never_learnt(
    outcome: Outcome, learnt: int
) -> None:
    """A silence closed as hospital (or any non-normal outcome) is not routine; resident_ok is."""
    eng = engine()
    live(eng, T0, T0 + 28 * 86400)
    day = T0 + 28 * 86400  # a Monday
    stop = day + 7.5 * H
    steps = inactivity(live(eng, day, stop + 6 * H, stop_at=stop))
    alert = steps[-1][3]
    resolved, _ = alert_rules.resolve(alert, "caseworker-1", stop + 6 * H, outcome)
    eng.apply_external(resolved)
    # the resident is active again 18 h after the last use (under the 24 h backstop)
    live(eng, stop + 6 * H, stop + 18 * H, stop_at=stop)
    assert long_silences_learnt_at_7(eng) == 0
    eng.on_reading(Reading(TV, stop + 18 * H, 100.0, None))
    assert long_silences_learnt_at_7(eng) == learnt


def test_an_appliance_on_far_longer_than_ever_raises_appliance_left_on() -> None:
    """The TV is never on over an hour; left on at 18:00 it is reported 3 h later, once."""
    eng = engine()
    live(eng, T0, T0 + 21 * 86400)
    day = T0 + 21 * 86400
    effects: list[Effect] = []
    at = day
    while at < day + 24 * H:
        effects += eng.tick(at)
        power = 100.0 if at >= day + 18 * H else power_at(at, None)
        effects += eng.on_reading(Reading(TV, at, power, None))
        at += 300.0
    left_on = [
        e
        for e in effects
        if isinstance(e, AlertChanged) and e.alert.kind is AlertKind.APPLIANCE_LEFT_ON
    ]
    assert [e.event for e in left_on] == ["raised"]
    assert 3 * H <= left_on[0].audit.at - (day + 18 * H) <= 3 * H + 600
    assert "the longest it was ever on here is 1 h" in left_on[0].alert.message
    # switched off at last: the alert clears itself
    off = eng.on_reading(Reading(TV, at, 1.0, None))
    assert any(isinstance(e, AlertChanged) and e.event == "resolved" for e in off)


def late_evenings_power(at: float, stop_at: float | None) -> float:
    """Up at 07:00 every day; the evening ends at 19:30, 21:30 or 23:30 in turn."""
    if stop_at is not None and at >= stop_at:
        return 1.0
    day, hour = divmod((at - T0) / H, 24.0)
    last = (19.5, 21.5, 23.5)[int(day) % 3]
    uses = ((7.0, 7.5), (12.0, 12.5), (18.0, 18.5), (last - 0.5, last))
    return 100.0 if any(a <= hour < b for a, b in uses) else 1.0


def test_a_day_not_started_is_a_warning_before_the_night_silence_looks_long() -> None:
    """Bedtimes vary by hours, so a night silence is not improbable until late morning; the
    day always starts by 07:xx, so a morning without it is a warning soon after."""
    eng = engine()
    effects: list[Effect] = []
    stop = T0 + 23 * 86400 + 23.5 * H  # day 23 (23 % 3 == 2) ends at 23:30, then nothing
    at = T0
    while at < T0 + 25 * 86400:
        effects += eng.tick(at)
        effects += eng.on_reading(Reading(TV, at, late_evenings_power(at, stop), None))
        at += 300.0
    facing = [s for s in inactivity(effects) if s[1] is not Severity.ATTENTION]
    assert all(step_at >= stop for _, _, step_at, _ in facing)  # no false alarm before
    event, severity, warned_at, alert = facing[0]
    assert (event, severity) == ("raised", Severity.WARNING)
    local = datetime.fromtimestamp(warned_at, SEOUL)
    assert (local.day, local.hour) == (29, 8)  # the morning after (07:xx + 1 h margin)
    assert alert.message == "no activity since 23:30; usually active again by 07:29"
    critical = [s for s in facing if s[1] is Severity.CRITICAL]
    assert critical and critical[0][2] - warned_at > 2 * H


LAMP = PlugId("lamp-1")


def two_plug_engine() -> Engine:
    home = Household(HH, plugs=(PlugSpec(TV, Appliance.TV), PlugSpec(LAMP, Appliance.LAMP)))
    return Engine(DetectionConfig(detector="learning"), [home], T0)


def live_two(
    eng: Engine,
    start: float,
    end: float,
    stop_at: float | None = None,
    lamp_down: tuple[float, float] | None = None,
) -> list[Effect]:
    """Like :func:`live`, with a lamp used at the TV's hours; its plug loses Wi-Fi (a Last
    Will, then no reports) over ``lamp_down``."""
    effects: list[Effect] = []
    at = start
    while at < end:
        effects += eng.tick(at)
        effects += eng.on_reading(Reading(TV, at, power_at(at, stop_at), None))
        if lamp_down is not None and lamp_down[0] <= at < lamp_down[1]:
            if at - lamp_down[0] < 300.0:
                effects += eng.on_availability(PlugAvailability(LAMP, at, online=False))
        else:
            watts = 60.0 if power_at(at, stop_at) > 50.0 else 0.4
            effects += eng.on_reading(Reading(LAMP, at, watts, None))
        at += 300.0
    return effects


def test_a_plug_down_holds_the_learnt_levels_not_the_tier_limit(tmp_path: Path) -> None:
    """One of two plugs offline for 6 h (the other quiet): no learnt alert meanwhile (the lamp
    may have been in use), the learnt levels come back later by the time it was down, a
    restart in between keeps that, and the 24 h tier limit is not moved."""
    eng = two_plug_engine()
    assert not inactivity(live_two(eng, T0, T0 + 21 * 86400))
    day = T0 + 21 * 86400
    stop = day + 7.5 * H
    down = (stop + 600, stop + 600 + 6 * H)  # (switched off at 07:30, then no Wi-Fi)
    steps = inactivity(live_two(eng, day, stop + 7 * H, stop_at=stop, lamp_down=down))
    assert steps == []  # a lone TV quiet since 07:30 had warned by now (see above)
    assert eng.households[HH].partly_blind_since is None  # the lamp is back
    assert 6 * H - 600 <= eng.households[HH].partly_blind_s <= 6 * H + 600

    store = SqliteStore(tmp_path / "state.db")
    store.save_state(*eng.take_dirty())
    restarted = two_plug_engine()
    restarted.restore(store.load_plugs(), store.load_households(), [])
    store.close()
    assert restarted.households[HH].partly_blind_s == eng.households[HH].partly_blind_s

    steps = inactivity(live_two(restarted, stop + 7 * H, stop + 26 * H, stop_at=stop))
    by_severity = {sev: at for event, sev, at, _ in steps if event in ("raised", "escalated")}
    # the learnt levels as for a lone TV (attention 2-3 h, warning 4-5 h), 6 h later
    assert 8 * H <= by_severity[Severity.ATTENTION] - stop <= 9 * H + 600
    assert 10 * H <= by_severity[Severity.WARNING] - stop <= 11 * H + 600
    assert by_severity[Severity.CRITICAL] - stop <= 24 * H + 600


def test_the_limit_reached_with_a_plug_down_is_monitoring_blind_not_inactivity() -> None:
    """The lamp down for 25 h while the TV stays quiet: no learnt level meanwhile; at the 24 h
    limit a caseworker-facing ``monitoring_blind`` (the lamp may have seen the resident), not
    inactivity; once the lamp is back it resolves, and the silence counts without the time it
    was down: the learnt levels start over from there."""
    eng = two_plug_engine()
    live_two(eng, T0, T0 + 21 * 86400)
    day = T0 + 21 * 86400
    stop = day + 7.5 * H
    down = (stop + 600, stop + 600 + 25 * H)
    effects = live_two(eng, day, down[1] + 1800, stop_at=stop, lamp_down=down)
    assert inactivity(effects) == []
    blind = [
        e
        for e in effects
        if isinstance(e, AlertChanged) and e.alert.kind is AlertKind.MONITORING_BLIND
    ]
    assert [e.event for e in blind] == ["raised", "resolved"]
    raised = blind[0].alert
    assert raised.severity is Severity.WARNING and raised.details["partly"] is True
    assert raised.details["down"] == [LAMP]
    assert 24 * H <= raised.raised_at - stop <= 24 * H + 600
    assert raised.message.startswith("monitoring partly blind: lamp-1 down since 07:40")
    assert blind[1].alert.outcome is Outcome.DEVICE_BACK_ONLINE
    assert down[1] <= blind[1].audit.at <= down[1] + 900
    # the silence goes on: learnt levels as for a silence 25 h shorter (attention 2-3 h)
    steps = inactivity(live_two(eng, down[1] + 1800, stop + 40 * H, stop_at=stop))
    assert steps and steps[0][1] is Severity.ATTENTION
    assert 2 * H - 600 <= steps[0][2] - down[1] <= 3 * H + 600


def test_a_silence_with_a_plug_down_is_not_learnt() -> None:
    """A silence that spanned a plug's outage may have hidden activity: not learnt."""
    eng = two_plug_engine()
    live_two(eng, T0, T0 + 21 * 86400)
    day = T0 + 21 * 86400
    down = (day + 9 * H, day + 11 * H)  # the lamp is down 09:00-11:00
    live_two(eng, day, day + 9.4 * H, lamp_down=down)
    before = eng.households[HH].routine
    # the TV's 09:30 use ends the silence from 07:30: not learnt
    live_two(eng, day + 9.4 * H, day + 9.6 * H, lamp_down=down)
    after = eng.households[HH].routine
    assert before is not None and after is not None
    assert after.counts == before.counts
    # the same with both plugs up is learnt (07:00 weekday row, a 2 h silence)
    again = two_plug_engine()
    live_two(again, T0, day + 9.4 * H)
    learnt = again.households[HH].routine
    live_two(again, day + 9.4 * H, day + 9.6 * H)
    assert learnt is not None and again.households[HH].routine is not None
    assert again.households[HH].routine.counts != learnt.counts


def test_an_appliance_on_when_its_plug_went_offline_is_not_left_on() -> None:
    """The TV on at 18:00 when its plug loses Wi-Fi for 8 h: it may have been switched off
    meanwhile, so no ``appliance_left_on`` (a blind spot, reported as ``device_offline``)."""
    eng = two_plug_engine()
    live_two(eng, T0, T0 + 21 * 86400)
    day = T0 + 21 * 86400
    effects: list[Effect] = []
    gone, back = day + 18.25 * H, day + 26.25 * H
    at = day
    while at < day + 28 * H:
        effects += eng.tick(at)
        if not gone <= at < back:
            effects += eng.on_reading(Reading(TV, at, power_at(at, None), None))
        elif at - gone < 300.0:
            effects += eng.on_availability(PlugAvailability(TV, at, online=False))
        lamp = 60.0 if power_at(at, None) > 50.0 else 0.4
        effects += eng.on_reading(Reading(LAMP, at, lamp, None))
        at += 300.0
    kinds = {e.alert.kind for e in effects if isinstance(e, AlertChanged) and e.event == "raised"}
    assert AlertKind.DEVICE_OFFLINE in kinds
    assert AlertKind.APPLIANCE_LEFT_ON not in kinds
