"""``careplug evaluate``: run the daemon's engine offline over recorded readings, as fast as the
CPU allows, and measure detection against known incidents.

Readings come from CSV (``time,device,power_w[,energy_wh][,household]``, optionally gzipped) or
from the simulator's JSON-lines traffic (decoded by the same payload decoders as the daemon).
Event time drives everything, exactly as in the daemon: readings and aligned evaluation instants
are merged in order, so the alerts are the ones the daemon would raise.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import gzip
import heapq
import io
import itertools
import json
import math
import random
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from careplug.adapters.payloads import PayloadOptions, PayloadRejected, decode
from careplug.clock import iso, parse_iso
from careplug.domain import alerts as alert_rules
from careplug.domain.engine import AlertChanged, DetectionConfig, Effect, Engine
from careplug.domain.false_alarms import FalseAlarmConfig
from careplug.domain.model import (
    Alert,
    AlertId,
    AlertKind,
    Household,
    HouseholdId,
    ItemKind,
    Outcome,
    PlugAvailability,
    PlugId,
    PlugSpec,
    Reading,
    Severity,
)
from careplug.domain.routing import Directory, SelfCheck, self_check_for

isfinite = math.isfinite  # read_csv runs it per row

CASEWORKER_SEVERITIES = frozenset({Severity.WARNING, Severity.CRITICAL})


def _open_text(path: Path) -> IO[str]:
    # utf-8-sig: a spreadsheet's byte-order mark is not part of the first column's name
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


class ReadingsFileError(ValueError):
    """A readings file that cannot be read at all (no header, a required column missing)."""


@dataclass
class SkippedRows:
    """Rows or lines of a readings file left out, by reason, with the first few line numbers:
    one bad row never stops an evaluation, and never hides silently."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    def add(self, line: int, reason: str) -> None:
        """Count one skipped row (``line`` is 1-based, the header being line 1)."""
        self.counts[reason] = self.counts.get(reason, 0) + 1
        if len(self.examples) < 5:
            self.examples.append(f"line {line}: {reason}")

    @property
    def total(self) -> int:
        """How many were skipped."""
        return sum(self.counts.values())


def parse_time(text: str) -> float:
    """Epoch seconds from ISO 8601 (without an offset: UTC) or from a number of epoch seconds
    (milliseconds when it is too large to be seconds)."""
    try:
        return parse_iso(text)
    except ValueError:
        value = float(text)
        if not math.isfinite(value):
            raise
        return value / 1000.0 if value > 1e11 else value


def read_csv(
    path: Path, skipped: SkippedRows | None = None
) -> Iterator[tuple[str | None, Reading]]:
    """(household or None, reading) per CSV row; rows without any value are skipped, and so are
    malformed ones (counted in ``skipped``)."""
    dropped = skipped if skipped is not None else SkippedRows()
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise ReadingsFileError(f"{path}: empty file, expected a header row")
        col = {name.strip().lower(): i for i, name in enumerate(header)}
        missing = [name for name in ("time", "device") if name not in col]
        if missing or ("power_w" not in col and "energy_wh" not in col):
            need = missing or ["power_w or energy_wh"]
            raise ReadingsFileError(
                f"{path}: the header has no {', '.join(need)} column "
                f"(found: {', '.join(header)}); expected time,device,power_w[,energy_wh]"
                "[,household]"
            )
        i_time, i_dev = col["time"], col["device"]
        i_pow, i_en, i_hh = col.get("power_w"), col.get("energy_wh"), col.get("household")
        width = max(i for i in (i_time, i_dev, i_pow, i_en, i_hh) if i is not None) + 1
        cache: dict[str, float] = {}
        for line, row in enumerate(reader, start=2):
            if len(row) < width:
                if any(cell.strip() for cell in row):
                    dropped.add(line, "too few columns")
                continue
            stamp = row[i_time]
            at = cache.get(stamp)
            try:
                if at is None:
                    if len(cache) > 4096:
                        cache.clear()
                    at = cache[stamp] = parse_time(stamp)
                text = row[i_pow] if i_pow is not None else ""
                power = float(text) if text else None
                text = row[i_en] if i_en is not None else ""
                energy = float(text) if text else None
            except ValueError:
                dropped.add(line, "unreadable time or number")
                continue
            if power is None:
                if energy is None:
                    continue
                if not isfinite(energy):
                    dropped.add(line, "unreadable time or number")
                    continue
            elif not isfinite(power) or (energy is not None and not isfinite(energy)):
                dropped.add(line, "unreadable time or number")  # nan, inf
                continue
            if not row[i_dev]:
                dropped.add(line, "no device")
                continue
            household = row[i_hh] if i_hh is not None and row[i_hh] else None
            yield household, Reading(PlugId(row[i_dev]), at, power, energy)


