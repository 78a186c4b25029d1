"""Detection benchmark: the fixed rule against the learning detector, on the same data.

Run on demand (minutes, not part of the unit suite)::

    python tests/benchmarks/bench_detection.py [--households 500] [--days 60] [--history-days 28]
        [--incidents 220] [--plug-choice daily|any] [--high-tier-daily-plugs 1|2|3]
        [--sim-dir DIR] [--refit ../shared/data/refit_house2]
        [--self-check-rates 0.8,0.95]

(a) a simulated population (careplug_sim: incidents at random times, trips and hospital stays
with and without a registered away period, unplugged and offline plugs, one area power cut),
with ``--history-days`` (28) of the residents' life before the ``--days`` (60) that are scored,
as the REFIT traces score incidents after 28 days of learning, and no incident in the last two
days (a 36 h limit fires before the recording ends); a household's time for false alerts ends
at its incident (the simulated resident never recovers). Recorded once into ``--sim-dir`` and
reused when its scenario matches (``--plug-choice any``:
the population before the first plug went on a daily-used appliance); (b) the real REFIT
traces with injected incidents; their false alerts are counted on the clean traces (as
the data's README defines them). Both detectors get the registered away periods. Prints
progress on stderr and one JSON object of figures at the end on stdout: incidents detected,
median/p90/max delay (h) to the first caseworker-facing alert, false caseworker-facing alerts
per household-month (time inside an incident's 48 h window, where none can be false, is not
counted as observed); and the same delays for the incidents that began after the 14-day
cold start (``after_cold_start``).
``learning_self_check_<rate>``: the learning detector with a resident self-check in every
household (warnings ask the resident first; a check-in an hour before the tier limit),
answered by simulated residents with that probability by day, never at night or in an
incident (``careplug.runtime.evaluate.ResidentModel``: an assumption, not a measurement).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Any

import benchlib as b

from careplug.clock import iso, monotonic, parse_iso
from careplug.domain.engine import DetectionConfig
from careplug.domain.model import Alert, HouseholdId
from careplug.registry import load_registry
from careplug.runtime.evaluate import (
    AwayPeriod,
    Incident,
    ResidentModel,
    SimulatedResidents,
    evaluate_items,
    households_from_readings,
    load_items,
    read_away,
    read_incidents,
    score,
)
from careplug_sim.record import record
from careplug_sim.scenario import ScenarioConfig, plan

WINDOW_S = 48 * 3600.0
DAY = 86400.0
TAIL_DAYS = 2.0
"""No incident in the recording's last two days: a low-tier 36 h limit fires before its end."""


def log(event: str, **fields: object) -> None:
    """Progress on stderr."""
    print(json.dumps({"event": event, **fields}), file=sys.stderr, flush=True)


