"""Message templates: every alert kind and notification event, in Korean (default) and English.

Pure: ``render`` turns an alert into ``(subject, text)`` for one recipient's locale and time
zone. Times are shown in the recipient's zone, relative to the moment of the message ("어제
21:10", "yesterday 21:10"). Alerts carry pseudonymous ids only, so no message can leak a
resident's name or address.

Alert ``details`` keys used when present: ``area`` (str), ``households`` and ``plugs`` (int,
area outages; partly blind households), ``appliance`` (str), ``away_until`` (epoch seconds),
``level`` (int), ``partly`` (bool: ``monitoring_blind`` of a household partly blind).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from careplug.domain.false_alarms import FalseAlarmReview
from careplug.domain.model import Alert, AlertKind, EpochSeconds, HouseholdId, Outcome, Severity
from careplug.domain.self_check import SelfCheckTally

LOCALES = ("ko", "en")
DEFAULT_LOCALE = "ko"


class MessageEvent(enum.StrEnum):
    """What a notification announces."""

    RAISED = "raised"
    ESCALATED = "escalated"
    REMINDER = "reminder"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    DIGEST = "digest"
    AREA_OUTAGE = "area_outage"
    SELF_CHECK = "self_check"
    DAILY_SUMMARY = "daily_summary"


_SEVERITY = {
    "ko": {Severity.ATTENTION: "주의", Severity.WARNING: "경고", Severity.CRITICAL: "긴급"},
    "en": {
        Severity.ATTENTION: "Attention",
        Severity.WARNING: "Warning",
        Severity.CRITICAL: "Critical",
    },
}

_KIND_TITLE = {
    "ko": {
        AlertKind.INACTIVITY: "활동 없음",
        AlertKind.DEVICE_OFFLINE: "플러그 연결 끊김",
        AlertKind.UNPLUGGED: "플러그 뽑힘",
        AlertKind.NEVER_REPORTED: "플러그 미보고",
        AlertKind.AREA_OUTAGE: "지역 장애",
        AlertKind.APPLIANCE_LEFT_ON: "가전 계속 켜짐",
        AlertKind.NOT_BACK_FROM_AWAY: "외출 후 미복귀",
        AlertKind.MONITORING_BLIND: "모니터링 불가",
        AlertKind.SYSTEM_DEGRADED: "careplug 시스템 이상",
    },
    "en": {
        AlertKind.INACTIVITY: "no activity",
        AlertKind.DEVICE_OFFLINE: "plug offline",
        AlertKind.UNPLUGGED: "plug unplugged",
        AlertKind.NEVER_REPORTED: "plug never reported",
        AlertKind.AREA_OUTAGE: "area outage",
        AlertKind.APPLIANCE_LEFT_ON: "appliance left on",
        AlertKind.NOT_BACK_FROM_AWAY: "not back from away",
        AlertKind.MONITORING_BLIND: "monitoring blind",
        AlertKind.SYSTEM_DEGRADED: "careplug degraded",
    },
}

# {since}: local time the condition began; {duration}: how long until the message time
_KIND_TEXT = {
    "ko": {
        AlertKind.INACTIVITY: "{household} 가구에서 {since} 이후 활동이 없습니다 ({duration}째).",
        AlertKind.DEVICE_OFFLINE: "{household} 가구의 플러그가 {since}부터 연결되지 않습니다 "
        "({duration}째). 활동을 확인할 수 없는 상태입니다.",
        AlertKind.UNPLUGGED: "{household} 가구의 플러그가 {since}부터 뽑혀 있거나 전원이 "
        "꺼진 것으로 보입니다.",
        AlertKind.NEVER_REPORTED: "{household} 가구에 설치된 플러그가 {since} 이후 한 번도 "
        "보고하지 않았습니다. 설치 상태를 확인해 주세요.",
        AlertKind.AREA_OUTAGE: "{area} 지역에서 {since}부터 {plugs}개 플러그({households}가구)가 "
        "동시에 연결되지 않습니다. 정전 또는 통신 장애로 보이며, "
        "개별 가구 문제는 아닐 수 있습니다.",
        AlertKind.APPLIANCE_LEFT_ON: "{household} 가구의 {appliance}이(가) {since}부터 계속 "
        "켜져 있습니다 ({duration}째).",
        AlertKind.NOT_BACK_FROM_AWAY: "{household} 가구는 {until}에 돌아올 예정이었지만 "
        "그 뒤로 활동이 없습니다.",
        AlertKind.MONITORING_BLIND: "{household} 가구의 활동을 보여주는 플러그가 모두 "
        "{since}부터 응답하지 않아 안부를 확인할 수 없습니다.",
        AlertKind.SYSTEM_DEGRADED: "careplug가 {since}부터 정상적으로 데이터를 받지 못하고 "
        "있습니다. 운영자 확인이 필요합니다.",
    },
    "en": {
        AlertKind.INACTIVITY: "Household {household}: no activity since {since} ({duration}).",
        AlertKind.DEVICE_OFFLINE: "Household {household}: the plug has been offline since "
        "{since} ({duration}); activity cannot be seen.",
        AlertKind.UNPLUGGED: "Household {household}: the plug seems unplugged or switched off "
        "since {since}.",
        AlertKind.NEVER_REPORTED: "Household {household}: the installed plug has not reported "
        "once since {since}. Please check the installation.",
        AlertKind.AREA_OUTAGE: "Area {area}: {plugs} plugs in {households} households went "
        "offline together at {since}. Likely a power or network outage, not one household.",
        AlertKind.APPLIANCE_LEFT_ON: "Household {household}: the {appliance} has been on "
        "since {since} ({duration}).",
        AlertKind.NOT_BACK_FROM_AWAY: "Household {household} was due back at {until} but "
        "there has been no activity since.",
        AlertKind.MONITORING_BLIND: "Household {household}: every plug that shows activity has "
        "been silent since {since}; wellbeing cannot be checked.",
        AlertKind.SYSTEM_DEGRADED: "careplug has not been receiving what it should since "
        "{since}; an operator needs to look.",
    },
}

_OUTCOME = {
    "ko": {
        Outcome.RESIDENT_OK: "본인 무사 확인",
        Outcome.VISITED_OK: "방문 확인, 이상 없음",
        Outcome.HOSPITAL: "병원 이송/입원",
        Outcome.EMERGENCY_SERVICES: "119 출동",
        Outcome.AWAY: "외출/부재",
        Outcome.DEVICE_FAULT: "기기 고장",
        Outcome.FALSE_ALARM: "오경보",
        Outcome.DECEASED: "사망",
        Outcome.OTHER: "기타",
        Outcome.ACTIVITY_RESUMED: "활동 재개",
        Outcome.DEVICE_BACK_ONLINE: "플러그 다시 연결됨",
        Outcome.CONDITION_CLEARED: "상황 해소",
    },
    "en": {
        Outcome.RESIDENT_OK: "resident confirmed OK",
        Outcome.VISITED_OK: "visited, all well",
        Outcome.HOSPITAL: "taken to hospital",
        Outcome.EMERGENCY_SERVICES: "emergency services called",
        Outcome.AWAY: "away from home",
        Outcome.DEVICE_FAULT: "device fault",
        Outcome.FALSE_ALARM: "false alarm",
        Outcome.DECEASED: "deceased",
        Outcome.OTHER: "other",
        Outcome.ACTIVITY_RESUMED: "activity resumed",
        Outcome.DEVICE_BACK_ONLINE: "plug back online",
        Outcome.CONDITION_CLEARED: "condition cleared",
    },
}

_APPLIANCE = {
    "ko": {
        "tv": "TV",
        "kettle": "전기포트",
        "rice_cooker": "전기밥솥",
        "microwave": "전자레인지",
        "lamp": "조명",
        "heater": "난방기",
        "fridge": "냉장고",
        "other": "가전",
    },
    "en": {"rice_cooker": "rice cooker", "other": "appliance"},
}

_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _locale(locale: str) -> str:
    base = locale.split("-", 1)[0].split("_", 1)[0].lower()
    return base if base in LOCALES else DEFAULT_LOCALE


def local_time(at: EpochSeconds, tz: str, reference: EpochSeconds, locale: str = "ko") -> str:
    """``at`` as the recipient reads it: "07:40" today, "어제 07:40" / "yesterday 07:40",
    else with the date ("3월 5일 07:40" / "5 Mar 07:40"), in time zone ``tz``."""
    zone = ZoneInfo(tz)
    when = datetime.fromtimestamp(at, zone)
    ref_day = datetime.fromtimestamp(reference, zone).date()
    clock = when.strftime("%H:%M")
    loc = _locale(locale)
    if when.date() == ref_day:
        return clock
    if when.date() == ref_day - timedelta(days=1):
        return f"어제 {clock}" if loc == "ko" else f"yesterday {clock}"
    if loc == "ko":
        return f"{when.month}월 {when.day}일 {clock}"
    return f"{when.day} {_MONTHS_EN[when.month - 1]} {clock}"


def duration(seconds: float, locale: str = "ko") -> str:
    """A plain duration: "6시간 20분" / "6 h 20 min"; days beyond 48 hours."""
    minutes = max(0, int(seconds // 60))
    days, rest = divmod(minutes, 24 * 60) if minutes >= 48 * 60 else (0, minutes)
    hours, mins = divmod(rest, 60)
    ko = _locale(locale) == "ko"
    parts = []
    if days:
        parts.append(f"{days}일" if ko else f"{days} d")
    if hours:
        parts.append(f"{hours}시간" if ko else f"{hours} h")
    if mins or not parts:
        parts.append(f"{mins}분" if ko else f"{mins} min")
    return " ".join(parts)


_PARTLY_BLIND = {
    "ko": "{household} 가구의 플러그 {plugs}개가 {since}부터 응답하지 않고, 나머지 플러그에도 "
    "위험 등급 기준 시간 동안 활동이 없어 안부를 판단할 수 없습니다. 대상자와 플러그를 "
    "확인해 주세요.",
    "en": "Household {household}: {plugs} of its plugs have been down since {since} and the "
    "others have shown no activity for the risk tier's limit; wellbeing cannot be judged. "
    "Please check on the resident and the plug.",
}
"""``monitoring_blind`` with ``details["partly"]``: some plugs down, the others quiet."""


def _describe(alert: Alert, loc: str, tz: str, at: EpochSeconds) -> str:
    since = alert.since if alert.since is not None else alert.raised_at
    details = alert.details
    appliance = str(details.get("appliance", "other"))
    until = details.get("away_until")
    values = {
        "household": alert.household,
        "since": local_time(since, tz, at, loc),
        "duration": duration(at - since, loc),
        "area": str(details.get("area", alert.household)),
        "plugs": str(details.get("plugs", "?")),
        "households": str(details.get("households", "?")),
        "appliance": _APPLIANCE[loc].get(appliance, appliance),
        "until": local_time(float(until), tz, at, loc)
        if isinstance(until, int | float)
        else local_time(since, tz, at, loc),
    }
    if alert.kind is AlertKind.MONITORING_BLIND and details.get("partly"):
        return _PARTLY_BLIND[loc].format(**values)
    return _KIND_TEXT[loc][alert.kind].format(**values)


def _subject(alert: Alert, loc: str, tag: str = "") -> str:
    severity = _SEVERITY[loc][alert.severity]
    title = _KIND_TITLE[loc][alert.kind]
    prefix = f"[careplug {severity}]{tag}"
    return f"{prefix} {alert.household}: {title}"


def render(
    event: MessageEvent,
    alert: Alert,
    locale: str = DEFAULT_LOCALE,
    tz: str = "Asia/Seoul",
    *,
    at: EpochSeconds | None = None,
    level: int | None = None,
    link: str | None = None,
) -> tuple[str, str]:
    """``(subject, text)`` announcing ``event`` about ``alert`` to one recipient.

    ``at`` is the message time (default: the alert's ``raised_at``; pass the reminder or
    escalation time so "how long" is right). ``level`` is the escalation level for ESCALATED;
    ``link`` the one-tap "I'm fine" URL for SELF_CHECK. DIGEST and DAILY_SUMMARY cover many
    alerts: use :func:`render_digest` and :func:`render_daily_summary`.
    """
    loc = _locale(locale)
    ko = loc == "ko"
    now = alert.raised_at if at is None else at
    if event in (MessageEvent.DIGEST, MessageEvent.DAILY_SUMMARY):
        raise ValueError(f"{event} covers many alerts: use render_digest/render_daily_summary")
    body = _describe(alert, loc, tz, now)
    if event is MessageEvent.RAISED or event is MessageEvent.AREA_OUTAGE:
        action = "확인 후 조치해 주세요." if ko else "Please check and act."
        return _subject(alert, loc), f"{body}\n{action}"
    if event is MessageEvent.ESCALATED:
        lvl = level if level is not None else int(str(alert.details.get("level", 1)))
        raised = local_time(alert.raised_at, tz, now, loc)
        if ko:
            tag = f"[상위 보고 {lvl}단계]"
            extra = f"{raised}에 발생한 알림이 아직 확인되지 않아 전달합니다."
        else:
            tag = f"[escalated, level {lvl}]"
            extra = f"Raised at {raised} and not yet acknowledged, so it is passed to you."
        return _subject(alert, loc, tag), f"{body}\n{extra}"
    if event is MessageEvent.REMINDER:
        waited = duration(now - alert.raised_at, loc)
        tag = "[재알림]" if ko else "[reminder]"
        extra = (
            f"알림 발생 후 {waited}이 지났지만 아직 확인되지 않았습니다."
            if ko
            else f"Still not acknowledged {waited} after it was raised."
        )
        return _subject(alert, loc, tag), f"{body}\n{extra}"
    if event is MessageEvent.ACKNOWLEDGED:
        who = alert.acknowledged_by or "?"
        when = local_time(alert.acknowledged_at or now, tz, now, loc)
        tag = "[확인됨]" if ko else "[acknowledged]"
        extra = f"{who} 님이 {when}에 확인했습니다." if ko else f"Acknowledged by {who} at {when}."
        return _subject(alert, loc, tag), f"{body}\n{extra}"
    if event is MessageEvent.RESOLVED:
        when = local_time(alert.resolved_at or now, tz, now, loc)
        outcome = _OUTCOME[loc][alert.outcome] if alert.outcome else "?"
        who = alert.resolved_by or "careplug"
        tag = "[해결]" if ko else "[resolved]"
        extra = (
            f"{when}에 해결되었습니다: {outcome} ({who})."
            if ko
            else f"Resolved at {when}: {outcome} ({who})."
        )
        return _subject(alert, loc, tag), extra
    # SELF_CHECK goes to the resident: no ids, no alarm words, one clear action
    target = link or ""
    if ko:
        text = (
            "안녕하세요. 돌봄 플러그에서 한동안 움직임이 없어 안부를 여쭙습니다. "
            f"괜찮으시면 아래 링크를 눌러 주세요.\n{target}".rstrip()
        )
        return "안부 확인", text
    text = (
        "Hello. Your care plug has seen no activity for a while, so we are checking in. "
        f"If you are fine, please tap this link.\n{target}".rstrip()
    )
    return "Checking in", text


def render_digest(
    alerts: Sequence[Alert], locale: str, tz: str, at: EpochSeconds
) -> tuple[str, str]:
    """One message for many alerts opened at once for one recipient, most severe first."""
    loc = _locale(locale)
    order = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.ATTENTION: 2}
    ranked = sorted(alerts, key=lambda a: (order[a.severity], a.raised_at, a.id))
    critical = sum(1 for a in alerts if a.severity is Severity.CRITICAL)
    if loc == "ko":
        subject = f"[careplug] 새 알림 {len(alerts)}건" + (
            f" (긴급 {critical}건)" if critical else ""
        )
    else:
        subject = f"[careplug] {len(alerts)} new alerts" + (
            f" ({critical} critical)" if critical else ""
        )
    lines = [f"- [{_SEVERITY[loc][a.severity]}] {_describe(a, loc, tz, at)}" for a in ranked]
    return subject, "\n".join(lines)


@dataclass(frozen=True, slots=True)
class DailySummary:
    """What one caseworker's daily summary says: counts and pseudonymous ids only."""

    day: date
    households_ok: int
    open_alerts: tuple[Alert, ...] = ()
    drifting: tuple[HouseholdId, ...] = ()
    """Households whose routine is drifting (later mornings, fewer meals, more night use)."""
    drift_signs: Mapping[HouseholdId, tuple[str, ...]] = field(default_factory=dict)
    """Which signs each drifting household shows (``domain.drift.DriftSign`` values)."""
    false_alarms: Mapping[HouseholdId, FalseAlarmReview] = field(default_factory=dict)
    """Households whose recent alarms kept ending with the resident fine
    (``domain.false_alarms``): their plug, tier or away periods need a review."""
    self_checks: SelfCheckTally = field(default_factory=SelfCheckTally)
    """The resident self-checks of these households over the review window
    (``domain.self_check``): how often residents actually answer."""
    window_days: int = 28
    """The review window, in days (false alarms and self-checks)."""


