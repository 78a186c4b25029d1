"""The console over real HTTP: login, sessions, CSRF, per-caseworker scoping, actions, i18n."""

from __future__ import annotations

import re

import httpx
from structlog.testing import capture_logs

from careplug.adapters.store_sqlite import SqliteStore
from careplug.domain.model import (
    AlertId,
    AlertState,
    HouseholdId,
    Outcome,
)
from tests.past_alarms import store_past_alarm
from tests.unit.web.conftest import api_headers
from tests.unit.web.console_support import PASSWORDS, World


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def page_login(client: httpx.Client, username: str) -> str:
    """Log in through the form; returns the session's CSRF token from the first page."""
    token = _csrf(client.get("/login").text)
    response = client.post(
        "/login", data={"csrf": token, "username": username, "password": PASSWORDS[username]}
    )
    assert response.status_code == 303 and response.headers["location"] == "/"
    return _csrf(client.get("/").text)


# -- authentication --------------------------------------------------------------------------


def test_passwords_are_stored_as_argon2_hashes(world: World) -> None:
    """The store never holds a password, only an argon2id hash of it."""
    user = world.store.get_user("kim")
    assert user is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORDS["kim"] not in user.password_hash


def test_api_login_refuses_wrong_password_and_unknown_user(client: httpx.Client) -> None:
    """A wrong password and an unknown name get the same 401."""
    wrong = client.post("/api/v1/session", json={"username": "kim", "password": "nope-nope-1"})
    unknown = client.post("/api/v1/session", json={"username": "ghost", "password": "x" * 12})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert client.get("/api/v1/me").status_code == 401


def test_session_expires_on_the_injected_clock(world: World, client: httpx.Client) -> None:
    """A session is valid until its ttl passes on the console's clock, then 401."""
    headers = api_headers(client, "kim")
    assert client.get("/api/v1/me", headers=headers).json()["username"] == "kim"
    world.clock.advance(8 * 3600 - 1)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    world.clock.advance(1)
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_expired_page_session_redirects_to_login(world: World, client: httpx.Client) -> None:
    """A page with an expired cookie sends the user to log in again."""
    page_login(client, "kim")
    assert client.get("/").status_code == 200
    world.clock.advance(9 * 3600)
    response = client.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?reason=session_expired"


def test_logout_ends_the_session(client: httpx.Client) -> None:
    """After logging out the old cookie no longer opens pages."""
    csrf = page_login(client, "kim")
    cookie = client.cookies.get("careplug_session")
    assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    client.cookies.set("careplug_session", cookie or "", domain="127.0.0.1")
    assert client.get("/").status_code == 303


def test_deactivated_user_cannot_log_in(client: httpx.Client) -> None:
    """An admin deactivating an account ends its sessions and refuses new logins."""
    kim = api_headers(client, "kim")
    boss = api_headers(client, "boss")
    assert client.patch("/api/v1/users/kim", json={"active": False}, headers=boss).is_success
    assert client.get("/api/v1/me", headers=kim).status_code == 401
    again = client.post("/api/v1/session", json={"username": "kim", "password": PASSWORDS["kim"]})
    assert again.status_code == 401


# -- CSRF -----------------------------------------------------------------------------------------


def test_login_form_needs_its_csrf_cookie(client: httpx.Client) -> None:
    """A login posted from elsewhere (no matching double-submit token) is refused."""
    response = client.post(
        "/login", data={"csrf": "forged", "username": "kim", "password": PASSWORDS["kim"]}
    )
    assert response.status_code == 403
    assert "careplug_session" not in client.cookies


def test_forms_without_the_session_csrf_token_change_nothing(
    world: World, client: httpx.Client
) -> None:
    """Acknowledging through the form needs the session's CSRF token; forged ones get 403."""
    csrf = page_login(client, "kim")
    alert = world.alerts["h-001"]
    url = f"/alerts/{alert.id}/acknowledge"
    assert client.post(url, data={"note": "x"}).status_code == 403
    assert client.post(url, data={"note": "x", "csrf": csrf[::-1]}).status_code == 403
    stored = world.store.get_alert(alert.id)
    assert stored is not None and stored.state is AlertState.OPEN
    response = client.post(url, data={"note": "calling", "csrf": csrf})
    assert response.status_code == 303
    assert response.headers["location"] == "/households/h-001?ok=1"
    stored = world.store.get_alert(alert.id)
    assert stored is not None and stored.state is AlertState.ACKNOWLEDGED


