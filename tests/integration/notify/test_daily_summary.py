"""The daily summary: once a day per caseworker at 08:30 in their own time zone, in event
time, with drifting households; delivered once over real HTTP, not again after a restart."""

from __future__ import annotations

import gc
import json
import sqlite3
import time as _time
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from careplug.adapters.notifiers.webhook import WebhookNotifier
from careplug.adapters.store_sqlite import SqliteStore
from careplug.app import start_daemon
from careplug.clock import VirtualClock
from careplug.domain.engine import DetectionConfig, Engine
from careplug.domain.model import (
    Appliance,
    Household,
    HouseholdId,
    Outcome,
    PlugId,
    PlugSpec,
    Reading,
    RiskTier,
    Severity,
)
from careplug.domain.routing import ChannelAddress, Directory, Recipient, Role
from careplug.domain.self_check import RESIDENT_ACTOR, SELF_CHECK_EXPIRED_KEY, SELF_CHECK_SENT_KEY
from careplug.runtime.delivery import DeliveryWorker
from careplug.runtime.driver import Driver
from careplug.runtime.fanout import FanoutConfig
from careplug.runtime.router import AlertRouter
from careplug.runtime.summary import DailySummaries
from careplug.settings import load_settings
from tests.conftest import Mosquitto
from tests.integration.daemon_support import write_config
from tests.integration.notify.conftest import HttpReceiver
from tests.past_alarms import store_past_alarm

pytestmark = pytest.mark.integration

SEOUL = ZoneInfo("Asia/Seoul")
DAY1 = date(2026, 3, 2)
START = datetime.combine(DAY1, time(0, 0), tzinfo=SEOUL).timestamp()


def household(n: int, cw: str, tier: RiskTier = RiskTier.MEDIUM) -> Household:
    return Household(
        HouseholdId(f"hh-{n}"),
        tier=tier,
        caseworkers=(cw,),
        plugs=(PlugSpec(PlugId(f"p-{n}"), Appliance.KETTLE),),
    )


HOUSEHOLDS = [
    household(0, "cw-kim"),  # drifting: later mornings
    household(1, "cw-kim", RiskTier.HIGH),  # falls silent: an open alert
    household(2, "cw-lee"),  # steady
]
DIRECTORY = Directory(
    recipients={
        "cw-kim": Recipient("cw-kim", Role.CASEWORKER, (ChannelAddress("webhook"),)),
        "cw-lee": Recipient(
            "cw-lee", Role.CASEWORKER, (ChannelAddress("webhook"),), "en", "Europe/London"
        ),
        "lead": Recipient("lead", Role.TEAM_LEAD, (ChannelAddress("webhook"),)),
    }
)


def past_activity(store: SqliteStore) -> None:
    """Four weeks of history: hh-0 up at 07:00, then at 09:15 for two weeks; hh-2 steady."""
    rows = []
    for n in range(28):
        day = DAY1 - timedelta(days=28 - n)
        wake = time(7, 0) if n < 14 else time(9, 15)
        for hh, first in (("hh-0", wake), ("hh-2", time(7, 0))):
            for t in (first, time(12, 0), time(18, 0), time(21, 0)):
                at = datetime.combine(day, t, tzinfo=SEOUL).timestamp()
                rows.append((HouseholdId(hh), PlugId(f"p-{hh[-1]}"), at))
    store.record_activity(rows)


class Rig:
    def __init__(self, store: SqliteStore, clock: VirtualClock) -> None:
        self.clock = clock
        self.store = store
        config = DetectionConfig(
            tier_thresholds={RiskTier.HIGH: 4 * 3600, RiskTier.MEDIUM: 30 * 86400.0},
            catch_up_grace_s=60,
        )
        engine = Engine(config, HOUSEHOLDS, clock.now())
        engine.restore(store.load_plugs(), store.load_households(), store.list_alerts())
        router = AlertRouter(FanoutConfig(), DIRECTORY, HOUSEHOLDS, frozenset({"webhook"}))
        self.driver = Driver(
            engine,
            store,
            clock,
            tick_s=1.0,
            lateness_s=0.0,
            router=router,
            processing_clock=clock.now,
            summaries=DailySummaries(store),
        )

    def run_until(self, end: float, step: float = 600.0) -> None:
        while self.clock.now() < end:
            self.clock.advance(step)
            for h in HOUSEHOLDS:
                self.driver.submit(Reading(h.plugs[0].id, self.clock.now(), 0.5, None))
            self.driver.process_pending()


def summaries(store: SqliteStore) -> dict[str, tuple[float, dict[str, object]]]:
    with sqlite3.connect(store.path) as db:
        rows = db.execute(
            "SELECT key, created_at, data FROM outbox WHERE key LIKE 'summary:%'"
        ).fetchall()
    return {r[0]: (r[1], json.loads(r[2])) for r in rows}