_DRIFT_SIGN = {
    "ko": {
        "later_mornings": "늦은 기상",
        "fewer_meals": "식사 시간대 사용 감소",
        "more_night_activity": "야간 활동 증가",
    },
    "en": {
        "later_mornings": "later mornings",
        "fewer_meals": "fewer meal-time uses",
        "more_night_activity": "more night activity",
    },
}


def _drifting(summary: DailySummary, loc: str) -> str:
    parts = []
    for household in summary.drifting:
        signs = summary.drift_signs.get(household, ())
        labels = ", ".join(_DRIFT_SIGN[loc].get(s, s) for s in signs)
        parts.append(f"{household} ({labels})" if labels else household)
    return "; ".join(parts) if any(summary.drift_signs.values()) else ", ".join(parts)


def _false_alarms(summary: DailySummary, loc: str) -> str:
    parts = []
    for household, review in sorted(summary.false_alarms.items()):
        if loc == "ko":
            away = f", 부재 {review.away}" if review.away else ""
            parts.append(f"{household} (알림 {review.alarms}건 중 {review.resident_fine}건{away})")
        else:
            away = f", {review.away} away" if review.away else ""
            parts.append(f"{household} ({review.resident_fine} of {review.alarms} alarms{away})")
    return "; ".join(parts)


