"""Load the recipient directory (recipients, area teams, consents, holidays, escalation
policies) from TOML, validated by pydantic; errors name the dotted path of the bad field."""

from __future__ import annotations

import re
import tomllib
from datetime import date, time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from careplug.domain.model import HouseholdId, Severity
from careplug.domain.routing import (
    ChannelAddress,
    Consent,
    DailyWindow,
    Directory,
    EscalationPolicy,
    Recipient,
    Role,
    SelfCheck,
    Team,
)
from careplug.errors import ConfigError

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_ALL_DAYS: list[Day] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")


def parse_duration(text: str | float) -> float:
    """Seconds from "90s", "30m", "2h", "1d" or a plain number of seconds."""
    if isinstance(text, int | float):
        return float(text)
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration like 30m or 2h: {text!r}")
    return float(match[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowModel(_Strict):
    """A local time window, e.g. {start = "09:00", end = "18:00", days = ["mon", …]}."""

    start: time = Field(description="local start time HH:MM")
    end: time = Field(description="local end time HH:MM; before start wraps past midnight")
    days: list[Day] = Field(
        default_factory=lambda: list(_ALL_DAYS), description="weekdays the window starts on"
    )

    def to_domain(self) -> DailyWindow:
        return DailyWindow(self.start, self.end, frozenset(_DAYS[d] for d in self.days))


class ChannelModel(_Strict):
    """One channel of a recipient."""

    channel: str = Field(description="notifier name: webhook, email, sms, mqtt, …")
    address: str | None = Field(None, description="email address or phone number")


class RecipientModel(_Strict):
    """A person or desk that receives notifications."""

    id: str = Field(
        min_length=1, description="stable recipient id (caseworker ids match households)"
    )
    role: Role
    channels: list[ChannelModel] = Field(min_length=1)
    locale: Literal["ko", "en"] = "ko"
    timezone: str = "Asia/Seoul"
    working_hours: WindowModel | None = None
    quiet_hours: WindowModel | None = None
    active: bool = True

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value


class TeamModel(_Strict):
    """The welfare team of one area."""

    area: str = Field(min_length=1)
    members: list[str] = Field(default_factory=list)


class ConsentModel(_Strict):
    """A household's consent."""

    household: str = Field(min_length=1)
    night_on_call: bool = False
    volunteers: list[str] = Field(default_factory=list)


Duration = Annotated[str | float, Field(description='"30m", "2h" or seconds')]


class PolicyModel(_Strict):
    """The escalation ladder for one severity."""

    severity: Literal["warning", "critical"]
    ack_timeout: Duration
    levels: list[Role] = Field(default_factory=lambda: [Role.TEAM_LEAD, Role.ON_CALL])
    repeat_every: Duration | None = None

    @field_validator("ack_timeout", "repeat_every")
    @classmethod
    def _duration(cls, value: str | float | None) -> str | float | None:
        if value is not None and parse_duration(value) <= 0:
            raise ValueError("must be positive")
        return value


class SelfCheckModel(_Strict):
    """A household's resident self-check before a warning pages anyone."""

    household: str = Field(min_length=1)
    channel: str = Field(description="sms (one-tap link) or webhook (care-call service)")
    address: str | None = Field(None, description="the resident's phone number, if SMS")
    timeout: Duration = "30m"
    locale: Literal["ko", "en"] = "ko"
    timezone: str = "Asia/Seoul"

    @field_validator("timeout")
    @classmethod
    def _duration(cls, value: str | float) -> str | float:
        if parse_duration(value) <= 0:
            raise ValueError("must be positive")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return RecipientModel._known_zone(value)


class DirectoryModel(_Strict):
    """The whole file."""

    recipient: list[RecipientModel] = Field(default_factory=list)
    team: list[TeamModel] = Field(default_factory=list)
    consent: list[ConsentModel] = Field(default_factory=list)
    holidays: list[date] = Field(default_factory=list)
    escalation: list[PolicyModel] = Field(default_factory=list)
    digest_threshold: int = Field(3, ge=2)
    digest_window: Duration = "5m"

    @field_validator("digest_window")
    @classmethod
    def _window(cls, value: str | float) -> str | float:
        parse_duration(value)  # "0s" is fine: only alerts raised at the same instant fold
        return value

    self_check: list[SelfCheckModel] = Field(default_factory=list)


def _check_references(model: DirectoryModel) -> None:
    ids = [r.id for r in model.recipient]
    seen: set[str] = set()
    for i, rid in enumerate(ids):
        if rid in seen:
            raise ConfigError(f"recipient.{i}.id: duplicate recipient id {rid!r}")
        seen.add(rid)
    for i, team in enumerate(model.team):
        for j, member in enumerate(team.members):
            if member not in seen:
                raise ConfigError(f"team.{i}.members.{j}: unknown recipient {member!r}")
    for i, consent in enumerate(model.consent):
        for j, volunteer in enumerate(consent.volunteers):
            if volunteer not in seen:
                raise ConfigError(f"consent.{i}.volunteers.{j}: unknown recipient {volunteer!r}")
    households: set[str] = set()
    for i, check in enumerate(model.self_check):
        if check.household in households:
            raise ConfigError(f"self_check.{i}.household: duplicate household {check.household!r}")
        households.add(check.household)


def directory_from_dict(raw: object) -> Directory:
    """Validate a parsed TOML document and build the domain :class:`Directory`."""
    try:
        model = DirectoryModel.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"{where}: {first['msg']}") from None
    _check_references(model)
    policies = dict(Directory().policies)
    for p in model.escalation:
        policies[Severity(p.severity)] = EscalationPolicy(
            parse_duration(p.ack_timeout),
            tuple(p.levels),
            parse_duration(p.repeat_every) if p.repeat_every is not None else None,
        )
    return Directory(
        recipients={
            r.id: Recipient(
                r.id,
                r.role,
                tuple(ChannelAddress(c.channel, c.address) for c in r.channels),
                r.locale,
                r.timezone,
                r.working_hours.to_domain() if r.working_hours else None,
                r.quiet_hours.to_domain() if r.quiet_hours else None,
                r.active,
            )
            for r in model.recipient
        },
        teams={t.area: Team(t.area, tuple(t.members)) for t in model.team},
        consents={
            HouseholdId(c.household): Consent(c.night_on_call, tuple(c.volunteers))
            for c in model.consent
        },
        holidays=frozenset(model.holidays),
        policies=policies,
        digest_threshold=model.digest_threshold,
        digest_window_s=parse_duration(model.digest_window),
        self_checks={
            HouseholdId(c.household): SelfCheck(
                HouseholdId(c.household),
                c.channel,
                c.address,
                parse_duration(c.timeout),
                c.locale,
                c.timezone,
            )
            for c in model.self_check
        },
    )


def load_directory(path: Path) -> Directory:
    """Read and validate the recipients file; ``ConfigError`` names the file and field."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        return directory_from_dict(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
