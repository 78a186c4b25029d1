"""Resident self-check before paging: the router's event-time steps and the link token."""

from __future__ import annotations

import dataclasses

import pytest

from careplug.adapters.recipients_toml import directory_from_dict
from careplug.domain import alerts as rules
from careplug.domain.model import (
    Alert,
    AlertKind,
    AuditEntry,
    Household,
    HouseholdId,
    Outcome,
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
    SelfCheck,
    check_self_check_token,
    self_check_token,
)
from careplug.errors import ConfigError
from careplug.ports import Notification
from careplug.runtime.fanout import FanoutConfig
from careplug.runtime.router import AlertRouter

MIN = 60.0
SECRET = "test-secret-0123456789"
HH = Household(HouseholdId("hh-1"), caseworkers=("cw",), area="a1", plugs=(PlugSpec(PlugId("p")),))
DIRECTORY = Directory(
    recipients={
        "cw": Recipient("cw", Role.CASEWORKER, (ChannelAddress("email", "cw@x"),)),
        "lead": Recipient("lead", Role.TEAM_LEAD, (ChannelAddress("email", "lead@x"),)),
    },
    policies={
        Severity.WARNING: EscalationPolicy(60 * MIN, (Role.TEAM_LEAD,), 120 * MIN),
        Severity.CRITICAL: EscalationPolicy(30 * MIN, (Role.TEAM_LEAD,), None),
    },
    self_checks={HH.id: SelfCheck(HH.id, "sms", "+821099998888", 30 * MIN)},
)


def router(**kwargs: object) -> AlertRouter:
    options: dict[str, object] = {
        "console_url": "https://care.example/",
        "self_check_secret": SECRET,
    }
    options.update(kwargs)
    return AlertRouter(FanoutConfig(), DIRECTORY, [HH], **options)  # type: ignore[arg-type]


def people(notes: list[Notification]) -> list[tuple[str, str, str]]:
    """(recipient, channel, key) of the notifications for people (not the MQTT event)."""
    return [(n.recipient, n.channel, n.key) for n in notes if n.channel != "mqtt"]


def run(r: AlertRouter, alert: Alert, at: float) -> tuple[Alert, list[tuple[AuditEntry, list]]]:  # type: ignore[type-arg]
    """Apply the steps due at ``at``; return the alert and each step's notifications."""
    out = []
    for new, audit, _ in r.due_escalations([alert], at):
        out.append((audit, r.for_transition(new, audit)))
        alert = new
    return alert, out


def test_warning_asks_the_resident_first_then_caseworkers_after_the_timeout() -> None:
    """Raised: nobody is paged; the first step asks the resident with a one-tap link; 30 min
    later without an answer the caseworker gets the step-0 message; the ladder counts from
    then (team lead 60 min after the caseworker, not after the raise)."""
    r = router()
    alert, audit = rules.raise_alert(HH.id, AlertKind.INACTIVITY, Severity.WARNING, 0.0, "q")
    assert people(r.for_transition(alert, audit)) == []
    alert, steps = run(r, alert, 0.0)
    assert [a.action for a, _ in steps] == ["self_check_sent"]
    notes = [n for n in steps[0][1] if n.channel != "mqtt"]
    assert [(n.recipient, n.channel, n.address) for n in notes] == [
        ("resident:hh-1", "sms", "+821099998888")
    ]
    token = self_check_token(SECRET, alert.id)
    assert f"https://care.example/fine/{token}" in notes[0].text
    assert "hh-1" not in notes[0].text  # the resident's text carries no ids
    alert, steps = run(r, alert, 29 * MIN)
    assert steps == []
    alert, steps = run(r, alert, 30 * MIN)
    assert [a.action for a, _ in steps] == ["self_check_expired"]
    assert people(steps[0][1]) == [("cw", "email", f"{alert.id}:0:cw:email")]
    alert, steps = run(r, alert, 89 * MIN)
    assert steps == []
    alert, steps = run(r, alert, 90 * MIN)
    assert [a.action for a, _ in steps] == ["escalated_level_1"]
    assert people(steps[0][1]) == [("lead", "email", f"{alert.id}:1:lead:email")]


