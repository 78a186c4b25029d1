"""The console's ASGI app: server-rendered pages and a JSON API with an OpenAPI description.

Authentication is a session token, as an HttpOnly cookie (pages) or a bearer token (API
clients). Every state-changing request made with the cookie must carry the session's CSRF
token (a form field, or the ``X-CSRF-Token`` header); bearer requests are not ambient, so they
need none. The login form uses a double-submit cookie against login CSRF.
"""

# no `from __future__ import annotations`: FastAPI reads these route annotations at runtime
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import structlog
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from careplug.adapters.store_sqlite import AwayPeriod, ConsoleSession, ConsoleUser, SqliteStore
from careplug.adapters.web import auth
from careplug.adapters.web import schemas as s
from careplug.adapters.web.i18n import pick_locale, translate
from careplug.adapters.web.selfcheck import add_self_check_routes
from careplug.adapters.web.service import (
    ConsoleService,
    HistoryEntry,
    HouseholdSource,
    HouseholdView,
    NotFound,
    NotificationsFor,
)
from careplug.adapters.web.views import StripCell
from careplug.clock import Clock, iso
from careplug.domain.false_alarms import FalseAlarmConfig
from careplug.domain.model import CASEWORKER_OUTCOMES, Alert, Outcome
from careplug.errors import CareplugError, IllegalTransition, StoreError

log = structlog.get_logger("careplug.console")

SESSION_COOKIE = "careplug_session"
LOGIN_CSRF_COOKIE = "careplug_login_csrf"
LANG_COOKIE = "careplug_lang"
_TEMPLATES = Path(__file__).with_name("templates")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """How the console behaves; durations in seconds."""

    session_ttl_s: float = 8 * 3600.0
    """A session ends this long after login (a shift), whatever happens."""
    secure_cookies: bool = False
    """Mark cookies Secure: set it when the console is served over HTTPS (a reverse proxy)."""
    origin: str = "console"
    """The audit origin of the console's actions (the daemon follows other origins)."""
    login_attempts: int = 5
    """Failed logins of one username within ``login_lockout_s`` before it is locked."""
    login_lockout_s: float = 900.0
    """How long a username stays locked after too many failures."""
    self_check_secret: str | None = None
    """HMAC secret of the residents' one-tap links; None: ``/fine/…`` is not served."""
    false_alarms: FalseAlarmConfig = field(default_factory=FalseAlarmConfig)
    """When a household's page asks for a review of its set-up (as the daily summary does)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The logged-in user of a request and how they authenticated."""

    user: ConsoleUser
    session: ConsoleSession
    via_cookie: bool


class _LoginRequired(Exception):
    """A page needs a login (redirect), with the reason to show."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


def _no_notifications(alert: Alert, audit: Any) -> Sequence[Any]:
    return ()


def _service(request: Request) -> ConsoleService:
    service: ConsoleService = request.app.state.console
    return service


def _settings(request: Request) -> ConsoleSettings:
    settings: ConsoleSettings = request.app.state.console_settings
    return settings


def _authenticate(request: Request) -> Principal | None:
    """The principal of a request, or None (no, bad or expired token, inactive user)."""
    header = request.headers.get("authorization", "")
    via_cookie = False
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    else:
        token = request.cookies.get(SESSION_COOKIE, "")
        via_cookie = True
    if not token:
        return None
    service = _service(request)
    session = service.store.get_session(auth.token_hash(token), service.clock.now())
    if session is None:
        return None
    user = service.store.get_user(session.username)
    if user is None or not user.active:
        return None
    return Principal(user, session, via_cookie)


def api_principal(request: Request) -> Principal:
    """The API's authentication (401 without a valid session) and CSRF check for cookies."""
    principal = _authenticate(request)
    if principal is None:
        raise HTTPException(401, "login required", headers={"WWW-Authenticate": "Bearer"})
    if (
        principal.via_cookie
        and request.method not in _SAFE_METHODS
        and not auth.same(request.headers.get("x-csrf-token"), principal.session.csrf)
    ):
        raise HTTPException(403, "missing or wrong X-CSRF-Token")
    return principal


def api_admin(principal: Annotated[Principal, Depends(api_principal)]) -> Principal:
    """Only admins."""
    if principal.user.role != "admin":
        raise HTTPException(403, "admins only")
    return principal


def page_principal(request: Request) -> Principal:
    """The pages' authentication: a redirect to the login page without a valid session."""
    principal = _authenticate(request)
    if principal is None:
        reason = "session_expired" if request.cookies.get(SESSION_COOKIE) else ""
        raise _LoginRequired(reason)
    return principal


