"""The household registry: which plugs belong to which (pseudonymous) household.

TOML (see ``config/households.example.toml``) or CSV with one row per plug:
``household,plug,timezone,tier,caseworkers,area,appliance,report_period,standby_w``
(only ``household`` and ``plug`` required; ``caseworkers`` separated by ``;``).

A registry of a hundred thousand households must load in well under a second, so the common
case skips pydantic: a fast path checks each value with plain Python (and caches the checks of
repeated values: time zones, durations) and builds the domain objects straight from the CSV rows
or TOML tables. Anything it is not sure of (a bad value, an unusual spelling pydantic would still
accept) sends the whole file through the pydantic models, which decide and word the errors, so
the result is the same either way.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from careplug.domain.model import (
    Appliance,
    Household,
    HouseholdId,
    PlugId,
    PlugSpec,
    RiskTier,
)
from careplug.errors import ConfigError
from careplug.settings import Duration, parse_duration

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/@-]{0,127}$"


class _PlugEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(pattern=_ID_PATTERN)]
    appliance: Appliance = Appliance.OTHER
    shows_activity: bool | None = None
    report_period: Duration | None = None
    standby_w: Annotated[float, Field(ge=0)] | None = None


class _HouseholdEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(pattern=_ID_PATTERN)]
    timezone: str = "Asia/Seoul"
    tier: RiskTier = RiskTier.MEDIUM
    caseworkers: list[str] = Field(default_factory=list)
    area: str | None = None
    plug: list[_PlugEntry] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class _RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    household: list[_HouseholdEntry] = Field(default_factory=list)


def _to_domain(entry: _HouseholdEntry) -> Household:
    plugs = tuple(
        PlugSpec(
            id=PlugId(p.id),
            appliance=p.appliance,
            shows_activity=(
                p.shows_activity
                if p.shows_activity is not None
                else p.appliance is not Appliance.FRIDGE
            ),
            report_period_s=p.report_period,
            standby_w=p.standby_w,
        )
        for p in entry.plug
    )
    return Household(
        id=HouseholdId(entry.id),
        timezone=entry.timezone,
        tier=entry.tier,
        caseworkers=tuple(entry.caseworkers),
        area=entry.area,
        plugs=plugs,
    )


def load_registry(path: Path) -> list[Household]:
    """Households from a TOML or CSV registry; :class:`ConfigError` names the bad entry."""
    if not path.is_file():
        raise ConfigError(f"household registry {path} does not exist")
    csv_file = path.suffix.lower() == ".csv"
    if csv_file:
        try:
            return _fast_csv(path)
        except _NotSimple:
            pass
        data = _read_csv(path)
    else:
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"household registry {path} is not valid TOML: {exc}") from exc
        try:
            return _fast_toml(data)
        except _NotSimple:
            pass
    return _validated(data, path)


def _validated(data: object, path: Path) -> list[Household]:
    """The full (pydantic) validation: the reference the fast path must agree with."""
    try:
        parsed = _RegistryFile.model_validate(data)
    except ValidationError as exc:
        lines = [f"invalid household registry {path}:"]
        for error in exc.errors():
            loc = ".".join(str(part) for part in error["loc"])
            lines.append(f"  {loc}: {error['msg']}")
        raise ConfigError("\n".join(lines)) from exc
    households = [_to_domain(entry) for entry in parsed.household]
    _check_unique(households, path)
    return households


def _check_unique(households: list[Household], path: Path) -> None:
    seen_households: set[str] = set()
    owner: dict[str, str] = {}
    for household in households:
        if household.id in seen_households:
            raise ConfigError(f"household registry {path}: household id {household.id} repeats")
        seen_households.add(household.id)
        for plug in household.plugs:
            if plug.id in owner:
                raise ConfigError(
                    f"household registry {path}: plug {plug.id} is in both "
                    f"{owner[plug.id]} and {household.id}"
                )
            owner[plug.id] = household.id


def _read_csv(path: Path) -> dict[str, object]:
    households: dict[str, dict[str, object]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"household", "plug"} - set(reader.fieldnames or [])
        if missing:
            raise ConfigError(f"household registry {path}: missing column(s) {sorted(missing)}")
        for row in reader:
            hid = (row.get("household") or "").strip()
            entry = households.setdefault(hid, {"id": hid, "plug": []})
            for key in ("timezone", "tier", "area"):
                if row.get(key):
                    entry[key] = row[key].strip()
            if row.get("caseworkers"):
                entry["caseworkers"] = [c.strip() for c in row["caseworkers"].split(";") if c]
            plug: dict[str, object] = {"id": (row.get("plug") or "").strip()}
            for key in ("appliance", "report_period", "standby_w"):
                if row.get(key):
                    plug[key] = row[key].strip()
            plugs = entry["plug"]
            assert isinstance(plugs, list)
            plugs.append(plug)
    return {"household": list(households.values())}


# -- the fast path ---------------------------------------------------------------------------


class _NotSimple(Exception):
    """The fast path met something only the full validation may judge (or word the error of)."""


# the same as _ID_PATTERN; fullmatch, because re's "$" also matches before a final newline
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/@-]{0,127}")
# standby_w spellings float() and pydantic read alike (others take the full validation)
_PLAIN_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_TIERS = {tier.value: tier for tier in RiskTier}
_APPLIANCES = {appliance.value: appliance for appliance in Appliance}
_HOUSEHOLD_KEYS = frozenset(_HouseholdEntry.model_fields)
_PLUG_KEYS = frozenset(_PlugEntry.model_fields)


class _Checks:
    """Checks of repeated values, done once per distinct value. Equal strings come back as one
    object (a hundred thousand households share a handful of zones, tiers and caseworkers)."""

    __slots__ = ("durations", "strings", "zones")

    def __init__(self) -> None:
        self.zones: dict[str, str] = {}
        self.durations: dict[object, float] = {}
        self.strings: dict[str, str] = {}

    def zone(self, value: object) -> str:
        if not isinstance(value, str):
            raise _NotSimple
        zone = self.zones.get(value)
        if zone is None:
            try:
                ZoneInfo(value)
            except Exception:
                raise _NotSimple from None
            zone = self.zones[value] = value
        return zone

    def duration(self, value: object) -> float:
        if not isinstance(value, str | int | float):
            raise _NotSimple  # (a TOML array or table cannot even be a cache key)
        key = (type(value), value)
        seconds = self.durations.get(key)
        if seconds is None:
            try:
                seconds = self.durations[key] = parse_duration(value)
            except (TypeError, ValueError):
                raise _NotSimple from None
        return seconds

    def string(self, value: str) -> str:
        return self.strings.setdefault(value, value)


def _check_id(value: object) -> str:
    if not isinstance(value, str) or _ID.fullmatch(value) is None:
        raise _NotSimple
    return value


def _plug_spec(
    plug: str, appliance: Appliance, shows: bool | None, period: float | None, standby: float | None
) -> PlugSpec:
    return PlugSpec(
        PlugId(plug),
        appliance,
        shows if shows is not None else appliance is not Appliance.FRIDGE,
        period,
        standby,
    )


class _Entry:
    """A household being gathered from its CSV rows (later rows override earlier values)."""

    __slots__ = ("area", "caseworkers", "plugs", "tier", "timezone")

    def __init__(self) -> None:
        self.timezone = "Asia/Seoul"
        self.tier = RiskTier.MEDIUM
        self.caseworkers: tuple[str, ...] = ()
        self.area: str | None = None
        # (plug id, appliance, report period, standby): the PlugSpec is made at the end
        self.plugs: list[tuple[str, Appliance, float | None, float | None]] = []


def _fresh(text: str) -> str:
    """An equal string that is a new object (not the CSV cell, freed among the other cells)."""
    return text.encode().decode()


def _fast_csv(path: Path) -> list[Household]:
    """The CSV registry read as :func:`_read_csv` and the models would, without them."""
    with path.open(newline="", encoding="utf-8") as handle:
        text = handle.read()
    households = _by_columns(text)
    if households is None:
        households = _by_rows(csv.reader(io.StringIO(text, newline="")))
    return households


# what only the csv module may read: quotes, carriage returns (a line end to it), NUL
_NOT_PLAIN = re.compile('["\r\x00]')
# a column of ids, one a line (ids hold no newline): every cell an id with nothing around it
_ID_LINES = re.compile(
    r"(?:[A-Za-z0-9][A-Za-z0-9_.:/@-]{0,127}\n)*[A-Za-z0-9][A-Za-z0-9_.:/@-]{0,127}"
)
_CSV_VALUES = (
    "timezone",
    "tier",
    "area",
    "caseworkers",
    "appliance",
    "report_period",
    "standby_w",
)
_CHUNK_CHARS = 1 << 20  # about 20,000 rows of a typical registry
_T = TypeVar("_T")
_SHOWS = {appliance: appliance is not Appliance.FRIDGE for appliance in Appliance}


def _by_columns(text: str) -> list[Household] | None:
    """The usual CSV registry (no quotes, every row with every column) read a column at a
    time; None for any other file, which :func:`_by_rows` then reads.

    The same checks as :func:`_by_rows` on the same cells (each distinct cell once), the
    same meaning (later rows override a household's values, empty cells say nothing), without
    a Python step per cell: at 100,000 households the row-by-row loop was most of the
    registry's load time. The file is split in chunks of lines, so only one chunk's cells
    exist at a time: of each chunk, the id columns are kept as one string each (checked by
    one match over it) and the other columns as references to one string per distinct cell.
    """
    if _NOT_PLAIN.search(text) is not None:
        return None
    end = text.find("\n")
    header = (text if end < 0 else text[:end]).split(",")
    ncols = len(header)
    if header == [""] or len(set(header)) != ncols or not {"household", "plug"} <= set(header):
        return None
    ids: dict[str, list[str]] = {"household": [], "plug": []}
    column: dict[str, list[str]] = {name: [] for name in _CSV_VALUES if name in header}
    canonical: dict[str, str] = {}
    limit = csv.field_size_limit()
    start = len(text) if end < 0 else end + 1
    while start < len(text):
        stop = text.find("\n", start + _CHUNK_CHARS)
        stop = len(text) if stop < 0 else stop + 1
        chunk = text[start:stop]
        start = stop
        # (blank lines say nothing: csv.reader gives them as empty rows, which are skipped)
        lines = list(filter(None, chunk.split("\n")))
        if not lines:
            continue
        # a row without every column (a blank line too) goes row by row, as does a line the
        # csv module would refuse (a field over its limit), to say so
        if (
            set(map(str.count, lines, itertools.repeat(","))) != {ncols - 1}
            or max(map(len, lines)) > limit
        ):
            return None
        cells = ",".join(lines).split(",")
        for i, name in enumerate(header):
            if name in ids:
                ids[name].append("\n".join(cells[i::ncols]))
            elif name in column:
                part = cells[i::ncols]
                column[name].extend(map(canonical.setdefault, part, part))
    if not ids["plug"]:
        return []  # a header alone
    joined_households, joined_plugs = "\n".join(ids["household"]), "\n".join(ids["plug"])
    if _ID_LINES.fullmatch(joined_households) is None:
        return None  # (blanks around an id, or a bad id: row by row)
    if _ID_LINES.fullmatch(joined_plugs) is None:
        return None
    household_ids = joined_households.split("\n")
    plug_ids = joined_plugs.split("\n")  # (made as new strings after the cells: kept)
    if len(set(plug_ids)) != len(plug_ids):
        raise _NotSimple  # the full path words it (a repeat names both households)
    rows = len(household_ids)
    last_row = dict(zip(household_ids, range(rows), strict=True))  # in order of first appearance
    checks = _Checks()

    def meanings(name: str, meaning: Callable[[str], _T]) -> dict[str, _T] | None:
        """What each distinct non-empty cell of a column means (None: no such column)."""
        cells = column.get(name)
        if cells is None:
            return None
        return {cell: meaning(cell) for cell in set(cells) if cell}

    def household_values(name: str, meaning: Callable[[str], _T], default: _T) -> Iterable[_T]:
        """What each household's last non-empty cell in the column means."""
        known = meanings(name, meaning)
        if known is None:
            return itertools.repeat(default)
        cells = column[name]
        if all(cells):
            return map(known.__getitem__, map(cells.__getitem__, last_row.values()))
        last = dict(zip(itertools.compress(household_ids, cells), filter(None, cells), strict=True))
        known[""] = default
        return map(known.__getitem__, map(last.get, last_row, itertools.repeat("")))

    def plug_values(name: str, meaning: Callable[[str], _T], default: _T) -> list[_T]:
        """What each row's cell in the column means (the default when empty)."""
        known = meanings(name, meaning)
        if known is None:
            return [default] * rows
        known[""] = default
        return list(map(known.__getitem__, column[name]))

    zones = household_values("timezone", lambda cell: checks.zone(cell.strip()), "Asia/Seoul")
    tiers = household_values("tier", _tier, RiskTier.MEDIUM)
    areas = household_values("area", lambda cell: checks.string(cell.strip()), None)
    nobody: tuple[str, ...] = ()
    caseworkers = household_values("caseworkers", lambda cell: _names(cell, checks), nobody)
    appliances = plug_values("appliance", _appliance, Appliance.OTHER)
    periods = plug_values("report_period", lambda cell: checks.duration(cell.strip()), None)
    standbys = plug_values("standby_w", _standby, None)
    # What is kept is made only now, after every cell was read (see _by_rows)
    specs = list(
        map(
            PlugSpec,
            cast(list[PlugId], plug_ids),
            appliances,
            map(_SHOWS.__getitem__, appliances),
            periods,
            standbys,
        )
    )
    # each household's plugs in row order: slices when its rows are together (the usual file)
    starts = list(
        itertools.compress(range(1, rows), map(str.__ne__, household_ids[1:], household_ids))
    )
    if len(starts) + 1 == len(last_row):
        plugs: Iterable[tuple[PlugSpec, ...]] = map(
            tuple, map(specs.__getitem__, map(slice, [0, *starts], [*starts, rows]))
        )
    else:
        grouped: dict[str, list[PlugSpec]] = {hid: [] for hid in last_row}
        for hid, spec in zip(household_ids, specs, strict=True):
            grouped[hid].append(spec)
        plugs = map(tuple, grouped.values())
    return list(
        map(
            Household,
            cast(list[HouseholdId], "\n".join(last_row).split("\n")),  # (new strings)
            zones,
            tiers,
            caseworkers,
            areas,
            plugs,
        )
    )


def _tier(cell: str) -> RiskTier:
    tier = _TIERS.get(cell.strip())
    if tier is None:
        raise _NotSimple
    return tier


def _appliance(cell: str) -> Appliance:
    appliance = _APPLIANCES.get(cell.strip())
    if appliance is None:
        raise _NotSimple
    return appliance


def _standby(cell: str) -> float:
    text = cell.strip()
    if _PLAIN_NUMBER.fullmatch(text) is None:
        raise _NotSimple
    return float(text)


def _names(cell: str, checks: _Checks) -> tuple[str, ...]:
    return tuple(checks.string(c.strip()) for c in cell.split(";") if c)


def _by_rows(rows: Iterator[list[str]]) -> list[Household]:
    """The CSV registry checked row by row (any file :func:`_by_columns` leaves alone)."""
    checks = _Checks()
    households: dict[str, _Entry] = {}  # in order of first appearance
    owners: set[str] = set()
    header = next(rows, None) or []
    if len(set(header)) != len(header) or not {"household", "plug"} <= set(header):
        raise _NotSimple  # the full path words the error (or copes with odd headers)
    column = {name: header.index(name) for name in header}
    ncols = len(header)

    def index(name: str) -> int:
        # a column the file lacks reads as missing in every row
        return column.get(name, ncols + 1_000_000)

    i_hh, i_plug = index("household"), index("plug")
    i_tz, i_tier, i_area, i_cw = (
        index("timezone"),
        index("tier"),
        index("area"),
        index("caseworkers"),
    )
    i_app, i_period, i_standby = (
        index("appliance"),
        index("report_period"),
        index("standby_w"),
    )
    # the few distinct zone, area and caseworker cells are checked once each
    zones: dict[str, str] = {}
    areas: dict[str, str] = {}
    caseworkers: dict[str, tuple[str, ...]] = {}
    for row in rows:
        n = len(row)
        if not n:
            continue  # a blank line, skipped as csv.DictReader does
        hid = row[i_hh].strip() if i_hh < n else ""
        entry = households.get(hid)
        if entry is None:
            _check_id(hid)
            entry = households[hid] = _Entry()
        if i_tz < n and (cell := row[i_tz]):
            zone = zones.get(cell)
            if zone is None:
                zone = zones[cell] = checks.zone(cell.strip())
            entry.timezone = zone
        if i_tier < n and (cell := row[i_tier]):
            tier = _TIERS.get(cell.strip())
            if tier is None:
                raise _NotSimple
            entry.tier = tier
        if i_area < n and (cell := row[i_area]):
            area = areas.get(cell)
            if area is None:
                area = areas[cell] = checks.string(cell.strip())
            entry.area = area
        if i_cw < n and (cell := row[i_cw]):
            names = caseworkers.get(cell)
            if names is None:
                names = caseworkers[cell] = tuple(
                    checks.string(c.strip()) for c in cell.split(";") if c
                )
            entry.caseworkers = names
        plug = row[i_plug].strip() if i_plug < n else ""
        if plug in owners or _ID.fullmatch(plug) is None:
            raise _NotSimple  # the full path words it (a repeat names both households)
        owners.add(plug)
        appliance = Appliance.OTHER
        if i_app < n and (cell := row[i_app]):
            found = _APPLIANCES.get(cell.strip())
            if found is None:
                raise _NotSimple
            appliance = found
        period = None
        if i_period < n and (cell := row[i_period]):
            period = checks.duration(cell.strip())
        standby = None
        if i_standby < n and (cell := row[i_standby]):
            text = cell.strip()
            if _PLAIN_NUMBER.fullmatch(text) is None:
                raise _NotSimple
            standby = float(text)
        entry.plugs.append((plug, appliance, period, standby))
    # What is kept is made only now, after every row was read, and its ids are new strings:
    # made among the rows' cells and the entries (all freed on return), a hundred thousand
    # households left megabytes of holes in part-used allocator pools for good; made together
    # they leave the freed rows whole pools, reused for anything or returned to the OS.
    return [
        Household(
            HouseholdId(_fresh(hid)),
            e.timezone,
            e.tier,
            e.caseworkers,
            e.area,
            tuple(
                PlugSpec(PlugId(_fresh(p)), a, a is not Appliance.FRIDGE, period, standby)
                for p, a, period, standby in e.plugs
            ),
        )
        for hid, e in households.items()
    ]


def _fast_toml(data: dict[str, object]) -> list[Household]:
    """The TOML registry checked as the models would, without them."""
    if not set(data) <= {"household"}:
        raise _NotSimple
    entries = data.get("household", [])
    if not isinstance(entries, list):
        raise _NotSimple
    checks = _Checks()
    households: list[Household] = []
    seen: set[str] = set()
    owners: set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict) or not set(entry) <= _HOUSEHOLD_KEYS:
            raise _NotSimple
        hid = _check_id(entry.get("id"))
        if hid in seen:
            raise _NotSimple
        seen.add(hid)
        raw_tier = entry.get("tier", "medium")
        tier = _TIERS.get(raw_tier) if isinstance(raw_tier, str) else None
        caseworkers = entry.get("caseworkers", [])
        area = entry.get("area")
        raw_plugs = entry.get("plug", [])
        if (
            tier is None
            or not isinstance(caseworkers, list)
            or not all(isinstance(c, str) for c in caseworkers)
            or not (area is None or isinstance(area, str))
            or not isinstance(raw_plugs, list)
        ):
            raise _NotSimple
        specs: list[PlugSpec] = []
        for raw in raw_plugs:
            if not isinstance(raw, dict) or not set(raw) <= _PLUG_KEYS:
                raise _NotSimple
            plug = _check_id(raw.get("id"))
            if plug in owners:
                raise _NotSimple
            owners.add(plug)
            raw_appliance = raw.get("appliance", "other")
            appliance = _APPLIANCES.get(raw_appliance) if isinstance(raw_appliance, str) else None
            shows = raw.get("shows_activity")
            period = raw.get("report_period")
            standby = raw.get("standby_w")
            if appliance is None or not (shows is None or isinstance(shows, bool)):
                raise _NotSimple
            if standby is not None and (
                isinstance(standby, bool)
                or not isinstance(standby, int | float)
                or not math.isfinite(standby)
                or standby < 0
            ):
                raise _NotSimple
            specs.append(
                _plug_spec(
                    plug,
                    appliance,
                    shows,
                    None if period is None else checks.duration(period),
                    None if standby is None else float(standby),
                )
            )
        households.append(
            Household(
                HouseholdId(hid),
                checks.zone(entry.get("timezone", "Asia/Seoul")),
                tier,
                tuple(checks.string(c) for c in caseworkers),
                None if area is None else checks.string(area),
                tuple(specs),
            )
        )
    return households