def read_traffic(
    path: Path, options: PayloadOptions, skipped: SkippedRows | None = None
) -> Iterator[tuple[str | None, Reading | PlugAvailability]]:
    """Items decoded from the simulator's JSON-lines traffic (messages the daemon would reject
    are skipped, as it skips them; lines that are not such a message are counted in
    ``skipped``)."""
    dropped = skipped if skipped is not None else SkippedRows()
    with _open_text(path) as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                message = json.loads(line)
                at = parse_time(message["time"])
                topic = message["topic"]
                if "payload_b64" in message:
                    payload = base64.b64decode(message["payload_b64"])
                else:
                    payload = str(message.get("payload", "")).encode("utf-8")
            except (ValueError, KeyError, TypeError):
                dropped.add(line_no, "not a recorded message (time, topic, payload)")
                continue
            try:
                items = decode(topic, payload, at, "auto", options)
            except PayloadRejected:
                continue
            retained = bool(message.get("retain"))
            for item in items:
                t = item.time if item.time is not None else at
                if item.kind is ItemKind.READING:
                    yield None, Reading(item.plug_id, t, item.power_w, item.energy_wh, retained)
                elif item.online is not None:
                    gateway = item.kind is ItemKind.GATEWAY_AVAILABILITY
                    plug = PlugId(item.device) if gateway else item.plug_id
                    yield None, PlugAvailability(plug, t, item.online, gateway)


def households_from_readings(
    items: Iterable[tuple[str | None, Reading | PlugAvailability]],
    timezone: str = "Asia/Seoul",
) -> list[Household]:
    """Without a registry: one household per ``household`` value, else per device, all in
    ``timezone`` (the local hour matters to the learning detector). A device belongs to the
    first household any of its rows names (a row with the cell left empty does not make it a
    household of its own)."""
    owner: dict[str, str] = {}
    order: dict[str, None] = {}
    for household, item in items:
        if isinstance(item, PlugAvailability) and item.gateway:
            continue
        order[item.plug] = None
        if household and item.plug not in owner:
            owner[item.plug] = household
    plugs: dict[str, list[str]] = {}
    for plug in order:
        plugs.setdefault(owner.get(plug, plug), []).append(plug)
    return [
        Household(
            HouseholdId(h), timezone=timezone, plugs=tuple(PlugSpec(PlugId(p)) for p in members)
        )
        for h, members in plugs.items()
    ]


@dataclass(frozen=True, slots=True)
class AwayPeriod:
    """A registered away period, handed to the engine at its start (when it is registered)."""

    household: HouseholdId
    at: float
    until: float


