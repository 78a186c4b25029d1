"""Fixtures for the simulator tests: the shared real Mosquitto, as a port number."""

from __future__ import annotations

import pytest

from tests.conftest import Mosquitto


@pytest.fixture
def mosquitto(mosquitto: Mosquitto) -> int:
    """The port of a fresh Mosquitto on 127.0.0.1 (tests/conftest.py starts and stops it)."""
    return mosquitto.port
