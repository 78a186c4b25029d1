"""careplug's self-check: traffic collapse while connected becomes an operator alert."""

from __future__ import annotations

from pathlib import Path

from careplug.adapters.store_sqlite import SqliteStore
from careplug.domain.model import AlertKind, AlertState, Outcome
from careplug.runtime.fanout import FanoutConfig
from careplug.runtime.router import AlertRouter
from careplug.runtime.system_watch import SystemWatch


def test_collapse_raises_then_recovery_resolves(tmp_path: Path) -> None:
    """An hour of steady traffic, ten silent minutes while connected, then traffic again."""
    store = SqliteStore(tmp_path / "s.db")
    watch = SystemWatch(store, AlertRouter(FanoutConfig()), started_at=0.0)
    total, t = 0, 0.0
    raised_at = None
    while t < 3600:
        total += 150  # 10 messages/s, checked every 15 s
        t += 15
        assert not watch.check(t, total, connected=True)
    while t < 3600 + 900 and raised_at is None:
        t += 15
        if watch.check(t, total, connected=True):
            raised_at = t
    assert raised_at is not None and raised_at <= 3600 + 660
    [alert] = store.list_alerts(open_only=True)
    assert alert.kind is AlertKind.SYSTEM_DEGRADED and alert.household == "careplug"
    assert store.due(1e12)[0].notification.key == f"{alert.id}:raised"
    for _ in range(60):
        t += 15
        total += 150
        if watch.check(t, total, connected=True):
            break
    resolved = store.get_alert(alert.id)
    assert resolved is not None and resolved.state is AlertState.RESOLVED
    assert resolved.outcome is Outcome.CONDITION_CLEARED


def test_disconnection_is_not_a_collapse(tmp_path: Path) -> None:
    """Silence while the broker is down is reported as broker state, not as a collapse."""
    store = SqliteStore(tmp_path / "s.db")
    watch = SystemWatch(store, AlertRouter(FanoutConfig()), started_at=0.0)
    total, t = 0, 0.0
    while t < 3600:
        total += 150
        t += 15
        watch.check(t, total, connected=True)
    for _ in range(60):
        t += 15
        assert not watch.check(t, total, connected=False)
    assert store.list_alerts() == []
