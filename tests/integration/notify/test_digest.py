"""Many alerts at once for one caseworker: one digest message through the driver, the router
and the real SQLite outbox; each alert keeps its own ladder; delivered over real HTTP."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from careplug.adapters.notifiers.webhook import WebhookNotifier
from careplug.adapters.store_sqlite import SqliteStore
from careplug.clock import VirtualClock
from careplug.domain import alerts as rules
from careplug.domain.engine import AlertChanged, DetectionConfig, Engine
from careplug.domain.model import (
    Appliance,
    Household,
    HouseholdId,
    PlugId,
    PlugSpec,
    Reading,
    RiskTier,
    Severity,
)
from careplug.domain.routing import (
    ChannelAddress,
    Directory,
    EscalationPolicy,
    Recipient,
    Role,
    Team,
)
from careplug.runtime.delivery import DeliveryWorker
from careplug.runtime.driver import Driver
from careplug.runtime.fanout import FanoutConfig
from careplug.runtime.router import AlertRouter
from tests.integration.notify.conftest import HttpReceiver

pytestmark = pytest.mark.integration

H = 3600.0
T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC, 09:00 in Seoul


def household(n: int) -> Household:
    return Household(
        HouseholdId(f"hh-{n}"),
        tier=RiskTier.HIGH,
        caseworkers=("cw-kim",),
        area="a1",
        plugs=(PlugSpec(PlugId(f"p-{n}"), Appliance.TV),),
    )


DIRECTORY = Directory(
    recipients={
        "cw-kim": Recipient("cw-kim", Role.CASEWORKER, (ChannelAddress("webhook"),)),
        "lead": Recipient("lead", Role.TEAM_LEAD, (ChannelAddress("webhook"),), "en"),
    },
    teams={"a1": Team("a1", ("cw-kim", "lead"))},
    policies={Severity.CRITICAL: EscalationPolicy(30 * 60, (Role.TEAM_LEAD,))},
    digest_threshold=3,
)


class Rig:
    """Engine, real SQLite store and driver on a virtual clock the test moves."""

    def __init__(self, tmp: Path, households: list[Household]) -> None:
        self.clock = VirtualClock(T0)
        self.households = households
        engine = Engine(
            DetectionConfig(tier_thresholds=dict.fromkeys(RiskTier, 2 * H), catch_up_grace_s=60),
            households,
            T0,
        )
        self.store = SqliteStore(tmp / "careplug.db")
        router = AlertRouter(FanoutConfig(), DIRECTORY, households, frozenset({"mqtt", "webhook"}))
        self.driver = Driver(
            engine,
            self.store,
            self.clock,
            tick_s=1.0,
            lateness_s=0.0,
            processing_clock=self.clock.now,  # the virtual clock moves: not a clock step
        )
        self.driver.router = router
        self.raised: list[AlertChanged] = []

    def run(self, seconds: float, power: float = 0.5, step: float = 300.0) -> None:
        """Every plug reports ``power`` every ``step`` seconds for ``seconds``."""
        end = self.clock.now() + seconds
        while self.clock.now() < end:
            self.clock.advance(step)
            for h in self.households:
                self.driver.submit(Reading(h.plugs[0].id, self.clock.now(), power, None))
            for effect in self.driver.process_pending():
                if isinstance(effect, AlertChanged) and effect.event == "raised":
                    self.raised.append(effect)

    def outbox(self) -> list[tuple[str, str, float, float, dict[str, object]]]:
        with sqlite3.connect(self.store.path) as db:
            rows = db.execute(
                "SELECT key, recipient, created_at, next_attempt_at, data FROM outbox "
                "WHERE channel = 'webhook' ORDER BY key"
            ).fetchall()
        return [(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]


def test_four_alerts_at_once_make_one_digest_each_keeps_its_ladder(
    tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    """Four households fall silent together: cw-kim gets one digest (not four messages),
    sent at once though they are critical; 30 min later each alert escalates on its own;
    acknowledging one stops only its ladder; the digest is delivered once over HTTP."""
    rig = Rig(tmp_path, [household(n) for n in range(4)])
    rig.run(600, power=0.5)
    rig.run(600, power=120.0)  # all four in use, then off: the last activity
    rig.run(2 * H + 600, power=0.5)
    assert len(rig.raised) == 4
    assert {e.alert.severity for e in rig.raised} == {Severity.CRITICAL}
    ids = sorted(e.alert.id for e in rig.raised)

    rows = rig.outbox()
    to_kim = [r for r in rows if r[1] == "cw-kim"]
    assert len(to_kim) == 1
    key, _, created, due, data = to_kim[0]
    assert key.startswith("digest-") and key.endswith(":0:cw-kim:webhook")
    assert sorted(data["parts"]) == sorted(f"{i}:0:cw-kim:webhook" for i in ids)  # type: ignore[arg-type]
    assert data["event"] == "digest"
    assert due == created  # critical: nothing waits for a digest
    assert len([r for r in rows if r[1] == "webhook"]) == 0  # no generic webhook configured
    assert len(rig.store.list_alerts(open_only=True)) == 4

    rig.run(30 * 60, power=0.5)
    escalations = sorted(r[0] for r in rig.outbox() if r[1] == "lead")
    assert escalations == sorted(f"{i}:1:lead:webhook" for i in ids)

    # one alert acknowledged: its ladder stops, the others are untouched
    first = rig.store.get_alert(ids[0])
    assert first is not None
    acked, audit = rules.acknowledge(first, "cw-kim", rig.clock.now())
    rig.store.record_transition(acked, audit, first.state, origin="cli")
    rig.run(600, power=0.5)
    states = {a.id: a.state.value for a in rig.store.list_alerts()}
    assert states[ids[0]] == "acknowledged"
    assert [states[i] for i in ids[1:]] == ["open"] * 3

    notifiers = {"webhook": WebhookNotifier(http_receiver.url("/hook"))}
    worker = DeliveryWorker(rig.store, notifiers, lambda: T0 + 10 * H)
    worker.deliver_due()
    worker.deliver_due()
    keys = [r.headers["Idempotency-Key"] for r in http_receiver.received]
    assert keys.count(key) == 1
    body = http_receiver.received[keys.index(key)].json()
    assert "새 알림 4건" in body["subject"]  # type: ignore[index]
    assert all(h in body["text"] for h in ("hh-0", "hh-1", "hh-2", "hh-3"))  # type: ignore[index]
    rig.store.close()


def test_two_alerts_at_once_are_sent_one_by_one(tmp_path: Path) -> None:
    """Below the threshold nothing folds: each alert has its own step-0 message."""
    rig = Rig(tmp_path, [household(n) for n in range(2)])
    rig.run(600, power=0.5)
    rig.run(600, power=120.0)
    rig.run(2 * H + 600, power=0.5)
    ids = sorted(e.alert.id for e in rig.raised)
    assert len(ids) == 2
    assert [r[0] for r in rig.outbox() if r[1] == "cw-kim"] == [
        f"{i}:0:cw-kim:webhook" for i in ids
    ]
    rig.store.close()
