"""The resident's one-tap link over real HTTP: GET asks, POST resolves as resident_ok."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from careplug.adapters.web import ConsoleSettings, serve_in_thread
from careplug.domain.model import AlertState, HouseholdId, Outcome
from careplug.domain.routing import self_check_token
from tests.unit.web.console_support import World

SECRET = "link-secret-for-tests-0001"


@pytest.fixture
def link_client(world: World) -> Iterator[httpx.Client]:
    app = world.app(settings=ConsoleSettings(self_check_secret=SECRET))
    server = serve_in_thread(app, "127.0.0.1", 0)
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=10) as c:
        yield c
    server.stop()


def test_link_resolves_the_alert_as_resident_ok_without_login(
    world: World, link_client: httpx.Client
) -> None:
    alert = world.alerts["h-001"]
    token = self_check_token(SECRET, alert.id)
    page = link_client.get(f"/fine/{token}")
    assert page.status_code == 200
    assert f'action="/fine/{token}"' in page.text
    stored = world.store.get_alert(alert.id)
    assert stored is not None and stored.state is AlertState.OPEN  # GET changes nothing

    done = link_client.post(f"/fine/{token}")
    assert done.status_code == 200, done.text
    stored = world.store.get_alert(alert.id)
    assert stored is not None
    assert stored.state is AlertState.RESOLVED
    assert stored.outcome is Outcome.RESIDENT_OK
    assert stored.resolved_by == "resident"
    trail = world.store.audit(alert.id)
    assert (trail[-1].actor, trail[-1].action) == ("resident", "resolved")
    # the other household's alert is untouched, and the link is now spent
    other = world.store.get_alert(world.alerts["h-002"].id)
    assert other is not None and other.state is AlertState.OPEN
    assert link_client.post(f"/fine/{token}").status_code == 404
    assert link_client.get(f"/fine/{token}").status_code == 404
    assert world.store.list_alerts(household=HouseholdId("h-001"))[0].resolved_by == "resident"


def test_wrong_token_changes_nothing(world: World, link_client: httpx.Client) -> None:
    alert = world.alerts["h-001"]
    forged = self_check_token("another-secret-xxxxxxxx", alert.id)
    assert link_client.post(f"/fine/{forged}").status_code == 404
    assert link_client.get("/fine/" + "0" * 32).status_code == 404
    stored = world.store.get_alert(alert.id)
    assert stored is not None and stored.state is AlertState.OPEN


def test_link_is_not_served_without_a_secret(world: World, client: httpx.Client) -> None:
    token = self_check_token(SECRET, world.alerts["h-001"].id)
    assert client.post(f"/fine/{token}").status_code == 404
    stored = world.store.get_alert(world.alerts["h-001"].id)
    assert stored is not None and stored.state is AlertState.OPEN
