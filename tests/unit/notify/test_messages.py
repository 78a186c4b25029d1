"""Message templates: every kind and event in ko and en, times in the recipient's zone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from careplug.domain.false_alarms import FalseAlarmReview
from careplug.domain.messages import (
    DailySummary,
    MessageEvent,
    duration,
    local_time,
    render,
    render_daily_summary,
    render_digest,
)
from careplug.domain.model import (
    Alert,
    AlertId,
    AlertKind,
    AlertState,
    HouseholdId,
    Outcome,
    Severity,
)
from careplug.domain.self_check import SelfCheckTally


def ts(text: str) -> float:
    return datetime.fromisoformat(text).astimezone(UTC).timestamp()


# 07:40 and 14:00 in Seoul (UTC+9)
SINCE = ts("2024-03-05T07:40:00+09:00")
RAISED = ts("2024-03-05T14:00:00+09:00")


def alert(kind: AlertKind = AlertKind.INACTIVITY, **changes: object) -> Alert:
    base = Alert(
        id=AlertId("a-1"),
        household=HouseholdId("hh-0001"),
        kind=kind,
        severity=Severity.CRITICAL,
        state=AlertState.OPEN,
        raised_at=RAISED,
        message="",
        since=SINCE,
        details={
            "area": "yeoksam-1",
            "plugs": 12,
            "households": 9,
            "appliance": "heater",
            "away_until": ts("2024-03-05T10:00:00+09:00"),
        },
    )
    return replace(base, **changes)  # type: ignore[arg-type]


SINGLE_EVENTS = [
    e for e in MessageEvent if e not in (MessageEvent.DIGEST, MessageEvent.DAILY_SUMMARY)
]


@pytest.mark.parametrize("locale", ["ko", "en"])
@pytest.mark.parametrize("kind", list(AlertKind))
@pytest.mark.parametrize("event", SINGLE_EVENTS)
def test_every_kind_and_event_renders(locale: str, kind: AlertKind, event: MessageEvent) -> None:
    """No combination raises, leaves a placeholder, or comes out empty; ko is Korean."""
    resolved = alert(
        kind,
        acknowledged_by="cw-kim",
        acknowledged_at=RAISED + 600,
        resolved_at=RAISED + 3600,
        resolved_by="cw-kim",
        outcome=Outcome.VISITED_OK,
    )
    subject, text = render(
        event,
        resolved,
        locale,
        "Asia/Seoul",
        at=RAISED + 1800,
        level=1,
        link="https://care.example/ok/t0k",
    )
    assert subject and text
    assert "{" not in subject + text and "}" not in subject + text
    hangul = any("\uac00" <= ch <= "\ud7a3" for ch in subject + text)
    assert hangul is (locale == "ko")


def test_inactivity_korean_plain_words() -> None:
    """The caseworker reads when activity stopped, in local time, and for how long."""
    subject, text = render(MessageEvent.RAISED, alert(), "ko", "Asia/Seoul")
    assert subject == "[careplug 긴급] hh-0001: 활동 없음"
    assert "07:40 이후 활동이 없습니다 (6시간 20분째)" in text


def test_inactivity_english_in_recipient_time_zone() -> None:
    """An English-speaking recipient in Berlin sees Berlin time (07:40 KST = 23:40 CET the
    previous evening, the message at 06:00)."""
    subject, text = render(MessageEvent.RAISED, alert(), "en", "Europe/Berlin")
    assert subject == "[careplug Critical] hh-0001: no activity"
    assert "no activity since yesterday 23:40 (6 h 20 min)" in text


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("ko", "플러그 1개가 07:40부터 응답하지 않고"),
        ("en", "1 of its plugs have been down since 07:40"),
    ],
)
def test_partly_blind_monitoring_says_which_plugs_and_not_every_plug(
    locale: str, words: str
) -> None:
    """``monitoring_blind`` of a household partly blind: some plugs down, the others quiet."""
    partly = alert(
        AlertKind.MONITORING_BLIND,
        severity=Severity.WARNING,
        details={"partly": True, "plugs": 1, "down": ["lamp-1"]},
    )
    _, text = render(MessageEvent.RAISED, partly, locale, "Asia/Seoul")
    assert words in text
    _, whole = render(MessageEvent.RAISED, alert(AlertKind.MONITORING_BLIND), locale, "Asia/Seoul")
    assert words not in whole


def test_since_yesterday_and_older_dates() -> None:
    """Times on earlier days say so."""
    at = ts("2024-03-06T09:00:00+09:00")
    assert local_time(SINCE, "Asia/Seoul", at, "ko") == "어제 07:40"
    assert local_time(SINCE, "Asia/Seoul", at, "en") == "yesterday 07:40"
    later = ts("2024-03-09T09:00:00+09:00")
    assert local_time(SINCE, "Asia/Seoul", later, "ko") == "3월 5일 07:40"
    assert local_time(SINCE, "Asia/Seoul", later, "en") == "5 Mar 07:40"


def test_duration_words() -> None:
    assert duration(0, "ko") == "0분"
    assert duration(3 * 3600, "en") == "3 h"
    assert duration(50 * 3600 + 60, "ko") == "2일 2시간 1분"


def test_reminder_and_escalation_say_how_long_unacknowledged() -> None:
    """Reminders count from raised_at to the reminder time; escalations name the level."""
    _, text = render(MessageEvent.REMINDER, alert(), "ko", "Asia/Seoul", at=RAISED + 5400)
    assert "1시간 30분이 지났지만 아직 확인되지 않았습니다" in text
    subject, text = render(
        MessageEvent.ESCALATED, alert(), "en", "Asia/Seoul", level=2, at=RAISED + 3600
    )
    assert "[escalated, level 2]" in subject
    assert "Raised at 14:00 and not yet acknowledged" in text


def test_resolved_names_outcome() -> None:
    a = alert(resolved_at=RAISED + 3600, resolved_by="cw-kim", outcome=Outcome.HOSPITAL)
    assert "병원 이송/입원" in render(MessageEvent.RESOLVED, a, "ko", "Asia/Seoul")[1]
    assert "taken to hospital" in render(MessageEvent.RESOLVED, a, "en", "Asia/Seoul")[1]


def test_area_outage_is_one_message_about_the_area() -> None:
    a = alert(AlertKind.AREA_OUTAGE, household=HouseholdId("area:yeoksam-1"))
    _, text = render(MessageEvent.AREA_OUTAGE, a, "ko", "Asia/Seoul")
    assert "yeoksam-1 지역에서 07:40부터 12개 플러그(9가구)가 동시에" in text


def test_self_check_has_link_and_no_ids() -> None:
    """The resident's message carries the link and no household or alert id."""
    subject, text = render(
        MessageEvent.SELF_CHECK, alert(), "ko", "Asia/Seoul", link="https://care.example/ok/t0k"
    )
    assert text.endswith("https://care.example/ok/t0k")
    assert "hh-0001" not in subject + text and "a-1" not in text


