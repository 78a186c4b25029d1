"""What a console page shows about a household, derived from the store at one instant.

Pure functions of stored facts and ``now`` (event time from the injected clock), so the pages
and the API say the same thing and tests can pin the time.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from careplug.domain.engine import HouseholdMemory, PlugMemory
from careplug.domain.model import (
    Alert,
    AlertKind,
    EpochSeconds,
    Household,
    PlugId,
    Severity,
)


class HouseholdStatus(enum.StrEnum):
    """The one-word state of a household on the console, worst first."""

    CRITICAL = "critical"
    WARNING = "warning"
    AWAY = "away"
    OFFLINE = "offline"
    ATTENTION = "attention"
    UNKNOWN = "unknown"
    OK = "ok"


# alerts that say careplug cannot see the resident, not that the resident is in trouble
_BLIND_KINDS = frozenset(
    {
        AlertKind.DEVICE_OFFLINE,
        AlertKind.UNPLUGGED,
        AlertKind.NEVER_REPORTED,
        AlertKind.AREA_OUTAGE,
        AlertKind.MONITORING_BLIND,
    }
)


def household_status(
    household: Household,
    open_alerts: Sequence[Alert],
    plugs: dict[PlugId, PlugMemory],
    memory: HouseholdMemory | None,
    away: bool,
) -> HouseholdStatus:
    """Worst applicable status: a resident alert (critical, warning) beats an away period,
    which beats offline equipment, other open alerts, no data yet, and OK.

    A household is offline when an open equipment alert says so or every plug that shows
    activity is known to be offline.
    """
    resident = [a for a in open_alerts if a.kind.is_resident_alert]
    if any(a.severity is Severity.CRITICAL for a in resident):
        return HouseholdStatus.CRITICAL
    if any(a.severity is Severity.WARNING for a in resident):
        return HouseholdStatus.WARNING
    if away:
        return HouseholdStatus.AWAY
    watched = [p.id for p in household.plugs if p.shows_activity] or [p.id for p in household.plugs]
    states = [plugs.get(p) for p in watched]
    all_offline = bool(states) and all(
        s is not None and (s.offline_since is not None or s.lwt_offline_since is not None)
        for s in states
    )
    if all_offline or any(a.kind in _BLIND_KINDS for a in open_alerts):
        return HouseholdStatus.OFFLINE
    if open_alerts:
        return HouseholdStatus.ATTENTION
    if memory is None or memory.last_activity_at is None:
        return HouseholdStatus.UNKNOWN
    return HouseholdStatus.OK


@dataclass(frozen=True, slots=True)
class StripCell:
    """One bucket of an activity strip: ``[start, start + width)`` with ``count`` events."""

    start: EpochSeconds
    width_s: float
    count: int


def activity_strip(
    times: Iterable[EpochSeconds], end: EpochSeconds, cells: int, width_s: float
) -> list[StripCell]:
    """``cells`` buckets of ``width_s`` seconds, the last one ending at ``end`` aligned up to
    the bucket width (so the strip does not shift every second)."""
    aligned_end = -(-end // width_s) * width_s
    start = aligned_end - cells * width_s
    counts = [0] * cells
    for at in times:
        index = int((at - start) // width_s)
        if 0 <= index < cells:
            counts[index] += 1
    return [StripCell(start + i * width_s, width_s, c) for i, c in enumerate(counts)]


HOUR = 3600.0
STRIP_24H = (24, HOUR)
"""24 one-hour cells."""
STRIP_7D = (56, 3 * HOUR)
"""7 days of three-hour cells."""
