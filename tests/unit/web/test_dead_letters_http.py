"""Dead letters in the console: admins see channel, recipient id, key, attempts, last error,
never the address; caseworkers are refused."""

from __future__ import annotations

import httpx

from careplug.ports import Notification
from tests.unit.web.conftest import api_headers
from tests.unit.web.console_support import World
from tests.unit.web.test_console_http import page_login

ADDRESS = "+821055554444"


def _dead(world: World) -> None:
    note = Notification("a-1:0:cw-kim:sms", "sms", "cw-kim", "s", "t", "ko", ADDRESS)
    world.store.enqueue([note], 1000.0)
    world.store.mark_failed(note.key, note.channel, note.recipient, "HTTP 400 bad number", None)


def test_admin_lists_dead_letters_without_addresses(world: World, client: httpx.Client) -> None:
    headers = api_headers(client, "boss")
    assert client.get("/api/v1/dead-letters", headers=headers).json() == []
    _dead(world)
    response = client.get("/api/v1/dead-letters", headers=headers)
    assert response.status_code == 200
    assert response.json() == [
        {
            "channel": "sms",
            "recipient": "cw-kim",
            "key": "a-1:0:cw-kim:sms",
            "attempts": 1,
            "last_error": "HTTP 400 bad number",
        }
    ]
    assert ADDRESS not in response.text
    page_login(client, "boss")
    page = client.get("/admin/dead-letters")
    assert page.status_code == 200
    assert 'data-key="a-1:0:cw-kim:sms"' in page.text
    assert "HTTP 400 bad number" in page.text
    assert ADDRESS not in page.text


def test_caseworkers_cannot_see_dead_letters(world: World, client: httpx.Client) -> None:
    _dead(world)
    assert client.get("/api/v1/dead-letters", headers=api_headers(client, "kim")).status_code == 403
    page_login(client, "kim")
    assert client.get("/admin/dead-letters").status_code == 403
