"""Fixtures for the console tests: a world served by a real uvicorn on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from careplug.adapters.web import serve_in_thread
from tests.unit.web.console_support import PASSWORDS, World, build_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = build_world(tmp_path)
    yield w
    w.store.close()


@pytest.fixture
def base_url(world: World) -> Iterator[str]:
    server = serve_in_thread(world.app(), "127.0.0.1", 0)
    yield server.url
    server.stop()


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, follow_redirects=False, timeout=10) as c:
        yield c


def api_headers(client: httpx.Client, username: str) -> dict[str, str]:
    """Bearer headers for a fresh API session of ``username``."""
    response = client.post(
        "/api/v1/session", json={"username": username, "password": PASSWORDS[username]}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}
