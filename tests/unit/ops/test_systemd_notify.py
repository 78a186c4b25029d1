"""sd_notify over a real AF_UNIX datagram socket, as systemd would receive it."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from careplug.adapters.systemd import SystemdNotifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.settimeout(2)
    try:
        yield sock, path
    finally:
        sock.close()


def test_ready_watchdog_status_stopping_arrive_as_datagrams(
    listener: tuple[socket.socket, str],
) -> None:
    """Each call is one datagram of newline-separated KEY=VALUE fields."""
    sock, path = listener
    notifier = SystemdNotifier.from_environment({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready("watching 42 households")
    assert sock.recv(4096) == b"READY=1\nSTATUS=watching 42 households"
    assert notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert notifier.status("broker\nreconnecting")
    assert sock.recv(4096) == b"STATUS=broker reconnecting"
    assert notifier.reloading(123456789)
    assert sock.recv(4096) == b"RELOADING=1\nMONOTONIC_USEC=123456789"
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1"
    notifier.close()


def test_abstract_namespace_socket() -> None:
    """An address starting with @ reaches an abstract-namespace socket."""
    name = f"careplug-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        notifier = SystemdNotifier.from_environment({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready()
        assert sock.recv(4096) == b"READY=1"
        notifier.close()
    finally:
        sock.close()


def test_not_under_systemd_is_a_no_op() -> None:
    """Without NOTIFY_SOCKET nothing is sent and nothing fails."""
    notifier = SystemdNotifier.from_environment({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog() is False
    assert notifier.watchdog_interval is None


def test_vanished_socket_reports_failure_without_raising(tmp_path: Path) -> None:
    """A socket path with nobody listening gives False, not an exception."""
    notifier = SystemdNotifier.from_environment({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert notifier.enabled
    assert notifier.watchdog() is False
    notifier.close()


def test_watchdog_interval_from_environment() -> None:
    """WATCHDOG_USEC gives the interval, unless WATCHDOG_PID names another process."""
    mine = {
        "NOTIFY_SOCKET": "/run/x",
        "WATCHDOG_USEC": "30000000",
        "WATCHDOG_PID": str(os.getpid()),
    }
    assert SystemdNotifier.from_environment(mine).watchdog_interval == 30.0
    no_pid = {"WATCHDOG_USEC": "1500000"}
    assert SystemdNotifier.from_environment(no_pid).watchdog_interval == 1.5
    other = dict(mine, WATCHDOG_PID=str(os.getpid() + 1))
    assert SystemdNotifier.from_environment(other).watchdog_interval is None
    assert SystemdNotifier.from_environment({"WATCHDOG_USEC": "0"}).watchdog_interval is None
    assert SystemdNotifier.from_environment({"WATCHDOG_USEC": "abc"}).watchdog_interval is None
