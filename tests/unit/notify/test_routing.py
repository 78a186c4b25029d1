"""Routing, quiet hours across DST, escalation ladder with a fake clock, digests, retries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time

import pytest

from careplug.domain.model import (
    Alert,
    AlertId,
    AlertKind,
    AlertState,
    Household,
    HouseholdId,
    Severity,
)
from careplug.domain.routing import (
    SYSTEM_HOUSEHOLD,
    ChannelAddress,
    Consent,
    DailyWindow,
    Delivery,
    Digest,
    Directory,
    EscalationPolicy,
    EscalationReason,
    HoldReason,
    Recipient,
    RetryReason,
    Role,
    RouteReason,
    Team,
    decide_escalation,
    decide_retry,
    escalation_step,
    group_for_digest,
    next_escalation_at,
    next_reminder_at,
    quiet_until,
    reminder_index,
    retry_at,
    route,
)


def ts(text: str) -> float:
    return datetime.fromisoformat(text).astimezone(UTC).timestamp()


OFFICE = DailyWindow(time(9), time(18), frozenset(range(5)))
NIGHT = DailyWindow(time(22), time(7))


def person(rid: str, role: Role, **kw: object) -> Recipient:
    defaults: dict[str, object] = {
        "channels": (ChannelAddress("email", f"{rid}@example.org"), ChannelAddress("sms", "+8210")),
        "working_hours": OFFICE,
    }
    defaults.update(kw)
    return Recipient(rid, role, **defaults)  # type: ignore[arg-type]


DIRECTORY = Directory(
    recipients={
        r.id: r
        for r in [
            person("cw-kim", Role.CASEWORKER),
            person("cw-lee", Role.CASEWORKER),
            person("cw-park", Role.CASEWORKER, active=False),
            person("lead-choi", Role.TEAM_LEAD),
            person(
                "oncall", Role.ON_CALL, working_hours=None, channels=(ChannelAddress("webhook"),)
            ),
            person("tech-a", Role.TECHNICIAN),
            person("tech-b", Role.TECHNICIAN),
            person("ops", Role.OPERATOR, working_hours=None),
            person("vol-1", Role.VOLUNTEER, working_hours=None),
        ]
    },
    teams={"yeoksam-1": Team("yeoksam-1", ("cw-lee", "lead-choi", "tech-a"))},
    consents={HouseholdId("hh-1"): Consent(night_on_call=True, volunteers=("vol-1",))},
    holidays=frozenset({date(2024, 9, 17)}),  # 추석
)

HH1 = Household(HouseholdId("hh-1"), caseworkers=("cw-kim",), area="yeoksam-1")
HH2 = Household(HouseholdId("hh-2"), caseworkers=("cw-park",), area="yeoksam-1")  # inactive cw

TUESDAY_10 = ts("2024-03-05T10:00:00+09:00")
TUESDAY_23 = ts("2024-03-05T23:00:00+09:00")


def alert(
    kind: AlertKind = AlertKind.INACTIVITY,
    severity: Severity = Severity.CRITICAL,
    household: str = "hh-1",
    raised_at: float = TUESDAY_10,
    **kw: object,
) -> Alert:
    base = Alert(
        AlertId("a-1"), HouseholdId(household), kind, severity, AlertState.OPEN, raised_at, ""
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def who(deliveries: list[Delivery]) -> set[tuple[str, RouteReason]]:
    return {(d.recipient, d.reason) for d in deliveries}


def test_resident_alert_in_office_hours_goes_to_household_caseworker_and_volunteer() -> None:
    out = route(alert(), HH1, DIRECTORY, TUESDAY_10)
    assert who(out) == {
        ("cw-kim", RouteReason.HOUSEHOLD_CASEWORKER),
        ("vol-1", RouteReason.CONSENTED_VOLUNTEER),
    }
    keys = sorted(d.key for d in out if d.recipient == "cw-kim")
    assert keys == ["a-1:0:cw-kim:email", "a-1:0:cw-kim:sms"]
    assert {d.address for d in out if d.recipient == "cw-kim"} == {"cw-kim@example.org", "+8210"}


def test_routing_is_idempotent() -> None:
    """The same alert and time give the same keys: the outbox ignores the second enqueue."""
    assert route(alert(), HH1, DIRECTORY, TUESDAY_10) == route(alert(), HH1, DIRECTORY, TUESDAY_10)


def test_inactive_caseworker_falls_back_to_area_team() -> None:
    out = route(alert(household="hh-2"), HH2, DIRECTORY, TUESDAY_10)
    assert who(out) == {("cw-lee", RouteReason.AREA_TEAM_CASEWORKER)}


def test_night_goes_to_on_call_only_with_consent() -> None:
    night = route(alert(), HH1, DIRECTORY, TUESDAY_23)
    assert ("oncall", RouteReason.OFF_HOURS_ON_CALL) in who(night)
    hh3 = Household(HouseholdId("hh-3"), caseworkers=("cw-kim",), area="yeoksam-1")
    no_consent = route(alert(household="hh-3"), hh3, DIRECTORY, TUESDAY_23)
    assert who(no_consent) == {("cw-kim", RouteReason.HOUSEHOLD_CASEWORKER)}


def test_holiday_daytime_goes_to_on_call() -> None:
    chuseok_noon = ts("2024-09-17T12:00:00+09:00")
    assert ("oncall", RouteReason.HOLIDAY_ON_CALL) in who(
        route(alert(raised_at=chuseok_noon), HH1, DIRECTORY, chuseok_noon)
    )


@pytest.mark.parametrize(
    "kind", [AlertKind.DEVICE_OFFLINE, AlertKind.UNPLUGGED, AlertKind.AREA_OUTAGE]
)
def test_device_alerts_go_to_area_technicians(kind: AlertKind) -> None:
    out = route(alert(kind, Severity.WARNING), HH1, DIRECTORY, TUESDAY_10)
    assert who(out) == {("tech-a", RouteReason.TECHNICIAN)}


def test_monitoring_blind_reaches_technician_and_caseworker() -> None:
    out = route(alert(AlertKind.MONITORING_BLIND), HH1, DIRECTORY, TUESDAY_10)
    assert {"tech-a", "cw-kim"} <= {d.recipient for d in out}


def test_system_alerts_go_to_operators() -> None:
    out = route(alert(household=SYSTEM_HOUSEHOLD), None, DIRECTORY, TUESDAY_23)
    assert who(out) == {("ops", RouteReason.OPERATOR)}


def test_attention_is_dashboard_only() -> None:
    assert route(alert(severity=Severity.ATTENTION), HH1, DIRECTORY, TUESDAY_10) == []


def test_nobody_to_tell_falls_back_to_operators() -> None:
    orphan = Household(HouseholdId("hh-9"))
    out = route(alert(household="hh-9"), orphan, DIRECTORY, TUESDAY_10)
    assert who(out) == {("ops", RouteReason.NO_RECIPIENT_OPERATOR)}


# --- quiet hours across DST ----------------------------------------------------------------

NY = person("cw-ny", Role.CASEWORKER, timezone="America/New_York", quiet_hours=NIGHT)


def test_quiet_hours_end_at_local_0700_across_spring_forward() -> None:
    """2024-03-10 New York springs forward: the 22:00-07:00 night is 8 hours, not 9, and
    ends at 07:00 EDT (11:00Z), not 12:00Z."""
    at = ts("2024-03-09T23:00:00-05:00")
    assert quiet_until(NY, at) == ts("2024-03-10T07:00:00-04:00") == ts("2024-03-10T11:00:00Z")


def test_quiet_hours_end_at_local_0700_across_fall_back() -> None:
    """2024-11-03 falls back: the night ends at 07:00 EST = 12:00Z."""
    at = ts("2024-11-02T23:30:00-04:00")
    assert quiet_until(NY, at) == ts("2024-11-03T12:00:00Z")
    # inside the repeated hour (01:30 EST, second pass) it is still quiet
    assert quiet_until(NY, ts("2024-11-03T01:30:00-05:00")) == ts("2024-11-03T12:00:00Z")


def test_quiet_hours_after_midnight_and_outside() -> None:
    assert quiet_until(NY, ts("2024-03-10T06:59:00-04:00")) == ts("2024-03-10T07:00:00-04:00")
    assert quiet_until(NY, ts("2024-03-10T07:00:00-04:00")) is None
    berlin = replace(NY, timezone="Europe/Berlin")
    assert quiet_until(berlin, ts("2024-03-30T22:30:00+01:00")) == ts("2024-03-31T07:00:00+02:00")


def test_warning_is_held_but_critical_is_not() -> None:
    directory = replace(DIRECTORY, recipients={**DIRECTORY.recipients, "cw-ny": NY})
    hh = Household(HouseholdId("hh-ny"), caseworkers=("cw-ny",))
    at = ts("2024-03-09T23:00:00-05:00")
    held = route(alert(severity=Severity.WARNING, household="hh-ny"), hh, directory, at)
    assert {(d.held, d.send_at) for d in held} == {
        (HoldReason.QUIET_HOURS, ts("2024-03-10T11:00:00Z"))
    }
    urgent = route(alert(household="hh-ny"), hh, directory, at)
    assert {(d.held, d.send_at) for d in urgent} == {(None, at)}


# --- escalation with a fake clock ------------------------------------------------------------

POLICY = EscalationPolicy(
    ack_timeout_s=1800, levels=(Role.TEAM_LEAD, Role.ON_CALL), repeat_every_s=900
)
T0 = TUESDAY_10


@pytest.mark.parametrize(
    ("minutes", "step", "next_min"),
    [(0, 0, 30), (29.9, 0, 30), (30, 1, 60), (59, 1, 60), (60, 2, None), (600, 2, None)],
)
def test_ladder_climbs_every_ack_timeout(minutes: float, step: int, next_min: int | None) -> None:
    a = alert(raised_at=T0)
    now = T0 + minutes * 60
    assert escalation_step(a, POLICY, now) == step
    expected = None if next_min is None else T0 + next_min * 60
    assert next_escalation_at(a, POLICY, now) == expected


def test_acknowledgement_freezes_the_ladder() -> None:
    acked = alert(raised_at=T0, state=AlertState.ACKNOWLEDGED, acknowledged_at=T0 + 45 * 60)
    assert escalation_step(acked, POLICY, T0 + 5 * 3600) == 1
    assert next_escalation_at(acked, POLICY, T0 + 5 * 3600) is None
    assert (
        decide_escalation(acked, POLICY, 1, T0 + 5 * 3600).reason is EscalationReason.ACKNOWLEDGED
    )
    assert next_reminder_at(acked, POLICY, T0 + 5 * 3600) is None


def test_restart_mid_escalation_catches_up_every_missed_level() -> None:
    """The daemon was down from minute 20 to 65: both levels are due, nothing skipped, and the
    decision depends only on stored times (a fresh process computes the same)."""
    a = alert(raised_at=T0)
    before = decide_escalation(a, POLICY, 0, T0 + 20 * 60)
    assert (before.steps, before.reason, before.next_at) == (
        (),
        EscalationReason.NOT_DUE,
        T0 + 1800,
    )
    after = decide_escalation(a, POLICY, 0, T0 + 65 * 60)
    assert (after.steps, after.reason) == ((1, 2), EscalationReason.LEVEL_DUE)
    done = decide_escalation(a, POLICY, 2, T0 + 66 * 60)
    assert done.reason is EscalationReason.TOP_OF_LADDER


def test_escalation_targets_and_on_call_consent() -> None:
    a = alert(raised_at=T0)
    assert who(route(a, HH1, DIRECTORY, T0 + 1800, step=1)) == {
        ("lead-choi", RouteReason.ESCALATED_TEAM_LEAD)
    }
    assert who(route(a, HH1, DIRECTORY, T0 + 3600, step=2)) == {
        ("oncall", RouteReason.ESCALATED_ON_CALL)
    }
    assert [d.key for d in route(a, HH1, DIRECTORY, T0 + 3600, step=2)] == ["a-1:2:oncall:webhook"]
    hh3 = Household(HouseholdId("hh-3"), caseworkers=("cw-kim",), area="yeoksam-1")
    assert route(alert(household="hh-3"), hh3, DIRECTORY, T0 + 3600, step=2) == []
    assert route(a, HH1, DIRECTORY, T0 + 3600, step=3) == []


def test_reminders_repeat_until_acknowledged() -> None:
    a = alert(raised_at=T0)
    assert reminder_index(a, POLICY, T0 + 899) == 0
    assert reminder_index(a, POLICY, T0 + 2700) == 3
    assert next_reminder_at(a, POLICY, T0 + 2700) == T0 + 3600
    acked = replace(a, acknowledged_at=T0 + 1000, state=AlertState.ACKNOWLEDGED)
    assert reminder_index(acked, POLICY, T0 + 9999) == 1


def test_default_policy_is_30_minutes_for_critical() -> None:
    assert DIRECTORY.policies[Severity.CRITICAL].ack_timeout_s == 1800
    assert Severity.ATTENTION not in DIRECTORY.policies


# --- digests and retries ---------------------------------------------------------------------


def test_many_alerts_at_once_fold_into_one_digest_per_channel() -> None:
    alerts = [alert(id=AlertId(f"a-{i}")) for i in range(4)]
    deliveries = [d for a in alerts for d in route(a, HH1, DIRECTORY, TUESDAY_10)]
    grouped = group_for_digest(deliveries, threshold=3)
    assert all(isinstance(g, Digest) for g in grouped)
    assert {(g.recipient, g.channel) for g in grouped} == {
        ("cw-kim", "email"),
        ("cw-kim", "sms"),
        ("vol-1", "email"),
        ("vol-1", "sms"),
    }
    assert all(len(g.parts) == 4 for g in grouped if isinstance(g, Digest))
    again = group_for_digest(list(reversed(deliveries)), threshold=3)
    assert {g.key for g in grouped} == {g.key for g in again}
    assert group_for_digest(deliveries[:2], threshold=3) == deliveries[:2]


def test_retry_backoff_is_exponential_capped_and_deterministic() -> None:
    assert [retry_at(n, 30, 600, 0) for n in range(1, 7)] == [30, 60, 120, 240, 480, 600]
    assert retry_at(1000, 30, 600, 0) == 600
    jittered = retry_at(3, 30, 600, 100, jitter_key="a-1:0:cw-kim:sms")
    assert 100 + 96 <= jittered <= 100 + 120
    assert jittered == retry_at(3, 30, 600, 100, jitter_key="a-1:0:cw-kim:sms")


def test_retry_decisions() -> None:
    assert decide_retry(1, False, 0).reason is RetryReason.PERMANENT_ERROR
    assert decide_retry(12, True, 0, max_attempts=12).next_at is None
    ok = decide_retry(2, True, 0, base=30)
    assert (ok.reason, ok.next_at) == (RetryReason.RETRY_SCHEDULED, 60)


def _delivery(alert_id: str, send_at: float, held: bool = False, recipient: str = "cw") -> Delivery:
    return Delivery(
        alert_id,
        "0",
        recipient,
        "email",
        None,
        "ko",
        "Asia/Seoul",
        RouteReason.HOUSEHOLD_CASEWORKER,
        send_at,
        HoldReason.QUIET_HOURS if held else None,
    )


def test_digest_window_folds_alerts_raised_close_together_only() -> None:
    """Within the window: one digest at the latest time; beyond it: separate messages."""
    close = [_delivery(f"a-{i}", TUESDAY_10 + 60 * i) for i in range(3)]
    late = _delivery("a-9", TUESDAY_10 + 3600)
    grouped = group_for_digest([*close, late], threshold=3, window_s=300)
    assert len(grouped) == 2
    digest, single = grouped
    assert isinstance(digest, Digest) and single == late
    assert [p.alert_id for p in digest.parts] == ["a-0", "a-1", "a-2"]
    assert digest.send_at == TUESDAY_10 + 120  # the latest part: nothing sent before its time
    # without a window the same deliveries (different instants) are sent one by one
    assert group_for_digest([*close, late], threshold=3) == [*close, late]


def test_held_deliveries_never_fold_with_ones_sent_now() -> None:
    """A quiet-hours delivery released at 07:00 and alerts sent at once stay apart, so a
    digest neither sends a held message early nor makes an urgent one wait."""
    release = TUESDAY_10 + 9 * 3600
    now = [_delivery(f"n-{i}", TUESDAY_10) for i in range(2)]
    held = [_delivery(f"h-{i}", release, held=True) for i in range(3)]
    grouped = group_for_digest([*now, *held], threshold=3, window_s=24 * 3600)
    assert grouped[:2] == now
    [digest] = grouped[2:]
    assert isinstance(digest, Digest)
    assert digest.send_at == release
    assert {p.alert_id for p in digest.parts} == {"h-0", "h-1", "h-2"}


def test_digest_key_depends_on_its_parts_only() -> None:
    """Same parts, any order: same key; one more part: another key; recipients apart."""
    parts = [_delivery(f"a-{i}", TUESDAY_10) for i in range(3)]
    [one] = group_for_digest(parts, 3)
    [two] = group_for_digest(list(reversed(parts)), 3)
    [three] = group_for_digest([*parts, _delivery("a-3", TUESDAY_10)], 3)
    assert isinstance(one, Digest) and isinstance(two, Digest) and isinstance(three, Digest)
    assert one.key == two.key != three.key
    assert one.key.endswith(":0:cw:email")
    others = [_delivery(f"a-{i}", TUESDAY_10, recipient="cw-2") for i in range(2)]
    grouped = group_for_digest([*parts, *others], 3)
    assert [type(g) for g in grouped] == [Digest, Delivery, Delivery]
