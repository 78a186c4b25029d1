"""When daily summaries come due: local time of each caseworker, once a day, not too late."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from careplug.adapters.store_sqlite import SqliteStore
from careplug.domain.model import Household, HouseholdId
from careplug.domain.routing import ChannelAddress, Directory, Recipient, Role
from careplug.runtime.fanout import FanoutConfig
from careplug.runtime.router import AlertRouter
from careplug.runtime.summary import DailySummaries

BERLIN = ZoneInfo("Europe/Berlin")
ROUTER = AlertRouter(
    FanoutConfig(),
    Directory(
        recipients={
            "cw": Recipient(
                "cw", Role.CASEWORKER, (ChannelAddress("email", "cw@x"),), "en", "Europe/Berlin"
            ),
            "cw-none": Recipient("cw-none", Role.CASEWORKER, (ChannelAddress("email", "n@x"),)),
            "lead": Recipient("lead", Role.TEAM_LEAD, (ChannelAddress("email", "l@x"),)),
        }
    ),
    [Household(HouseholdId("hh-1"), timezone="Europe/Berlin", caseworkers=("cw",))],
)


def at(day: date, t: time) -> float:
    return datetime.combine(day, t, tzinfo=BERLIN).timestamp()


def keys(store: SqliteStore) -> list[str]:
    return sorted(i.notification.key for i in store.due(1e12, limit=100))


def test_due_at_local_time_once_a_day_across_a_dst_change(tmp_path: Path) -> None:
    """08:30 Berlin on the day clocks go forward (29 March 2026) and the day after; each once;
    only caseworkers with households; nothing before 08:30."""
    store = SqliteStore(tmp_path / "s.db")
    summaries = DailySummaries(store)
    status = {HouseholdId("hh-1"): "ok"}.__getitem__
    change = date(2026, 3, 29)
    assert summaries.run(at(change, time(8, 29)), ROUTER, [], status, 0.0) == 0
    assert summaries.run(at(change, time(8, 30)), ROUTER, [], status, 0.0) == 1
    assert summaries.run(at(change, time(8, 31)), ROUTER, [], status, 0.0) == 0
    assert summaries.run(at(change, time(23, 0)), ROUTER, [], status, 0.0) == 0
    assert summaries.run(at(date(2026, 3, 30), time(8, 45)), ROUTER, [], status, 0.0) == 1
    assert keys(store) == [
        "summary:2026-03-29:cw:email",
        "summary:2026-03-30:cw:email",
    ]
    store.close()


def test_too_late_a_summary_is_skipped_for_that_day(tmp_path: Path) -> None:
    """careplug back at 15:00 (6.5 h late): no summary that day; back at 14:00 (5.5 h): sent."""
    store = SqliteStore(tmp_path / "s.db")
    status = {HouseholdId("hh-1"): "ok"}.__getitem__
    day = date(2026, 5, 4)
    assert DailySummaries(store).run(at(day, time(15, 0)), ROUTER, [], status, 0.0) == 0
    assert DailySummaries(store).run(at(day, time(14, 0)), ROUTER, [], status, 0.0) == 1
    assert keys(store) == ["summary:2026-05-04:cw:email"]
    store.close()
