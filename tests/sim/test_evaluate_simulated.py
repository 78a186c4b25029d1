"""`careplug evaluate` on a simulated month with known incidents (simulator → CSV → engine)."""

from __future__ import annotations

import csv
from pathlib import Path

from careplug.clock import parse_iso
from careplug.domain.engine import DetectionConfig
from careplug.registry import load_registry
from careplug.runtime.evaluate import evaluate, read_incidents, score
from careplug_sim.record import record
from careplug_sim.scenario import ScenarioConfig, plan


def test_every_incident_in_a_simulated_month_is_found(tmp_path: Path) -> None:
    """20 households, 30 days, 6 incapacitations: each caught by its tier's backstop."""
    cfg = ScenarioConfig(households=20, days=30, seed=11, incidents=6)
    record(plan(cfg), tmp_path, readings_csv=True)
    households = load_registry(tmp_path / "households.toml")
    config = DetectionConfig()
    result = evaluate(tmp_path / "readings.csv", households, config)
    incidents = read_incidents(tmp_path / "incidents.csv")
    assert len(incidents) == 6
    report = score(result.alerts, incidents, result.spans, 48 * 3600.0).as_dict()
    tier = {h.id: config.tier_thresholds[h.tier] for h in households}
    end = max(last for _, last in result.spans.values())
    # an incident can only be caught once its tier's threshold has passed inside the data
    catchable = [i for i in incidents if i.start + tier[i.household] + 3600 < end]
    assert report["detected"] >= len(catchable) >= 4
    assert report["delay_h_max"] is not None
    assert report["delay_h_max"] <= max(tier.values()) / 3600 + 1
    with (tmp_path / "readings.csv").open() as handle:
        rows = sum(1 for _ in csv.reader(handle)) - 1
    assert result.readings == rows
    assert parse_iso("2026-01-05T00:00:00+09:00") <= min(f for f, _ in result.spans.values())
