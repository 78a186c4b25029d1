"""The household registry: which plugs belong to which (pseudonymous) household.

TOML (see ``config/households.example.toml``) or CSV with one row per plug:
``household,plug,timezone,tier,caseworkers,area,appliance,report_period,standby_w``
(only ``household`` and ``plug`` required; ``caseworkers`` separated by ``;``).
"""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path
from typing import Annotated
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
from careplug.settings import Duration

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
    if path.suffix.lower() == ".csv":
        data = _read_csv(path)
    else:
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"household registry {path} is not valid TOML: {exc}") from exc
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
