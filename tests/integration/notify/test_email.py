"""EmailNotifier against a real aiosmtpd server with STARTTLS/implicit TLS and AUTH."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from careplug.adapters.notifiers.email import EmailNotifier, message_id
from careplug.clock import VirtualClock
from careplug.errors import DeliveryError
from careplug.ports import Notification

from .conftest import PASSWORD, USER, SmtpServer, TlsFiles

pytestmark = pytest.mark.integration

SENDER = "careplug@welfare.example"


def note(address: str = "cw-kim@welfare.example", key: str = "a-1:0:cw-kim:email") -> Notification:
    return Notification(
        key=key,
        channel="email",
        recipient="cw-kim",
        address=address,
        subject="[긴급] hh-0001: 07:40 이후 활동 없음",
        text="hh-0001 가구에서 07:40 이후 활동이 없습니다 (6시간 20분).\n확인해 주세요.",
    )


def starttls_notifier(
    server: SmtpServer, tls: TlsFiles, *, password: str = PASSWORD, starttls: bool = True
) -> EmailNotifier:
    return EmailNotifier(
        "127.0.0.1",
        server.port,
        username=USER,
        password=password,
        starttls=starttls,
        ssl=False,
        sender=SENDER,
        timeout_s=5,
        ssl_context=tls.client_context(),
        clock=VirtualClock(1_700_000_000),
    )


def test_delivers_korean_mail_over_starttls_with_auth(
    smtp_starttls: SmtpServer, tls_files: TlsFiles
) -> None:
    """The server receives a UTF-8 Korean subject and body, with a Message-ID from the key."""
    with capture_logs() as logs:
        starttls_notifier(smtp_starttls, tls_files).send(note())
    [msg] = smtp_starttls.messages
    assert msg["Subject"] == "[긴급] hh-0001: 07:40 이후 활동 없음"
    assert msg["To"] == "cw-kim@welfare.example"
    assert msg["From"] == SENDER
    assert msg["Message-ID"] == message_id("a-1:0:cw-kim:email", SENDER)
    assert msg["X-Careplug-Key"] == "a-1:0:cw-kim:email"
    assert "07:40 이후 활동이 없습니다" in msg.get_content()
    assert smtp_starttls.envelopes == [(SENDER, ["cw-kim@welfare.example"])]
    assert [e["event"] for e in logs] == ["notification_delivered"]
    assert "welfare.example" not in repr(logs)  # the address is contact data: not logged


def test_same_key_same_message_id_other_key_other_id(
    smtp_starttls: SmtpServer, tls_files: TlsFiles
) -> None:
    """A retry of one notification is recognisably the same mail; another step is not."""
    notifier = starttls_notifier(smtp_starttls, tls_files)
    notifier.send(note())
    notifier.send(note())
    notifier.send(note(key="a-1:1:cw-kim:email"))
    ids = [m["Message-ID"] for m in smtp_starttls.messages]
    assert ids[0] == ids[1] != ids[2]


def test_wrong_password_is_permanent(smtp_starttls: SmtpServer, tls_files: TlsFiles) -> None:
    """Bad credentials do not heal by retrying."""
    with pytest.raises(DeliveryError) as info:
        starttls_notifier(smtp_starttls, tls_files, password="wrong").send(note())
    assert info.value.retryable is False
    assert smtp_starttls.messages == []


def test_auth_without_starttls_is_permanent(smtp_starttls: SmtpServer, tls_files: TlsFiles) -> None:
    """A server that offers AUTH only after STARTTLS: a misconfigured notifier fails for good."""
    with pytest.raises(DeliveryError) as info:
        starttls_notifier(smtp_starttls, tls_files, starttls=False).send(note())
    assert info.value.retryable is False


def test_untrusted_certificate_is_permanent(smtp_starttls: SmtpServer) -> None:
    """The default context verifies certificates: a self-signed one is refused, not retried."""
    notifier = EmailNotifier(
        "127.0.0.1",
        smtp_starttls.port,
        username=USER,
        password=PASSWORD,
        starttls=True,
        ssl=False,
        sender=SENDER,
        timeout_s=5,
    )
    with pytest.raises(DeliveryError) as info:
        notifier.send(note())
    assert info.value.retryable is False


def test_4xx_reply_is_retryable_5xx_is_not(smtp_starttls: SmtpServer, tls_files: TlsFiles) -> None:
    """451 on RCPT: try again later; 550: never."""
    notifier = starttls_notifier(smtp_starttls, tls_files)
    with pytest.raises(DeliveryError) as temp:
        notifier.send(note(address="tempfail@welfare.example"))
    assert temp.value.retryable is True
    with pytest.raises(DeliveryError) as perm:
        notifier.send(note(address="reject@welfare.example"))
    assert perm.value.retryable is False
    assert smtp_starttls.messages == []


def test_server_down_is_retryable(refused_port: int) -> None:
    """Connection refused: the server may come back."""
    notifier = EmailNotifier(
        "127.0.0.1",
        refused_port,
        username=None,
        password=None,
        starttls=False,
        ssl=False,
        sender=SENDER,
        timeout_s=2,
    )
    with pytest.raises(DeliveryError) as info:
        notifier.send(note())
    assert info.value.retryable is True


def test_implicit_tls(smtp_implicit_tls: SmtpServer, tls_files: TlsFiles) -> None:
    """ssl=True talks TLS from the first byte (port 465 style)."""
    EmailNotifier(
        "127.0.0.1",
        smtp_implicit_tls.port,
        username=USER,
        password=PASSWORD,
        starttls=False,
        ssl=True,
        sender=SENDER,
        timeout_s=5,
        ssl_context=tls_files.client_context(),
    ).send(note())
    assert len(smtp_implicit_tls.messages) == 1


def test_missing_address_is_permanent() -> None:
    """An email notification must say where to: no address is a routing bug, not transient."""
    notifier = EmailNotifier(
        "127.0.0.1", 1, username=None, password=None, starttls=False, ssl=False, sender=SENDER
    )
    with pytest.raises(DeliveryError) as info:
        notifier.send(note(address=""))
    assert info.value.retryable is False


def test_non_ascii_password_is_permanent(smtp_starttls: SmtpServer, tls_files: TlsFiles) -> None:
    """smtplib cannot send non-ASCII credentials: a config problem, not a transient one."""
    with pytest.raises(DeliveryError) as info:
        starttls_notifier(smtp_starttls, tls_files, password="비밀번호").send(note())
    assert info.value.retryable is False