def read_away(path: Path) -> list[AwayPeriod]:
    """The simulator's ``away.csv``: ``household,start,end`` (ISO times)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            AwayPeriod(HouseholdId(r["household"]), parse_iso(r["start"]), parse_iso(r["end"]))
            for r in csv.DictReader(handle)
        ]


@dataclass(frozen=True, slots=True)
class ResidentModel:
    """How simulated residents answer a self-check, for ``evaluate`` only. An assumption, not a
    measurement: report it with the figures. Every household is given a self-check; a
    resident asked while not in an incident answers within ``timeout_s`` with probability
    ``answer_rate`` (at a uniform time between a tenth and nine tenths of it), except at night
    (local ``night_from_h`` to ``night_to_h``: asleep, nobody answers in time). An incapacitated
    resident never answers."""

    answer_rate: float
    timeout_s: float = 30 * 60.0
    night_from_h: int = 22
    night_to_h: int = 7
    seed: int = 0


class SimulatedResidents:
    """Answers self-checks as :class:`ResidentModel` says, in event order (seeded)."""

    def __init__(
        self,
        model: ResidentModel,
        households: Iterable[Household],
        incidents: Iterable[Incident],
        incident_window_s: float,
    ) -> None:
        self.model = model
        homes = list(households)
        self.directory = Directory(
            self_checks={
                h.id: SelfCheck(h.id, "sms", timeout_s=model.timeout_s, timezone=h.timezone)
                for h in homes
            }
        )
        self._zones = {h.id: ZoneInfo(h.timezone) for h in homes}
        self._incidents: dict[str, list[float]] = {}
        for incident in incidents:
            self._incidents.setdefault(incident.household, []).append(incident.start)
        self._window_s = incident_window_s
        self._rng = random.Random(model.seed)
        self._answers: list[tuple[float, int, AlertId, HouseholdId, AlertKind]] = []
        self._seq = itertools.count()
        self.asked: dict[AlertId, float] = {}
        """When each alert asked its resident (its self-check was sent)."""

    def households(self) -> list[HouseholdId]:
        """Every household: each has a self-check."""
        return list(self.directory.self_checks)

    def observe(self, effect: AlertChanged) -> None:
        """A resident alert reaching ``warning`` asks its resident (once per alert)."""
        alert = effect.alert
        if effect.event == "resolved" or alert.id in self.asked:
            return
        if self_check_for(alert, self.directory) is None:
            return
        at = effect.audit.at
        self.asked[alert.id] = at
        if self._incapacitated(alert.household, at) or self._asleep(alert.household, at):
            return
        if self._rng.random() >= self.model.answer_rate:
            return
        answer_at = at + self._rng.uniform(0.1, 0.9) * self.model.timeout_s
        heapq.heappush(
            self._answers, (answer_at, next(self._seq), alert.id, alert.household, alert.kind)
        )

    def next_at(self) -> float:
        """The next answer's time (infinity when none is pending)."""
        return self._answers[0][0] if self._answers else math.inf

    def answer_before(self, engine: Engine, limit: float) -> Iterator[Effect]:
        """Answers due before ``limit``: each still-open alert is resolved ``resident_ok``
        (the console's one-tap link), and the engine follows as in the daemon."""
        while self._answers and self._answers[0][0] < limit:
            at, _, alert_id, household, kind = heapq.heappop(self._answers)
            current = engine.open_alerts.get((household, kind))
            if current is None or current.id != alert_id:
                continue  # resolved meanwhile (life resumed)
            resolved, audit = alert_rules.resolve(
                current, "resident", at, Outcome.RESIDENT_OK, "answered the self-check"
            )
            engine.apply_external(resolved)
            yield AlertChanged(resolved, audit, "resolved", current.state)

    def _incapacitated(self, household: str, at: float) -> bool:
        return any(s <= at < s + self._window_s for s in self._incidents.get(household, ()))

    def _asleep(self, household: HouseholdId, at: float) -> bool:
        hour = datetime.fromtimestamp(at, self._zones[household]).hour
        start, end = self.model.night_from_h, self.model.night_to_h
        return hour >= start or hour < end if start > end else start <= hour < end


def run_engine(
    engine: Engine,
    items: Iterable[Reading | PlugAvailability | AwayPeriod],
    tick_s: float,
    until: float | None = None,
    residents: SimulatedResidents | None = None,
) -> Iterator[Effect]:
    """Feed time-sorted items and evaluate aligned instants in between, in event order (with
    ``residents``, their self-check answers too)."""
    last_done = -math.inf

    def instants_before(limit: float) -> Iterator[Effect]:
        nonlocal last_done
        while True:
            due = engine.next_due()
            instant = math.inf
            if due is not None:
                instant = math.ceil(due / tick_s) * tick_s
                if last_done != -math.inf:
                    instant = max(instant, last_done + tick_s)
            if residents is not None and residents.next_at() < min(instant, limit):
                yield from residents.answer_before(engine, min(instant, limit))
                continue
            if instant >= limit:
                return
            for effect in engine.tick(instant):
                if residents is not None and isinstance(effect, AlertChanged):
                    residents.observe(effect)
                yield effect
            last_done = instant

    for item in items:
        yield from instants_before(item.at)
        if isinstance(item, Reading):
            effects = engine.on_reading(item)
        elif isinstance(item, AwayPeriod):
            effects = engine.set_away(item.household, item.at, item.until)
        else:
            effects = engine.on_availability(item)
        if residents is not None:
            for effect in effects:
                if isinstance(effect, AlertChanged):
                    residents.observe(effect)
        yield from effects
    if until is not None:
        yield from instants_before(until + tick_s / 2)


@dataclass
class Incident:
    """Ground truth: from ``start`` on, the resident of ``household`` shows no activity."""

    household: str
    start: float


