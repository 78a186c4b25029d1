"""`careplug evaluate --detector learning` against `fixed` on a small simulated population."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from careplug.domain.engine import DetectionConfig
from careplug.registry import load_registry
from careplug.runtime.evaluate import Evaluation, evaluate, read_away, read_incidents, score
from careplug_sim.record import record
from careplug_sim.scenario import ScenarioConfig, plan

SRC = str(Path(__file__).resolve().parents[3] / "src")
DAY = 86400.0


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight single-resident homes over five weeks, each incapacitated once; registered trips."""
    out = tmp_path_factory.mktemp("sim")
    scenario = ScenarioConfig(households=8, days=35, seed=3, incidents=8, trips=2, registered_p=1.0)
    record(plan(scenario), out, readings_csv=True)
    return out


def delays(population: Path, result: Evaluation, after: float) -> dict[str, float]:
    """Hours from each incident starting after ``after`` to its first caseworker alert."""
    out: dict[str, float] = {}
    for incident in read_incidents(population / "incidents.csv"):
        if incident.start < after:
            continue
        hits = sorted(
            at
            for household, at in result.notices
            if household == incident.household and incident.start <= at
        )
        if hits:
            out[incident.household] = (hits[0] - incident.start) / 3600.0
    return out


def test_learning_detector_alerts_earlier_than_the_fixed_rule(population: Path) -> None:
    """After the cold start the learnt routine alerts each incident no later than 24 h did."""
    households = load_registry(population / "households.toml")
    fixed = evaluate(population / "readings.csv", households, DetectionConfig())
    learning = evaluate(
        population / "readings.csv",
        households,
        DetectionConfig(detector="learning"),
        away=read_away(population / "away.csv"),
    )
    start = min(first for first, _ in learning.spans.values())
    late_fixed = delays(population, fixed, start + 16 * DAY)
    late_learning = delays(population, learning, start + 16 * DAY)
    assert late_fixed, "the scenario must hold incidents after the cold start"
    assert set(late_fixed) <= set(late_learning)
    for household, hours in late_fixed.items():
        assert late_learning[household] <= hours + 0.1
    assert sum(late_learning[h] for h in late_fixed) < sum(late_fixed.values())
    incidents = read_incidents(population / "incidents.csv")
    report = score(
        learning.alerts,
        incidents,
        learning.spans,
        2 * DAY,
        None,
        learning.facing_at,
        learning.notices,
    )
    assert report.detected == len(incidents)


def run_cli(population: Path, *extra: str) -> tuple[dict[str, object], list[str]]:
    """Figures (stderr) and alert lines (stdout) of `careplug evaluate --detector learning`."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "careplug",
            "evaluate",
            "--readings",
            str(population / "readings.csv"),
            "--registry",
            str(population / "households.toml"),
            "--incidents",
            str(population / "incidents.csv"),
            "--away",
            str(population / "away.csv"),
            "--detector",
            "learning",
            *extra,
        ],
        capture_output=True,
        text=True,
        env={
            "PYTHONPATH": SRC + ":" + str(Path(SRC).parent / "simulators"),
            "PATH": "/usr/bin:/bin",
        },
        check=True,
        timeout=300,
    )
    figures: dict[str, object] = json.loads(out.stderr[out.stderr.index("{") :])
    return figures, out.stdout.splitlines()


def test_evaluate_cli_takes_the_detector_and_away_periods(population: Path) -> None:
    """`careplug evaluate --detector learning --away away.csv` prints figures and alerts."""
    figures, alerts = run_cli(population)
    assert figures["detector"] == "learning"
    assert figures["detected"] == figures["incidents"] == 8
    severities = {json.loads(line)["severity"] for line in alerts}
    assert "attention" in severities


def test_evaluate_cli_with_simulated_self_checks(population: Path) -> None:
    """With every resident answering by day, no incident is missed and no more false alerts
    reach caseworkers than without self-checks; with nobody answering, none are missed either."""
    plain, _ = run_cli(population)
    answered, _ = run_cli(population, "--self-check-answer-rate", "1")
    unanswered, _ = run_cli(population, "--self-check-answer-rate", "0")
    assert answered["self_check_answer_rate"] == 1.0
    for figures in (answered, unanswered):
        assert figures["detected"] == figures["incidents"] == 8
    assert int(str(answered["false_alerts"])) <= int(str(plain["false_alerts"]))
    assert int(str(answered["false_alerts"])) < int(str(unanswered["false_alerts"]))
