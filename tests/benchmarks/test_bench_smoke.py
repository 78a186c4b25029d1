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
    text = out.stdout.decode().strip()
    # one JSON object: indented over the whole output, or compact on the last line
    figures = json.loads(text if text.startswith("{") else text.splitlines()[-1])
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


def test_detection_bound_runs_on_a_small_recording(tmp_path: Path) -> None:
    """detection_bound reads what bench_detection recorded and bounds every incident's delay."""
    sys.path.insert(0, str(HERE))
    try:
        from bench_detection import simulate
    finally:
        sys.path.remove(str(HERE))
    simulate(tmp_path, households=8, days=20, incidents=4, seed=3)
    figures = _run(
        "detection_bound.py", "--sim-dir", str(tmp_path), "--refit", str(tmp_path / "none")
    )
    simulated = figures["simulated"]
    assert isinstance(simulated, dict)
    bound = simulated["bound_spare_0"]["all"]
    assert bound["incidents"] == 4
    # the bound is never later than the longest tier limit, and a spare alert never hurts
    assert 0 <= bound["delay_h_median"] <= bound["delay_h_max"] <= 36
    # the cold start's tier limit is never earlier than the bound
    ruled = simulated["bound_spare_0"]["all_with_cold_start_rule"]
    assert ruled["delay_h_median"] >= bound["delay_h_median"]
    spare = simulated["bound_spare_1"]["all"]
    assert spare["delay_h_median"] <= bound["delay_h_median"]
    assert "skipped" in figures["refit_house2"]


def test_false_alert_time_ends_at_a_household_s_incident() -> None:
    """bench_detection: a simulated resident never recovers, so the household's time for
    false alerts ends at its (first) incident; other households keep their whole span."""
    sys.path.insert(0, str(HERE))
    try:
        from bench_detection import until_incidents

        from careplug.runtime.evaluate import Incident
    finally:
        sys.path.remove(str(HERE))
    spans = {"a": (0.0, 100.0), "b": (0.0, 100.0), "c": (50.0, 100.0)}
    cut = until_incidents(spans, [Incident("a", 70.0), Incident("a", 40.0), Incident("c", 20.0)])
    assert cut == {"a": (0.0, 40.0), "b": (0.0, 100.0), "c": (50.0, 20.0)}