def test_api_with_cookie_needs_csrf_header_bearer_does_not(
    world: World, client: httpx.Client
) -> None:
    """A cookie-authenticated API write needs X-CSRF-Token; a bearer token is not ambient."""
    csrf = page_login(client, "kim")
    url = f"/api/v1/alerts/{world.alerts['h-001'].id}/acknowledge"
    assert client.post(url, json={}).status_code == 403
    assert client.post(url, json={}, headers={"X-CSRF-Token": csrf}).status_code == 200
    bearer = api_headers(client, "kim")
    resolve = f"/api/v1/alerts/{world.alerts['h-001'].id}/resolve"
    fresh = client.post(resolve, json={"outcome": "resident_ok"}, headers=bearer)
    assert fresh.status_code == 200 and fresh.json()["state"] == "resolved"


# -- scoping --------------------------------------------------------------------------------------


def test_caseworker_lists_only_own_households(client: httpx.Client) -> None:
    """kim is named on h-001 and h-003; lee on h-002 and h-003; the admin sees all."""

    def ids(user: str) -> list[str]:
        response = client.get("/api/v1/households", headers=api_headers(client, user))
        return [h["id"] for h in response.json()]

    assert ids("kim") == ["h-001", "h-003"]
    assert ids("lee") == ["h-002", "h-003"]
    assert ids("boss") == ["h-001", "h-002", "h-003"]


def test_caseworker_cannot_read_or_change_another_caseworkers_household(
    world: World, client: httpx.Client
) -> None:
    """Every read and write of lee's household by kim is 404 and leaves the store unchanged."""
    kim = api_headers(client, "kim")
    theirs = world.alerts["h-002"]
    assert client.get("/api/v1/households/h-002", headers=kim).status_code == 404
    assert client.get(f"/api/v1/alerts/{theirs.id}", headers=kim).status_code == 404
    assert [a["household"] for a in client.get("/api/v1/alerts", headers=kim).json()] == ["h-001"]
    writes = [
        (f"/api/v1/alerts/{theirs.id}/acknowledge", {"note": "mine now"}),
        (f"/api/v1/alerts/{theirs.id}/resolve", {"outcome": "false_alarm"}),
        ("/api/v1/households/h-002/away", {"note": "gone"}),
    ]
    for url, body in writes:
        assert client.post(url, json=body, headers=kim).status_code == 404, url
    stored = world.store.get_alert(theirs.id)
    assert stored is not None and stored.state is AlertState.OPEN
    assert [e.action for e in world.store.audit(theirs.id)] == ["raised"]
    assert world.store.list_away(HouseholdId("h-002")) == []
    # ... and the away period lee sets cannot be ended by kim either
    lee = api_headers(client, "lee")
    away = client.post("/api/v1/households/h-002/away", json={}, headers=lee).json()
    url = f"/api/v1/households/h-002/away/{away['id']}/end"
    assert client.post(url, json={}, headers=kim).status_code == 404
    assert (
        client.post(
            f"/api/v1/households/h-001/away/{away['id']}/end", json={}, headers=kim
        ).status_code
        == 404
    )
    assert world.store.list_away(HouseholdId("h-002"), active_at=world.clock.now())


def test_caseworker_pages_show_only_own_households(world: World, client: httpx.Client) -> None:
    """The list page names only kim's households; lee's page and alert form are 404."""
    csrf = page_login(client, "kim")
    page = client.get("/").text
    assert re.findall(r'data-household="([^"]+)"', page) == ["h-001", "h-003"]
    assert client.get("/households/h-002").status_code == 404
    alert = world.alerts["h-002"]
    response = client.post(f"/alerts/{alert.id}/acknowledge", data={"csrf": csrf})
    assert response.status_code == 404
    stored = world.store.get_alert(alert.id)
    assert stored is not None and stored.state is AlertState.OPEN


# -- actions --------------------------------------------------------------------------------------


