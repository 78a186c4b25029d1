"""WebhookNotifier against a real HTTP receiver on loopback."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from structlog.testing import capture_logs

from careplug.adapters.notifiers.webhook import WebhookNotifier
from careplug.clock import VirtualClock
from careplug.errors import DeliveryError
from careplug.ports import Notification

from .conftest import HttpReceiver

pytestmark = pytest.mark.integration

NOTE = Notification(
    key="a-1:0:cw-kim:webhook",
    channel="webhook",
    recipient="cw-kim",
    subject="[긴급] hh-0001 활동 없음",
    text="07:40 이후 활동이 없습니다.",
    data={"alert_id": "a-1", "household": "hh-0001", "severity": "critical"},
)


def test_json_delivery_is_signed_and_verifiable(http_receiver: HttpReceiver) -> None:
    """The receiver gets the data plus key/subject/text and can verify the HMAC of the raw body."""
    notifier = WebhookNotifier(
        http_receiver.url("/hook"), secret="s3cret", timeout_s=5, clock=VirtualClock(1_700_000_000)
    )
    notifier.send(NOTE)
    [got] = http_receiver.received
    assert got.method == "POST"
    body = got.json()
    assert body == {
        "alert_id": "a-1",
        "household": "hh-0001",
        "severity": "critical",
        "key": NOTE.key,
        "recipient": "cw-kim",
        "locale": "ko",
        "subject": NOTE.subject,
        "text": NOTE.text,
    }
    assert got.headers["Idempotency-Key"] == NOTE.key
    assert got.headers["X-Careplug-Timestamp"] == "1700000000"
    expected = hmac.new(b"s3cret", got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["X-Careplug-Signature"], f"sha256={expected}")
    wrong = hmac.new(b"other", got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Careplug-Signature"] != f"sha256={wrong}"


def test_no_secret_no_signature_header(http_receiver: HttpReceiver) -> None:
    """Without a secret nothing pretends to be signed."""
    WebhookNotifier(http_receiver.url("/hook"), secret=None).send(NOTE)
    assert "X-Careplug-Signature" not in http_receiver.received[0].headers


def test_slack_style_posts_text_only(http_receiver: HttpReceiver) -> None:
    """Slack/Mattermost incoming webhooks get {"text": subject + newline + text}."""
    WebhookNotifier(http_receiver.url("/slack"), style="slack").send(NOTE)
    assert http_receiver.received[0].json() == {"text": f"{NOTE.subject}\n{NOTE.text}"}


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (404, False),
        (410, False),
        (408, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
    ],
)
def test_error_statuses_are_classified(
    http_receiver: HttpReceiver, status: int, retryable: bool
) -> None:
    """4xx is permanent except 408/429; 5xx is retryable."""
    http_receiver.status["/hook"] = status
    with pytest.raises(DeliveryError) as info:
        WebhookNotifier(http_receiver.url("/hook")).send(NOTE)
    assert info.value.retryable is retryable
    assert str(status) in str(info.value)


def test_refused_connection_is_retryable(refused_port: int) -> None:
    """A receiver that is down is worth retrying."""
    with pytest.raises(DeliveryError) as info:
        WebhookNotifier(f"http://127.0.0.1:{refused_port}/hook", timeout_s=2).send(NOTE)
    assert info.value.retryable is True


def test_timeout_is_retryable(http_receiver: HttpReceiver) -> None:
    """A receiver slower than the timeout is worth retrying."""
    http_receiver.delay_s = 1.0
    with pytest.raises(DeliveryError) as info:
        WebhookNotifier(http_receiver.url("/hook"), timeout_s=0.2).send(NOTE)
    assert info.value.retryable is True


def test_logs_never_show_the_url_secret(http_receiver: HttpReceiver) -> None:
    """Query tokens and secret path segments stay out of the log."""
    http_receiver.status["/services/T000/B000/XSECRETX"] = 500
    url = http_receiver.url("/services/T000/B000/XSECRETX?token=QSECRETQ")
    notifier = WebhookNotifier(url)
    with capture_logs() as logs, pytest.raises(DeliveryError):
        notifier.send(NOTE)
    assert logs[-1]["event"] == "notification_failed"
    assert "SECRET" not in repr(logs)
    assert "SECRET" not in repr(notifier)
    with capture_logs() as logs:
        http_receiver.status.clear()
        WebhookNotifier(http_receiver.url("/ok?token=QSECRETQ")).send(NOTE)
    assert logs[-1]["event"] == "notification_delivered"
    assert "SECRET" not in repr(logs)


def test_non_http_urls_are_refused() -> None:
    """file: and other schemes never reach urllib."""
    with pytest.raises(ValueError, match="not an http"):
        WebhookNotifier("file:///etc/passwd")