async def checked_form(
    request: Request, principal: Annotated[Principal, Depends(page_principal)]
) -> dict[str, str]:
    """The posted form of a logged-in user, after checking its CSRF token."""
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    if not auth.same(data.get("csrf"), principal.session.csrf):
        log.warning("console_csrf_rejected", path=request.url.path, actor=principal.user.username)
        raise HTTPException(403, "CSRF token missing or wrong")
    return data


ApiUser = Annotated[Principal, Depends(api_principal)]
ApiAdmin = Annotated[Principal, Depends(api_admin)]
PageUser = Annotated[Principal, Depends(page_principal)]
CheckedForm = Annotated[dict[str, str], Depends(checked_form)]


# -- conversions -------------------------------------------------------------------------------


def _alert_out(alert: Alert) -> s.AlertOut:
    return s.AlertOut(
        id=alert.id,
        household=alert.household,
        kind=alert.kind.value,
        severity=alert.severity.value,
        state=alert.state.value,
        message=alert.message,
        since=iso(alert.since),
        raised_at=iso(alert.raised_at) or "",
        acknowledged_at=iso(alert.acknowledged_at),
        acknowledged_by=alert.acknowledged_by,
        resolved_at=iso(alert.resolved_at),
        resolved_by=alert.resolved_by,
        outcome=alert.outcome.value if alert.outcome else None,
        details=dict(alert.details),
    )


def _history_out(e: HistoryEntry) -> s.AuditOut:
    return s.AuditOut(
        at=iso(e.at) or "",
        actor=e.actor,
        action=e.action,
        state=e.state,
        note=e.note,
        outcome=e.outcome,
        alert_id=e.alert_id,
        away_id=e.away_id,
    )


def _away_out(p: AwayPeriod, now: float) -> s.AwayOut:
    return s.AwayOut(
        id=p.id,
        household=p.household,
        start_at=iso(p.start_at) or "",
        end_at=iso(p.end_at),
        ended_at=iso(p.ended_at),
        note=p.note,
        created_by=p.created_by,
        active=p.active_at(now),
    )


def _cells(cells: list[StripCell]) -> list[s.StripCellOut]:
    return [
        s.StripCellOut(start=iso(c.start) or "", width_s=c.width_s, count=c.count) for c in cells
    ]


def _household_out(v: HouseholdView) -> s.HouseholdOut:
    h = v.household
    return s.HouseholdOut(
        id=h.id,
        area=h.area,
        tier=h.tier.value,
        caseworkers=list(h.caseworkers),
        status=v.status.value,
        last_activity_at=iso(v.last_activity_at),
        open_alerts=len(v.open_alerts),
        away=v.away,
    )


def _user_out(u: ConsoleUser) -> s.UserOut:
    return s.UserOut(
        username=u.username,
        role=u.role,
        display_name=u.display_name,
        locale=u.locale,
        active=u.active,
    )


