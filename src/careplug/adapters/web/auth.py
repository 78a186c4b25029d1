"""Console accounts: argon2id password hashes, session tokens, CSRF tokens.

Only a SHA-256 of a session token is stored, so a copy of the database cannot be used to log
in; each session carries its own CSRF token for the forms.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from careplug.adapters.store_sqlite import ConsoleUser, SqliteStore
from careplug.domain.model import EpochSeconds
from careplug.errors import CareplugError

ROLES = ("caseworker", "admin")
MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()
# verified against when the user does not exist, so a wrong name costs as long as a wrong password
_DUMMY_HASH = _hasher.hash("careplug-no-such-user")


class WeakPassword(CareplugError):
    """A password too short to accept."""


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``; :class:`WeakPassword` when it is too short."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; None (no such user) never matches but takes as long."""
    try:
        _hasher.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return password_hash is not None


def new_token() -> str:
    """A random URL-safe token (256 bits)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the store keeps of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two tokens; a missing one never matches."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode(), b.encode())


def add_user(
    store: SqliteStore,
    username: str,
    password: str,
    role: str,
    at: EpochSeconds,
    *,
    display_name: str = "",
    locale: str = "ko",
) -> ConsoleUser:
    """Create an account with a hashed password (used by the CLI and the admin page)."""
    if role not in ROLES:
        raise CareplugError(f"role must be one of {', '.join(ROLES)}")
    name = username.strip()
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        raise CareplugError("a username is 1-64 characters without spaces")
    user = ConsoleUser(name, role, hash_password(password), display_name, locale, True, at, at)
    store.add_user(user)
    return user


class LoginThrottle:
    """Locks a username for ``lockout_s`` after ``attempts`` failures within that time.

    In memory (a restart forgets it) and keyed by username, so guessing one account's
    password is slow while other caseworkers can still log in.
    """

    def __init__(self, attempts: int, lockout_s: float) -> None:
        self._attempts = attempts
        self._lockout_s = lockout_s
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def allowed(self, username: str, at: EpochSeconds) -> bool:
        """False while the username is locked at ``at``."""
        with self._lock:
            recent = [t for t in self._failures.get(username, []) if at - t < self._lockout_s]
            self._failures[username] = recent
            return len(recent) < self._attempts

    def failed(self, username: str, at: EpochSeconds) -> None:
        """Count a failed attempt."""
        with self._lock:
            self._failures.setdefault(username, []).append(at)

    def succeeded(self, username: str) -> None:
        """Forget the failures of a user who got in."""
        with self._lock:
            self._failures.pop(username, None)