def test_acknowledge_and_resolve_are_audited_notified_and_seen_by_the_daemon(
    world: World, client: httpx.Client
) -> None:
    """Console actions go through the alert rules, store their notifications, carry origin
    "console" (so the daemon's change feed picks them up), and log past-tense events."""
    daemon_view = SqliteStore(world.store.path)  # origin "daemon", as the daemon opens it
    seq = daemon_view.last_audit_seq()
    kim = api_headers(client, "kim")
    alert = world.alerts["h-001"]
    with capture_logs() as logs:
        ack = client.post(
            f"/api/v1/alerts/{alert.id}/acknowledge", json={"note": "전화 중"}, headers=kim
        )
    assert ack.status_code == 200 and ack.json()["acknowledged_by"] == "kim"
    assert {"event": "alert_acknowledged", "alert_id": alert.id}.items() <= next(
        e for e in logs if e["event"] == "alert_acknowledged"
    ).items()
    again = client.post(f"/api/v1/alerts/{alert.id}/acknowledge", json={}, headers=kim)
    assert again.status_code == 409
    world.clock.advance(600)
    done = client.post(
        f"/api/v1/alerts/{alert.id}/resolve",
        json={"outcome": "visited_ok", "note": "방문, 건강함"},
        headers=kim,
    )
    assert done.status_code == 200
    assert (done.json()["state"], done.json()["outcome"]) == ("resolved", "visited_ok")
    bad = client.post(
        f"/api/v1/alerts/{alert.id}/resolve", json={"outcome": "activity_resumed"}, headers=kim
    )
    assert bad.status_code == 422
    _, changed = daemon_view.changes_from_others(seq)
    assert [(a.id, a.state, a.outcome) for a in changed] == [
        (alert.id, AlertState.RESOLVED, Outcome.VISITED_OK)
    ]
    trail = world.store.audit(AlertId(alert.id))
    assert [(e.action, e.actor, e.note) for e in trail] == [
        ("raised", "careplug", alert.message),
        ("acknowledged", "kim", "전화 중"),
        ("resolved", "kim", "방문, 건강함"),
    ]
    assert trail[2].at == world.clock.now()
    assert world.store.outbox_counts()["pending"] == 2  # one MQTT notification per step
    detail = client.get(f"/api/v1/alerts/{alert.id}", headers=kim).json()
    assert [e["action"] for e in detail["audit"]] == ["raised", "acknowledged", "resolved"]
    daemon_view.close()


