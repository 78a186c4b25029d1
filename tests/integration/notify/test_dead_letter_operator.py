"""A dead letter reaches the operators once, through the outbox, over real HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from careplug.adapters.notifiers.webhook import WebhookNotifier
from careplug.adapters.store_sqlite import SqliteStore
from careplug.domain.routing import ChannelAddress, Directory, Recipient, Role
from careplug.ports import Notification
from careplug.runtime.delivery import DeliveryWorker
from tests.integration.notify.conftest import HttpReceiver

pytestmark = pytest.mark.integration

DIRECTORY = Directory(
    recipients={
        "cw": Recipient("cw", Role.CASEWORKER, (ChannelAddress("webhook"),)),
        "ops-1": Recipient("ops-1", Role.OPERATOR, (ChannelAddress("ops"),), "en"),
    }
)


def note(key: str, recipient: str, channel: str) -> Notification:
    return Notification(key, channel, recipient, "s", "t", "ko", "+821000000000")


def test_dead_letter_enqueues_one_operator_notification(
    tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    http_receiver.status["/people"] = 400  # permanent: dead letter at once
    store = SqliteStore(tmp_path / "c.db")
    notifiers = {
        "webhook": WebhookNotifier(http_receiver.url("/people")),
        "ops": WebhookNotifier(http_receiver.url("/ops"), channel="ops"),
    }
    worker = DeliveryWorker(store, notifiers, lambda: 1000.0, directory=DIRECTORY)
    store.enqueue([note("a-1:0:cw:webhook", "cw", "webhook")], 1000.0)
    assert worker.deliver_due() == 0
    assert [d.notification.key for d in store.dead_letters()] == ["a-1:0:cw:webhook"]
    assert worker.deliver_due() == 1
    ops = [r for r in http_receiver.received if r.path == "/ops"]
    assert len(ops) == 1
    body = json.loads(ops[0].body)
    assert body["key"] == "a-1:0:cw:webhook:dead"
    assert body["recipient"] == "ops-1"
    assert "+8210" not in ops[0].body.decode()  # the address never travels in the report
    assert worker.deliver_due() == 0  # delivered once, never repeated

    # an operator's own dead letter is not reported again (no loop)
    http_receiver.status["/ops"] = 400
    store.enqueue([note("sys:0:ops-1:ops", "ops-1", "ops")], 1000.0)
    worker.deliver_due()
    worker.deliver_due()
    assert sorted(d.notification.key for d in store.dead_letters()) == [
        "a-1:0:cw:webhook",
        "sys:0:ops-1:ops",
    ]
    assert worker.outcomes["ops:dead"] == 1
    store.close()
