"""A small world for console tests: three households, two caseworkers, an admin, alerts."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from careplug.adapters.store_sqlite import ConsoleUser, SqliteStore
from careplug.adapters.web import create_app
from careplug.adapters.web.auth import hash_password
from careplug.clock import VirtualClock, parse_iso
from careplug.domain import alerts as alert_rules
from careplug.domain.engine import HouseholdMemory
from careplug.domain.model import (
    Alert,
    AlertKind,
    Appliance,
    Household,
    HouseholdId,
    PlugId,
    PlugSpec,
    Severity,
)
from careplug.runtime.fanout import FanoutConfig, notifications_for

START = parse_iso("2026-11-25T09:00:00Z")
PASSWORDS = {"kim": "kim-password-1", "lee": "lee-password-1", "boss": "boss-password-1"}

HOUSEHOLDS = [
    Household(
        HouseholdId("h-001"),
        caseworkers=("kim",),
        area="역삼1동",
        plugs=(PlugSpec(PlugId("p-001-tv"), Appliance.TV),),
    ),
    Household(
        HouseholdId("h-002"),
        caseworkers=("lee",),
        area="역삼2동",
        plugs=(PlugSpec(PlugId("p-002-kettle"), Appliance.KETTLE),),
    ),
    Household(
        HouseholdId("h-003"),
        caseworkers=("kim", "lee"),
        area="역삼1동",
        plugs=(PlugSpec(PlugId("p-003-rice"), Appliance.RICE_COOKER),),
    ),
]


@dataclass
class World:
    """The store, clock and app of one test, and the alerts raised in it."""

    store: SqliteStore
    clock: VirtualClock
    alerts: dict[str, Alert]

    def app(self, **kwargs: object) -> object:
        fanout = FanoutConfig()
        return create_app(
            self.store,
            HOUSEHOLDS,
            self.clock,
            notifications=lambda a, e: notifications_for(a, e, fanout),
            **kwargs,  # type: ignore[arg-type]
        )


@cache
def _hash(username: str) -> str:
    """argon2 is slow on purpose: hash each test password once per test session."""
    return hash_password(PASSWORDS[username])


def build_world(directory: Path) -> World:
    """A store with accounts, household state, activity and one open alert per household."""
    store = SqliteStore(directory / "careplug.db")
    clock = VirtualClock(START)
    for user in (
        ConsoleUser("kim", "caseworker", _hash("kim"), "김복지", "ko", True, START, START),
        ConsoleUser("lee", "caseworker", _hash("lee"), "", "en", True, START, START),
        ConsoleUser("boss", "admin", _hash("boss"), "", "ko", True, START, START),
    ):
        store.add_user(user)
    store.save_state(
        [],
        [
            HouseholdMemory(
                HouseholdId("h-001"), START - 26 * 3600, START - 9 * 86400, None, 0, None
            ),
            HouseholdMemory(
                HouseholdId("h-002"), START - 25 * 3600, START - 9 * 86400, None, 0, None
            ),
            HouseholdMemory(HouseholdId("h-003"), START - 1800, START - 9 * 86400, None, 0, None),
        ],
    )
    rows = []
    for day in range(7):
        for hour in (7, 12, 19):
            at = START - 86400 * (day + 2) + (hour - 9) * 3600
            rows.append((HouseholdId("h-001"), PlugId("p-001-tv"), at))
    rows.append((HouseholdId("h-003"), PlugId("p-003-rice"), START - 1800))
    store.record_activity(rows)
    alerts = {}
    for hid in ("h-001", "h-002"):
        alert, audit = alert_rules.raise_alert(
            HouseholdId(hid),
            AlertKind.INACTIVITY,
            Severity.CRITICAL,
            START - 3600,
            "no activity for 24h (last: TV at 07:00)",
            since=START - 25 * 3600,
            details={"last_activity_plug": "tv", "silent_hours": 25},
        )
        store.record_transition(alert, audit, None)
        alerts[hid] = alert
    return World(store, clock, alerts)