def test_unknown_locale_falls_back_to_korean_and_regional_tags_work() -> None:
    ko = render(MessageEvent.RAISED, alert(), "ko", "Asia/Seoul")
    assert render(MessageEvent.RAISED, alert(), "fr", "Asia/Seoul") == ko
    assert render(MessageEvent.RAISED, alert(), "en-US", "Asia/Seoul")[0].startswith(
        "[careplug Critical]"
    )


def test_digest_lists_most_severe_first() -> None:
    alerts = [
        alert(id=AlertId("a-2"), severity=Severity.WARNING, household=HouseholdId("hh-2")),
        alert(id=AlertId("a-1")),
    ]
    subject, text = render_digest(alerts, "ko", "Asia/Seoul", RAISED)
    assert subject == "[careplug] 새 알림 2건 (긴급 1건)"
    first, second = text.splitlines()
    assert first.startswith("- [긴급] hh-0001") and second.startswith("- [경고] hh-2")
    assert render_digest(alerts, "en", "Asia/Seoul", RAISED)[0] == (
        "[careplug] 2 new alerts (1 critical)"
    )


def test_digest_events_refuse_single_render() -> None:
    with pytest.raises(ValueError, match="render_digest"):
        render(MessageEvent.DIGEST, alert(), "ko", "Asia/Seoul")


