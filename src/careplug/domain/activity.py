"""Per-plug activity detection: is this reading a sign that someone used the appliance?

A reading is activity only when the plug's *use changes*: it switches between standby and
in-use, its power steps clearly while in use, or its energy counter grew by clearly more than
the power samples explain (a 3-minute kettle boil between two 5-minute reports shows only in
the counter). Standby noise, a constant load (a TV left on for two days) and counter resets are
never activity.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar


class ActivityReason(enum.StrEnum):
    """Why a reading counted as activity."""

    SWITCHED_ON = "switched_on"
    SWITCHED_OFF = "switched_off"
    POWER_STEP = "power_step"
    HIDDEN_USE = "hidden_use"


@dataclass(frozen=True, slots=True)
class ActivityConfig:
    """Thresholds of the activity detector (W, Wh, and fractions).

    ``in_use_margin_w``: power above standby by more than this is "in use"; it falls back to
    standby below half the margin (hysteresis against noise near the line).
    ``step_w``/``step_ratio``: a change in power while in use counts when it exceeds both.
    ``hidden_use_wh``/``hidden_use_ratio``: energy beyond what the samples explain counts when it
    exceeds both.
    ``standby_alpha``: how fast a learnt standby level follows upward drift.
    """

    in_use_margin_w: float = 10.0
    step_w: float = 50.0
    step_ratio: float = 0.4
    hidden_use_wh: float = 3.0
    hidden_use_ratio: float = 0.5
    standby_alpha: float = 0.05


class PlugActivity:
    """The mutable activity-detection state of one plug (owned by the engine's thread)."""

    __slots__ = (
        "energy_at",
        "energy_wh",
        "in_use",
        "power_at",
        "power_w",
        "standby_w",
    )

    pinned_standby: ClassVar[bool] = False
    """Whether ``standby_w`` is configured, never learnt: a class attribute, so that each of a
    hundred thousand plugs needs no slot for it (a pinned plug is of a subclass that says
    True)."""

    def __init__(self, standby_w: float | None = None) -> None:
        # the standby level: learnt from the readings, or pinned where the class says so
        self.standby_w: float | None = standby_w
        self.in_use: bool | None = None
        self.power_w: float | None = None
        self.power_at: float | None = None
        self.energy_wh: float | None = None
        self.energy_at: float | None = None

    def observe(
        self,
        at: float,
        power_w: float | None,
        energy_wh: float | None,
        config: ActivityConfig,
    ) -> ActivityReason | None:
        """Update with a reading at event time ``at``; return why it is activity, or None.

        Readings older than the last one seen are ignored here (late duplicates must not flip
        the state back and forth); the caller still counts them as messages.
        """
        reason: ActivityReason | None = None
        prev_power = self.power_w
        if power_w is not None and (self.power_at is None or at >= self.power_at):
            reason = self._observe_power(power_w, prev_power, config)
            self.power_w = power_w
            self.power_at = at
        if energy_wh is not None and (self.energy_at is None or at > self.energy_at):
            hidden = self._observe_energy(at, energy_wh, prev_power, power_w, config)
            if reason is None:
                reason = hidden
        return reason

    def _observe_power(
        self, power: float, prev: float | None, config: ActivityConfig
    ) -> ActivityReason | None:
        standby = self.standby_w
        if standby is None:
            # First sight: whatever it draws now is our first guess of standby unless clearly on.
            standby = self.standby_w = power
        margin = max(config.in_use_margin_w, 0.5 * standby)
        if self.in_use:
            in_use = power > standby + margin / 2
        else:
            in_use = power > standby + margin
        reason: ActivityReason | None = None
        if self.in_use is not None and in_use != self.in_use:
            reason = ActivityReason.SWITCHED_ON if in_use else ActivityReason.SWITCHED_OFF
        elif in_use and prev is not None:
            step = abs(power - prev)
            if step >= config.step_w and step >= config.step_ratio * max(prev, power):
                reason = ActivityReason.POWER_STEP
        self.in_use = in_use
        if not in_use and not self.pinned_standby:
            # Standby follows a drop at once and a rise slowly, so it settles on the floor.
            if power < standby:
                self.standby_w = power
            else:
                self.standby_w = standby + config.standby_alpha * (power - standby)
        return reason

    def _observe_energy(
        self,
        at: float,
        energy: float,
        prev_power: float | None,
        power: float | None,
        config: ActivityConfig,
    ) -> ActivityReason | None:
        prev_energy, prev_at = self.energy_wh, self.energy_at
        self.energy_wh, self.energy_at = energy, at
        if prev_energy is None or prev_at is None:
            return None
        delta = energy - prev_energy
        if delta <= 0:
            return None  # a reset (reboot, midnight, user command) or no use: never activity
        hours = (at - prev_at) / 3600.0
        draw = max(prev_power or 0.0, power or 0.0, self.standby_w or 0.0)
        expected = draw * hours
        excess = delta - expected
        if excess > config.hidden_use_wh and excess > config.hidden_use_ratio * expected:
            return ActivityReason.HIDDEN_USE
        return None
