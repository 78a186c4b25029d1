"""Households whose alarms keep turning out false: what the daily summary asks to review. Pure.

A plug that cannot see a resident's day (a TV-only home where the TV stays off until the
evening), a tier whose limit is shorter than the resident's ordinary quiet spells, or trips
nobody registers as away periods give the same visit for nothing again and again. The detector
cannot fix that: the hard limit must stay. Caseworkers and operators can (a second plug on a
daily appliance, another tier, away periods), once someone tells them which homes these are.

A household is listed when, within ``window_s`` before now, at least ``min_alarms`` of its
inactivity alerts that reached a caseworker (``warning`` or ``critical``) ended with the
resident fine: resolved as resident OK, visited OK, false alarm or away, or closed by careplug
because activity resumed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from careplug.domain.model import Alert, AlertKind, AlertState, EpochSeconds, Outcome, Severity

RESIDENT_FINE = frozenset(
    {
        Outcome.RESIDENT_OK,
        Outcome.VISITED_OK,
        Outcome.FALSE_ALARM,
        Outcome.AWAY,
        Outcome.ACTIVITY_RESUMED,
    }
)
"""Outcomes that say nobody needed help (the resident was fine, or not at home)."""


@dataclass(frozen=True, slots=True)
class FalseAlarmConfig:
    """How many alarms that ended with the resident fine, within how long, call for a review."""

    window_s: float = 28 * 86400.0
    min_alarms: int = 3


@dataclass(frozen=True, slots=True)
class FalseAlarmReview:
    """One household's recent alarms: ``alarms`` reached a caseworker, ``resident_fine`` of
    them ended with the resident fine, ``away`` of those because the resident was away."""

    alarms: int
    resident_fine: int
    away: int
    to_review: bool


def review_false_alarms(
    alerts: Iterable[Alert], at: EpochSeconds, config: FalseAlarmConfig
) -> FalseAlarmReview:
    """Count one household's caseworker-facing inactivity alarms raised in ``(at - window,
    at]`` and those that ended with the resident fine."""
    alarms = fine = away = 0
    since = at - config.window_s
    for alert in alerts:
        if alert.kind is not AlertKind.INACTIVITY or alert.severity is Severity.ATTENTION:
            continue  # attention is dashboard-only: nobody was sent anywhere
        if not since < alert.raised_at <= at:
            continue
        alarms += 1
        if alert.state is AlertState.RESOLVED and alert.outcome in RESIDENT_FINE:
            fine += 1
            away += alert.outcome is Outcome.AWAY
    return FalseAlarmReview(alarms, fine, away, fine >= config.min_alarms)