def _self_checks(tally: SelfCheckTally, days: int, loc: str) -> str:
    rate = tally.answer_rate
    share = "" if rate is None else f" ({rate:.0%})"
    if loc == "ko":
        return (
            f"본인 확인(최근 {days}일): 요청 {tally.asked}건, 응답 {tally.answered}건{share}, "
            f"무응답 {tally.unanswered}건(담당자 통보), 응답 전 사용 재개 {tally.activity}건"
        )
    return (
        f"Resident self-checks (last {days} days): {tally.asked} asked, {tally.answered} "
        f"answered{share}, {tally.unanswered} unanswered (caseworkers told), "
        f"{tally.activity} ended by activity first"
    )


def render_daily_summary(
    summary: DailySummary, locale: str, tz: str, at: EpochSeconds
) -> tuple[str, str]:
    """The daily summary: households OK, open alerts, households whose routine is drifting,
    households whose alarms keep ending with the resident fine."""
    loc = _locale(locale)
    day = summary.day
    n_open = len(summary.open_alerts)
    if loc == "ko":
        subject = (
            f"[careplug] {day.month}월 {day.day}일 요약: "
            f"이상 없음 {summary.households_ok}가구, 열린 알림 {n_open}건"
        )
        lines = [f"이상 없는 가구: {summary.households_ok}", f"열린 알림: {n_open}"]
        lines += [
            f"  - [{_SEVERITY[loc][a.severity]}] {_describe(a, loc, tz, at)}"
            for a in summary.open_alerts
        ]
        if summary.drifting:
            lines.append(
                "생활 패턴 변화(늦은 기상, 식사 감소, 야간 활동 증가 등, 최근 2주): "
                + _drifting(summary, loc)
            )
        if summary.false_alarms:
            lines.append(
                "오경보 반복(최근 알림이 이상 없음으로 끝남): "
                + _false_alarms(summary, loc)
                + " - 플러그 위치(매일 쓰는 가전에 두 번째 플러그), 위험 등급, 부재 등록을 "
                "확인해 주세요"
            )
        if summary.self_checks.asked:
            lines.append(_self_checks(summary.self_checks, summary.window_days, loc))
    else:
        subject = (
            f"[careplug] Summary for {day.isoformat()}: "
            f"{summary.households_ok} OK, {n_open} open alerts"
        )
        lines = [f"Households OK: {summary.households_ok}", f"Open alerts: {n_open}"]
        lines += [
            f"  - [{_SEVERITY[loc][a.severity]}] {_describe(a, loc, tz, at)}"
            for a in summary.open_alerts
        ]
        if summary.drifting:
            lines.append(
                "Routine drifting (later mornings, fewer meals, more night activity, "
                "last 2 weeks): " + _drifting(summary, loc)
            )
        if summary.false_alarms:
            lines.append(
                "Repeated false alarms (recent alarms that ended with the resident fine): "
                + _false_alarms(summary, loc)
                + " - please review the plug's placement (a second plug on a daily "
                "appliance), the risk tier and away periods"
            )
        if summary.self_checks.asked:
            lines.append(_self_checks(summary.self_checks, summary.window_days, loc))
    return subject, "\n".join(lines)
