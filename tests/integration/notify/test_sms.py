"""SmsGatewayNotifier against a real HTTP receiver standing in for the gateway."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from structlog.testing import capture_logs

from careplug.adapters.notifiers.sms import SmsGatewayNotifier
from careplug.errors import DeliveryError
from careplug.ports import Notification

from .conftest import HttpReceiver

pytestmark = pytest.mark.integration

TEXT = 'hh-0001: 07:40 이후 활동 없음. "확인" 부탁드립니다 & 회신 {중요}'
NOTE = Notification(
    key="a-1:0:cw-kim:sms",
    channel="sms",
    recipient="cw-kim",
    address="+821012345678",
    subject="",
    text=TEXT,
)


def test_json_template_escapes_text(http_receiver: HttpReceiver) -> None:
    """Quotes, braces and Korean in the text survive a JSON template intact."""
    notifier = SmsGatewayNotifier(
        http_receiver.url("/send"),
        body_template='{"messages": [{"to": "{to}", "content": "{text}"}], "ref": "{key}"}',
        headers={"Authorization": "Bearer GATEWAYSECRET"},
    )
    with capture_logs() as logs:
        notifier.send(NOTE)
    [got] = http_receiver.received
    assert got.method == "POST"
    assert got.json() == {
        "messages": [{"to": "+821012345678", "content": TEXT}],
        "ref": "a-1:0:cw-kim:sms",
    }
    assert got.headers["Authorization"] == "Bearer GATEWAYSECRET"
    assert got.headers["Idempotency-Key"] == NOTE.key
    assert logs[-1]["event"] == "notification_delivered"
    assert "GATEWAYSECRET" not in repr(logs)
    assert "821012345678" not in repr(logs)  # phone numbers are contact data: not logged


def test_form_template(http_receiver: HttpReceiver) -> None:
    """A form-encoded gateway gets each field decodable to the original text."""
    SmsGatewayNotifier(
        http_receiver.url("/form"),
        body_template="receiver={to}&msg={text}&ref={key}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ).send(NOTE)
    fields = urllib.parse.parse_qs(http_receiver.received[0].body.decode())
    assert fields == {"receiver": ["+821012345678"], "msg": [TEXT], "ref": [NOTE.key]}


def test_get_gateway_with_placeholders_in_url(http_receiver: HttpReceiver) -> None:
    """GET gateways take the message in the query string, percent-encoded."""
    SmsGatewayNotifier(http_receiver.url("/get?to={to}&text={text}"), method="GET").send(NOTE)
    [got] = http_receiver.received
    assert got.method == "GET"
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(got.path).query)
    assert query == {"to": ["+821012345678"], "text": [TEXT]}


@pytest.mark.parametrize(
    ("status", "retryable"), [(400, False), (403, False), (429, True), (503, True)]
)
def test_gateway_errors_are_classified(
    http_receiver: HttpReceiver, status: int, retryable: bool
) -> None:
    """Same rule as webhooks: 4xx permanent except 408/429, 5xx retryable."""
    http_receiver.status["/send"] = status
    with pytest.raises(DeliveryError) as info:
        SmsGatewayNotifier(http_receiver.url("/send")).send(NOTE)
    assert info.value.retryable is retryable


def test_gateway_down_is_retryable(refused_port: int) -> None:
    """Refused connection: retry later."""
    with pytest.raises(DeliveryError) as info:
        SmsGatewayNotifier(f"http://127.0.0.1:{refused_port}/send", timeout_s=2).send(NOTE)
    assert info.value.retryable is True


def test_default_template_is_valid_json(http_receiver: HttpReceiver) -> None:
    """The default template produces JSON a gateway can parse."""
    SmsGatewayNotifier(http_receiver.url("/send")).send(NOTE)
    assert json.loads(http_receiver.received[0].body)["text"] == TEXT


def test_no_phone_number_is_permanent(http_receiver: HttpReceiver) -> None:
    """Without an address nothing is sent and retrying cannot help."""
    no_address = Notification(key="k", channel="sms", recipient="cw", subject="", text="x")
    with pytest.raises(DeliveryError) as info:
        SmsGatewayNotifier(http_receiver.url("/send")).send(no_address)
    assert info.value.retryable is False
    assert http_receiver.received == []
