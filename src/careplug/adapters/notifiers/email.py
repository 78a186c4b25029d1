"""Email notifier over SMTP (smtplib): implicit TLS or STARTTLS, optional AUTH, UTF-8 text."""

from __future__ import annotations

import hashlib
import smtplib
import ssl as tls
from email.message import EmailMessage
from email.utils import formatdate

import structlog

from careplug.clock import Clock, SystemClock
from careplug.errors import DeliveryError
from careplug.ports import Notification

log = structlog.get_logger(__name__)


def message_id(key: str, sender: str) -> str:
    """A stable Message-ID for an idempotency key: a resend of the same notification carries
    the same id, so mail clients and archives can fold duplicates."""
    domain = sender.rpartition("@")[2] or "careplug.invalid"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}.careplug@{domain}>"


def _classify(exc: Exception) -> DeliveryError:
    """Map an smtplib/OS error to a DeliveryError: auth and 5xx permanent, the rest retryable."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return DeliveryError(f"SMTP authentication failed ({exc.smtp_code})", retryable=False)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryError(f"SMTP server lacks a feature: {exc}", retryable=False)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        transient = bool(codes) and all(400 <= code < 500 for code in codes)
        return DeliveryError(f"SMTP recipient refused ({codes})", retryable=transient)
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        return DeliveryError(f"SMTP {code}", retryable=not 500 <= code < 600)
    if isinstance(exc, UnicodeEncodeError):
        # smtplib's AUTH encodes credentials as ASCII
        return DeliveryError("SMTP credentials are not ASCII", retryable=False)
    if isinstance(exc, tls.SSLCertVerificationError):
        return DeliveryError(f"TLS certificate rejected: {exc.verify_message}", retryable=False)
    if isinstance(exc, TimeoutError):
        return DeliveryError("SMTP timed out", retryable=True)
    # refused, reset, disconnected, TLS handshake: the server may be back soon
    return DeliveryError(f"SMTP connection failed: {type(exc).__name__}", retryable=True)


class EmailNotifier:
    """Sends one plain-text email per notification to ``notification.address``.

    ``ssl=True`` is implicit TLS (port 465); ``starttls=True`` upgrades a plain connection
    (port 587) and fails if the server cannot. Authentication errors and 5xx replies are
    permanent; connection failures, timeouts and 4xx replies are retryable.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None,
        password: str | None,
        starttls: bool,
        ssl: bool,
        sender: str,
        timeout_s: float = 30.0,
        ssl_context: tls.SSLContext | None = None,
        channel: str = "email",
        clock: Clock | None = None,
    ) -> None:
        if starttls and ssl:
            raise ValueError("choose either starttls or ssl (implicit TLS), not both")
        self.channel = channel
        self._host = host
        self._port = port
        self._username = username
        self._password = password
        self._starttls = starttls
        self._ssl = ssl
        self._sender = sender
        self._timeout_s = timeout_s
        self._context = ssl_context
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"EmailNotifier({self._host!r}, {self._port}, sender={self._sender!r})"

    def message(self, notification: Notification) -> EmailMessage:
        """The email for ``notification`` (Korean text is encoded as UTF-8)."""
        if not notification.address:
            raise DeliveryError("email notification without an address", retryable=False)
        msg = EmailMessage()
        msg["From"] = self._sender
        msg["To"] = notification.address
        msg["Subject"] = notification.subject
        msg["Date"] = formatdate(self._clock.now(), localtime=False)
        msg["Message-ID"] = message_id(notification.key, self._sender)
        msg["X-Careplug-Key"] = notification.key
        msg["Content-Language"] = notification.locale
        msg.set_content(notification.text, charset="utf-8")
        return msg

    def _context_or_default(self) -> tls.SSLContext:
        return self._context or tls.create_default_context()

    def send(self, notification: Notification) -> None:
        """Deliver once over a fresh SMTP session, or raise a classified ``DeliveryError``."""
        msg = self.message(notification)
        try:
            smtp: smtplib.SMTP
            if self._ssl:
                smtp = smtplib.SMTP_SSL(
                    self._host,
                    self._port,
                    timeout=self._timeout_s,
                    context=self._context_or_default(),
                )
            else:
                smtp = smtplib.SMTP(self._host, self._port, timeout=self._timeout_s)
            with smtp:
                if self._starttls:
                    smtp.starttls(context=self._context_or_default())
                if self._username:
                    smtp.login(self._username, self._password or "")
                smtp.send_message(msg)
        except (smtplib.SMTPException, OSError, UnicodeEncodeError) as exc:
            error = _classify(exc)
            log.warning(
                "notification_failed",
                channel=self.channel,
                key=notification.key,
                recipient=notification.recipient,
                error=str(error),
                retryable=error.retryable,
            )
            raise error from None
        log.info(
            "notification_delivered",
            channel=self.channel,
            key=notification.key,
            recipient=notification.recipient,
        )
