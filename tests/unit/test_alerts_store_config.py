"""Alert transitions, the SQLite store, settings and the registry."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from careplug.adapters.store_sqlite import MIGRATIONS, SqliteStore
from careplug.app import detection_config
from careplug.domain import alerts as rules
from careplug.domain.engine import HouseholdMemory, PlugMemory
from careplug.domain.model import (
    AlertKind,
    AlertState,
    HouseholdId,
    Outcome,
    PlugId,
    RiskTier,
    Severity,
)
from careplug.domain.routine import RoutineConfig
from careplug.errors import ConfigError, IllegalTransition
from careplug.ports import Notification
from careplug.registry import load_registry
from careplug.settings import effective, load_settings, parse_duration

ROOT = Path(__file__).resolve().parents[2]
HH = HouseholdId("hh-1")


def new_alert() -> tuple[object, object]:
    return rules.raise_alert(HH, AlertKind.INACTIVITY, Severity.CRITICAL, 1000.0, "quiet")


def test_ack_then_resolve_is_audited() -> None:
    """open → acknowledged → resolved, each step with actor, time and note."""
    alert, _ = rules.raise_alert(HH, AlertKind.INACTIVITY, Severity.CRITICAL, 1000.0, "quiet")
    acked, audit1 = rules.acknowledge(alert, "cw-kim", 1100.0, "calling")
    assert acked.state is AlertState.ACKNOWLEDGED and acked.acknowledged_by == "cw-kim"
    assert (audit1.actor, audit1.action, audit1.note) == ("cw-kim", "acknowledged", "calling")
    done, audit2 = rules.resolve(acked, "cw-kim", 1200.0, Outcome.VISITED_OK, "fine")
    assert done.state is AlertState.RESOLVED and done.outcome is Outcome.VISITED_OK
    assert audit2.outcome is Outcome.VISITED_OK


def test_illegal_transitions_are_rejected() -> None:
    """No ack of a resolved alert, no double resolve, no system outcome chosen by a person."""
    alert, _ = rules.raise_alert(HH, AlertKind.INACTIVITY, Severity.CRITICAL, 1000.0, "quiet")
    done, _ = rules.resolve(alert, "cw-kim", 1100.0, Outcome.RESIDENT_OK)
    with pytest.raises(IllegalTransition):
        rules.acknowledge(done, "cw-kim", 1200.0)
    with pytest.raises(IllegalTransition):
        rules.resolve(done, "cw-kim", 1200.0, Outcome.RESIDENT_OK)
    with pytest.raises(IllegalTransition):
        rules.resolve(alert, "cw-kim", 1200.0, Outcome.ACTIVITY_RESUMED)
    acked, _ = rules.acknowledge(alert, "cw-kim", 1100.0)
    with pytest.raises(IllegalTransition):
        rules.acknowledge(acked, "cw-lee", 1150.0)


def test_store_round_trip_and_optimistic_check(tmp_path: Path) -> None:
    """Transitions are stored with audit and outbox atomically; stale writers are refused."""
    store = SqliteStore(tmp_path / "s.db")
    alert, audit = rules.raise_alert(HH, AlertKind.INACTIVITY, Severity.CRITICAL, 1000.0, "q")
    note = Notification("k1", "mqtt", "careplug/alerts/hh-1", "s", "t", "en", data={"a": 1})
    store.record_transition(alert, audit, None, [note], 5.0)
    with pytest.raises(IllegalTransition):
        store.record_transition(alert, audit, None, [], 5.0)  # already exists
    acked, audit2 = rules.acknowledge(alert, "cw-kim", 1100.0)
    other = SqliteStore(tmp_path / "s.db", origin="cli")
    other.record_transition(acked, audit2, AlertState.OPEN)
    seq, changed = store.changes_from_others(0)
    assert [a.state for a in changed] == [AlertState.ACKNOWLEDGED] and seq == 2
    assert [e.action for e in store.audit(alert.id)] == ["raised", "acknowledged"]
    assert [i.notification.key for i in store.due(10.0)] == ["k1"]
    held = Notification("k2", "email", "cw-kim", "s", "t", "ko", address="kim@x", delay_s=60.0)
    store.enqueue([held], 5.0)
    assert [i.notification.key for i in store.due(10.0)] == ["k1"]  # k2 waits out quiet hours
    assert [i.notification.address for i in store.due(65.0)] == [None, "kim@x"]
    store.mark_delivered("k2", "email", "cw-kim", 66.0)
    store.mark_delivered("k1", "mqtt", "careplug/alerts/hh-1", 11.0)
    assert store.due(100.0) == []
    assert store.outbox_counts() == {"delivered": 2, "pending": 0, "dead": 0}


def test_store_state_survives_reopen(tmp_path: Path) -> None:
    """Plug and household memories come back after a reopen; migrations run once."""
    store = SqliteStore(tmp_path / "s.db")
    plug = PlugMemory(PlugId("p"), 1.0, 2.0, 3.0, 2.0, 4.0, 2.0, True, 0.5, None, None)
    hh = HouseholdMemory(HH, 10.0, 5.0, None, 0.0, None, ("device_offline",))
    store.save_state([plug], [hh])
    store.close()
    again = SqliteStore(tmp_path / "s.db")
    assert again.load_plugs() == [plug]
    assert again.load_households() == [hh]
    assert again.schema_version == len(MIGRATIONS)


def test_saved_state_rows_are_what_they_were(tmp_path: Path) -> None:
    """save_state binds a PlugMemory as its row: in_use is stored as the integer 0/1 (not a
    bool's text), None as NULL; a routine is written only when the snapshot carries one."""
    store = SqliteStore(tmp_path / "s.db")
    plugs = [
        PlugMemory(PlugId("a"), 1.0, 2.0, 3.0, 2.0, 4.0, 2.0, True, 0.5, None, None),
        PlugMemory(PlugId("b"), 1.0, None, None, None, None, None, False, None, 7.0, 8.0),
        PlugMemory(PlugId("c"), 1.0, None, None, None, None, None, None, None, None, None),
    ]
    homes = {
        HH: HouseholdMemory(HH, 10.0, 5.0, None, 0.0, None, (), b"CPR2x", True, 1.0, 2.0, True),
        HouseholdId("hh-2"): HouseholdMemory(HouseholdId("hh-2"), None, None, None, 3.0, None),
    }
    store.save_state(plugs, homes.values())  # the driver hands over dict views
    rows = store._db.execute("SELECT plug, in_use, typeof(in_use) FROM plugs ORDER BY 1")
    assert rows.fetchall() == [("a", 1, "integer"), ("b", 0, "integer"), ("c", None, "null")]
    rows = store._db.execute("SELECT skip_learn, awaiting_return FROM households ORDER BY 1 DESC")
    assert rows.fetchall() == [(1, 1), (0, 0)]
    assert store._db.execute("SELECT * FROM routines").fetchall() == [(HH, b"CPR2x")]
    assert store.load_plugs() == plugs and store.load_households()[1] == homes[HouseholdId("hh-2")]
    store.save_state([], [])  # nothing to do: no transaction
    assert not store._db.in_transaction


def test_a_failing_snapshot_rolls_the_whole_commit_back(tmp_path: Path) -> None:
    """The rows are made inside the transaction: an error while making one (here a household
    snapshot that is not one) leaves nothing written and the store usable."""
    store = SqliteStore(tmp_path / "s.db")
    plug = PlugMemory(PlugId("p"), 1.0, 2.0, 3.0, 2.0, 4.0, 2.0, True, 0.5, None, None)
    good = HouseholdMemory(HH, 10.0, 5.0, None, 0.0, None)
    with pytest.raises(AttributeError):
        store.save_state([plug], [good, object()])  # type: ignore[list-item]
    assert not store._db.in_transaction
    assert store.load_plugs() == [] and store.load_households() == []
    store.save_state([plug], [good])
    assert store.load_plugs() == [plug]


def test_page_cache_is_a_setting(tmp_path: Path) -> None:
    """[store] page_cache_kib reaches SQLite (512 KiB unless set); too small is refused."""
    os.environ.pop("CAREPLUG_MQTT__PORT", None)
    assert load_settings(ROOT / "config" / "careplug.example.toml").store.page_cache_kib == 512
    store = SqliteStore(tmp_path / "s.db")
    assert store._db.execute("PRAGMA cache_size").fetchone()[0] == -512
    store.close()
    store = SqliteStore(tmp_path / "s.db", cache_kib=2000)
    assert store._db.execute("PRAGMA cache_size").fetchone()[0] == -2000
    store.close()
    with pytest.raises(ValueError, match="cache_kib"):
        SqliteStore(tmp_path / "s.db", cache_kib=0)
    config = tmp_path / "c.toml"
    config.write_text("[store]\npage_cache_kib = 16\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert "store.page_cache_kib" in str(info.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("24h", 86400), ("2d", 172800), (30, 30), ("1.5h", 5400)],
)
def test_durations(text: object, seconds: float) -> None:
    """Durations are written with units."""
    assert parse_duration(text) == seconds


def test_example_config_loads_and_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped example config is valid; env overrides it; secrets never print."""
    monkeypatch.setenv("CAREPLUG_MQTT__PASSWORD", "hunter2")
    monkeypatch.setenv("CAREPLUG_MQTT__PORT", "1999")
    settings = load_settings(ROOT / "config" / "careplug.example.toml")
    assert settings.mqtt.port == 1999
    shown = effective(settings)
    assert shown["mqtt"]["password"] == "********"
    assert "hunter2" not in repr(shown)
    assert shown["detection"]["tiers"]["medium"] == "1d"


def test_broken_config_names_the_field(tmp_path: Path) -> None:
    """A bad value and a misspelt key are both reported by dotted path."""
    os.environ.pop("CAREPLUG_MQTT__PORT", None)
    bad = tmp_path / "bad.toml"
    bad.write_text('[mqtt]\nport = "many"\nhots = "x"\n[detection.tiers]\nhigh = "soon"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(bad)
    text = str(info.value)
    assert "mqtt.port" in text and "mqtt.hots" in text and "detection.tiers.high" in text


def test_learnt_warning_rate_is_a_setting(tmp_path: Path) -> None:
    """The programme's warning-rate policy reaches the learning detector; a negative rate is
    refused by name."""
    os.environ.pop("CAREPLUG_MQTT__PORT", None)
    config = tmp_path / "c.toml"
    config.write_text("[detection]\nlearnt_warnings_per_month = 0.25\n")
    assert detection_config(load_settings(config)).routine.warnings_per_month == 0.25
    assert detection_config(load_settings(ROOT / "config" / "careplug.example.toml")).routine == (
        RoutineConfig()
    )
    config.write_text("[detection]\nlearnt_warnings_per_month = -1\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config)
    assert "detection.learnt_warnings_per_month" in str(info.value)


def test_example_registry_loads() -> None:
    """The shipped example registry is valid; a fridge never shows activity."""
    households = load_registry(ROOT / "config" / "households.example.toml")
    assert [h.id for h in households] == ["hh-0001", "hh-0002"]
    assert households[0].tier is RiskTier.HIGH
    fridge = households[1].plugs[1]
    assert fridge.shows_activity is False


def test_registry_errors(tmp_path: Path) -> None:
    """Duplicate plugs, unknown zones and unknown tiers stop start-up with a reason."""
    path = tmp_path / "r.toml"
    path.write_text('[[household]]\nid="a"\ntimezone="Mars/Olympus"\n')
    with pytest.raises(ConfigError, match="timezone"):
        load_registry(path)
    path.write_text('[[household]]\nid="a"\ntier="extreme"\n')
    with pytest.raises(ConfigError, match="tier"):
        load_registry(path)
    path.write_text(
        '[[household]]\nid="a"\n[[household.plug]]\nid="p"\n'
        '[[household]]\nid="b"\n[[household.plug]]\nid="p"\n'
    )
    with pytest.raises(ConfigError, match="plug p is in both"):
        load_registry(path)


def test_csv_registry(tmp_path: Path) -> None:
    """The CSV form: one row per plug."""
    path = tmp_path / "r.csv"
    path.write_text(
        "household,plug,tier,caseworkers,appliance\n"
        "h1,p1,high,cw-a;cw-b,tv\nh1,p2,high,,fridge\nh2,p3,,,\n"
    )
    households = load_registry(path)
    assert [len(h.plugs) for h in households] == [2, 1]
    assert households[0].caseworkers == ("cw-a", "cw-b")
    assert households[1].tier is RiskTier.MEDIUM


def test_retention_purges_only_old_resolved_alerts(tmp_path: Path) -> None:
    """Old resolved alerts and their audit go; open ones and recent ones stay."""
    store = SqliteStore(tmp_path / "s.db")
    old, a1 = rules.raise_alert(HH, AlertKind.INACTIVITY, Severity.CRITICAL, 100.0, "q")
    store.record_transition(old, a1, None)
    done, a2 = rules.resolve(old, "cw", 200.0, Outcome.RESIDENT_OK)
    store.record_transition(done, a2, AlertState.OPEN)
    still, a3 = rules.raise_alert(HH, AlertKind.DEVICE_OFFLINE, Severity.WARNING, 150.0, "o")
    store.record_transition(still, a3, None)
    assert store.purge(alerts_before=1000.0, outbox_before=0.0) == {
        "alerts": 1,
        "audit": 2,
        "outbox": 0,
    }
    assert [a.id for a in store.list_alerts()] == [still.id]