def test_one_summary_a_day_per_caseworker_in_their_zone(
    tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    store = SqliteStore(tmp_path / "careplug.db")
    past_activity(store)
    clock = VirtualClock(START)
    rig = Rig(store, clock)
    rig.run_until(START + 8 * 3600)  # 08:00 in Seoul: nothing yet
    assert summaries(store) == {}
    rig.run_until(START + 50 * 3600)  # two days and two hours

    day2 = DAY1 + timedelta(days=1)
    got = summaries(store)
    # cw-lee in London: 08:30 there on the same dates (the 1 March one was already past
    # 15:00 at the start, too late to be worth sending)
    assert sorted(got) == sorted(
        f"summary:{d}:{cw}:webhook" for cw in ("cw-kim", "cw-lee") for d in (DAY1, day2)
    )
    # created in event time at 08:30 in each caseworker's zone (within one 10-minute step)
    for key, (created, _) in got.items():
        zone = ZoneInfo("Europe/London" if "cw-lee" in key else "Asia/Seoul")
        local = datetime.fromtimestamp(created, zone)
        assert local.date().isoformat() == key.split(":")[1]
        assert time(8, 30) <= local.time() < time(8, 40)

    kim = got[f"summary:{DAY1}:cw-kim:webhook"][1]
    assert kim["households"] == 2
    assert kim["drifting"] == {"hh-0": ["later_mornings"]}
    assert len(kim["open_alerts"]) == 1  # type: ignore[arg-type]
    assert kim["households_ok"] == 1
    lee = got[f"summary:{DAY1}:cw-lee:webhook"][1]
    assert (lee["households"], lee["households_ok"], lee["drifting"]) == (1, 1, {})

    notifiers = {"webhook": WebhookNotifier(http_receiver.url("/hook"))}
    worker = DeliveryWorker(store, notifiers, lambda: START + 60 * 3600)
    worker.deliver_due()
    sent = [
        r.json()
        for r in http_receiver.received
        if r.headers["Idempotency-Key"].startswith("summary:")
    ]
    assert len(sent) == 4
    kim_text = next(s for s in sent if s["key"] == f"summary:{DAY1}:cw-kim:webhook")  # type: ignore[index]
    assert "hh-0 (늦은 기상)" in kim_text["text"]  # type: ignore[index]
    assert "열린 알림: 1" in kim_text["text"]  # type: ignore[index]
    lee_text = next(s for s in sent if s["key"] == f"summary:{DAY1}:cw-lee:webhook")  # type: ignore[index]
    assert lee_text["subject"].startswith(f"[careplug] Summary for {DAY1}")  # type: ignore[index]

    # a restart the same morning computes them again: the outbox already has them
    rig.driver.stop()
    rig = Rig(store, clock)
    rig.run_until(clock.now() + 3600)
    assert sorted(summaries(store)) == sorted(got)
    worker.deliver_due()
    assert (
        len(
            [
                r
                for r in http_receiver.received
                if r.headers["Idempotency-Key"].startswith("summary:")
            ]
        )
        == 4
    )
    store.close()
    assert datetime.fromtimestamp(START, UTC).hour == 15  # the start is midnight in Seoul


def past_alarms(store: SqliteStore) -> None:
    """Resolved alarms of the last weeks: hh-2's kept ending with the resident fine."""
    rows = [
        ("hh-2", 3, Severity.CRITICAL, Outcome.RESIDENT_OK),
        ("hh-2", 10, Severity.WARNING, Outcome.ACTIVITY_RESUMED),
        ("hh-2", 17, Severity.CRITICAL, Outcome.AWAY),
        ("hh-2", 18, Severity.ATTENTION, Outcome.ACTIVITY_RESUMED),  # dashboard only
        ("hh-2", 40, Severity.CRITICAL, Outcome.FALSE_ALARM),  # outside the 28 days
        ("hh-0", 5, Severity.CRITICAL, Outcome.HOSPITAL),  # help was needed
        ("hh-0", 6, Severity.CRITICAL, Outcome.RESIDENT_OK),
        ("hh-0", 7, Severity.WARNING, Outcome.FALSE_ALARM),
    ]
    for n, (hh, days_ago, severity, outcome) in enumerate(rows):
        raised = START - days_ago * 86400.0
        store_past_alarm(store, f"past-{n}", hh, raised, outcome, severity=severity)


def test_the_summary_lists_homes_whose_alarms_keep_ending_with_the_resident_fine(
    tmp_path: Path,
) -> None:
    """Three caseworker-facing alarms in four weeks that found the resident fine put hh-2 on
    its caseworker's review list; hh-0 (one of its alarms was real help) is not listed."""
    store = SqliteStore(tmp_path / "careplug.db")
    past_activity(store)
    past_alarms(store)
    clock = VirtualClock(START)
    rig = Rig(store, clock)
    rig.run_until(START + 26 * 3600)
    got = summaries(store)
    lee = got[f"summary:{DAY1}:cw-lee:webhook"][1]
    assert lee["false_alarms"] == {"hh-2": {"alarms": 3, "resident_fine": 3, "away": 1}}
    kim = got[f"summary:{DAY1}:cw-kim:webhook"][1]
    assert kim["false_alarms"] == {}
    with sqlite3.connect(store.path) as db:
        text = db.execute(
            "SELECT text FROM outbox WHERE key = ?", (f"summary:{DAY1}:cw-lee:webhook",)
        ).fetchone()[0]
    assert "Repeated false alarms" in text and "hh-2 (3 of 3 alarms, 1 away)" in text
    rig.driver.stop()
    store.close()


def test_the_summary_reports_how_often_residents_answered_a_self_check(
    tmp_path: Path,
) -> None:
    """Each caseworker's summary counts the self-checks of their households within four
    weeks by how they ended, with the answer rate, in its data and its text."""
    store = SqliteStore(tmp_path / "careplug.db")
    past_activity(store)
    rows = [  # household, days ago, resolved by, outcome, expired (caseworkers told)
        ("hh-2", 2, RESIDENT_ACTOR, Outcome.RESIDENT_OK, False),
        ("hh-2", 4, RESIDENT_ACTOR, Outcome.RESIDENT_OK, False),
        ("hh-2", 9, "cw-lee", Outcome.VISITED_OK, True),
        ("hh-2", 11, "careplug", Outcome.ACTIVITY_RESUMED, False),
        ("hh-2", 35, RESIDENT_ACTOR, Outcome.RESIDENT_OK, False),  # outside the 28 days
        ("hh-0", 3, "cw-kim", Outcome.VISITED_OK, True),
    ]
    for n, (hh, days_ago, by, outcome, expired) in enumerate(rows):
        raised = START - days_ago * 86400.0
        details: dict[str, object] = {SELF_CHECK_SENT_KEY: raised}
        if expired:
            details[SELF_CHECK_EXPIRED_KEY] = raised + 1800.0
        store_past_alarm(
            store, f"sc-{n}", hh, raised, outcome, severity=Severity.WARNING, by=by, details=details
        )
    rig = Rig(store, VirtualClock(START))
    rig.run_until(START + 26 * 3600)
    got = summaries(store)
    lee = got[f"summary:{DAY1}:cw-lee:webhook"][1]
    assert lee["self_checks"] == {
        "asked": 4,
        "answered": 2,
        "unanswered": 1,
        "activity": 1,
        "answer_rate": 2 / 3,
    }
    kim = got[f"summary:{DAY1}:cw-kim:webhook"][1]
    assert kim["self_checks"] == {
        "asked": 1,
        "answered": 0,
        "unanswered": 1,
        "activity": 0,
        "answer_rate": 0.0,
    }
    with sqlite3.connect(store.path) as db:
        text = db.execute(
            "SELECT text FROM outbox WHERE key = ?", (f"summary:{DAY1}:cw-lee:webhook",)
        ).fetchone()[0]
    assert "Resident self-checks (last 28 days): 4 asked, 2 answered (67%)" in text
    rig.driver.stop()
    store.close()


def test_the_daemon_sends_the_summary_when_enabled(
    tmp_path: Path, mosquitto: Mosquitto, http_receiver: HttpReceiver
) -> None:
    """``[notify] daily_summary`` wires it into the daemon: started a minute after the
    summary time, it sends today's summary once (real clock, Mosquitto, HTTP)."""
    now = datetime.now(UTC)
    # two minutes ago, today (just after midnight: midnight)
    at = (now - timedelta(minutes=2)).time() if now.hour or now.minute >= 2 else time(0, 0)
    (tmp_path / "recipients.toml").write_text(
        '[[recipient]]\nid = "cw-kim"\nrole = "caseworker"\ntimezone = "UTC"\nlocale = "en"\n'
        'channels = [{ channel = "webhook" }]\n'
    )
    extra = (
        '[notify]\nrecipients = "recipients.toml"\ndaily_summary = true\n'
        f'daily_summary_at = "{at.strftime("%H:%M")}"\n'
        f'[webhook]\nurl = "{http_receiver.url("/hook")}"\n'
    )
    config = write_config(tmp_path, mosquitto.port, extra=extra)
    daemon = start_daemon(load_settings(config), config_path=config)
    key = f"summary:{now.date().isoformat()}:cw-kim:webhook"
    try:
        deadline = _time.monotonic() + 15
        while _time.monotonic() < deadline:
            if any(r.headers.get("Idempotency-Key") == key for r in http_receiver.received):
                break
            _time.sleep(0.05)
        _time.sleep(1.0)  # several ticks later: still once
        sent = [r for r in http_receiver.received if r.headers.get("Idempotency-Key") == key]
        assert len(sent) == 1
        body = sent[0].json()
        assert body["event"] == "daily_summary"  # type: ignore[index]
        assert body["households"] == 1  # type: ignore[index]
    finally:
        daemon.stop()
    # start-up froze its objects for the collector; a stopped daemon must not leave the host
    # process (here: pytest's) frozen — gc.get_referrers would miss them, hypothesis trips
    assert gc.get_freeze_count() == 0
