"""Korean (default) and English texts of the console; a missing key shows itself."""

from __future__ import annotations

LOCALES = ("ko", "en")
DEFAULT_LOCALE = "ko"

_TEXTS: dict[str, tuple[str, str]] = {
    # key: (ko, en)
    "title": ("스마트 돌봄 플러그 콘솔", "careplug console"),
    "login": ("로그인", "Log in"),
    "logout": ("로그아웃", "Log out"),
    "username": ("아이디", "Username"),
    "password": ("비밀번호", "Password"),
    "login_failed": ("아이디 또는 비밀번호가 올바르지 않습니다.", "Wrong username or password."),
    "session_expired": (
        "세션이 만료되었습니다. 다시 로그인하세요.",
        "Session expired: log in again.",
    ),
    "households": ("담당 가구", "Households"),
    "dead_letters": ("전달 실패", "Dead letters"),
    "no_dead_letters": ("전달 실패한 알림이 없습니다.", "No dead letters."),
    "channel": ("채널", "Channel"),
    "recipient": ("수신자", "Recipient"),
    "key": ("키", "Key"),
    "attempts": ("시도", "Attempts"),
    "last_error": ("마지막 오류", "Last error"),
    "all_households": ("전체 가구", "All households"),
    "household": ("가구", "Household"),
    "status": ("상태", "Status"),
    "last_activity": ("마지막 활동", "Last activity"),
    "never": ("없음", "never"),
    "strip_24h": ("최근 24시간", "Last 24 hours"),
    "strip_7d": ("최근 7일", "Last 7 days"),
    "open_alerts": ("미해결 알림", "Open alerts"),
    "no_open_alerts": ("미해결 알림이 없습니다.", "No open alerts."),
    "false_alarms": ("오경보 반복", "Repeated false alarms"),
    "false_alarms_of": (
        "최근 알림 중 이상 없음으로 끝난 알림",
        "recent alarms ended with the resident fine",
    ),
    "false_alarms_away": ("부재", "away"),
    "false_alarms_advice": (
        "플러그 위치(매일 쓰는 가전에 두 번째 플러그), 위험 등급, 부재 등록을 확인해 주세요.",
        "Please review the plug's placement (a second plug on a daily appliance), the risk "
        "tier and away periods.",
    ),
    "no_households": ("담당 가구가 없습니다.", "No households assigned to you."),
    "alert": ("알림", "Alert"),
    "kind": ("종류", "Kind"),
    "severity": ("심각도", "Severity"),
    "state": ("처리 상태", "State"),
    "raised_at": ("발생 시각", "Raised"),
    "observed": ("관측 내용", "What was observed"),
    "acknowledge": ("확인", "Acknowledge"),
    "resolve": ("종결", "Resolve"),
    "outcome": ("결과", "Outcome"),
    "note": ("메모", "Note"),
    "away": ("부재", "Away"),
    "away_periods": ("부재 기간", "Away periods"),
    "set_away": ("부재 등록", "Set away"),
    "end_away": ("부재 종료", "End away"),
    "away_start": ("시작 (비우면 지금)", "Start (empty: now)"),
    "away_end": ("종료 예정 (비우면 미정)", "Planned end (empty: open)"),
    "away_none": ("등록된 부재 기간이 없습니다.", "No away periods."),
    "until_ended": ("종료 시까지", "until ended"),
    "ended": ("종료됨", "ended"),
    "audit": ("처리 이력", "Audit trail"),
    "no_audit": ("이력이 없습니다.", "No history yet."),
    "at": ("시각", "Time"),
    "actor": ("처리자", "By"),
    "action": ("조치", "Action"),
    "users": ("사용자 관리", "Users"),
    "role": ("역할", "Role"),
    "active": ("사용", "Active"),
    "add_user": ("사용자 추가", "Add user"),
    "display_name": ("이름", "Name"),
    "new_password": ("새 비밀번호", "New password"),
    "change_password": ("비밀번호 변경", "Change password"),
    "deactivate": ("사용 중지", "Deactivate"),
    "activate": ("사용 재개", "Activate"),
    "caseworker": ("담당 복지사", "Caseworker"),
    "admin": ("관리자", "Admin"),
    "caseworkers": ("담당자", "Caseworkers"),
    "area": ("지역", "Area"),
    "tier": ("위험 등급", "Risk tier"),
    "plugs": ("플러그", "Plugs"),
    "back": ("목록으로", "Back to list"),
    "done": ("처리되었습니다.", "Done."),
    "error": ("처리할 수 없습니다", "Could not do that"),
    "language": ("English", "한국어"),
    "status.ok": ("정상", "OK"),
    "status.attention": ("관심", "Attention"),
    "status.warning": ("주의", "Warning"),
    "status.critical": ("위험", "Critical"),
    "status.offline": ("오프라인", "Offline"),
    "status.away": ("부재", "Away"),
    "status.unknown": ("알 수 없음", "Unknown"),
    "state.open": ("미확인", "open"),
    "state.acknowledged": ("확인됨", "acknowledged"),
    "state.resolved": ("종결", "resolved"),
    "severity.attention": ("관심", "attention"),
    "severity.warning": ("주의", "warning"),
    "severity.critical": ("위험", "critical"),
    "kind.inactivity": ("장시간 미사용", "inactivity"),
    "kind.device_offline": ("기기 오프라인", "device offline"),
    "kind.unplugged": ("플러그 분리", "unplugged"),
    "kind.never_reported": ("신호 없음", "never reported"),
    "kind.area_outage": ("지역 정전", "area outage"),
    "kind.appliance_left_on": ("가전 켜짐 지속", "appliance left on"),
    "kind.not_back_from_away": ("부재 후 미복귀", "not back from away"),
    "kind.monitoring_blind": ("모니터링 불가", "monitoring blind"),
    "outcome.resident_ok": ("본인 안전 확인", "resident OK"),
    "outcome.visited_ok": ("방문 확인", "visited, OK"),
    "outcome.hospital": ("입원", "hospital"),
    "outcome.emergency_services": ("119 출동", "emergency services"),
    "outcome.away": ("부재 중", "away"),
    "outcome.device_fault": ("기기 고장", "device fault"),
    "outcome.false_alarm": ("오경보", "false alarm"),
    "outcome.deceased": ("사망", "deceased"),
    "outcome.other": ("기타", "other"),
    "outcome.activity_resumed": ("활동 재개", "activity resumed"),
    "outcome.device_back_online": ("기기 복구", "device back online"),
    "outcome.condition_cleared": ("상황 해소", "condition cleared"),
    "action.raised": ("발생", "raised"),
    "action.acknowledged": ("확인", "acknowledged"),
    "action.resolved": ("종결", "resolved"),
    "action.away_set": ("부재 등록", "away set"),
    "action.away_ended": ("부재 종료", "away ended"),
    "action.escalated_warning": ("주의로 상향", "escalated to warning"),
    "action.escalated_critical": ("위험으로 상향", "escalated to critical"),
}


def pick_locale(*candidates: str | None) -> str:
    """The first supported locale among the candidates, else Korean."""
    for candidate in candidates:
        if candidate:
            code = candidate.strip().lower()[:2]
            if code in LOCALES:
                return code
    return DEFAULT_LOCALE


def translate(locale: str, key: str) -> str:
    """The text for ``key`` in ``locale``; an unknown ``group.value`` key (a new alert kind or
    audit action) shows its value, any other unknown key itself."""
    pair = _TEXTS.get(key)
    if pair is None:
        return key.partition(".")[2] or key
    return pair[0] if locale == "ko" else pair[1]
