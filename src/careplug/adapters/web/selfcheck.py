"""The resident's one-tap "I'm fine" link: ``GET /fine/<token>`` shows a confirm button,
``POST /fine/<token>`` resolves the alert with outcome ``resident_ok`` as actor ``resident``.

No login: the token (HMAC of the alert id, see ``domain.routing.self_check_token``) is the
credential. GET never changes anything, so link previews in messaging apps cannot confirm.
"""

# no `from __future__ import annotations`: FastAPI reads the route annotations at runtime

from collections.abc import Callable, Sequence
from html import escape

import structlog
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from careplug.adapters.store_sqlite import SqliteStore
from careplug.clock import Clock
from careplug.domain import alerts as alert_rules
from careplug.domain.model import Alert, AlertState, AuditEntry, Outcome
from careplug.domain.routing import check_self_check_token
from careplug.domain.self_check import RESIDENT_ACTOR
from careplug.errors import IllegalTransition
from careplug.ports import Notification

log = structlog.get_logger("careplug.web.selfcheck")


NotificationsFor = Callable[[Alert, AuditEntry], Sequence[Notification]]


def alert_for_token(store: SqliteStore, secret: str, token: str) -> Alert | None:
    """The open or acknowledged alert whose link token is ``token``, or None."""
    if not token or len(token) > 64:
        return None
    for alert in store.list_alerts(open_only=True):
        if alert.state is not AlertState.RESOLVED and check_self_check_token(
            secret, alert.id, token
        ):
            return alert
    return None


def confirm_fine(
    store: SqliteStore,
    secret: str,
    token: str,
    now: float,
    notifications: NotificationsFor,
    origin: str = "console",
) -> Alert | None:
    """Resolve the alert of ``token`` with ``resident_ok`` (audited, with its notifications,
    origin ``origin`` so the daemon follows). None when the token matches no unresolved alert
    (unknown, or already resolved)."""
    alert = alert_for_token(store, secret, token)
    if alert is None:
        return None
    new, audit = alert_rules.resolve(
        alert, RESIDENT_ACTOR, now, Outcome.RESIDENT_OK, "resident confirmed via self-check link"
    )
    try:
        store.record_transition(
            new, audit, alert.state, notifications(new, audit), now, origin=origin
        )
    except IllegalTransition:
        return None  # resolved meanwhile by someone else
    log.info("self_check_confirmed", alert_id=new.id, household_id=new.household)
    return new


_PAGE = """<!doctype html>
<html lang="ko"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>careplug</title><link rel="stylesheet" href="/console.css"></head>
<body><main><section class="card">{body}</section></main></body></html>"""

_ASK = """<h1>안부 확인 · Checking in</h1>
<p>괜찮으시면 아래 버튼을 눌러 주세요.<br>If you are fine, please press the button.</p>
<form method="post" action="/fine/{token}">
<button type="submit" style="font-size:1.5em;padding:.6em 1.2em">괜찮아요 · I'm fine</button>
</form>"""

_THANKS = """<h1>감사합니다 · Thank you</h1>
<p>확인되었습니다. 좋은 하루 보내세요.<br>Confirmed. Have a good day.</p>"""

_GONE = """<h1>확인이 필요 없습니다 · Nothing to confirm</h1>
<p>이 링크는 더 이상 유효하지 않습니다.<br>This link is no longer valid.</p>"""


def add_self_check_routes(
    app: FastAPI,
    store: SqliteStore,
    clock: Clock,
    secret: str,
    notifications: NotificationsFor,
    origin: str = "console",
) -> None:
    """Serve ``/fine/{token}`` (public, no login) on ``app``."""

    @app.get("/fine/{token}", include_in_schema=False)
    def fine_page(token: str) -> HTMLResponse:
        alert = alert_for_token(store, secret, token)
        if alert is None:
            return HTMLResponse(_PAGE.format(body=_GONE), status_code=404)
        return HTMLResponse(_PAGE.format(body=_ASK.format(token=escape(token))))

    @app.post("/fine/{token}", include_in_schema=False)
    def fine_confirm(token: str) -> HTMLResponse:
        alert = confirm_fine(store, secret, token, clock.now(), notifications, origin)
        if alert is None:
            return HTMLResponse(_PAGE.format(body=_GONE), status_code=404)
        return HTMLResponse(_PAGE.format(body=_THANKS))
