"""Alerts reach people: the household's caseworker by email in Korean, the team lead when
nobody acknowledges in time, and the acknowledgement stops the ladder (real daemon, Mosquitto,
aiosmtpd)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Mosquitto, free_port
from tests.integration.daemon_support import DaemonProcess, Watcher, one_household, write_config
from tests.integration.test_daemon import Reporter

pytestmark = pytest.mark.integration

RECIPIENTS = """
[[recipient]]
id = "cw-kim"
role = "caseworker"
channels = [{ channel = "email", address = "cw-kim@welfare.example" }]

[[recipient]]
id = "lead-choi"
role = "team_lead"
locale = "en"
channels = [{ channel = "email", address = "lead-choi@welfare.example" }]

[[team]]
area = "a1"
members = ["cw-kim", "lead-choi"]

[[escalation]]
severity = "critical"
ack_timeout = "4s"
levels = ["team_lead"]
"""


class Inbox:
    """A plain SMTP server (aiosmtpd) that keeps what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.port = free_port()
        self.messages: list[EmailMessage] = []
        inbox = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                msg = BytesParser(policy=policy.default).parsebytes(envelope.content)
                assert isinstance(msg, EmailMessage)
                inbox.messages.append(msg)
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def wait(self, address: str, count: int, timeout: float = 20.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.to(address)) >= count:
                return self.to(address)
            time.sleep(0.1)
        raise AssertionError(f"{address} got {len(self.to(address))} messages, not {count}")


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    try:
        yield box
    finally:
        box.controller.stop()


def test_caseworker_gets_email_team_lead_gets_escalation_ack_stops_ladder(
    tmp_path: Path, mosquitto: Mosquitto, inbox: Inbox
) -> None:
    """Raised → cw-kim (ko); 4 s unacknowledged → lead-choi (en); ack → told, nothing twice."""
    (tmp_path / "recipients.toml").write_text(RECIPIENTS)
    extra = (
        '[notify]\nrecipients = "recipients.toml"\n'
        f'[email]\nhost = "127.0.0.1"\nport = {inbox.port}\nstarttls = false\n'
        'sender = "careplug@welfare.example"\n'
    )
    config = write_config(
        tmp_path, mosquitto.port, threshold="3s", households=one_household(area="a1"), extra=extra
    )
    daemon = DaemonProcess(config)
    daemon.start()
    watcher = Watcher(mosquitto.port)
    reporter = None
    try:
        daemon.wait_log("broker_connected")
        watcher.reading("plug-1", 0.5)
        reporter = Reporter(watcher, 0.5)
        raised = watcher.next_alert("raised")["alert"]
        first = inbox.wait("cw-kim@welfare.example", 1)[0]
        assert "활동" in first["Subject"] or "활동" in first.get_content()
        escalated = inbox.wait("lead-choi@welfare.example", 1, timeout=20)[0]
        assert raised["household"] in escalated.get_content()
        ack = daemon.cli("alerts", "ack", raised["id"], "--by", "cw-kim")
        assert ack.returncode == 0, ack.stderr
        inbox.wait("cw-kim@welfare.example", 2)  # the acknowledgement
        time.sleep(6)  # longer than another ack_timeout: the ladder has stopped
        assert len(inbox.to("lead-choi@welfare.example")) == 1
        assert len(inbox.to("cw-kim@welfare.example")) == 2
        ids = [m["Message-ID"] for m in inbox.messages]
        assert len(ids) == len(set(ids))  # nothing sent twice for the same step
        trail = daemon.cli("alerts", "show", raised["id"], "--json")
        assert '"escalated_level_1"' in trail.stdout
    finally:
        if reporter:
            reporter.close()
        watcher.close()
        daemon.kill()
