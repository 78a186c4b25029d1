"""The outbox worker: sends stored notifications, retries with backoff until delivered.

Runs on processing time (real seconds): retries are about networks, not about event time.
A notification refused for good (HTTP 4xx, no such channel) becomes a dead letter, logged and
counted; anything retryable is retried, with the delay capped at ``retry_max``, until delivered.
With a directory, each dead letter also enqueues one notification to the operators (idempotency
key ``<key>:dead``), unless the dead letter was itself for an operator.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping

import structlog

from careplug.adapters.store_sqlite import SqliteStore
from careplug.domain.routing import Directory, Role
from careplug.errors import DeliveryError
from careplug.ports import Notification, Notifier

log = structlog.get_logger("careplug.delivery")


def backoff(attempts: int, base: float, cap: float) -> float:
    """Seconds before attempt ``attempts + 1``: exponential, capped."""
    return float(min(cap, base * (2 ** max(0, attempts - 1))))


class DeliveryWorker:
    """Delivers the outbox through the configured notifiers, on its own thread."""

    def __init__(
        self,
        store: SqliteStore,
        notifiers: Mapping[str, Notifier],
        now: Callable[[], float],
        *,
        retry_base: float = 5.0,
        retry_max: float = 3600.0,
        poll_s: float = 1.0,
        on_outcome: Callable[[str, str], None] | None = None,
        directory: Directory | None = None,
    ) -> None:
        self.store = store
        self.notifiers = dict(notifiers)
        self.now = now
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.poll_s = poll_s
        self.outcomes: Counter[str] = Counter()
        self._on_outcome = on_outcome
        self.directory = directory
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """New notifications were stored: look now."""
        self._wake.set()

    def start(self) -> None:
        """Run on a background thread."""
        self._thread = threading.Thread(target=self._run, name="careplug-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop after the current attempt."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except Exception:
                log.exception("delivery_loop_failed")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def deliver_due(self) -> int:
        """Try every due notification once; return how many were delivered."""
        delivered = 0
        for item in self.store.due(self.now(), limit=200):
            if self._stop.is_set():
                break
            note = item.notification
            notifier = self.notifiers.get(note.channel)
            if notifier is None:
                self._failed(
                    item.notification.key,
                    note.channel,
                    note.recipient,
                    item.attempts,
                    f"no notifier for channel {note.channel}",
                    False,
                )
                continue
            try:
                notifier.send(note)
            except DeliveryError as exc:
                self._failed(
                    note.key,
                    note.channel,
                    note.recipient,
                    item.attempts,
                    str(exc),
                    exc.retryable,
                    first_at=item.next_attempt_at,
                )
                continue
            except Exception as exc:  # a notifier bug must not stop the others
                self._failed(
                    note.key,
                    note.channel,
                    note.recipient,
                    item.attempts,
                    f"{type(exc).__name__}: {exc}",
                    True,
                    first_at=item.next_attempt_at,
                )
                continue
            self.store.mark_delivered(note.key, note.channel, note.recipient, self.now())
            self._count(note.channel, "delivered")
            delivered += 1
            log.info(
                "outbox_delivered",
                key=note.key,
                channel=note.channel,
                attempts=item.attempts + 1,
            )
        return delivered

    def _count(self, channel: str, outcome: str) -> None:
        self.outcomes[f"{channel}:{outcome}"] += 1
        if self._on_outcome is not None:
            self._on_outcome(channel, outcome)

    def _failed(
        self,
        key: str,
        channel: str,
        recipient: str,
        attempts: int,
        error: str,
        retryable: bool,
        first_at: float | None = None,
    ) -> None:
        now = self.now()
        next_at: float | None = now + backoff(attempts + 1, self.retry_base, self.retry_max)
        if not retryable:
            next_at = None
        self.store.mark_failed(key, channel, recipient, error, next_at)
        if next_at is None:
            self._count(channel, "dead")
            log.error("outbox_dead_lettered", key=key, channel=channel, error=error[:200])
            self._tell_operators(key, channel, recipient, attempts + 1, error, now)
        else:
            self._count(channel, "retry")
            log.warning(
                "outbox_retry_scheduled",
                key=key,
                channel=channel,
                error=error[:200],
                attempts=attempts + 1,
                retry_in_s=round(next_at - now, 1),
            )

    def _tell_operators(
        self, key: str, channel: str, recipient: str, attempts: int, error: str, now: float
    ) -> None:
        """One operator notification per operator and deliverable channel for a dead letter;
        never for a dead letter that was itself for an operator (no loop)."""
        if self.directory is None:
            return
        operators = self.directory.with_role(Role.OPERATOR)
        if key.endswith(":dead") or recipient in {o.id for o in operators}:
            return
        notes: list[Notification] = []
        for op in operators:
            ko = op.locale == "ko"
            subject = "[careplug] 전달 실패 알림" if ko else "[careplug] notification dead-lettered"
            text = (
                f"알림을 전달하지 못했습니다: 채널 {channel}, 수신자 {recipient}, 키 {key}, "
                f"시도 {attempts}회, 오류: {error[:200]}"
                if ko
                else f"A notification could not be delivered: channel {channel}, recipient "
                f"{recipient}, key {key}, {attempts} attempts, last error: {error[:200]}"
            )
            for ch in op.channels:
                if ch.channel not in self.notifiers:
                    continue
                notes.append(
                    Notification(
                        key=f"{key}:dead",
                        channel=ch.channel,
                        recipient=op.id,
                        subject=subject,
                        text=text,
                        locale=op.locale,
                        address=ch.address,
                        data={
                            "event": "dead_letter",
                            "key": key,
                            "channel": channel,
                            "recipient": recipient,
                            "attempts": attempts,
                            "error": error[:200],
                        },
                    )
                )
        if notes:
            self.store.enqueue(notes, now)
            self.wake()
            log.info("dead_letter_reported", key=key, operators=len(notes))
