"""The JSON shapes of the console API (they make up its OpenAPI description)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from careplug.domain.model import CASEWORKER_OUTCOMES

CaseworkerOutcome = Literal[
    "resident_ok",
    "visited_ok",
    "hospital",
    "emergency_services",
    "away",
    "device_fault",
    "false_alarm",
    "deceased",
    "other",
]
assert set(CaseworkerOutcome.__args__) == {o.value for o in CASEWORKER_OUTCOMES}  # type: ignore[attr-defined]

Status = Literal["ok", "attention", "warning", "critical", "offline", "away", "unknown"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(_In):
    """Credentials for ``POST /api/v1/session``."""

    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class SessionOut(BaseModel):
    """A new session: send ``Authorization: Bearer <token>`` (no CSRF header needed then)."""

    token: str
    csrf: str
    username: str
    role: str
    expires_at: str


class UserOut(BaseModel):
    """A console account (never its password hash)."""

    username: str
    role: str
    display_name: str
    locale: str
    active: bool


class DeadLetterOut(BaseModel):
    """A notification that gave up (never its address or text: contact data stays out)."""

    channel: str
    recipient: str
    key: str
    attempts: int
    last_error: str | None


class UserIn(_In):
    """A new console account."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=10, max_length=1024)
    role: Literal["caseworker", "admin"] = "caseworker"
    display_name: str = Field(default="", max_length=100)
    locale: Literal["ko", "en"] = "ko"


class UserPatch(_In):
    """Changes to an account; every field optional."""

    password: str | None = Field(default=None, min_length=10, max_length=1024)
    role: Literal["caseworker", "admin"] | None = None
    active: bool | None = None
    display_name: str | None = Field(default=None, max_length=100)
    locale: Literal["ko", "en"] | None = None


class NoteIn(_In):
    """An optional note with an acknowledgement or with ending an away period."""

    note: str | None = Field(default=None, max_length=2000)


class ResolveIn(_In):
    """How an alert ended."""

    outcome: CaseworkerOutcome
    note: str | None = Field(default=None, max_length=2000)


class AwayIn(_In):
    """An away period; ``start`` defaults to now, ``end`` None means until ended."""

    start: datetime | None = None
    end: datetime | None = None
    note: str | None = Field(default=None, max_length=2000)


class AuditOut(BaseModel):
    """One step in a household's history (an alert transition or an away period change)."""

    at: str
    actor: str
    action: str
    state: str | None = None
    note: str | None = None
    outcome: str | None = None
    alert_id: str | None = None
    away_id: int | None = None


class AlertOut(BaseModel):
    """An alert and what was observed (``details``)."""

    id: str
    household: str
    kind: str
    severity: str
    state: str
    message: str
    since: str | None
    raised_at: str
    acknowledged_at: str | None
    acknowledged_by: str | None
    resolved_at: str | None
    resolved_by: str | None
    outcome: str | None
    details: dict[str, Any]


class AlertDetailOut(AlertOut):
    """An alert with its audit trail."""

    audit: list[AuditOut]


class AwayOut(BaseModel):
    """An away period."""

    id: int
    household: str
    start_at: str
    end_at: str | None
    ended_at: str | None
    note: str | None
    created_by: str
    active: bool


class StripCellOut(BaseModel):
    """One bucket of an activity strip."""

    start: str
    width_s: float
    count: int


class HouseholdOut(BaseModel):
    """A household as the list shows it."""

    id: str
    area: str | None
    tier: str
    caseworkers: list[str]
    status: Status
    last_activity_at: str | None
    open_alerts: int
    away: bool


class FalseAlarmsOut(BaseModel):
    """The household's caseworker-facing inactivity alarms of the review window (28 days by
    default), how many ended with the resident fine (of them, away), and whether that many
    call for a review of its plug placement, tier or away periods."""

    alarms: int
    resident_fine: int
    away: int
    to_review: bool


class HouseholdDetailOut(HouseholdOut):
    """A household with its strips, alerts, away periods and history."""

    timezone: str
    plugs: list[str]
    strip_24h: list[StripCellOut]
    strip_7d: list[StripCellOut]
    alerts: list[AlertOut]
    away_periods: list[AwayOut]
    audit: list[AuditOut]
    false_alarms: FalseAlarmsOut | None = None
