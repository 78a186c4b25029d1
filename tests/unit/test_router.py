"""The router: per-person notifications of each transition, the ladder and reminders."""

from __future__ import annotations

from careplug.domain import alerts as rules
from careplug.domain.model import (
    Alert,
    AlertKind,
    Household,
    HouseholdId,
    PlugId,
    PlugSpec,
    Severity,
)
from careplug.domain.routing import (
    ChannelAddress,
    Directory,
    EscalationPolicy,
    Recipient,
    Role,
    Team,
)
from careplug.runtime.fanout import FanoutConfig
from careplug.runtime.router import AlertRouter

MIN = 60.0
HH = Household(HouseholdId("hh-1"), caseworkers=("cw",), area="a1", plugs=(PlugSpec(PlugId("p")),))
DIRECTORY = Directory(
    recipients={
        "cw": Recipient("cw", Role.CASEWORKER, (ChannelAddress("email", "cw@x"),)),
        "lead": Recipient("lead", Role.TEAM_LEAD, (ChannelAddress("sms", "+8210"),), "en"),
        "night": Recipient("night", Role.ON_CALL, (ChannelAddress("webhook"),)),
    },
    teams={"a1": Team("a1", ("cw", "lead"))},
    policies={
        Severity.CRITICAL: EscalationPolicy(30 * MIN, (Role.TEAM_LEAD, Role.ON_CALL), 30 * MIN)
    },
)


def router() -> AlertRouter:
    return AlertRouter(FanoutConfig(), DIRECTORY, [HH])


def ladder(alert: Alert, at: float) -> tuple[Alert, list[str]]:
    steps = router().due_escalations([alert], at)
    for new, _, _ in steps:
        alert = new
    return alert, [audit.action for _, audit, _ in steps]


def test_raised_goes_to_the_caseworker_with_a_step_key() -> None:
    """Step 0 of a resident alert: the household's caseworker, in their language."""
    alert, audit = rules.raise_alert(HH.id, AlertKind.INACTIVITY, Severity.CRITICAL, 0.0, "q")
    notes = router().for_transition(alert, audit)
    people = [n for n in notes if n.channel == "email"]
    assert [(n.recipient, n.address, n.key) for n in people] == [
        ("cw", "cw@x", f"{alert.id}:0:cw:email")
    ]
    assert people[0].locale == "ko"
    assert {n.channel for n in notes} == {"mqtt", "email"}


def test_ladder_and_reminders_follow_event_time_and_stop_at_ack() -> None:
    """30 min: team lead + first reminder; 60 min: on-call... only with consent, reminder 2;
    nothing is repeated; an acknowledgement stops everything."""
    alert, _ = rules.raise_alert(HH.id, AlertKind.INACTIVITY, Severity.CRITICAL, 0.0, "q")
    alert, actions = ladder(alert, 29 * MIN)
    assert actions == []
    alert, actions = ladder(alert, 30 * MIN)
    assert actions == ["escalated_level_1", "reminder_1"]
    alert, actions = ladder(alert, 31 * MIN)
    assert actions == []
    alert, actions = ladder(alert, 61 * MIN)
    assert actions == ["escalated_level_2", "reminder_2"]
    escalation = router().due_escalations([alert], 95 * MIN)
    acked, _ = rules.acknowledge(alert, "cw", 95 * MIN)
    assert router().due_escalations([acked], 200 * MIN) == []
    assert [a.action for _, a, _ in escalation] == ["reminder_3"]


def test_escalated_step_goes_to_the_team_lead() -> None:
    """Level 1 of the critical ladder reaches the area's team lead, in English."""
    alert, _ = rules.raise_alert(HH.id, AlertKind.INACTIVITY, Severity.CRITICAL, 0.0, "q")
    [(new, audit, _), _reminder] = router().due_escalations([alert], 30 * MIN)
    notes = [n for n in router().for_transition(new, audit) if n.channel != "mqtt"]
    assert [(n.recipient, n.channel, n.locale) for n in notes] == [("lead", "sms", "en")]
    assert notes[0].key == f"{alert.id}:1:lead:sms"


def test_after_an_outage_only_the_latest_reminder_is_sent() -> None:
    """Three hours unacknowledged while careplug was down: every ladder level, one reminder."""
    alert, _ = rules.raise_alert(HH.id, AlertKind.INACTIVITY, Severity.CRITICAL, 0.0, "q")
    _, actions = ladder(alert, 180 * MIN)
    assert actions == ["escalated_level_1", "escalated_level_2", "reminder_6"]


def test_alerts_raised_together_fold_into_one_digest_per_person() -> None:
    """Three alerts raised in one pass for the same caseworker: one digest with a key from
    the three step-0 keys, MQTT events stay one per alert; two alerts: nothing folds."""
    households = [
        Household(HouseholdId(f"hh-{n}"), caseworkers=("cw",), area="a1") for n in range(3)
    ]
    r = AlertRouter(FanoutConfig(), DIRECTORY, households)
    raised = [
        rules.raise_alert(h.id, AlertKind.INACTIVITY, Severity.CRITICAL, 0.0, "q")
        for h in households
    ]
    plan = r.raised_together(raised)
    assert plan is not None and (plan.digests, plan.folded) == (1, 3)
    [digest] = [n for n in plan.notifications if n.channel == "email"]
    assert digest.recipient == "cw" and digest.key.startswith("digest-")
    assert digest.data["parts"] == [f"{a.id}:0:cw:email" for a, _ in raised]
    assert digest.delay_s == 0.0
    assert "새 알림 3건 (긴급 3건)" in digest.subject
    assert len([n for n in plan.notifications if n.channel == "mqtt"]) == 3
    assert r.raised_together(raised[:2]) is None
    again = r.raised_together(list(reversed(raised)))
    assert again is not None
    assert {n.key for n in again.notifications} == {n.key for n in plan.notifications}
