"""Recording: determinism, output files, CLI."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from careplug_sim.cli import main

SCENARIO = [
    "--households", "12", "--days", "3", "--incidents", "2", "--trips", "1",
    "--hospital-stays", "1", "--unplugged", "1", "--offline", "1", "--power-cuts", "1",
    "--skewed", "1", "--duplicate-rate", "0.01", "--late-rate", "0.01",
    "--malformed-rate", "0.01", "--family", "native", "--family", "tasmota",
    "--family", "shelly_gen1", "--family", "shelly_gen2", "--family", "zigbee2mqtt",
    "--family", "esphome", "--csv",
]  # fmt: skip

FILES = (
    "traffic.jsonl",
    "households.toml",
    "incidents.csv",
    "away.csv",
    "truth.json",
    "readings.csv",
)


def _record(out: Path, seed: int) -> None:
    assert main(["record", "--out", str(out), "--seed", str(seed), *SCENARIO]) == 0


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    """Two recordings with one seed are the same bytes, file by file."""
    _record(tmp_path / "a", 7)
    _record(tmp_path / "b", 7)
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_different_seed_gives_different_traffic(tmp_path: Path) -> None:
    """Another seed, another life."""
    _record(tmp_path / "a", 7)
    _record(tmp_path / "b", 8)
    a = (tmp_path / "a" / "traffic.jsonl").read_bytes()
    assert a != (tmp_path / "b" / "traffic.jsonl").read_bytes()


def test_traffic_file_is_sorted_json_lines(tmp_path: Path) -> None:
    """Every line has time/topic/payload(or payload_b64)/qos/retain; times never go back."""
    _record(tmp_path, 3)
    last = ""
    b64 = 0
    for line in (tmp_path / "traffic.jsonl").read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        assert set(obj) in (
            {"time", "topic", "payload", "qos", "retain"},
            {"time", "topic", "payload_b64", "qos", "retain"},
        )
        b64 += "payload_b64" in obj
        assert obj["time"].endswith("Z") and obj["time"] >= last
        assert obj["qos"] == 1 and isinstance(obj["retain"], bool)
        last = obj["time"]
    assert b64 > 0  # binary garbage is among the malformed payloads


def test_registry_and_truth_files_agree(tmp_path: Path) -> None:
    """households.toml lists every plug that publishes; incidents.csv matches truth.json."""
    _record(tmp_path, 5)
    reg = tomllib.loads((tmp_path / "households.toml").read_text(encoding="utf-8"))
    assert len(reg["household"]) == 12
    for h in reg["household"]:
        assert set(h) == {"id", "timezone", "tier", "caseworkers", "area", "plug"}
        assert h["tier"] in ("high", "medium", "low") and h["timezone"] == "Asia/Seoul"
        for p in h["plug"]:
            assert set(p) == {"id", "appliance", "report_period"}
    devices = {p["id"]: h["id"] for h in reg["household"] for p in h["plug"]}
    truth = json.loads((tmp_path / "truth.json").read_text(encoding="utf-8"))
    with (tmp_path / "incidents.csv").open(encoding="utf-8") as f:
        incidents = list(csv.DictReader(f))
    assert [(i["household"], i["start"]) for i in incidents] == [
        (i["household"], i["start"]) for i in truth["incidents"]
    ]
    assert len(incidents) == 2
    with (tmp_path / "away.csv").open(encoding="utf-8") as f:
        away = list(csv.DictReader(f))
    assert len(away) == sum(a["registered"] for a in truth["away"])
    with (tmp_path / "readings.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows and {r["device"] for r in rows} <= set(devices)
    assert all(r["household"] == devices[r["device"]] for r in rows)
    assert len({p["family"] for p in truth["plugs"]}) >= 3


def test_help_works() -> None:
    """``careplug-sim --help`` prints the commands."""
    done = subprocess.run(
        [sys.executable, "-m", "careplug_sim.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for command in ("record", "run", "replay", "export-csv"):
        assert command in done.stdout


def test_scenario_toml(tmp_path: Path) -> None:
    """A TOML scenario sets the same fields as the options; options win."""
    toml = tmp_path / "s.toml"
    toml.write_text('households = 3\ndays = 1\nseed = 9\nstart = "2026-03-02"\nincidents = 1\n')
    assert (
        main(["record", "--out", str(tmp_path / "o"), "--scenario", str(toml), "--households", "4"])
        == 0
    )
    reg = tomllib.loads((tmp_path / "o" / "households.toml").read_text(encoding="utf-8"))
    assert len(reg["household"]) == 4
    truth = json.loads((tmp_path / "o" / "truth.json").read_text(encoding="utf-8"))
    assert truth["start"] == "2026-03-01T15:00:00Z" and len(truth["incidents"]) == 1


def test_parallel_record_writes_the_same_bytes(tmp_path: Path) -> None:
    """Cutting the time span into ranges run by several processes changes nothing."""
    args = ["--seed", "4", *SCENARIO, "--days", "4"]
    assert main(["record", "--out", str(tmp_path / "one"), "--workers", "1", *args]) == 0
    assert main(["record", "--out", str(tmp_path / "three"), "--workers", "3", *args]) == 0
    for name in FILES:
        one = (tmp_path / "one" / name).read_bytes()
        assert one == (tmp_path / "three" / name).read_bytes(), name
    assert not list((tmp_path / "three").glob(".traffic.part*"))


def test_fast_native_lines_equal_the_generic_encoding(tmp_path: Path) -> None:
    """The recorder's one-step native lines are byte for byte the encoder's messages."""
    import io

    from careplug_sim.generator import Simulation
    from careplug_sim.record import record, write_traffic
    from careplug_sim.scenario import ScenarioConfig, plan

    scenario = plan(ScenarioConfig(households=6, days=2, seed=2, skewed=2, offline=1))
    record(scenario, tmp_path)
    generic = io.StringIO()
    write_traffic(Simulation(scenario), generic)
    assert (tmp_path / "traffic.jsonl").read_text(encoding="utf-8") == generic.getvalue()


def test_history_and_tail_days_keep_every_injected_event_between_them() -> None:
    """``history_days``: no incident, away period, fault or power cut starts before it (a
    benchmark scores incidents after the residents' history, as REFIT after 28 days);
    ``tail_days``: none in the last days (room for a 36 h limit before the recording ends)."""
    from careplug_sim.scenario import Plan, ScenarioConfig, plan

    common = {
        "households": 40,
        "days": 12.0,
        "seed": 3,
        "incidents": 15,
        "trips": 8,
        "hospital_stays": 4,
        "unplugged": 5,
        "offline": 5,
        "power_cuts": 2,
    }
    before = plan(ScenarioConfig(**common))
    later = plan(ScenarioConfig(**common, history_days=4.0, tail_days=4.0))
    first = later.config.start_epoch + 4 * 86400
    last = later.config.end_epoch - 4 * 86400

    def starts(p: Plan) -> list[int]:
        return [
            *(i.start for i in p.incidents),
            *(a.start for a in p.away),
            *(f.start for f in p.plug_faults),
            *(c.start for c in p.power_cuts),
        ]

    assert len(starts(later)) == 15 + 8 + 4 + 5 + 5 + 2
    assert min(starts(later)) >= first and max(starts(later)) < last
    # without them the same scenario has events in those first and last days
    assert min(starts(before)) < first and max(starts(before)) >= last
    with pytest.raises(ValueError, match="history_days"):
        plan(ScenarioConfig(**{**common, "history_days": 10.0, "tail_days": 2.0}))


def test_high_tier_daily_plugs_adds_plugs_to_high_risk_homes_only() -> None:
    """``high_tier_daily_plugs = 2``: every high-risk home has plugs on two daily-used
    appliances; every other household, its incidents and away periods stay as they were (plug
    faults are drawn among all plugs, the new ones included)."""
    from careplug_sim.scenario import DAILY_APPLIANCES, ScenarioConfig, plan

    common = {"households": 60, "days": 5.0, "seed": 4, "incidents": 5, "offline": 3}
    plain = plan(ScenarioConfig(**common))
    more = plan(ScenarioConfig(**common, high_tier_daily_plugs=2))
    assert more.incidents == plain.incidents and more.away == plain.away
    assert len(more.plug_faults) == len(plain.plug_faults)
    added = 0
    for before, after in zip(plain.households, more.households, strict=True):
        assert (before.id, before.tier, before.routine) == (after.id, after.tier, after.routine)
        daily = [p.appliance for p in after.plugs if p.appliance in DAILY_APPLIANCES]
        if after.tier != "high":
            assert after.plugs == before.plugs
            continue
        assert len(daily) >= 2 and len(set(daily)) == len(daily)
        assert set(before.plugs) <= set(after.plugs)
        added += len(after.plugs) - len(before.plugs)
    assert added > 0