def read_incidents(path: Path) -> list[Incident]:
    """``household,start`` CSV."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [Incident(r["household"], parse_iso(r["start"])) for r in csv.DictReader(handle)]


@dataclass
class Report:
    """Detection quality figures."""

    incidents: int = 0
    detected: int = 0
    missed: int = 0
    delays_h: list[float] = field(default_factory=list)
    false_alerts: int = 0
    household_days: float = 0.0
    already_alerted: int = 0
    """Incidents that began while a caseworker-facing alert of the household was open (delay
    0: the caseworker was already called; only with ``notices``)."""
    false_at: dict[str, list[float]] = field(default_factory=dict)
    """Each household's false alerts (times they reached a caseworker)."""
    days_by_household: dict[str, float] = field(default_factory=dict)
    """Each household's observed days (as in ``household_days``)."""
    review: FalseAlarmConfig = field(default_factory=FalseAlarmConfig)
    """When a household would be on the daily summary's review list."""

    def listed_at(self) -> dict[str, float]:
        """When each household first had ``review.min_alarms`` false alerts within
        ``review.window_s``: from then on the daily summary names it (``domain.false_alarms``)."""
        n = self.review.min_alarms
        out: dict[str, float] = {}
        for household, times in self.false_at.items():
            for first, later in zip(times, times[n - 1 :], strict=False):
                if later - first <= self.review.window_s:
                    out[household] = later
                    break
        return out

    def review_list(self) -> set[str]:
        """Households the daily summary would have named at some point."""
        return set(self.listed_at())

    def _concentration(self) -> dict[str, object]:
        """Where the false alerts are: households with any, the review list's share, and the
        rate in the households never on it (what a programme that acts on the list is left
        with, if fixing a listed home's set-up stops its false alarms)."""
        listed_at = self.listed_at()
        listed = set(listed_at)
        others = [h for h in self.days_by_household if h not in listed]
        other_false = sum(len(self.false_at.get(h, ())) for h in others)
        other_months = sum(self.days_by_household[h] for h in others) / 30.0
        # a listed home's false alerts up to its listing, none after: its set-up fixed the
        # day it is named (an upper bound on what acting on the list can give)
        until_listed = sum(
            sum(1 for t in self.false_at[h] if t <= at) for h, at in listed_at.items()
        )
        months = self.household_days / 30.0
        return {
            "false_alert_households": sum(1 for t in self.false_at.values() if t),
            "households_scored": len(self.days_by_household),
            "review_list_households": len(listed),
            "review_list_false_alerts": sum(len(self.false_at[h]) for h in listed),
            "false_alerts_per_household_month_off_review_list": (
                round(other_false / other_months, 3) if other_months else None
            ),
            "false_alerts_per_household_month_if_listed_homes_fixed": (
                round((other_false + until_listed) / months, 3) if months else None
            ),
        }

    def as_dict(self) -> dict[str, object]:
        """JSON-safe figures."""
        delays = sorted(self.delays_h)
        months = self.household_days / 30.0
        return {
            "incidents": self.incidents,
            "detected": self.detected,
            "detected_already_alerted": self.already_alerted,
            "missed": self.missed,
            "delay_h_median": round(statistics.median(delays), 2) if delays else None,
            "delay_h_p90": round(_percentile(delays, 0.9), 2) if delays else None,
            "delay_h_max": round(delays[-1], 2) if delays else None,
            "false_alerts": self.false_alerts,
            "false_alerts_per_household_month": (
                round(self.false_alerts / months, 3) if months else None
            ),
            "household_days": round(self.household_days, 1),
            **self._concentration(),
        }


def _percentile(values: list[float], q: float) -> float:
    index = max(0, math.ceil(q * len(values)) - 1)
    return values[index]


