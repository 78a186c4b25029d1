"""The engine's cached local-day arithmetic gives exactly what ``datetime.fromtimestamp`` gives,
in zones with and without daylight saving, on the days of a change, and at fractions of a
second that round up to the next second."""

from __future__ import annotations

import random
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from careplug.domain import engine as engine_module

ZONES = ["Asia/Seoul", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]


def _by_datetime(at: float, timezone: str) -> tuple[float, int]:
    local = datetime.fromtimestamp(at, ZoneInfo(timezone))
    return at - (local.hour * 3600.0 + local.minute * 60.0 + local.second), local.weekday()


@pytest.mark.parametrize("timezone", ZONES)
def test_local_midnight_matches_datetime_everywhere(timezone: str) -> None:
    rng = random.Random(7)
    engine_module._LOCAL_DAYS.clear()
    # a year in time order (as readings come) with steps of up to two hours, then random jumps
    at = 1_767_225_600.0  # 2026-01-01T00:00Z
    stamps = []
    while at < 1_767_225_600.0 + 366 * 86400:
        at += rng.uniform(0, 7200) + rng.choice([0.0, 0.25, 0.9999995, 0.9999996, 0.4999995])
        stamps.append(at)
    stamps += [rng.uniform(1.6e9, 1.9e9) for _ in range(2000)]
    # both sides of each daylight-saving change of 2026 in Berlin and New York
    for change in (1_774_746_000.0, 1_792_890_000.0, 1_772_953_200.0, 1_793_512_800.0):
        stamps += [change + d for d in (-3601.0, -1.0, -0.0000004, 0.0, 0.5, 3599.9999996, 7200.0)]
    for at in stamps:
        assert engine_module._local_midnight(at, timezone) == _by_datetime(at, timezone), at


def test_a_day_with_a_change_of_offset_is_not_cached() -> None:
    engine_module._LOCAL_DAYS.clear()
    before_change = 1_774_742_400.0  # 2026-03-29T00:00Z: Berlin's change to summer time at 01:00Z
    assert engine_module._local_midnight(before_change, "Europe/Berlin") == _by_datetime(
        before_change, "Europe/Berlin"
    )
    assert "Europe/Berlin" not in engine_module._LOCAL_DAYS
    assert engine_module._local_midnight(before_change + 86400, "Europe/Berlin") == (
        _by_datetime(before_change + 86400, "Europe/Berlin")
    )
    assert "Europe/Berlin" in engine_module._LOCAL_DAYS