def simulate(
    out: Path,
    households: int,
    days: float,
    incidents: int,
    seed: int,
    plug_choice: str = "daily",
    history_days: float = 0.0,
    tail_days: float = 0.0,
    high_tier_daily_plugs: int = 1,
) -> Path:
    """Record the scenario into ``out`` unless a matching recording is already there:
    ``history_days`` without injected events, then ``days`` with them (the last
    ``tail_days`` of them without: room for the tier limit to fire)."""
    scenario = ScenarioConfig(
        households=households,
        days=history_days + days,
        history_days=history_days,
        tail_days=tail_days,
        high_tier_daily_plugs=high_tier_daily_plugs,
        seed=seed,
        incidents=incidents,
        trips=max(1, households * 6 // 25),
        hospital_stays=max(1, households // 25),
        registered_p=0.5,
        unplugged=max(1, households // 50),
        offline=max(1, households // 25),
        power_cuts=1,
        plug_choice=plug_choice,
    )
    stamp = out / "scenario.json"
    wanted = json.dumps(dataclasses.asdict(scenario), default=str, sort_keys=True)
    if stamp.exists() and stamp.read_text(encoding="utf-8") == wanted:
        log("simulation_reused", dir=str(out))
        return out
    began = monotonic()
    record(plan(scenario), out, readings_csv=True, workers=2)
    stamp.write_text(wanted, encoding="utf-8")
    log("simulation_recorded", dir=str(out), seconds=round(monotonic() - began, 1))
    return out


@dataclasses.dataclass(frozen=True)
class Fault:
    """A plug fault or power cut of the ground truth: ``household`` sees nothing of (some of)
    its plugs from ``start`` to ``end``."""

    kind: str
    household: str
    start: float
    end: float
    plug: str = ""
    """The plug at fault ("" for a power cut: every plug of the household)."""

    @property
    def hides_life(self) -> bool:
        """Whether the fault can hide a sign of life: a fridge's plug never shows one."""
        return not self.plug.endswith("-fridge")


def read_faults(truth: dict[str, Any]) -> list[Fault]:
    """The simulator's plug faults (offline, unplugged) and power cuts, per household."""
    out = [
        Fault(f["kind"], f["household"], parse_iso(f["start"]), parse_iso(f["end"]), f["plug"])
        for f in truth["plug_faults"]
    ]
    for cut in truth["power_cuts"]:
        out.extend(
            Fault("power_cut", h, parse_iso(cut["start"]), parse_iso(cut["end"]))
            for h in cut["households"]
        )
    return out


def during_faults(
    alerts: list[Alert], faults: list[Fault], incidents: list[Incident]
) -> dict[str, dict[str, object]]:
    """Per fault kind: the faults, the resident alerts (any severity) raised while one of the
    household's plugs was faulty or within an hour after (the issue wants none caused by a
    fault; each is listed, to be read against the household's other days), and the device
    alerts (device_offline, unplugged, area_outage, monitoring_blind) raised then. Alerts in
    an incident's window are the incident's, not the fault's; a fault of a fridge's plug,
    which never shows a sign of life, cannot cause one (its faults are counted, not its
    household's alerts)."""
    out: dict[str, dict[str, object]] = {}
    for kind in sorted({f.kind for f in faults}):
        of_kind = [f for f in faults if f.kind == kind]
        resident: dict[str, str] = {}
        device: set[str] = set()
        for fault in of_kind:
            for alert in alerts:
                if not fault.start <= alert.raised_at <= fault.end + 3600.0:
                    continue
                if any(
                    i.household == alert.household
                    and i.start <= alert.raised_at < i.start + WINDOW_S
                    for i in incidents
                ):
                    continue
                if alert.household == fault.household and alert.kind.is_resident_alert:
                    if not fault.hides_life:
                        continue
                    resident[alert.id] = (
                        f"{alert.household} {alert.kind.value} {alert.severity.value} "
                        f"{iso(alert.raised_at)}"
                    )
                elif alert.household == fault.household or alert.household.startswith("area:"):
                    device.add(alert.id)
        out[kind] = {
            "faults": len(of_kind),
            "resident_alerts": len(resident),
            "device_alerts": len(device),
            "resident_alert_list": sorted(resident.values()),
        }
    return out


def until_incidents(
    spans: dict[str, tuple[float, float]], incidents: list[Incident]
) -> dict[str, tuple[float, float]]:
    """Each household's observed span, cut at its first incident: a resident who never
    recovers lives no normal days after it, and counting them would dilute the false-alert
    rate (with 220 incidents in 500 homes, by a fifth)."""
    first: dict[str, float] = {}
    for incident in incidents:
        first[incident.household] = min(first.get(incident.household, math.inf), incident.start)
    return {
        household: (begin, min(end, first.get(household, math.inf)))
        for household, (begin, end) in spans.items()
    }


def run_both(
    name: str,
    readings: Path,
    registry: Path | None,
    incidents: Path,
    scored_from: float,
    away: list[AwayPeriod],
    timezone: str = "Asia/Seoul",
    cold_until: float | None = None,
    self_check_rates: tuple[float, ...] = (),
    faults: list[Fault] | None = None,
    clean: Path | None = None,
    incidents_never_end: bool = False,
) -> dict[str, object]:
    """Both detectors on one data set; their figures by detector name. ``cold_until``: the
    end of the cold start (incidents after it are also scored apart). ``faults``: plug faults
    and power cuts, to count the resident alerts raised during them. ``clean``: the same
    readings without the injected incidents; false alerts are then counted there (every
    caseworker-facing alert on it is false), not on the readings with incidents, whose 36 h
    of injected standby replace real silences that may have raised one.
    ``incidents_never_end``: the resident stays incapacitated to the end of the data (the
    simulator's incidents), so a household's time for false alerts ends at its incident."""
    began = monotonic()
    pairs = load_items(readings)
    clean_pairs = load_items(clean) if clean is not None else None
    households = load_registry(registry) if registry else households_from_readings(pairs, timezone)
    truth = read_incidents(incidents)
    log("data_loaded", data=name, items=len(pairs), seconds=round(monotonic() - began, 1))
    figures: dict[str, object] = {}
    # both detectors know the registered away periods: a caseworker who registered a
    # hospital stay ignores today's fixed alert too
    runs: list[tuple[str, str, list[AwayPeriod], float | None]] = [
        ("fixed", "fixed", away, None),
        ("learning", "learning", away, None),
    ]
    if away:
        runs.append(("learning_without_away", "learning", [], None))
    for answer_rate in self_check_rates:
        runs.append((f"learning_self_check_{answer_rate:g}", "learning", away, answer_rate))
    for label, detector, periods, rate in runs:
        began = monotonic()
        config = DetectionConfig(detector=detector)
        residents = None
        if rate is not None:
            residents = SimulatedResidents(ResidentModel(rate), households, truth, WINDOW_S)
        result = evaluate_items(pairs, households, config, away=periods, residents=residents)
        took = monotonic() - began
        spans = until_incidents(result.spans, truth) if incidents_never_end else result.spans
        report = score(
            result.alerts,
            truth,
            spans,
            WINDOW_S,
            scored_from,
            result.facing_at,
            result.notices,
        )
        warm: dict[str, object] = {}
        if cold_until is not None:
            later = [i for i in truth if i.start >= cold_until]
            after = score(
                result.alerts,
                later,
                spans,
                WINDOW_S,
                scored_from,
                result.facing_at,
                result.notices,
            ).as_dict()
            warm = {
                "after_cold_start": {
                    k: after[k]
                    for k in (
                        "incidents",
                        "detected",
                        "delay_h_median",
                        "delay_h_p90",
                        "delay_h_max",
                    )
                }
            }
        if faults is not None:
            warm["during_faults"] = during_faults(result.alerts, faults, truth)
        false_figures: dict[str, object] = {}
        if clean_pairs is not None:
            residents = None
            if rate is not None:
                residents = SimulatedResidents(ResidentModel(rate), households, [], WINDOW_S)
            plain = evaluate_items(
                clean_pairs, households, config, away=periods, residents=residents
            )
            on_clean = score(
                plain.alerts, [], plain.spans, WINDOW_S, scored_from, plain.facing_at, plain.notices
            ).as_dict()
            with_incidents = report.as_dict()
            false_figures = {
                key: on_clean[key]
                for key in (
                    "false_alerts",
                    "false_alerts_per_household_month",
                    "household_days",
                    "false_alert_households",
                    "households_scored",
                    "review_list_households",
                    "review_list_false_alerts",
                    "false_alerts_per_household_month_off_review_list",
                    "false_alerts_per_household_month_if_listed_homes_fixed",
                )
            }
            false_figures["false_alerts_counted_on"] = clean.name if clean else None
            false_figures["false_alerts_per_household_month_outside_incident_windows"] = (
                with_incidents["false_alerts_per_household_month"]
            )
        figures[label] = {
            **report.as_dict(),
            **false_figures,
            **warm,
            "away_periods": len(periods),
            "readings_per_second": round(result.readings / took) if took else None,
        }
        log("detector_done", data=name, detector=label, **figures[label])  # type: ignore[arg-type]
    return figures


def main() -> int:
    """Run the benchmark; print the figures as one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=500)
    parser.add_argument("--days", type=float, default=60.0, help="days scored")
    parser.add_argument(
        "--history-days",
        type=float,
        default=28.0,
        help="days of history before them, without incidents (as on REFIT); 0: incidents from "
        "day 1, in the cold start too",
    )
    parser.add_argument("--incidents", type=int, default=220)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--plug-choice", choices=["daily", "any"], default="daily")
    parser.add_argument(
        "--high-tier-daily-plugs",
        type=int,
        default=1,
        help="plugs on daily-used appliances every high-risk home has (2: a second plug there)",
    )
    parser.add_argument("--sim-dir", default="/tmp/careplug-bench-detection")
    parser.add_argument("--only", choices=["simulated", "refit"], help="run one data set")
    parser.add_argument(
        "--self-check-rates",
        default="0.8,0.95",
        help="answer rates of simulated residents for the self-check runs ('' for none)",
    )
    parser.add_argument(
        "--refit", default=str(Path(__file__).parents[3] / "shared/data/refit_house2")
    )
    args = parser.parse_args()

    rates = tuple(float(r) for r in args.self_check_rates.split(",") if r.strip())
    out: dict[str, object] = {"load_average_before": b.load_average()}
    if args.only != "refit":
        out["simulated"] = run_simulated(args, rates)
    refit = Path(args.refit)
    if args.only != "simulated":
        if (refit / "meta.csv").exists():
            out["refit_house2"] = run_refit(refit, rates)
        else:  # said, not silently left out (a worktree outside the checkout has no ../shared)
            out["refit_house2"] = {"skipped": f"no REFIT data at {refit} (--refit DIR)"}
            print(f"[bench] REFIT skipped: no {refit / 'meta.csv'} (--refit DIR)", file=sys.stderr)
    print(json.dumps(out, indent=2))
    return 0


def run_simulated(args: argparse.Namespace, rates: tuple[float, ...]) -> dict[str, object]:
    """The simulated population (recorded once, reused)."""
    sim = simulate(
        Path(args.sim_dir),
        args.households,
        args.days,
        args.incidents,
        args.seed,
        args.plug_choice,
        args.history_days,
        TAIL_DAYS if args.history_days else 0.0,
        args.high_tier_daily_plugs,
    )
    truth = json.loads((sim / "truth.json").read_text(encoding="utf-8"))
    start = parse_iso(truth["start"])
    # false alerts count after 28 days of learning, as on REFIT (or after the history)
    scored_from = start + max(28.0, args.history_days) * DAY
    return {
        "households": args.households,
        "days": args.days,
        "history_days": args.history_days,
        "high_tier_daily_plugs": args.high_tier_daily_plugs,
        "plug_choice": args.plug_choice,
        "scored_from": iso(scored_from),
        **run_both(
            "simulated",
            sim / "readings.csv",
            sim / "households.toml",
            sim / "incidents.csv",
            scored_from,
            read_away(sim / "away.csv"),
            cold_until=start + 14 * DAY,
            self_check_rates=rates,
            faults=read_faults(truth),
            incidents_never_end=True,
        ),
    }


def run_refit(refit: Path, rates: tuple[float, ...] = ()) -> dict[str, object]:
    """The REFIT house; its documented holiday (meta.csv ``quiet``) is the registered away
    period a caseworker would have set."""
    meta = next(csv.DictReader((refit / "meta.csv").open(encoding="utf-8")))
    away = []
    for period in filter(None, meta.get("quiet", "").split(";")):
        first, last = period.split("/")
        away.append(
            AwayPeriod(
                HouseholdId(meta["household"]),
                parse_iso(first + "T00:00:00Z"),
                parse_iso(last + "T00:00:00Z"),
            )
        )
    return {
        "scored_from": meta["scored_from"],
        "away": meta.get("quiet"),
        **run_both(
            "refit_house2",
            refit / "incidents.csv.gz",
            None,
            refit / "incidents.csv",
            parse_iso(meta["scored_from"]),
            away,
            "Europe/London",
            self_check_rates=rates,
            clean=refit / "clean.csv.gz" if (refit / "clean.csv.gz").exists() else None,
        ),
    }


if __name__ == "__main__":
    sys.exit(main())
