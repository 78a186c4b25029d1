"""Smoke tests: the benchmark scripts run end to end on tiny inputs and print sane figures.

The benchmarks themselves are run on demand (see README.md here); these only keep them from
rotting, in a few seconds each.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import need_binary

HERE = Path(__file__).parent


def _run(script: str, *args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, str(HERE / script), *args],
        capture_output=True,
        check=True,
        timeout=60,
        cwd=HERE,
    )
    figures = json.loads(out.stdout.decode().strip().splitlines()[-1])
    assert isinstance(figures, dict)
    return figures


def test_evaluate_bench_counts_every_reading_and_times_the_command() -> None:
    """bench_evaluate feeds every generated reading through `careplug evaluate`."""
    figures = _run("bench_evaluate.py", "--readings", "100000", "--plugs", "100")
    assert figures["readings"] == 100000
    assert figures["engine_readings_per_s"] > 0  # type: ignore[operator]
    # one household in fifty goes silent halfway through three and a half days: alerts
    assert figures["alerts"] >= 1  # type: ignore[operator]


@pytest.mark.integration
def test_restart_bench_times_start_to_broker_connected() -> None:
    """bench_restart fills a store, starts the daemon against Mosquitto and times readiness."""
    need_binary("mosquitto", "/usr/sbin/mosquitto")
    figures = _run("bench_restart.py", "--households", "500", "--repeat", "1")
    assert figures["plugs"] == 1000
    ready = figures["broker_connected_s"]
    assert isinstance(ready, list)
    assert len(ready) == 1
    assert 0 < ready[0] < 30