def test_steps_survive_a_restart_through_the_details() -> None:
    """A fresh router seeing the stored alert neither re-asks nor forgets the deadline."""
    alert, _ = rules.raise_alert(HH.id, AlertKind.INACTIVITY, Severity.WARNING, 0.0, "q")
    alert, _ = run(router(), alert, 5 * MIN)
    assert run(router(), alert, 20 * MIN)[1] == []
    _, steps = run(router(), alert, 40 * MIN)
    assert [a.action for a, _ in steps] == ["self_check_expired"]


def test_nobody_is_paged_after_the_resident_confirmed() -> None:
    """Resolved as resident_ok by the resident: no caseworker message, now or later."""
    r = router()
    alert, _ = rules.raise_alert(HH.id, AlertKind.INACTIVITY, Severity.WARNING, 0.0, "q")
    alert, _ = run(r, alert, 0.0)
    fine, audit = rules.resolve(alert, "resident", 10 * MIN, Outcome.RESIDENT_OK)
    assert people(r.for_transition(fine, audit)) == []
    assert r.due_escalations([fine], 10 * 3600) == []


def test_critical_never_waits_and_a_step_to_critical_pages_at_once() -> None:
    r = router()
    crit, audit = rules.raise_alert(HH.id, AlertKind.INACTIVITY, Severity.CRITICAL, 0.0, "q")
    assert people(r.for_transition(crit, audit)) == [("cw", "email", f"{crit.id}:0:cw:email")]
    assert run(r, crit, 0.0)[1] == []
    warn, _ = rules.raise_alert(HH.id, AlertKind.INACTIVITY, Severity.WARNING, 0.0, "q")
    warn, _ = run(r, warn, 0.0)
    worse, audit = rules.escalate(warn, Severity.CRITICAL, 10 * MIN, "worse")
    assert [p[0] for p in people(r.for_transition(worse, audit))] == ["cw"]


def test_without_link_settings_or_configuration_caseworkers_are_paged_directly() -> None:
    alert, audit = rules.raise_alert(HH.id, AlertKind.INACTIVITY, Severity.WARNING, 0.0, "q")
    assert [p[0] for p in people(router(self_check_secret=None).for_transition(alert, audit))] == [
        "cw"
    ]
    other = dataclasses.replace(alert, household=HouseholdId("hh-2"))
    assert run(router(), other, 0.0)[1] == []
    device, _ = rules.raise_alert(HH.id, AlertKind.DEVICE_OFFLINE, Severity.WARNING, 0.0, "q")
    assert run(router(), device, 0.0)[1] == []


def test_the_engine_is_told_which_households_really_ask_the_resident() -> None:
    """Only a configured self-check on a channel careplug can send, with link settings, makes
    a household's check-in before the limit (the engine asks the router)."""
    assert router().self_check_households() == {HH.id}
    assert router(self_check_secret=None).self_check_households() == frozenset()
    assert router(console_url=None).self_check_households() == frozenset()
    no_sms = AlertRouter(
        FanoutConfig(),
        DIRECTORY,
        [HH],
        frozenset({"email", "mqtt"}),
        console_url="https://care.example/",
        self_check_secret=SECRET,
    )
    assert no_sms.self_check_households() == frozenset()


def test_token_is_an_hmac_of_the_alert_id() -> None:
    token = self_check_token(SECRET, "hh-1-inactivity-0")
    assert len(token) == 32
    assert check_self_check_token(SECRET, "hh-1-inactivity-0", token)
    assert not check_self_check_token(SECRET, "hh-1-inactivity-1", token)
    assert not check_self_check_token("another-secret-0000", "hh-1-inactivity-0", token)
    assert not check_self_check_token(SECRET, "hh-1-inactivity-0", token[:-1] + "x")


def test_recipients_file_self_check_section() -> None:
    directory = directory_from_dict(
        {
            "self_check": [
                {"household": "hh-0001", "channel": "sms", "address": "+82", "timeout": "20m"},
                {"household": "hh-0002", "channel": "webhook"},
            ]
        }
    )
    assert directory.self_checks[HouseholdId("hh-0001")].timeout_s == 1200.0
    assert directory.self_checks[HouseholdId("hh-0002")].timeout_s == 1800.0
    with pytest.raises(ConfigError, match=r"self_check\.1\.household"):
        directory_from_dict(
            {"self_check": [{"household": "a", "channel": "sms"}] * 2},
        )
    with pytest.raises(ConfigError, match=r"self_check\.0\.timeout"):
        directory_from_dict({"self_check": [{"household": "a", "channel": "sms", "timeout": 0}]})
