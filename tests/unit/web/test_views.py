"""Household status and activity strips, as the console derives them."""

from __future__ import annotations

from careplug.adapters.web.views import HouseholdStatus, activity_strip, household_status
from careplug.domain import alerts as alert_rules
from careplug.domain.engine import HouseholdMemory, PlugMemory
from careplug.domain.model import (
    Alert,
    AlertKind,
    Appliance,
    Household,
    HouseholdId,
    PlugId,
    PlugSpec,
    Severity,
)

H = Household(
    HouseholdId("h"),
    plugs=(PlugSpec(PlugId("tv"), Appliance.TV), PlugSpec(PlugId("fridge"), shows_activity=False)),
)
SEEN = HouseholdMemory(HouseholdId("h"), 1000.0, 0.0, None, 0.0, None)


def _alert(kind: AlertKind, severity: Severity) -> Alert:
    return alert_rules.raise_alert(HouseholdId("h"), kind, severity, 5000.0, "m")[0]


def _plug(plug: str, offline: bool) -> PlugMemory:
    since = 10.0 if offline else None
    return PlugMemory(PlugId(plug), 1.0, 1.0, 0.0, 1.0, None, None, False, 1.0, None, since)


def test_quiet_household_with_activity_is_ok() -> None:
    """No alerts, known activity, not away: ok."""
    assert household_status(H, [], {}, SEEN, away=False) is HouseholdStatus.OK


def test_never_seen_household_is_unknown() -> None:
    """Nothing stored about the household yet: unknown, not ok."""
    assert household_status(H, [], {}, None, away=False) is HouseholdStatus.UNKNOWN


def test_critical_resident_alert_beats_away() -> None:
    """An open critical inactivity alert shows critical even during an away period."""
    alert = _alert(AlertKind.INACTIVITY, Severity.CRITICAL)
    assert household_status(H, [alert], {}, SEEN, away=True) is HouseholdStatus.CRITICAL
    warning = _alert(AlertKind.INACTIVITY, Severity.WARNING)
    assert household_status(H, [warning], {}, SEEN, away=False) is HouseholdStatus.WARNING


def test_away_beats_offline_and_attention() -> None:
    """An away household whose plug is unplugged reads as away."""
    alert = _alert(AlertKind.DEVICE_OFFLINE, Severity.WARNING)
    assert household_status(H, [alert], {}, SEEN, away=True) is HouseholdStatus.AWAY


def test_offline_when_every_activity_plug_is_offline() -> None:
    """The TV offline makes the household offline although the fridge still reports."""
    plugs = {PlugId("tv"): _plug("tv", True), PlugId("fridge"): _plug("fridge", False)}
    assert household_status(H, [], plugs, SEEN, away=False) is HouseholdStatus.OFFLINE
    plugs[PlugId("tv")] = _plug("tv", False)
    assert household_status(H, [], plugs, SEEN, away=False) is HouseholdStatus.OK


def test_equipment_alert_is_offline_other_alert_is_attention() -> None:
    """Open equipment alerts read as offline; other open alerts as attention."""
    blind = _alert(AlertKind.MONITORING_BLIND, Severity.WARNING)
    assert household_status(H, [blind], {}, SEEN, away=False) is HouseholdStatus.OFFLINE
    note = _alert(AlertKind.APPLIANCE_LEFT_ON, Severity.ATTENTION)
    assert household_status(H, [note], {}, SEEN, away=False) is HouseholdStatus.ATTENTION


def test_strip_buckets_align_and_count() -> None:
    """Cells end at the next bucket boundary; events outside the strip are not counted."""
    cells = activity_strip([0.0, 3599.0, 3600.0, 7300.0, -1.0, 99999.0], 7200.5, 3, 3600.0)
    assert [c.start for c in cells] == [0.0, 3600.0, 7200.0]
    assert [c.count for c in cells] == [2, 1, 1]


def test_translations_default_to_korean_and_degrade_readably() -> None:
    """Korean unless English is asked for; an unknown kind shows its code, not a dotted key."""
    from careplug.adapters.web.i18n import pick_locale, translate

    assert pick_locale(None, "") == "ko"
    assert pick_locale("en-US") == "en"
    assert pick_locale("fr", "en") == "en"
    assert translate("ko", "status.critical") == "위험"
    assert translate("en", "status.critical") == "Critical"
    assert translate("en", "kind.something_new") == "something_new"
