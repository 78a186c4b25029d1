"""Fixtures for the operations integration tests: a real VictoriaMetrics on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from careplug.clock import monotonic
from tests.conftest import free_port

VM_BINARY = "/usr/bin/victoria-metrics"


class VictoriaMetrics:
    """A VictoriaMetrics process that can be stopped and started again on the same port and data."""

    def __init__(self, port: int, data: Path) -> None:
        self.port = port
        self.data = data
        self.url = f"http://127.0.0.1:{port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [
                VM_BINARY,
                f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-storageDataPath={self.data}",
                "-retentionPeriod=100y",
                "-loggerLevel=ERROR",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = monotonic() + 15
        while monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("VictoriaMetrics did not become healthy")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)
            self._proc = None

    def export(self, match: str = '{__name__=~".+"}') -> list[dict[str, object]]:
        """Every series matching ``match`` after a forced flush, as /api/v1/export returns it."""
        with urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=5):
            pass
        query = urllib.parse.urlencode({"match[]": match})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=5) as resp:
            body = resp.read().decode()
        return [json.loads(line) for line in body.splitlines() if line.strip()]


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A running VictoriaMetrics on a free loopback port (fails in CI when not installed)."""
    if shutil.which(VM_BINARY) is None:
        if os.environ.get("CI") == "true":
            pytest.fail("victoria-metrics is not installed (apt-get install victoria-metrics)")
        pytest.skip("victoria-metrics is not installed")
    server = VictoriaMetrics(free_port(), tmp_path / "vm")
    server.start()
    try:
        yield server
    finally:
        server.stop()