def score(
    alerts: list[Alert],
    incidents: list[Incident],
    spans: dict[str, tuple[float, float]],
    incident_window_s: float,
    scored_from: float | None = None,
    facing_at: dict[AlertId, float] | None = None,
    notices: list[tuple[str, float]] | None = None,
) -> Report:
    """Match caseworker-facing resident alerts to incidents.

    An incident is detected by the first such alert raised in ``[start, start + window)``;
    any such alert raised outside every incident window is a false alert. ``facing_at`` gives
    the time an alert first reached a caseworker (an ``attention`` escalated later); without
    it, the time it was raised; with it, only the alerts in it reached a caseworker (a warning
    its resident answered did not). ``notices`` (household, time) are every caseworker-facing step
    of a resident alert (raised or escalated at warning or above): an incident that begins
    while an alert is already open is detected by its escalation.
    """
    report = Report(incidents=len(incidents))
    reached = facing_at or {}
    facing = sorted(
        (
            dataclasses.replace(a, raised_at=reached.get(a.id, a.raised_at))
            for a in alerts
            if a.kind.is_resident_alert
            and (a.id in reached if facing_at is not None else a.severity in CASEWORKER_SEVERITIES)
        ),
        key=lambda a: a.raised_at,
    )
    by_household: dict[str, list[Alert]] = {}
    for alert in facing:
        by_household.setdefault(alert.household, []).append(alert)
    times: dict[str, list[float]] = {}
    if notices is None:
        for alert in facing:
            times.setdefault(alert.household, []).append(alert.raised_at)
    else:
        for household, at in notices:
            times.setdefault(household, []).append(at)
    open_spans: dict[str, list[tuple[float, float]]] = {}
    if notices is not None:
        for alert in facing:  # raised_at here is when it reached a caseworker
            end = alert.resolved_at if alert.resolved_at is not None else math.inf
            open_spans.setdefault(alert.household, []).append((alert.raised_at, end))
    for incident in incidents:
        if any(a <= incident.start < b for a, b in open_spans.get(incident.household, [])):
            report.detected += 1
            report.already_alerted += 1
            report.delays_h.append(0.0)
            continue
        hits = sorted(
            at
            for at in times.get(incident.household, [])
            if incident.start <= at < incident.start + incident_window_s
        )
        if hits:
            report.detected += 1
            report.delays_h.append((hits[0] - incident.start) / 3600.0)
        else:
            report.missed += 1
    windows: dict[str, list[tuple[float, float]]] = {}
    for incident in incidents:
        windows.setdefault(incident.household, []).append(
            (incident.start, incident.start + incident_window_s)
        )
    for alert in facing:
        if scored_from is not None and alert.raised_at < scored_from:
            continue
        inside = any(s <= alert.raised_at < e for s, e in windows.get(alert.household, []))
        if not inside:
            report.false_alerts += 1
            report.false_at.setdefault(alert.household, []).append(alert.raised_at)
    for household, (first, last) in spans.items():
        begin = max(first, scored_from) if scored_from is not None else first
        # an alert inside an incident's window is never counted false, so that time is not
        # observed for false alerts either (else injected incidents dilute the rate)
        hidden = sum(
            max(0.0, min(end, last) - max(start, begin))
            for start, end in _merged(windows.get(household, []))
        )
        days = max(0.0, last - begin - hidden) / 86400.0
        report.household_days += days
        report.days_by_household[household] = days
    return report


