"""The store's console tables: accounts, sessions, activity history, away periods."""

from __future__ import annotations

from pathlib import Path

import pytest

from careplug.adapters.store_sqlite import MIGRATIONS, ConsoleSession, ConsoleUser, SqliteStore
from careplug.domain.model import HouseholdId, PlugId
from careplug.errors import IllegalTransition, StoreError

H = HouseholdId("h-1")


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "s.db", origin="console")


def test_every_migration_is_applied(store: SqliteStore) -> None:
    """The console's tables (migration 2) exist next to the detector's (migration 3)."""
    assert all(m.strip() for m in MIGRATIONS)
    assert store.schema_version == len(MIGRATIONS)


def test_users_round_trip_and_unique(store: SqliteStore) -> None:
    """An account is stored as given; the same name twice is refused."""
    user = ConsoleUser("kim", "caseworker", "$argon2id$x", "김", "ko", True, 1.0, 1.0)
    store.add_user(user)
    assert store.get_user("kim") == user
    with pytest.raises(StoreError):
        store.add_user(user)
    store.update_user("kim", role="admin", locale="en")
    changed = store.get_user("kim")
    assert changed is not None and (changed.role, changed.locale) == ("admin", "en")


def test_sessions_expire_and_end_with_password_change(store: SqliteStore) -> None:
    """A session is gone at its expiry, and every session ends when the password changes."""
    store.add_user(ConsoleUser("kim", "caseworker", "h", created_at=0, password_changed_at=0))
    store.create_session(ConsoleSession("t1", "kim", "c", 0.0, 100.0))
    store.create_session(ConsoleSession("t2", "kim", "c", 0.0, 1000.0))
    assert store.get_session("t1", 99.0) is not None
    assert store.get_session("t1", 100.0) is None
    assert store.get_session("t2", 100.0) is not None
    store.set_password("kim", "h2", 150.0)
    assert store.get_session("t2", 160.0) is None


def test_activity_between_is_half_open_and_deduplicated(store: SqliteStore) -> None:
    """Activity in [start, end), oldest first; a repeated row is stored once."""
    store.record_activity(
        [(H, PlugId("tv"), 10.0), (H, PlugId("tv"), 10.0), (H, PlugId("k"), 20.0)]
    )
    store.record_activity([(HouseholdId("other"), PlugId("x"), 15.0)])
    assert store.activity_between(H, 10.0, 20.0) == [(PlugId("tv"), 10.0)]
    assert store.activity_between(H, 0.0, 21.0) == [(PlugId("tv"), 10.0), (PlugId("k"), 20.0)]


def test_away_periods_set_end_list_with_audit(store: SqliteStore) -> None:
    """An away period covers its span until ended; both steps are audited with origin."""
    period = store.set_away(H, 100.0, None, "kim", 90.0, "hospital stay")
    assert [p.id for p in store.list_away(H, active_at=5000.0)] == [period.id]
    assert store.list_away(H, active_at=50.0) == []
    ended = store.end_away(period.id, "kim", 6000.0, "back home")
    assert ended.ended_at == 6000.0 and ended.ended_by == "kim"
    assert store.list_away(H, active_at=6000.0) == []
    assert store.list_away(H, active_at=5999.0)[0].id == period.id
    with pytest.raises(IllegalTransition):
        store.end_away(period.id, "kim", 7000.0)
    trail = store.away_audit(H)
    assert [(e.action, e.actor, e.note, e.origin) for e in trail] == [
        ("away_set", "kim", "hospital stay", "console"),
        ("away_ended", "kim", "back home", "console"),
    ]


def test_away_must_end_after_it_starts(store: SqliteStore) -> None:
    """A planned end before the start is refused."""
    with pytest.raises(IllegalTransition):
        store.set_away(H, 100.0, 100.0, "kim", 0.0)
    planned = store.set_away(H, 100.0, 200.0, "kim", 0.0)
    assert store.list_away(active_at=200.0) == []
    assert store.list_away(active_at=150.0)[0].id == planned.id
