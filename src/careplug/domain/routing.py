"""Who hears about an alert, on which channel, when, and how it escalates. Pure decisions.

Like Alertmanager's stages, each function takes the time as an argument and returns decisions
with a reason that reads well in a log. Every timer here (escalation, reminders, quiet hours,
retry) is computed from stored event times, never counted in memory, so a restart or a replay
reproduces the same schedule.

Steps name what a notification announces, and go into the idempotency key
``f"{alert_id}:{step}:{recipient}:{channel}"``: ``"0"`` raised, ``"1"``, ``"2"`` … escalation
levels, ``"r1"``, ``"r2"`` … reminders, ``"ack"``, ``"resolved"``.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from careplug.domain.model import (
    Alert,
    AlertKind,
    AlertState,
    EpochSeconds,
    Household,
    HouseholdId,
    Severity,
)

SYSTEM_HOUSEHOLD = HouseholdId("careplug")
"""Alerts about careplug itself (dead letters, broker down) carry this household id."""

_TECHNICAL_KINDS = frozenset(
    {AlertKind.DEVICE_OFFLINE, AlertKind.UNPLUGGED, AlertKind.NEVER_REPORTED, AlertKind.AREA_OUTAGE}
)


class Role(enum.StrEnum):
    """What a recipient does in the programme."""

    CASEWORKER = "caseworker"
    TEAM_LEAD = "team_lead"
    ON_CALL = "on_call"
    TECHNICIAN = "technician"
    OPERATOR = "operator"
    VOLUNTEER = "volunteer"


@dataclass(frozen=True, slots=True)
class ChannelAddress:
    """One way to reach a recipient: a channel name and the address on it (None: the
    notifier's own target, e.g. a team webhook)."""

    channel: str
    address: str | None = None


@dataclass(frozen=True, slots=True)
class DailyWindow:
    """A local time-of-day window on some weekdays (0 = Monday). ``end`` before ``start``
    wraps past midnight (22:00-07:00); the window belongs to the day it starts on."""

    start: time
    end: time
    days: frozenset[int] = frozenset(range(7))

    def contains(self, local: datetime) -> bool:
        """Whether the naive-or-aware local wall time ``local`` falls in the window."""
        t = local.time().replace(tzinfo=None)
        day = local.weekday()
        if self.start <= self.end:
            return day in self.days and self.start <= t < self.end
        if t >= self.start:
            return day in self.days
        return t < self.end and (day - 1) % 7 in self.days


@dataclass(frozen=True, slots=True)
class Recipient:
    """A person (or desk) who receives notifications.

    ``working_hours`` None means always working (a control centre). ``quiet_hours`` holds
    back non-urgent notifications until it ends, in the recipient's own ``timezone``.
    """

    id: str
    role: Role
    channels: tuple[ChannelAddress, ...]
    locale: str = "ko"
    timezone: str = "Asia/Seoul"
    working_hours: DailyWindow | None = None
    quiet_hours: DailyWindow | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class Team:
    """The welfare team of one area (dong): member recipient ids, whatever their role."""

    area: str
    members: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Consent:
    """What a household agreed to: night/holiday hand-over to on-call, and which volunteers
    (neighbours, 명예사회복지공무원) may be told."""

    night_on_call: bool = False
    volunteers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SelfCheck:
    """A household's resident self-check: before a ``warning`` reaches the caseworkers, the
    resident is asked on ``channel`` (SMS with a one-tap link, or a webhook to an automated
    care-call service) and has ``timeout_s`` seconds to answer. ``address`` is contact data:
    never log it."""

    household: HouseholdId
    channel: str
    address: str | None = None
    timeout_s: float = 30 * 60
    locale: str = "ko"
    timezone: str = "Asia/Seoul"

    @property
    def recipient(self) -> str:
        """The recipient id of the resident in the outbox (pseudonymous)."""
        return f"resident:{self.household}"


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    """The ladder for one severity: not acknowledged within ``ack_timeout_s`` of the previous
    level, go to the next of ``levels``; remind every ``repeat_every_s`` (None: never) until
    acknowledged. Seconds."""

    ack_timeout_s: float
    levels: tuple[Role, ...] = (Role.TEAM_LEAD, Role.ON_CALL)
    repeat_every_s: float | None = None


DEFAULT_POLICIES: Mapping[Severity, EscalationPolicy] = {
    Severity.CRITICAL: EscalationPolicy(30 * 60, (Role.TEAM_LEAD, Role.ON_CALL), 30 * 60),
    Severity.WARNING: EscalationPolicy(2 * 3600, (Role.TEAM_LEAD,), 4 * 3600),
}
"""Critical climbs every 30 min; warning reaches the team lead after 2 h. Attention is
dashboard-only and never escalates."""


@dataclass(frozen=True, slots=True)
class Directory:
    """Recipients, area teams, households' consents, public holidays (local dates), the
    per-severity escalation policies, and digests: ``digest_threshold`` new alerts or more for
    one recipient and channel within ``digest_window_s`` seconds make one message."""

    recipients: Mapping[str, Recipient] = field(default_factory=dict)
    teams: Mapping[str, Team] = field(default_factory=dict)
    consents: Mapping[HouseholdId, Consent] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
    policies: Mapping[Severity, EscalationPolicy] = field(
        default_factory=lambda: dict(DEFAULT_POLICIES)
    )
    digest_threshold: int = 3
    digest_window_s: float = 300.0
    self_checks: Mapping[HouseholdId, SelfCheck] = field(default_factory=dict)

    def consent(self, household: HouseholdId) -> Consent:
        """The household's consent, none given by default."""
        return self.consents.get(household, Consent())

    def with_role(self, role: Role, area: str | None = None) -> list[Recipient]:
        """Active recipients with ``role``: the area team's when it has any, else everyone's."""
        everyone = [r for r in self.recipients.values() if r.role is role and r.active]
        if area is not None and area in self.teams:
            members = set(self.teams[area].members)
            in_team = [r for r in everyone if r.id in members]
            if in_team:
                return in_team
        return everyone


def self_check_for(alert: Alert, directory: Directory) -> SelfCheck | None:
    """The self-check to run before paging for ``alert``, or None: only ``warning`` resident
    alerts of households that configured one (critical alerts never wait)."""
    if alert.severity is not Severity.WARNING or alert.household == SYSTEM_HOUSEHOLD:
        return None
    if alert.kind in _TECHNICAL_KINDS or alert.kind is AlertKind.MONITORING_BLIND:
        return None
    return directory.self_checks.get(alert.household)


def self_check_token(secret: str, alert_id: str) -> str:
    """The one-tap link token of an alert: HMAC-SHA256 of its id under ``secret``, 32 hex
    digits (128 bits: unguessable, short enough for an SMS)."""
    mac = hmac.new(secret.encode(), alert_id.encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def check_self_check_token(secret: str, alert_id: str, token: str) -> bool:
    """Whether ``token`` is the link token of ``alert_id`` (constant-time comparison)."""
    return hmac.compare_digest(self_check_token(secret, alert_id), token.strip().lower())


class RouteReason(enum.StrEnum):
    """Why a recipient receives a notification."""

    HOUSEHOLD_CASEWORKER = "household_caseworker"
    AREA_TEAM_CASEWORKER = "area_team_caseworker"
    CONSENTED_VOLUNTEER = "consented_volunteer"
    OFF_HOURS_ON_CALL = "off_hours_on_call"
    HOLIDAY_ON_CALL = "holiday_on_call"
    TECHNICIAN = "technician"
    OPERATOR = "operator"
    ESCALATED_TEAM_LEAD = "escalated_team_lead"
    ESCALATED_ON_CALL = "escalated_on_call"
    ESCALATED_OTHER = "escalated_other"
    NO_RECIPIENT_OPERATOR = "no_recipient_operator"


class HoldReason(enum.StrEnum):
    """Why a delivery waits."""

    QUIET_HOURS = "quiet_hours"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification decision: send ``step`` of ``alert_id`` to ``recipient`` over
    ``channel`` at ``send_at`` (later than now only when held, see ``held``)."""

    alert_id: str
    step: str
    recipient: str
    channel: str
    address: str | None
    locale: str
    timezone: str
    reason: RouteReason
    send_at: EpochSeconds
    held: HoldReason | None = None

    @property
    def key(self) -> str:
        """The idempotency key: one step reaches one recipient on one channel once."""
        return notification_key(self.alert_id, self.step, self.recipient, self.channel)


def notification_key(alert_id: str, step: str | int, recipient: str, channel: str) -> str:
    """``f"{alert_id}:{step}:{recipient}:{channel}"``."""
    return f"{alert_id}:{step}:{recipient}:{channel}"


def _local(at: EpochSeconds, tz: str) -> datetime:
    return datetime.fromtimestamp(at, ZoneInfo(tz))


def is_off_hours(
    recipients: Iterable[Recipient], at: EpochSeconds, holidays: frozenset[date]
) -> RouteReason | None:
    """HOLIDAY_ON_CALL or OFF_HOURS_ON_CALL when none of ``recipients`` is at work at ``at``
    (each in their own zone; a holiday is a local date), else None."""
    people = list(recipients)
    if not people:
        return RouteReason.OFF_HOURS_ON_CALL
    if all(_local(at, r.timezone).date() in holidays for r in people):
        return RouteReason.HOLIDAY_ON_CALL
    for r in people:
        local = _local(at, r.timezone)
        if local.date() in holidays:
            continue
        if r.working_hours is None or r.working_hours.contains(local):
            return None
    return RouteReason.OFF_HOURS_ON_CALL


def quiet_until(recipient: Recipient, at: EpochSeconds) -> EpochSeconds | None:
    """The end of the recipient's quiet hours if ``at`` falls in them, else None.

    Computed on the local calendar, so a night that is 7 or 9 hours long across a
    daylight-saving change still ends at the local end time. A local end time that does not
    exist (skipped by DST) maps to the instant just after the gap.
    """
    window = recipient.quiet_hours
    if window is None:
        return None
    zone = ZoneInfo(recipient.timezone)
    local = datetime.fromtimestamp(at, zone)
    if not window.contains(local):
        return None
    end_day = local.date()
    if window.start > window.end and local.time().replace(tzinfo=None) >= window.start:
        end_day += timedelta(days=1)
    # fold=0 resolves a repeated local time to its first occurrence and a skipped one by the
    # pre-transition offset, which lands just after the gap
    end = datetime.combine(end_day, window.end, tzinfo=zone)
    return end.timestamp()


def _deliveries(
    alert: Alert,
    step: str,
    recipients: Iterable[Recipient],
    reason: RouteReason,
    at: EpochSeconds,
    *,
    urgent: bool,
) -> list[Delivery]:
    out: list[Delivery] = []
    for r in recipients:
        hold = None if urgent else quiet_until(r, at)
        for ch in r.channels:
            out.append(
                Delivery(
                    alert_id=alert.id,
                    step=step,
                    recipient=r.id,
                    channel=ch.channel,
                    address=ch.address,
                    locale=r.locale,
                    timezone=r.timezone,
                    reason=reason,
                    send_at=hold if hold is not None else at,
                    held=HoldReason.QUIET_HOURS if hold is not None else None,
                )
            )
    return out


def route(
    alert: Alert,
    household: Household | None,
    directory: Directory,
    at: EpochSeconds,
    *,
    step: int = 0,
) -> list[Delivery]:
    """The deliveries for ``step`` of ``alert`` at event time ``at``.

    Step 0: resident alerts go to the household's caseworkers (else the area team's), plus
    consented volunteers, plus on-call when nobody is at work (night, weekend, holiday) and
    the household consented; device alerts go to technicians (area team first); alerts
    about careplug itself (``household`` None or :data:`SYSTEM_HOUSEHOLD`) go to operators;
    ``monitoring_blind`` goes to caseworkers and technicians. ``attention`` reaches no one
    (dashboard only). Step k >= 1 goes to the k-th level of the severity's escalation ladder;
    on-call only with consent. Non-critical deliveries wait out each recipient's quiet hours.
    No recipient at all falls back to operators, so an alert is never silently dropped.
    """
    if alert.severity is Severity.ATTENTION:
        return []
    urgent = alert.severity is Severity.CRITICAL
    system = household is None or alert.household == SYSTEM_HOUSEHOLD
    area = household.area if household else None
    consent = directory.consent(alert.household)
    out: list[Delivery] = []
    if step > 0:
        policy = directory.policies.get(alert.severity)
        if policy is None or step > len(policy.levels):
            return []
        role = policy.levels[step - 1]
        if role is Role.ON_CALL and not consent.night_on_call and not system:
            return []
        reason = {
            Role.TEAM_LEAD: RouteReason.ESCALATED_TEAM_LEAD,
            Role.ON_CALL: RouteReason.ESCALATED_ON_CALL,
        }.get(role, RouteReason.ESCALATED_OTHER)
        return _deliveries(
            alert, str(step), directory.with_role(role, area), reason, at, urgent=urgent
        )
    if system:
        ops = directory.with_role(Role.OPERATOR)
        return _deliveries(alert, "0", ops, RouteReason.OPERATOR, at, urgent=urgent)
    assert household is not None
    if alert.kind in _TECHNICAL_KINDS or alert.kind is AlertKind.MONITORING_BLIND:
        techs = directory.with_role(Role.TECHNICIAN, area)
        out += _deliveries(alert, "0", techs, RouteReason.TECHNICIAN, at, urgent=urgent)
    if alert.kind not in _TECHNICAL_KINDS:
        people = [
            directory.recipients[c]
            for c in household.caseworkers
            if c in directory.recipients and directory.recipients[c].active
        ]
        reason = RouteReason.HOUSEHOLD_CASEWORKER
        if not people:
            people = directory.with_role(Role.CASEWORKER, area) if area else []
            reason = RouteReason.AREA_TEAM_CASEWORKER
        out += _deliveries(alert, "0", people, reason, at, urgent=urgent)
        volunteers = [
            directory.recipients[v]
            for v in consent.volunteers
            if v in directory.recipients and directory.recipients[v].active
        ]
        out += _deliveries(
            alert, "0", volunteers, RouteReason.CONSENTED_VOLUNTEER, at, urgent=urgent
        )
        off = is_off_hours(people, at, directory.holidays)
        if off is not None and consent.night_on_call:
            on_call = directory.with_role(Role.ON_CALL)
            # on-call exists to answer at night: quiet hours never hold it
            out += _deliveries(alert, "0", on_call, off, at, urgent=True)
    if not out:
        ops = directory.with_role(Role.OPERATOR)
        out = _deliveries(alert, "0", ops, RouteReason.NO_RECIPIENT_OPERATOR, at, urgent=True)
    return out


# --- escalation and reminders: pure functions of the alert's stored times ----------------


class EscalationReason(enum.StrEnum):
    """Why the ladder is where it is."""

    NO_POLICY = "no_policy"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    NOT_DUE = "not_due"
    LEVEL_DUE = "level_due"
    TOP_OF_LADDER = "top_of_ladder"


def _stopped_at(alert: Alert) -> EpochSeconds | None:
    times = [t for t in (alert.acknowledged_at, alert.resolved_at) if t is not None]
    if times:
        return min(times)
    if alert.state is not AlertState.OPEN:
        return alert.raised_at
    return None


def escalation_step(alert: Alert, policy: EscalationPolicy | None, now: EpochSeconds) -> int:
    """The ladder level reached at ``now``: 0 until ``ack_timeout_s`` after ``raised_at``,
    then one more per timeout, at most ``len(levels)``; frozen at acknowledgement."""
    if policy is None or policy.ack_timeout_s <= 0:
        return 0
    stop = _stopped_at(alert)
    until = now if stop is None else min(now, stop)
    # at exactly raised_at + k*timeout level k is due (the ack window was k*timeout long)
    elapsed = until - alert.raised_at
    if elapsed < policy.ack_timeout_s:
        return 0
    return min(len(policy.levels), math.floor(elapsed / policy.ack_timeout_s))


def next_escalation_at(
    alert: Alert, policy: EscalationPolicy | None, now: EpochSeconds
) -> EpochSeconds | None:
    """When the next level is due, or None (acknowledged, resolved, top reached, no policy)."""
    if policy is None or policy.ack_timeout_s <= 0 or _stopped_at(alert) is not None:
        return None
    step = escalation_step(alert, policy, now)
    if step >= len(policy.levels):
        return None
    return alert.raised_at + (step + 1) * policy.ack_timeout_s


@dataclass(frozen=True, slots=True)
class EscalationDecision:
    """The levels to notify now (those due but not yet done) and why."""

    steps: tuple[int, ...]
    reason: EscalationReason
    next_at: EpochSeconds | None


def decide_escalation(
    alert: Alert, policy: EscalationPolicy | None, done_step: int, now: EpochSeconds
) -> EscalationDecision:
    """Which ladder levels above ``done_step`` (the highest already sent) are due at ``now``.

    After a long outage several levels may be due at once: all are returned, so nobody on
    the ladder is skipped."""
    nxt = next_escalation_at(alert, policy, now)
    if policy is None:
        return EscalationDecision((), EscalationReason.NO_POLICY, None)
    if alert.state is AlertState.RESOLVED or alert.resolved_at is not None:
        return EscalationDecision((), EscalationReason.RESOLVED, None)
    if alert.state is AlertState.ACKNOWLEDGED or alert.acknowledged_at is not None:
        return EscalationDecision((), EscalationReason.ACKNOWLEDGED, None)
    step = escalation_step(alert, policy, now)
    due = tuple(range(done_step + 1, step + 1))
    if due:
        return EscalationDecision(due, EscalationReason.LEVEL_DUE, nxt)
    if step >= len(policy.levels):
        return EscalationDecision((), EscalationReason.TOP_OF_LADDER, None)
    return EscalationDecision((), EscalationReason.NOT_DUE, nxt)


def reminder_index(alert: Alert, policy: EscalationPolicy | None, now: EpochSeconds) -> int:
    """How many reminders are due by ``now`` (reminder n at ``raised_at + n*repeat_every_s``),
    counting stops at acknowledgement."""
    if policy is None or not policy.repeat_every_s or policy.repeat_every_s <= 0:
        return 0
    stop = _stopped_at(alert)
    until = now if stop is None else min(now, stop)
    if until < alert.raised_at:
        return 0
    return math.floor((until - alert.raised_at) / policy.repeat_every_s)


def next_reminder_at(
    alert: Alert, policy: EscalationPolicy | None, now: EpochSeconds
) -> EpochSeconds | None:
    """When the next reminder is due, or None once acknowledged or without reminders."""
    if policy is None or not policy.repeat_every_s or _stopped_at(alert) is not None:
        return None
    return alert.raised_at + (reminder_index(alert, policy, now) + 1) * policy.repeat_every_s


# --- grouping ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Digest:
    """Several deliveries to one recipient on one channel folded into one message."""

    recipient: str
    channel: str
    address: str | None
    locale: str
    timezone: str
    send_at: EpochSeconds
    parts: tuple[Delivery, ...]

    @property
    def key(self) -> str:
        """Idempotency key derived from the folded keys: the same batch is the same digest."""
        digest = hashlib.sha256("\n".join(sorted(p.key for p in self.parts)).encode()).hexdigest()
        return notification_key(f"digest-{digest[:16]}", "0", self.recipient, self.channel)


def group_for_digest(
    deliveries: Sequence[Delivery], threshold: int, window_s: float = 0.0
) -> list[Delivery | Digest]:
    """Fold deliveries to one recipient on one channel into a :class:`Digest` when at least
    ``threshold`` of them fall together; keep the others as they are, in order.

    Together means: held ones (quiet hours) with the same release time; the others with send
    times within ``window_s`` seconds of the earliest of their cluster. A digest goes out at
    the latest send time of its parts, so it never sends a held delivery early. Callers group
    only deliveries whose alerts already exist, so that latest time has passed and nobody
    waits for a digest: a ``critical`` alert in one is never delayed.
    """
    keyed: dict[tuple[str, str, EpochSeconds | None], list[int]] = defaultdict(list)
    for i, d in enumerate(deliveries):
        keyed[(d.recipient, d.channel, d.send_at if d.held is not None else None)].append(i)
    cluster_of: list[int] = [0] * len(deliveries)
    clusters: list[list[int]] = []
    for group in keyed.values():
        start: EpochSeconds | None = None
        for i in sorted(group, key=lambda i: deliveries[i].send_at):
            if start is None or deliveries[i].send_at - start > window_s:
                start = deliveries[i].send_at
                clusters.append([])
            clusters[-1].append(i)
            cluster_of[i] = len(clusters) - 1
    out: list[Delivery | Digest] = []
    emitted: set[int] = set()
    for i, d in enumerate(deliveries):
        number = cluster_of[i]
        members = sorted(clusters[number])
        if threshold < 2 or len(members) < threshold:
            out.append(d)
        elif number not in emitted:
            emitted.add(number)
            parts = tuple(deliveries[j] for j in members)
            out.append(
                Digest(
                    d.recipient,
                    d.channel,
                    d.address,
                    d.locale,
                    d.timezone,
                    max(p.send_at for p in parts),
                    parts,
                )
            )
    return out


# --- retries -------------------------------------------------------------------------------


def retry_at(
    attempts: int, base: float, cap: float, now: EpochSeconds, *, jitter_key: str | None = None
) -> EpochSeconds:
    """When to try again after ``attempts`` failed attempts: ``base * 2**(attempts-1)``
    seconds, at most ``cap``. ``jitter_key`` (e.g. the idempotency key) spreads retries by up
    to -20 % deterministically, so many failures do not retry in lockstep yet a replay
    schedules exactly the same times."""
    exponent = max(0, attempts - 1)
    delay = cap if exponent >= 63 else min(cap, base * (2**exponent))
    if jitter_key is not None:
        fraction = int(hashlib.sha256(jitter_key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        delay *= 1.0 - 0.2 * fraction
    return now + delay


class RetryReason(enum.StrEnum):
    """Why a failed delivery is or is not tried again."""

    RETRY_SCHEDULED = "retry_scheduled"
    PERMANENT_ERROR = "permanent_error"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """``next_at`` None means dead letter."""

    next_at: EpochSeconds | None
    reason: RetryReason


def decide_retry(
    attempts: int,
    retryable: bool,
    now: EpochSeconds,
    *,
    base: float = 30.0,
    cap: float = 3600.0,
    max_attempts: int = 12,
    key: str | None = None,
) -> RetryDecision:
    """After the ``attempts``-th failure: retry later, or give up (dead letter) because the
    error is permanent or ``max_attempts`` is reached."""
    if not retryable:
        return RetryDecision(None, RetryReason.PERMANENT_ERROR)
    if attempts >= max_attempts:
        return RetryDecision(None, RetryReason.ATTEMPTS_EXHAUSTED)
    return RetryDecision(
        retry_at(attempts, base, cap, now, jitter_key=key), RetryReason.RETRY_SCHEDULED
    )