def _merged(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Overlapping (start, end) spans joined."""
    out: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def alert_line(alert: Alert) -> str:
    """One alert as the JSON line ``careplug evaluate`` prints."""
    return json.dumps(
        {
            "household": alert.household,
            "kind": alert.kind.value,
            "severity": alert.severity.value,
            "raised_at": iso(alert.raised_at),
            "resolved_at": iso(alert.resolved_at),
        }
    )


@dataclass
class Evaluation:
    """The outcome of one evaluation run."""

    alerts: list[Alert]
    readings: int
    spans: dict[str, tuple[float, float]]
    facing_at: dict[AlertId, float] = field(default_factory=dict)
    """When each alert first reached warning or critical (caseworker-facing)."""
    notices: list[tuple[str, float]] = field(default_factory=list)
    """(household, time) of every caseworker-facing step of a resident alert."""


def evaluate(
    readings_path: Path,
    households: list[Household] | None,
    config: DetectionConfig,
    options: PayloadOptions | None = None,
    tick_s: float = 60.0,
    away: list[AwayPeriod] | None = None,
    timezone: str = "Asia/Seoul",
    skipped: SkippedRows | None = None,
) -> Evaluation:
    """Run the engine over a readings file; every alert with its final state.

    ``away`` periods are registered with the engine at their start, in event order.
    ``timezone`` is the households' zone when there is no registry. Malformed rows are
    counted in ``skipped``.
    """
    pairs = load_items(readings_path, options, skipped)
    if households is None:
        households = households_from_readings(pairs, timezone)
    return evaluate_items(pairs, households, config, tick_s, away)


def load_items(
    readings_path: Path, options: PayloadOptions | None = None, skipped: SkippedRows | None = None
) -> list[tuple[str | None, Reading | PlugAvailability]]:
    """Every (household or None, item) of a CSV or JSON-lines file, sorted by event time;
    malformed rows are left out and counted in ``skipped``."""
    opts = options or PayloadOptions()
    is_traffic = ".jsonl" in readings_path.name or readings_path.suffix == ".json"
    source: Iterable[tuple[str | None, Reading | PlugAvailability]] = (
        read_traffic(readings_path, opts, skipped)
        if is_traffic
        else read_csv(readings_path, skipped)
    )
    pairs = list(source)
    pairs.sort(key=lambda pair: pair[1].at)
    return pairs


def evaluate_items(
    pairs: list[tuple[str | None, Reading | PlugAvailability]],
    households: list[Household],
    config: DetectionConfig,
    tick_s: float = 60.0,
    away: list[AwayPeriod] | None = None,
    residents: SimulatedResidents | None = None,
) -> Evaluation:
    """:func:`evaluate` over items already loaded by :func:`load_items` (left unchanged).

    With ``residents`` every household has a self-check: a warning reaches the caseworkers
    only when its resident has not answered within the timeout (or it became critical)."""
    owner = {p.id: h.id for h in households for p in h.plugs}
    spans: dict[str, tuple[float, float]] = {}
    for _, item in pairs:
        hid = owner.get(item.plug)
        if hid is None:
            continue
        first_last = spans.get(hid)
        spans[hid] = (item.at, item.at) if first_last is None else (first_last[0], item.at)
    readings: list[Reading | PlugAvailability] = [item for _, item in pairs]
    if not readings:
        return Evaluation([], 0, {})
    start, end = readings[0].at, readings[-1].at
    count = sum(isinstance(i, Reading) for i in readings)
    items: list[Reading | PlugAvailability | AwayPeriod] = list(readings)
    del readings
    if away:
        items.extend(away)
        items.sort(key=lambda item: item.at)  # stable: an away period follows same-time readings
    engine = Engine(config, households, start)
    if residents is not None:
        engine.set_self_check(residents.households())
    final: dict[AlertId, Alert] = {}
    facing_at: dict[AlertId, float] = {}
    critical_at: dict[AlertId, float] = {}
    steps: list[tuple[AlertId, str, float]] = []  # caseworker-facing steps of resident alerts
    for effect in run_engine(engine, items, tick_s, until=end, residents=residents):
        if isinstance(effect, AlertChanged):
            alert = effect.alert
            final[alert.id] = alert
            if alert.severity in CASEWORKER_SEVERITIES and effect.event != "resolved":
                facing_at.setdefault(alert.id, effect.audit.at)
                if alert.severity is Severity.CRITICAL:
                    critical_at.setdefault(alert.id, effect.audit.at)
                if alert.kind.is_resident_alert:
                    steps.append((alert.id, alert.household, effect.audit.at))
    if residents is not None:
        facing_at, steps = _after_self_checks(final, facing_at, critical_at, steps, residents)
    notices = [(household, at) for _, household, at in steps]
    ordered = sorted(final.values(), key=lambda a: (a.raised_at, a.household, a.kind.value))
    return Evaluation(ordered, count, spans, facing_at, notices)


def _after_self_checks(
    final: dict[AlertId, Alert],
    facing_at: dict[AlertId, float],
    critical_at: dict[AlertId, float],
    steps: list[tuple[AlertId, str, float]],
    residents: SimulatedResidents,
) -> tuple[dict[AlertId, float], list[tuple[AlertId, str, float]]]:
    """When each alert really reached a caseworker, as the router does it: an alert that asked
    its resident reaches them when the self-check expires or it turns critical, whichever is
    first, and never when it was resolved (answered, or life resumed) before that."""
    reached: dict[AlertId, float] = {}
    kept = [step for step in steps if step[0] not in residents.asked]
    for alert_id, at in facing_at.items():
        asked = residents.asked.get(alert_id)
        if asked is None:
            reached[alert_id] = at
            continue
        alert = final[alert_id]
        critical = critical_at.get(alert_id, math.inf)
        told = min(critical, asked + residents.model.timeout_s)
        resolved = alert.resolved_at if alert.resolved_at is not None else math.inf
        if told >= resolved:
            continue
        reached[alert_id] = told
        if alert.kind.is_resident_alert:
            kept.append((alert_id, alert.household, told))
            if told < critical < math.inf:
                kept.append((alert_id, alert.household, critical))
    kept.sort(key=lambda step: step[2])
    return reached, kept
