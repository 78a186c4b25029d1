"""SMS through an HTTP gateway, configured by a URL, a method and a body template.

Korean SMS gateways (and Twilio-style APIs) differ only in URL, auth header and body shape, so
one template-driven notifier covers them. Placeholders ``{to}``, ``{text}`` and ``{key}`` are
replaced literally (other braces stay, so JSON templates need no doubling) and escaped for where
they land: JSON string escaping when the Content-Type is JSON, form encoding for
``application/x-www-form-urlencoded``, percent-encoding in the URL, as-is otherwise.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Mapping

import structlog

from careplug.adapters.notifiers._http import check_http_url, redact_url, request
from careplug.errors import DeliveryError
from careplug.ports import Notification

log = structlog.get_logger(__name__)

_PLACEHOLDERS = ("to", "text", "key")


def _json_escape(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def _identity(value: str) -> str:
    return value


def fill(template: str, values: Mapping[str, str], escape: Callable[[str], str]) -> str:
    """Replace ``{to}``, ``{text}`` and ``{key}`` in ``template`` with escaped values."""
    for name in _PLACEHOLDERS:
        template = template.replace("{" + name + "}", escape(values[name]))
    return template


class SmsGatewayNotifier:
    """Sends one SMS per notification to ``notification.address`` through an HTTP gateway.

    2xx is delivered; 4xx except 408/429 is permanent; 5xx, 408, 429, timeouts and refused
    connections are retryable. The ``Idempotency-Key`` header carries the notification key for
    gateways that deduplicate. Header values (API keys) are never logged.
    """

    def __init__(
        self,
        url: str,
        method: str = "POST",
        body_template: str = '{"to": "{to}", "text": "{text}", "ref": "{key}"}',
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        *,
        channel: str = "sms",
        max_chars: int = 1000,
    ) -> None:
        check_http_url(url)
        method = method.upper()
        if method not in {"GET", "POST", "PUT"}:
            raise ValueError(f"unsupported SMS gateway method {method!r}")
        self.channel = channel
        self._url = url
        self._method = method
        self._template = body_template
        self._headers = dict(headers or {})
        self._headers.setdefault("Content-Type", "application/json; charset=utf-8")
        self._timeout_s = timeout_s
        # LMS (long SMS) in Korea is up to 2000 bytes; gateways reject longer bodies with a 4xx
        self._max_chars = max_chars

    def __repr__(self) -> str:
        return f"SmsGatewayNotifier({redact_url(self._url)!r}, method={self._method!r})"

    def _escape_for_body(self) -> Callable[[str], str]:
        content_type = next(
            (v for k, v in self._headers.items() if k.lower() == "content-type"), ""
        ).lower()
        if "json" in content_type:
            return _json_escape
        if "x-www-form-urlencoded" in content_type:
            return urllib.parse.quote_plus
        return _identity

    def request_for(self, notification: Notification) -> tuple[str, bytes | None]:
        """The URL and body the gateway receives for ``notification``."""
        if not notification.address:
            raise DeliveryError("SMS notification without a phone number", retryable=False)
        text = notification.text
        if len(text) > self._max_chars:
            text = text[: self._max_chars - 1] + "…"
        values = {"to": notification.address, "text": text, "key": notification.key}
        url = fill(self._url, values, lambda v: urllib.parse.quote(v, safe=""))
        if self._method == "GET":
            return url, None
        return url, fill(self._template, values, self._escape_for_body()).encode("utf-8")

    def send(self, notification: Notification) -> None:
        """Deliver once, or raise a classified ``DeliveryError``."""
        url, body = self.request_for(notification)
        headers = {"User-Agent": "careplug", "Idempotency-Key": notification.key}
        headers.update(self._headers)
        try:
            status = request(
                url,
                method=self._method,
                body=body,
                headers=headers,
                timeout_s=self._timeout_s,
            )
        except DeliveryError as exc:
            log.warning(
                "notification_failed",
                channel=self.channel,
                key=notification.key,
                recipient=notification.recipient,
                url=redact_url(self._url),
                error=str(exc),
                retryable=exc.retryable,
            )
            raise
        log.info(
            "notification_delivered",
            channel=self.channel,
            key=notification.key,
            recipient=notification.recipient,
            url=redact_url(self._url),
            status=status,
        )
