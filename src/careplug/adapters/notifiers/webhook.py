"""Webhook notifier: JSON POST signed with HMAC-SHA256, or Slack/Mattermost ``{"text": …}``."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Literal

import structlog

from careplug.adapters.notifiers._http import check_http_url, redact_url, request
from careplug.clock import Clock, SystemClock
from careplug.errors import DeliveryError
from careplug.ports import Notification

log = structlog.get_logger(__name__)

WebhookStyle = Literal["json", "slack"]

SIGNATURE_HEADER = "X-Careplug-Signature"
TIMESTAMP_HEADER = "X-Careplug-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def sign(secret: str, body: bytes) -> str:
    """The signature header value for ``body``: ``sha256=<hex HMAC-SHA256>``.

    Receivers recompute it over the raw request body and compare with ``hmac.compare_digest``.
    """
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookNotifier:
    """Delivers a notification as one HTTP POST.

    ``style="json"`` posts ``notification.data`` plus ``key``, ``subject``, ``text``,
    ``locale`` and ``recipient``; ``style="slack"`` posts ``{"text": "<subject>\\n<text>"}``
    for Slack or Mattermost incoming webhooks. 2xx is delivered; 4xx except 408/429 is
    permanent; 5xx, 408, 429, timeouts and refused connections are retryable.
    """

    def __init__(
        self,
        url: str,
        secret: str | None = None,
        timeout_s: float = 10.0,
        style: WebhookStyle = "json",
        *,
        channel: str = "webhook",
        clock: Clock | None = None,
    ) -> None:
        check_http_url(url)
        if style not in ("json", "slack"):
            raise ValueError(f"unknown webhook style {style!r}")
        self.channel = channel
        self._url = url
        self._secret = secret
        self._timeout_s = timeout_s
        self._style = style
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"WebhookNotifier({redact_url(self._url)!r}, style={self._style!r})"

    def body(self, notification: Notification) -> bytes:
        """The exact bytes posted for ``notification`` (the signature covers these)."""
        payload: dict[str, object]
        if self._style == "slack":
            payload = {"text": f"{notification.subject}\n{notification.text}"}
        else:
            payload = dict(notification.data)
            payload.update(
                key=notification.key,
                recipient=notification.recipient,
                locale=notification.locale,
                subject=notification.subject,
                text=notification.text,
            )
        return json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")

    def send(self, notification: Notification) -> None:
        """POST once; raise ``DeliveryError`` (with ``retryable``) when not delivered."""
        body = self.body(notification)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "careplug",
            IDEMPOTENCY_HEADER: notification.key,
            TIMESTAMP_HEADER: str(int(self._clock.now())),
        }
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, body)
        where = redact_url(self._url)
        try:
            status = request(
                self._url, method="POST", body=body, headers=headers, timeout_s=self._timeout_s
            )
        except DeliveryError as exc:
            log.warning(
                "notification_failed",
                channel=self.channel,
                key=notification.key,
                recipient=notification.recipient,
                url=where,
                error=str(exc),
                retryable=exc.retryable,
            )
            raise
        log.info(
            "notification_delivered",
            channel=self.channel,
            key=notification.key,
            recipient=notification.recipient,
            url=where,
            status=status,
        )