def test_away_period_shows_as_away_until_ended(world: World, client: httpx.Client) -> None:
    """Setting away makes h-003 away from now; ending it restores its status; both audited."""
    kim = api_headers(client, "kim")
    made = client.post(
        "/api/v1/households/h-003/away",
        json={"end": "2026-12-01T18:00:00", "note": "딸 집 방문"},
        headers=kim,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["active"] and body["end_at"] == "2026-12-01T09:00:00Z"  # Seoul 18:00 = 09:00Z
    statuses = {h["id"]: h["status"] for h in client.get("/api/v1/households", headers=kim).json()}
    assert statuses == {"h-001": "critical", "h-003": "away"}
    world.clock.advance(3600)
    ended = client.post(f"/api/v1/households/h-003/away/{body['id']}/end", json={}, headers=kim)
    assert ended.status_code == 200 and not ended.json()["active"]
    detail = client.get("/api/v1/households/h-003", headers=kim).json()
    assert detail["status"] == "ok" and not detail["away"]
    assert [e["action"] for e in detail["audit"]] == ["away_ended", "away_set"]
    twice = client.post(f"/api/v1/households/h-003/away/{body['id']}/end", json={}, headers=kim)
    assert twice.status_code == 409


def test_household_detail_has_strips_from_activity_history(
    world: World, client: httpx.Client
) -> None:
    """The 24-hour strip has 24 hourly cells, the 7-day strip 56; counts come from the store."""
    detail = client.get("/api/v1/households/h-001", headers=api_headers(client, "kim")).json()
    assert len(detail["strip_24h"]) == 24 and len(detail["strip_7d"]) == 56
    assert sum(c["count"] for c in detail["strip_24h"]) == 0
    # three events a day 2..8 days back: five whole days and two events of the seventh
    # day back (after 09:00Z, where the aligned strip starts) are inside it
    assert sum(c["count"] for c in detail["strip_7d"]) == 17
    assert detail["last_activity_at"] == "2026-11-24T07:00:00Z"


def test_household_page_asks_for_a_review_when_its_alarms_keep_ending_fine(
    world: World, client: httpx.Client
) -> None:
    """Three alarms of h-001 in the last weeks resolved with the resident fine (one away):
    its page and API say so and what to review; h-003 (one such alarm) does not."""
    now = world.clock.now()
    rows = [
        ("h-001", 2, Outcome.VISITED_OK),
        ("h-001", 9, Outcome.FALSE_ALARM),
        ("h-001", 20, Outcome.AWAY),
        ("h-001", 40, Outcome.RESIDENT_OK),  # outside the 28 days
        ("h-003", 3, Outcome.RESIDENT_OK),
    ]
    for n, (hh, days_ago, outcome) in enumerate(rows):
        store_past_alarm(world.store, f"past-{n}", hh, now - days_ago * 86400.0, outcome, by="kim")
    kim = api_headers(client, "kim")
    review = client.get("/api/v1/households/h-001", headers=kim).json()["false_alarms"]
    # the open alert raised at the start counts as an alarm, not (yet) as ending fine
    assert review == {"alarms": 4, "resident_fine": 3, "away": 1, "to_review": True}
    other = client.get("/api/v1/households/h-003", headers=kim).json()["false_alarms"]
    assert other["resident_fine"] == 1 and not other["to_review"]
    page_login(client, "kim")
    client.get("/lang/en?next=/")
    page = client.get("/households/h-001").text
    assert 'id="false-alarms"' in page
    assert "3 / 4 recent alarms ended with the resident fine (away 1)" in page
    assert "second plug on a daily appliance" in page
    assert 'id="false-alarms"' not in client.get("/households/h-003").text


# -- admin, i18n, OpenAPI ------------------------------------------------------------


def test_only_admin_manages_users(client: httpx.Client) -> None:
    """A caseworker gets 403 on user management; an admin adds a user who can then log in."""
    kim = api_headers(client, "kim")
    boss = api_headers(client, "boss")
    assert client.get("/api/v1/users", headers=kim).status_code == 403
    new = {"username": "park", "password": "park-password-1", "role": "caseworker"}
    assert client.post("/api/v1/users", json=new, headers=kim).status_code == 403
    assert client.post("/api/v1/users", json=new, headers=boss).status_code == 201
    assert client.post("/api/v1/users", json=new, headers=boss).status_code == 409
    names = [u["username"] for u in client.get("/api/v1/users", headers=boss).json()]
    assert names == ["boss", "kim", "lee", "park"]
    login = client.post("/api/v1/session", json={"username": "park", "password": "park-password-1"})
    assert login.status_code == 200
    park = {"Authorization": f"Bearer {login.json()['token']}"}
    assert client.get("/api/v1/households", headers=park).json() == []
    short = client.patch("/api/v1/users/park", json={"password": "short"}, headers=boss)
    assert short.status_code == 422


def test_pages_are_korean_by_default_and_switch_to_english(client: httpx.Client) -> None:
    """Korean unless chosen otherwise (the user's locale or the language link)."""
    assert "로그인" in client.get("/login").text
    page_login(client, "kim")
    assert "담당 가구" in client.get("/").text
    client.get("/lang/en?next=/")
    page = client.get("/").text
    assert "Households" in page and "담당 가구" not in page


def test_security_headers_and_cookie_flags(client: httpx.Client) -> None:
    """Pages forbid framing and foreign scripts; the session cookie is HttpOnly and SameSite."""
    token = _csrf(client.get("/login").text)
    response = client.post(
        "/login", data={"csrf": token, "username": "kim", "password": PASSWORDS["kim"]}
    )
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    page = client.get("/")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


def test_openapi_describes_the_api(client: httpx.Client) -> None:
    """/openapi.json lists the scoped endpoints and the outcome codes."""
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/v1/session",
        "/api/v1/households",
        "/api/v1/households/{household}",
        "/api/v1/alerts/{alert_id}/acknowledge",
        "/api/v1/alerts/{alert_id}/resolve",
        "/api/v1/households/{household}/away",
        "/api/v1/users",
    ):
        assert path in spec["paths"], path
    outcome = spec["components"]["schemas"]["ResolveIn"]["properties"]["outcome"]
    assert "visited_ok" in outcome["enum"]
    assert not any(p.startswith(("/login", "/households")) for p in spec["paths"])


def test_repeated_wrong_passwords_lock_the_username_for_a_while(
    world: World, client: httpx.Client
) -> None:
    """Five failures lock kim out (even with the right password) until the lockout passes;
    other users are unaffected."""
    for _ in range(5):
        bad = client.post("/api/v1/session", json={"username": "kim", "password": "guess-guess"})
        assert bad.status_code == 401
    right = {"username": "kim", "password": PASSWORDS["kim"]}
    assert client.post("/api/v1/session", json=right).status_code == 401
    assert api_headers(client, "lee")
    world.clock.advance(901)
    assert client.post("/api/v1/session", json=right).status_code == 200


def test_user_admin_page_is_for_admins_only(client: httpx.Client) -> None:
    """kim gets 403 on the users page; the admin sees every account and can add one."""
    page_login(client, "kim")
    assert client.get("/admin/users").status_code == 403
    client.cookies.clear()
    csrf = page_login(client, "boss")
    page = client.get("/admin/users").text
    assert re.findall(r'data-user="([^"]+)"', page) == ["boss", "kim", "lee"]
    form = {"csrf": csrf, "username": "park", "password": "park-password-1", "role": "caseworker"}
    assert client.post("/admin/users", data=form).headers["location"] == "/admin/users?ok=1"
    assert 'data-user="park"' in client.get("/admin/users").text
