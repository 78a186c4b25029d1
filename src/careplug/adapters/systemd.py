"""sd_notify(3) without libsystemd: readiness, watchdog and status for ``Type=notify`` units.

The protocol is one ``KEY=VALUE`` line per field in a single datagram on the AF_UNIX socket
named by ``$NOTIFY_SOCKET`` (a leading ``@`` means the Linux abstract namespace). Outside
systemd the variable is unset and every call is a cheap no-op.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger(__name__)


class SystemdNotifier:
    """Talks to the service manager; build it with :meth:`from_environment`.

    Sending never raises: a failed notification is logged (``sd_notify_failed``) and reported
    as False, because the daemon's job is to watch households, not to crash over a status line.
    """

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self._address = _socket_address(address) if address else None
        self._watchdog_usec = watchdog_usec
        self._sock: socket.socket | None = None

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> SystemdNotifier:
        """Read ``$NOTIFY_SOCKET`` and ``$WATCHDOG_USEC`` (honouring ``$WATCHDOG_PID``: the
        watchdog is ours only when it names this process)."""
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET") or None
        usec: int | None = None
        raw = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if raw.isdigit() and int(raw) > 0 and (not pid or pid == str(os.getpid())):
            usec = int(raw)
        return cls(address, usec)

    @property
    def enabled(self) -> bool:
        """True when running under a service manager that listens."""
        return self._address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """The watchdog timeout in seconds (``WatchdogSec=``), or None when not enabled.
        Send :meth:`watchdog` at least every half of it."""
        return None if self._watchdog_usec is None else self._watchdog_usec / 1_000_000

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` fields in one datagram; True when sent, False when not under
        systemd or when sending failed."""
        if self._address is None:
            return False
        payload = "\n".join(fields).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(payload, self._address)
        except OSError as exc:
            log.warning(
                "sd_notify_failed", error=str(exc), fields=[f.split("=")[0] for f in fields]
            )
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Start-up finished (``READY=1``), optionally with a status line."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        """Still alive (``WATCHDOG=1``)."""
        return self.notify("WATCHDOG=1")

    def reloading(self, monotonic_usec: int) -> bool:
        """A reload started (``RELOADING=1``); ``monotonic_usec`` is CLOCK_MONOTONIC now, in
        microseconds, as systemd requires. Follow with :meth:`ready` when done."""
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec}")

    def stopping(self, status: str | None = None) -> bool:
        """Shutdown began (``STOPPING=1``)."""
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        """A one-line human status shown by ``systemctl status``."""
        return self.notify(f"STATUS={text.replace(chr(10), ' ')}")

    def close(self) -> None:
        """Release the socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _socket_address(name: str) -> str:
    # "@name" is Linux's abstract namespace, spelled with a leading NUL on the wire.
    return "\0" + name[1:] if name.startswith("@") else name
