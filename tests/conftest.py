"""Shared fixtures: real services started on free loopback ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def need_binary(name: str, *candidates: str) -> str:
    """Path of a service binary; missing fails in CI (never a silent skip) and skips locally."""
    for path in (*candidates, shutil.which(name)):
        if path and Path(path).exists():
            return str(path)
    message = f"{name} is not installed (tests/check.sh installs it)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Block until something accepts connections on the port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


@dataclass
class Mosquitto:
    """A real Mosquitto broker process the test can stop and start again on the same port."""

    binary: str
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # Run as root, Mosquitto drops to the ``mosquitto`` user, which cannot write the test's
        # directory: every autosave fails and a restart forgets careplug's session (the broker
        # then drops what arrives before careplug subscribes again). ``user root`` keeps it
        # able to save; as any other user the option has no effect.
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            "max_queued_messages 0\n"
            "max_inflight_messages 0\n"
            "autosave_interval 1\n" + ("user root\n" if os.geteuid() == 0 else "")
        )
        with open(self.workdir / "mosquitto.log", "ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=log
            )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh Mosquitto on a free loopback port, stopped after the test."""
    binary = need_binary("mosquitto", "/usr/sbin/mosquitto")
    broker = Mosquitto(binary, tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