def _epoch(value: datetime | None, tz: str) -> float | None:
    """Epoch seconds; a time without offset is in the household's time zone."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return value.timestamp()


# -- the app -----------------------------------------------------------------------------------


def create_app(
    store: SqliteStore,
    households: HouseholdSource,
    clock: Clock,
    *,
    notifications: NotificationsFor = _no_notifications,
    settings: ConsoleSettings | None = None,
) -> FastAPI:
    """The console as an ASGI app over ``store`` and the registry, reading time from ``clock``.

    ``notifications`` turns an alert transition into the notifications to store with it (pass
    the daemon's fan-out, e.g. ``lambda a, e: notifications_for(a, e, fanout_config(s))``).
    Serve it with :func:`careplug.adapters.web.server.serve_in_thread` or any ASGI server.
    """
    config = settings or ConsoleSettings()
    service = ConsoleService(
        store, households, clock, notifications, config.origin, config.false_alarms
    )
    app = FastAPI(
        title="careplug console API",
        version="1",
        description="Caseworker console: households in your care, their alerts, away periods.",
        # Swagger UI would load scripts from a CDN: not on a welfare office network
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.console = service
    if config.self_check_secret:
        add_self_check_routes(
            app, store, clock, config.self_check_secret, notifications, config.origin
        )
    app.state.console_settings = config
    env = Environment(
        loader=FileSystemLoader(str(_TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )

    @app.middleware("http")
    async def _security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.url.path != "/openapi.json":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(_LoginRequired)
    async def _to_login(request: Request, exc: _LoginRequired) -> Response:
        target = "/login" + (f"?reason={exc.reason}" if exc.reason else "")
        response = RedirectResponse(target, status_code=303)
        if exc.reason:
            response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            httponly=True,
            samesite="lax",
            secure=config.secure_cookies,
        )

    # -- pages -----------------------------------------------------------------------------

    def locale_of(request: Request, user: ConsoleUser | None = None) -> str:
        return pick_locale(request.cookies.get(LANG_COOKIE), user.locale if user else None)

    def render(
        request: Request,
        name: str,
        principal: Principal | None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        locale = locale_of(request, principal.user if principal else None)
        now = clock.now()

        def when(at: float | None, tz: str = "Asia/Seoul") -> str:
            if at is None:
                return translate(locale, "never")
            return datetime.fromtimestamp(at, ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")

        def ago(at: float | None) -> str:
            if at is None:
                return ""
            minutes = max(0, int((now - at) // 60))
            hours, minutes = divmod(minutes, 60)
            days, hours = divmod(hours, 24)
            if locale == "ko":
                text = f"{days}일 {hours}시간" if days else f"{hours}시간 {minutes}분"
                return text + " 전"
            text = f"{days} d {hours} h" if days else f"{hours} h {minutes} min"
            return text + " ago"

        template = env.get_template(name)
        body = template.render(
            t=lambda key: translate(locale, key),
            locale=locale,
            other_locale="en" if locale == "ko" else "ko",
            user=principal.user if principal else None,
            csrf=principal.session.csrf if principal else "",
            when=when,
            ago=ago,
            path=request.url.path,
            outcomes=[o.value for o in Outcome if o in CASEWORKER_OUTCOMES],
            **context,
        )
        return HTMLResponse(body, status_code=status_code)

    def back(path: str, *, error: str | None = None) -> RedirectResponse:
        suffix = f"?error={quote(error)}" if error else "?ok=1"
        return RedirectResponse(path + suffix, status_code=303)

    @app.get("/console.css", include_in_schema=False)
    def css() -> Response:
        return Response((_TEMPLATES / "console.css").read_text("utf-8"), media_type="text/css")

    @app.get("/login", include_in_schema=False)
    def login_page(request: Request, reason: str = "") -> HTMLResponse:
        token = auth.new_token()
        response = render(
            request, "login.html", None, login_csrf=token, reason=reason, failed=False
        )
        set_cookie(response, LOGIN_CSRF_COOKIE, token, 3600)
        return response

    @app.post("/login", include_in_schema=False)
    async def login_submit(request: Request) -> Response:
        form = await request.form()
        data = {k: v for k, v in form.items() if isinstance(v, str)}
        if not auth.same(data.get("csrf"), request.cookies.get(LOGIN_CSRF_COOKIE)):
            raise HTTPException(403, "CSRF token missing or wrong")
        token = login(data.get("username", ""), data.get("password", ""))
        if token is None:
            retry = auth.new_token()
            page = render(
                request,
                "login.html",
                None,
                status_code=401,
                login_csrf=retry,
                reason="",
                failed=True,
            )
            set_cookie(page, LOGIN_CSRF_COOKIE, retry, 3600)
            return page
        response = RedirectResponse("/", status_code=303)
        set_cookie(response, SESSION_COOKIE, token[0], int(config.session_ttl_s))
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
        return response

    @app.post("/logout", include_in_schema=False)
    def logout(principal: PageUser, form: CheckedForm) -> Response:
        store.delete_session(principal.session.token_hash)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/lang/{code}", include_in_schema=False)
    def set_language(code: str, next: str = "/") -> Response:
        target = next if next.startswith("/") and not next.startswith("//") else "/"
        response = RedirectResponse(target, status_code=303)
        set_cookie(response, LANG_COOKIE, pick_locale(code), 365 * 86400)
        return response

    @app.get("/", include_in_schema=False)
    def households_page(request: Request, principal: PageUser) -> HTMLResponse:
        views = service.overview(principal.user)
        return render(request, "households.html", principal, views=views)

    @app.get("/households/{household}", include_in_schema=False)
    def household_page(
        request: Request,
        household: str,
        principal: PageUser,
        ok: str = "",
        error: str = "",
    ) -> HTMLResponse:
        try:
            view = service.detail(principal.user, household)
        except NotFound:
            return render(request, "missing.html", principal, status_code=404)
        return render(
            request,
            "household.html",
            principal,
            v=view,
            tz=view.household.timezone,
            now=clock.now(),
            ok=bool(ok),
            error=error,
        )

    def act(path: str, action: Any) -> Response:
        try:
            action()
        except NotFound:
            raise HTTPException(404, "not found") from None
        except (IllegalTransition, StoreError) as exc:
            return back(path, error=str(exc))
        return back(path)

    @app.post("/alerts/{alert_id}/acknowledge", include_in_schema=False)
    def ack_form(alert_id: str, principal: PageUser, form: CheckedForm) -> Response:
        alert = alert_for_page(principal, alert_id)
        return act(
            f"/households/{quote(alert.household)}",
            lambda: service.acknowledge(principal.user, alert_id, form.get("note")),
        )

    @app.post("/alerts/{alert_id}/resolve", include_in_schema=False)
    def resolve_form(alert_id: str, principal: PageUser, form: CheckedForm) -> Response:
        alert = alert_for_page(principal, alert_id)
        return act(
            f"/households/{quote(alert.household)}",
            lambda: service.resolve(
                principal.user, alert_id, form.get("outcome", ""), form.get("note")
            ),
        )

    def alert_for_page(principal: Principal, alert_id: str) -> Alert:
        try:
            return service.alert_for(principal.user, alert_id)
        except NotFound:
            raise HTTPException(404, "not found") from None

    @app.post("/households/{household}/away", include_in_schema=False)
    def away_form(household: str, principal: PageUser, form: CheckedForm) -> Response:
        try:
            h = service.household_for(principal.user, household)
        except NotFound:
            raise HTTPException(404, "not found") from None
        path = f"/households/{quote(h.id)}"
        try:
            start = _epoch(_parse_local(form.get("start")), h.timezone)
            end = _epoch(_parse_local(form.get("end")), h.timezone)
        except ValueError:
            return back(path, error="bad date")
        return act(
            path, lambda: service.set_away(principal.user, household, start, end, form.get("note"))
        )

    @app.post("/households/{household}/away/{away_id}/end", include_in_schema=False)
    def end_away_form(
        household: str, away_id: int, principal: PageUser, form: CheckedForm
    ) -> Response:
        return act(
            f"/households/{quote(household)}",
            lambda: service.end_away(principal.user, household, away_id, form.get("note")),
        )

    @app.get("/admin/users", include_in_schema=False)
    def users_page(
        request: Request, principal: PageUser, ok: str = "", error: str = ""
    ) -> HTMLResponse:
        if principal.user.role != "admin":
            raise HTTPException(403, "admins only")
        return render(
            request,
            "users.html",
            principal,
            users=store.list_users(),
            ok=bool(ok),
            error=error,
        )

    @app.get("/admin/dead-letters", include_in_schema=False)
    def dead_letters_page(request: Request, principal: PageUser) -> HTMLResponse:
        if principal.user.role != "admin":
            raise HTTPException(403, "admins only")
        return render(request, "dead_letters.html", principal, letters=_dead_letters(store))

    @app.post("/admin/users", include_in_schema=False)
    def add_user_form(principal: PageUser, form: CheckedForm) -> Response:
        if principal.user.role != "admin":
            raise HTTPException(403, "admins only")
        try:
            auth.add_user(
                store,
                form.get("username", ""),
                form.get("password", ""),
                form.get("role", "caseworker"),
                clock.now(),
                display_name=form.get("display_name", ""),
                locale=pick_locale(form.get("locale")),
            )
        except CareplugError as exc:
            return back("/admin/users", error=str(exc))
        log.info("user_created", username=form.get("username"), actor=principal.user.username)
        return back("/admin/users")

    @app.post("/admin/users/{username}", include_in_schema=False)
    def change_user_form(username: str, principal: PageUser, form: CheckedForm) -> Response:
        if principal.user.role != "admin":
            raise HTTPException(403, "admins only")
        try:
            change_user(
                principal,
                username,
                s.UserPatch(
                    password=form.get("password") or None,
                    active={"1": True, "0": False}.get(form.get("active", "")),
                ),
            )
        except CareplugError as exc:
            return back("/admin/users", error=str(exc))
        return back("/admin/users")

    # -- shared by pages and API ------------------------------------------------------------

    throttle = auth.LoginThrottle(config.login_attempts, config.login_lockout_s)

    def login(username: str, password: str) -> tuple[str, ConsoleSession] | None:
        name = username.strip()[:64]
        if not throttle.allowed(name, clock.now()):
            log.warning("console_login_throttled", username=name)
            return None
        user = store.get_user(name)
        ok = auth.verify_password(user.password_hash if user else None, password)
        if user is None or not ok or not user.active:
            throttle.failed(name, clock.now())
            log.warning("console_login_failed", username=name)
            return None
        throttle.succeeded(name)
        now = clock.now()
        token = auth.new_token()
        session = ConsoleSession(
            auth.token_hash(token), user.username, auth.new_token(), now, now + config.session_ttl_s
        )
        store.create_session(session)
        log.info("console_login_succeeded", username=user.username, role=user.role)
        return token, session

    def change_user(principal: Principal, username: str, patch: s.UserPatch) -> ConsoleUser:
        if store.get_user(username) is None:
            raise NotFound(f"no user {username}")
        if patch.password:
            store.set_password(username, auth.hash_password(patch.password), clock.now())
            log.info("password_changed", username=username, actor=principal.user.username)
        store.update_user(
            username,
            role=patch.role,
            active=patch.active,
            display_name=patch.display_name,
            locale=patch.locale,
        )
        log.info("user_updated", username=username, actor=principal.user.username)
        user = store.get_user(username)
        assert user is not None
        return user

    # -- JSON API ------------------------------------------------------------------------------

    def api_call(action: Any) -> Any:
        try:
            return action()
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except IllegalTransition as exc:
            raise HTTPException(409, str(exc)) from None
        except StoreError as exc:
            raise HTTPException(409, str(exc)) from None
        except CareplugError as exc:
            raise HTTPException(422, str(exc)) from None

    @app.post("/api/v1/session", response_model=s.SessionOut, tags=["session"])
    def api_login(body: s.LoginIn) -> s.SessionOut:
        """Log in; use the token as ``Authorization: Bearer <token>``."""
        result = login(body.username, body.password)
        if result is None:
            raise HTTPException(401, "wrong username or password")
        token, session = result
        user = store.get_user(session.username)
        assert user is not None
        return s.SessionOut(
            token=token,
            csrf=session.csrf,
            username=user.username,
            role=user.role,
            expires_at=iso(session.expires_at) or "",
        )

    @app.delete("/api/v1/session", status_code=204, tags=["session"])
    def api_logout(principal: ApiUser) -> Response:
        """End this session."""
        store.delete_session(principal.session.token_hash)
        return Response(status_code=204)

    @app.get("/api/v1/me", response_model=s.UserOut, tags=["session"])
    def api_me(principal: ApiUser) -> s.UserOut:
        """Who is logged in."""
        return _user_out(principal.user)

    @app.get("/api/v1/households", response_model=list[s.HouseholdOut], tags=["households"])
    def api_households(principal: ApiUser) -> list[s.HouseholdOut]:
        """Your households (all for an admin) with status and last activity."""
        return [_household_out(v) for v in service.overview(principal.user)]

    @app.get(
        "/api/v1/households/{household}",
        response_model=s.HouseholdDetailOut,
        tags=["households"],
    )
    def api_household(household: str, principal: ApiUser) -> s.HouseholdDetailOut:
        """One of your households: strips, recent alerts, away periods, history."""
        v: HouseholdView = api_call(lambda: service.detail(principal.user, household))
        now = clock.now()
        return s.HouseholdDetailOut(
            **_household_out(v).model_dump(),
            timezone=v.household.timezone,
            plugs=[p.id for p in v.household.plugs],
            strip_24h=_cells(v.strip_24h),
            strip_7d=_cells(v.strip_7d),
            alerts=[_alert_out(a) for a in v.alerts],
            away_periods=[_away_out(p, now) for p in v.away_periods],
            audit=[_history_out(e) for e in v.history],
            false_alarms=None
            if v.false_alarms is None
            else s.FalseAlarmsOut(
                alarms=v.false_alarms.alarms,
                resident_fine=v.false_alarms.resident_fine,
                away=v.false_alarms.away,
                to_review=v.false_alarms.to_review,
            ),
        )

    @app.get("/api/v1/alerts", response_model=list[s.AlertOut], tags=["alerts"])
    def api_alerts(principal: ApiUser, all: bool = False) -> list[s.AlertOut]:
        """Open alerts (``all=true``: every alert) of your households, newest first."""
        mine = {h.id for h in service.households_for(principal.user)}
        alerts = store.list_alerts(open_only=not all)
        return [_alert_out(a) for a in alerts if a.household in mine]

    @app.get("/api/v1/alerts/{alert_id}", response_model=s.AlertDetailOut, tags=["alerts"])
    def api_alert(alert_id: str, principal: ApiUser) -> s.AlertDetailOut:
        """One alert with its audit trail."""
        alert: Alert = api_call(lambda: service.alert_for(principal.user, alert_id))
        trail = [
            s.AuditOut(
                at=iso(e.at) or "",
                actor=e.actor,
                action=e.action,
                state=e.state.value,
                note=e.note,
                outcome=e.outcome.value if e.outcome else None,
                alert_id=e.alert_id,
            )
            for e in store.audit(alert.id)
        ]
        return s.AlertDetailOut(**_alert_out(alert).model_dump(), audit=trail)

    @app.post("/api/v1/alerts/{alert_id}/acknowledge", response_model=s.AlertOut, tags=["alerts"])
    def api_ack(alert_id: str, body: s.NoteIn, principal: ApiUser) -> s.AlertOut:
        """Acknowledge an open alert (409 when it is not open)."""
        return _alert_out(
            api_call(lambda: service.acknowledge(principal.user, alert_id, body.note))
        )

    @app.post("/api/v1/alerts/{alert_id}/resolve", response_model=s.AlertOut, tags=["alerts"])
    def api_resolve(alert_id: str, body: s.ResolveIn, principal: ApiUser) -> s.AlertOut:
        """Resolve an alert with an outcome code (409 when already resolved)."""
        return _alert_out(
            api_call(lambda: service.resolve(principal.user, alert_id, body.outcome, body.note))
        )

    @app.post(
        "/api/v1/households/{household}/away",
        response_model=s.AwayOut,
        status_code=201,
        tags=["away"],
    )
    def api_set_away(household: str, body: s.AwayIn, principal: ApiUser) -> s.AwayOut:
        """Record an away period (times without offset are in the household's zone)."""
        h = api_call(lambda: service.household_for(principal.user, household))
        start, end = _epoch(body.start, h.timezone), _epoch(body.end, h.timezone)
        period = api_call(
            lambda: service.set_away(principal.user, household, start, end, body.note)
        )
        return _away_out(period, clock.now())

    @app.post(
        "/api/v1/households/{household}/away/{away_id}/end",
        response_model=s.AwayOut,
        tags=["away"],
    )
    def api_end_away(household: str, away_id: int, body: s.NoteIn, principal: ApiUser) -> s.AwayOut:
        """End an away period now."""
        period = api_call(lambda: service.end_away(principal.user, household, away_id, body.note))
        return _away_out(period, clock.now())

    @app.get("/api/v1/users", response_model=list[s.UserOut], tags=["users"])
    def api_users(principal: ApiAdmin) -> list[s.UserOut]:
        """Every console account (admins only)."""
        return [_user_out(u) for u in store.list_users()]

    @app.post("/api/v1/users", response_model=s.UserOut, status_code=201, tags=["users"])
    def api_add_user(body: s.UserIn, principal: ApiAdmin) -> s.UserOut:
        """Create an account (admins only)."""
        user = api_call(
            lambda: auth.add_user(
                store,
                body.username,
                body.password,
                body.role,
                clock.now(),
                display_name=body.display_name,
                locale=body.locale,
            )
        )
        log.info("user_created", username=user.username, actor=principal.user.username)
        return _user_out(user)

    @app.patch("/api/v1/users/{username}", response_model=s.UserOut, tags=["users"])
    def api_change_user(username: str, body: s.UserPatch, principal: ApiAdmin) -> s.UserOut:
        """Change an account's password, role, activity, name or locale (admins only)."""
        return _user_out(api_call(lambda: change_user(principal, username, body)))

    @app.get("/api/v1/dead-letters", response_model=list[s.DeadLetterOut], tags=["outbox"])
    def api_dead_letters(principal: ApiAdmin) -> list[s.DeadLetterOut]:
        """Notifications that gave up: channel, recipient id, key, attempts, last error
        (admins only)."""
        return _dead_letters(store)

    return app


def _dead_letters(store: SqliteStore) -> list[s.DeadLetterOut]:
    return [
        s.DeadLetterOut(
            channel=d.notification.channel,
            recipient=d.notification.recipient,
            key=d.notification.key,
            attempts=d.attempts,
            last_error=d.last_error,
        )
        for d in store.dead_letters()
    ]


def _parse_local(text: str | None) -> datetime | None:
    """A ``datetime-local`` form value (no offset), or None when empty."""
    if text is None or not text.strip():
        return None
    return datetime.fromisoformat(text.strip())
