"""The check-in before the tier limit, for households whose resident is asked first, and the
simulated residents that ``evaluate`` can answer it with."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from careplug.domain import alerts as alert_rules
from careplug.domain.engine import AlertChanged, DetectionConfig, Effect, Engine
from careplug.domain.model import (
    AlertKind,
    Appliance,
    Household,
    HouseholdId,
    Outcome,
    PlugId,
    PlugSpec,
    Reading,
    RiskTier,
    Severity,
)
from careplug.runtime.evaluate import (
    Incident,
    ResidentModel,
    SimulatedResidents,
    evaluate_items,
    score,
)

H = 3600.0
SEOUL = ZoneInfo("Asia/Seoul")
T0 = datetime(2026, 1, 5, tzinfo=SEOUL).timestamp()  # local midnight
HH = HouseholdId("hh-1")
TV = PlugId("tv-1")


def engine(detector: str = "learning", self_check: bool = True) -> Engine:
    home = Household(HH, tier=RiskTier.HIGH, plugs=(PlugSpec(TV, Appliance.TV),))
    eng = Engine(DetectionConfig(detector=detector), [home], T0)
    if self_check:
        eng.set_self_check([HH])
    return eng


def use_then_silence(eng: Engine, last_use_h: float, until_h: float) -> list[Effect]:
    """Standby, the TV on for 30 minutes until ``last_use_h`` local on day one, then standby
    (a report every 5 minutes) until ``until_h`` hours after T0; ticks every minute."""
    effects: list[Effect] = []
    at = T0 + (last_use_h - 1.5) * H
    next_report = at
    while at < T0 + until_h * H:
        if at >= next_report:
            power = 100.0 if T0 + (last_use_h - 0.5) * H <= at < T0 + last_use_h * H else 1.0
            effects += eng.on_reading(Reading(TV, at, power, None))
            next_report += 300.0
        effects += eng.tick(at)
        at += 60.0
    return effects


def steps(effects: list[Effect]) -> list[tuple[str, Severity, float, bool]]:
    return [
        (e.event, e.alert.severity, e.audit.at, bool(e.alert.details.get("check_in")))
        for e in effects
        if isinstance(e, AlertChanged) and e.alert.kind is AlertKind.INACTIVITY
    ]


def local_hour(at: float) -> float:
    local = datetime.fromtimestamp(at, SEOUL)
    return local.hour + local.minute / 60


def test_check_in_comes_an_hour_before_the_limit_by_day() -> None:
    """Silent from 08:00: the 12 h limit is 20:00, the resident is asked at 19:00."""
    got = steps(use_then_silence(engine(), 8.0, 21.0))
    assert [(event, severity) for event, severity, _, _ in got] == [
        ("raised", Severity.WARNING),
        ("escalated", Severity.CRITICAL),
    ]
    assert got[0][3]  # the warning says it is a check-in
    assert abs(local_hour(got[0][2]) - 19.0) < 2 / 60
    assert abs(local_hour(got[1][2]) - 20.0) < 2 / 60  # the backstop is unchanged


def test_a_check_in_due_at_night_is_brought_forward_to_the_evening() -> None:
    """Silent from 14:00: the limit is 02:00, a 01:00 check-in would wake the resident; it is
    sent at 21:00 instead (7 h of silence: more than half the limit)."""
    got = steps(use_then_silence(engine(), 14.0, 27.0))
    assert got[0][1] is Severity.WARNING and got[0][3]
    assert abs(local_hour(got[0][2]) - 21.0) < 2 / 60
    assert got[1][1] is Severity.CRITICAL and abs(local_hour(got[1][2]) - 2.0) < 2 / 60


def test_no_check_in_when_the_evening_is_too_early_in_the_silence() -> None:
    """Silent from 20:00: the limit is 08:00, a 07:00 check-in is in the day window."""
    got = steps(use_then_silence(engine(), 20.0, 33.0))
    assert abs(local_hour(got[0][2]) - 7.0) < 2 / 60
    # silent from 19:00: the limit 07:00, 06:00 is night, 21:00 is only 2 h in: no check-in
    got = steps(use_then_silence(engine(), 19.0, 32.0))
    assert [(severity, check_in) for _, severity, _, check_in in got] == [
        (Severity.CRITICAL, False)
    ]


def test_only_households_with_a_self_check_and_the_learning_detector_are_asked() -> None:
    for eng in (engine(self_check=False), engine(detector="fixed")):
        got = steps(use_then_silence(eng, 8.0, 21.0))
        assert [severity for _, severity, _, _ in got] == [Severity.CRITICAL]


def test_an_answer_restarts_the_count() -> None:
    """The resident taps "I'm fine" at 19:20: no critical at 20:00; the count starts again at
    19:20 (its check-in would be 06:20, at night, and 21:00 is too early in that silence, so
    the next step is the limit itself, 07:20)."""
    eng = engine()
    first = steps(use_then_silence(eng, 8.0, 19.34))
    assert [(sev, check_in) for _, sev, _, check_in in first] == [(Severity.WARNING, True)]
    current = eng.open_alerts[(HH, AlertKind.INACTIVITY)]
    answered_at = T0 + 19.34 * H
    resolved, _ = alert_rules.resolve(current, "resident", answered_at, Outcome.RESIDENT_OK)
    eng.apply_external(resolved)
    later: list[Effect] = []
    at = answered_at
    while at < T0 + 33 * H:
        later += eng.tick(at)
        if (at - T0) % 300 < 60:
            later += eng.on_reading(Reading(TV, at, 1.0, None))
        at += 60.0
    got = steps(later)
    assert [(event, sev) for event, sev, _, _ in got] == [("raised", Severity.CRITICAL)]
    assert abs(got[0][2] - (answered_at + 12 * H)) < 120


def readings(last_use_h: float, until_h: float) -> list[tuple[str | None, Reading]]:
    out: list[tuple[str | None, Reading]] = []
    at = T0 + (last_use_h - 1.5) * H
    while at < T0 + until_h * H:
        on = T0 + (last_use_h - 0.5) * H <= at < T0 + last_use_h * H
        out.append((None, Reading(TV, at, 100.0 if on else 1.0, None)))
        at += 300.0
    return out


def test_simulated_residents_answer_unless_incapacitated() -> None:
    """evaluate with residents who always answer by day: the check-in is answered, nothing
    reaches a caseworker; in an incident nobody answers and the caseworker hears at the
    self-check timeout (19:30), not at the 20:00 backstop."""
    home = Household(HH, tier=RiskTier.HIGH, plugs=(PlugSpec(TV, Appliance.TV),))
    config = DetectionConfig(detector="learning")
    pairs = readings(8.0, 21.0)
    fine = SimulatedResidents(ResidentModel(1.0), [home], [], 48 * H)
    result = evaluate_items(pairs, [home], config, residents=fine)
    assert len(fine.asked) == 1
    assert result.facing_at == {}
    answered = [a for a in result.alerts if a.outcome is Outcome.RESIDENT_OK]
    assert len(answered) == 1

    incident = Incident(HH, T0 + 8.0 * H)
    fallen = SimulatedResidents(ResidentModel(1.0), [home], [incident], 48 * H)
    result = evaluate_items(pairs, [home], config, residents=fallen)
    assert [local_hour(t) for t in result.facing_at.values()] == [19.5]
    report = score(
        result.alerts,
        [incident],
        {HH: (T0, T0 + 21 * H)},
        48 * H,
        None,
        result.facing_at,
        result.notices,
    )
    assert report.detected == 1 and abs(report.delays_h[0] - 11.5) < 0.05

    never = SimulatedResidents(ResidentModel(0.0), [home], [], 48 * H)
    result = evaluate_items(pairs, [home], config, residents=never)
    assert [local_hour(t) for t in result.facing_at.values()] == [19.5]


def test_simulated_residents_are_asleep_at_night_and_seeded() -> None:
    home = Household(HH, tier=RiskTier.HIGH, plugs=(PlugSpec(TV, Appliance.TV),))
    model = ResidentModel(1.0, night_from_h=18, night_to_h=7)  # asleep by 19:00
    asleep = SimulatedResidents(model, [home], [], 48 * H)
    result = evaluate_items(
        readings(8.0, 21.0), [home], DetectionConfig(detector="learning"), residents=asleep
    )
    assert len(result.facing_at) == 1
    runs = []
    for _ in range(2):
        residents = SimulatedResidents(ResidentModel(0.5, seed=3), [home], [], 48 * H)
        done = evaluate_items(
            readings(8.0, 60.0), [home], DetectionConfig(detector="learning"), residents=residents
        )
        runs.append([(a.id, a.resolved_at, a.outcome) for a in done.alerts])
    assert runs[0] == runs[1]