@pytest.mark.parametrize("locale", ["ko", "en"])
def test_daily_summary(locale: str) -> None:
    summary = DailySummary(
        day=date(2024, 3, 5),
        households_ok=14,
        open_alerts=(alert(),),
        drifting=(HouseholdId("hh-0007"),),
    )
    subject, text = render_daily_summary(summary, locale, "Asia/Seoul", RAISED)
    assert "14" in subject and "1" in subject
    assert "hh-0007" in text and "hh-0001" in text


def test_daily_summary_names_the_drift_signs_in_each_language() -> None:
    summary = DailySummary(
        day=date(2024, 3, 5),
        households_ok=3,
        drifting=(HouseholdId("hh-0007"), HouseholdId("hh-0009")),
        drift_signs={
            HouseholdId("hh-0007"): ("later_mornings", "more_night_activity"),
            HouseholdId("hh-0009"): ("fewer_meals",),
        },
    )
    _, ko = render_daily_summary(summary, "ko", "Asia/Seoul", RAISED)
    assert "hh-0007 (늦은 기상, 야간 활동 증가); hh-0009 (식사 시간대 사용 감소)" in ko
    _, en = render_daily_summary(summary, "en", "Asia/Seoul", RAISED)
    assert "hh-0007 (later mornings, more night activity); hh-0009 (fewer meal-time uses)" in en


def test_daily_summary_lists_homes_whose_alarms_keep_ending_with_the_resident_fine() -> None:
    summary = DailySummary(
        day=date(2024, 3, 5),
        households_ok=3,
        false_alarms={
            HouseholdId("hh-0009"): FalseAlarmReview(4, 3, 0, True),
            HouseholdId("hh-0002"): FalseAlarmReview(3, 3, 1, True),
        },
    )
    _, ko = render_daily_summary(summary, "ko", "Asia/Seoul", RAISED)
    assert "오경보 반복" in ko
    assert "hh-0002 (알림 3건 중 3건, 부재 1); hh-0009 (알림 4건 중 3건)" in ko
    assert "두 번째 플러그" in ko
    _, en = render_daily_summary(summary, "en", "Asia/Seoul", RAISED)
    assert "hh-0002 (3 of 3 alarms, 1 away); hh-0009 (3 of 4 alarms)" in en
    assert "second plug" in en
    _, quiet = render_daily_summary(DailySummary(date(2024, 3, 5), 3), "en", "UTC", RAISED)
    assert "false alarms" not in quiet


def test_daily_summary_reports_how_often_residents_answered_a_self_check() -> None:
    summary = DailySummary(
        day=date(2024, 3, 5), households_ok=3, self_checks=SelfCheckTally(12, 9, 2, 1)
    )
    _, ko = render_daily_summary(summary, "ko", "Asia/Seoul", RAISED)
    assert (
        "본인 확인(최근 28일): 요청 12건, 응답 9건 (82%), 무응답 2건(담당자 통보), "
        "응답 전 사용 재개 1건"
    ) in ko
    _, en = render_daily_summary(summary, "en", "Asia/Seoul", RAISED)
    assert (
        "Resident self-checks (last 28 days): 12 asked, 9 answered (82%), 2 unanswered "
        "(caseworkers told), 1 ended by activity first"
    ) in en
    waiting = DailySummary(date(2024, 3, 5), 3, self_checks=SelfCheckTally(1))
    _, en = render_daily_summary(waiting, "en", "UTC", RAISED)
    assert "1 asked, 0 answered, 0 unanswered" in en  # no rate before an ask has ended
    _, quiet = render_daily_summary(DailySummary(date(2024, 3, 5), 3), "en", "UTC", RAISED)
    assert "self-check" not in quiet
