"""careplug's small error tree."""

from __future__ import annotations


class CareplugError(Exception):
    """Base of every error careplug raises on purpose."""


class ConfigError(CareplugError):
    """A configuration or registry file is invalid; the message names the field."""


class StoreError(CareplugError):
    """The state store failed (disk full, read-only, corrupt)."""


class IllegalTransition(CareplugError):
    """An alert transition that its state machine does not allow (e.g. ack a resolved alert)."""


class UnknownAlert(CareplugError):
    """No alert with that id."""


class DeliveryError(CareplugError):
    """A notification could not be delivered; ``retryable`` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable
