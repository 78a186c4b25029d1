"""The engine's per-plug and per-household state stays small, and the fields kept outside the
objects (suppressed kinds as a mask, the away period and an outage in side objects) behave
and persist as plain fields did."""

from __future__ import annotations

import sys

from careplug.domain import alerts as alert_rules
from careplug.domain.engine import (
    AlertChanged,
    DetectionConfig,
    Effect,
    Engine,
    HouseholdMemory,
    KindSet,
)
from careplug.domain.model import (
    AlertKind,
    Household,
    HouseholdId,
    Outcome,
    PlugAvailability,
    PlugId,
    PlugSpec,
    Reading,
    Severity,
)
from careplug.domain.routine import EMPTY_SNAPSHOT, HOUR, Routine

HH = HouseholdId("hh-1")
T0 = 1_764_000_000.0


def _engine(*more: Household) -> Engine:
    spec = Household(HH, plugs=(PlugSpec(PlugId("p-1")), PlugSpec(PlugId("p-2"))))
    return Engine(DetectionConfig(detector="learning"), [spec, *more], T0)


def test_state_objects_stay_within_their_size_class() -> None:
    """One object per plug (it is its own activity detector), no instance dicts, and the
    sizes a hundred thousand households were measured with (bench_memory)."""
    other = HouseholdId("hh-2")
    engine = _engine(Household(other, plugs=(PlugSpec(PlugId("p-3")),)))
    state = engine.households[HH]
    plug = engine.plugs[PlugId("p-1")]
    assert plug.activity is plug
    assert not hasattr(plug, "__dict__") and not hasattr(state, "__dict__")
    assert sys.getsizeof(plug) <= 144
    assert sys.getsizeof(state) <= 128
    # the routine is its snapshot: until it learns, one object shared by every household
    assert state.routine_data is EMPTY_SNAPSHOT
    assert engine.households[other].routine_data is EMPTY_SNAPSHOT
    # the timer-heap entry is the household's scheduled_due itself: one small float object
    due = state.scheduled_due
    assert due is not None and due == T0 and sys.getsizeof(due) <= 48
    assert len(engine._timers) == 2 and any(entry is due for entry in engine._timers)


def test_suppressed_kinds_act_on_the_household_and_survive_a_restart() -> None:
    """A kind a person closed stays suppressed through take_dirty and restore."""
    engine = _engine()
    engine.on_reading(Reading(PlugId("p-1"), T0 + 1, 2.0, None))
    alert, _ = alert_rules.raise_alert(HH, AlertKind.UNPLUGGED, Severity.WARNING, T0 + 5, "x")
    closed, _ = alert_rules.resolve(alert, "cw-kim", T0 + 9, Outcome.DEVICE_FAULT, "n")
    engine.apply_external(closed)
    state = engine.households[HH]
    assert AlertKind.UNPLUGGED in state.suppressed and len(state.suppressed) == 1
    plugs, households = engine.take_dirty()
    assert [h.suppressed for h in households] == [("unplugged",)]

    again = _engine()
    again.restore(plugs, households, [])
    suppressed = again.households[HH].suppressed
    assert list(suppressed) == [AlertKind.UNPLUGGED]
    suppressed.discard(AlertKind.UNPLUGGED)
    assert AlertKind.UNPLUGGED not in again.households[HH].suppressed


def test_an_away_period_is_held_only_once_registered_and_persists() -> None:
    """No away object until a period is registered; then it is stored and restored."""
    engine = _engine()
    state = engine.households[HH]
    assert state._rare is None and state.away_start is None and not state.awaiting_return
    state.awaiting_return = False  # clearing what is not set makes nothing
    assert state._rare is None
    engine.set_away(HH, T0 + 3600, T0 + 7200)
    assert (state.away_start, state.away_until) == (T0 + 3600, T0 + 7200)
    _, households = engine.take_dirty()
    assert [(h.away_start, h.away_until) for h in households] == [(T0 + 3600, T0 + 7200)]

    again = _engine()
    again.restore([], households, [])
    restored = again.households[HH]
    assert (restored.away_start, restored.away_until) == (T0 + 3600, T0 + 7200)


def test_an_outage_link_is_dropped_when_cleared() -> None:
    """A plug's outage and reconnect grace live in a side object only while set."""
    engine = _engine()
    plug = engine.plugs[PlugId("p-1")]
    assert plug.outage is None and plug.held_until is None
    plug.held_until = T0 + 60
    assert plug.held_until == T0 + 60 and plug.outage is None
    plug.held_until = None
    assert plug._rare is None


def test_a_suppressed_kind_is_not_raised() -> None:
    """Through the mask: a kind a person closed is not raised while suppressed; the same
    household without it is."""
    quiet, loud = _engine(), _engine()
    quiet.households[HH].suppressed.add(AlertKind.NEVER_REPORTED)
    at = T0 + 7 * 3600  # neither plug ever reported: past the 6 h grace
    assert _raised(quiet.tick(at)) == []
    assert _raised(loud.tick(at)) == [AlertKind.NEVER_REPORTED]


def _raised(effects: list[Effect]) -> list[AlertKind]:
    return [e.alert.kind for e in effects if isinstance(e, AlertChanged) and e.event == "raised"]


def test_households_due_at_the_same_instant_run_in_household_id_order() -> None:
    """Heap entries carry no push sequence: ties at one instant are evaluated in
    household-id order, whatever order the registry (and the schedules) had."""
    ids = ["hh-c", "hh-a", "hh-d", "hh-b"]
    specs = [Household(HouseholdId(h), plugs=(PlugSpec(PlugId(f"p-{h}")),)) for h in ids]
    engine = Engine(DetectionConfig(), specs, T0)
    at = T0 + 7 * 3600  # none ever reported: each raises never_reported in this one tick
    raised = [
        e.alert.household
        for e in engine.tick(at)
        if isinstance(e, AlertChanged) and e.event == "raised"
    ]
    assert raised == sorted(ids)


def test_a_superseded_timer_entry_is_skipped() -> None:
    """An earlier schedule supersedes the pending one (evaluated once, at the earlier time)."""
    engine = _engine()
    state = engine.households[HH]
    engine.tick(T0)  # within the catch-up grace: due again when it ends
    first = state.scheduled_due
    assert first is not None and first > T0 + 2
    engine.on_reading(Reading(PlugId("p-1"), T0 + 2, 2.0, None))  # first sight: due now
    assert state.scheduled_due is not first and state.scheduled_due == T0 + 2
    assert len(engine._timers) == 2
    engine.tick(T0 + 200)
    assert state.scheduled_due is not None and state.scheduled_due > T0 + 200
    assert len(engine._timers) == 1  # the superseded entry was popped and skipped


def test_skip_learn_shares_the_mask_without_being_a_suppressed_kind() -> None:
    """skip_learn is a bit of the suppressed mask: setting and clearing either leaves the
    other as it was, and it is never one of the suppressed kinds."""
    engine = _engine()
    state = engine.households[HH]
    state.skip_learn = True
    assert state.skip_learn and len(state.suppressed) == 0 and list(state.suppressed) == []
    state.suppressed.add(AlertKind.UNPLUGGED)
    state.suppressed = KindSet([AlertKind.INACTIVITY])
    assert state.skip_learn and list(state.suppressed) == [AlertKind.INACTIVITY]
    state.skip_learn = False
    assert not state.skip_learn and list(state.suppressed) == [AlertKind.INACTIVITY]
    state.suppressed.discard(AlertKind.INACTIVITY)
    assert state.suppressed_mask == 0
    state.skip_learn = True
    engine._dirty_households.add(HH)
    _, households = engine.take_dirty()
    assert [(h.skip_learn, h.suppressed) for h in households] == [(True, ())]


def test_a_blind_spell_is_held_in_the_side_object_only_while_blind() -> None:
    """blind_since (0.0 is a time, not "none") lives in the household's side object, which is
    dropped again when nothing in it is set."""
    state = _engine().households[HH]
    state.blind_since = 0.0
    assert state.blind_since == 0.0 and state._rare is not None
    state.blind_since = None
    assert state.blind_since is None and state._rare is None
    state.away_start, state.blind_since = T0, T0 + 1
    state.blind_since = None
    assert state._rare is not None and state.away_start == T0


def test_routine_dirty_is_a_bit_of_the_mask_cleared_when_saved() -> None:
    """The routine's "changed since saved" flag shares the mask with the suppressed kinds
    and skip_learn; saving clears it and leaves the others."""
    engine = _engine()
    state = engine.households[HH]
    assert not state.routine_dirty
    state.routine_dirty, state.skip_learn = True, True
    state.suppressed.add(AlertKind.UNPLUGGED)
    assert state.routine_dirty and list(state.suppressed) == [AlertKind.UNPLUGGED]
    engine._dirty_households.add(HH)
    _, households = engine.take_dirty()
    assert households[0].routine is not None and households[0].skip_learn
    assert not state.routine_dirty and state.skip_learn
    assert list(state.suppressed) == [AlertKind.UNPLUGGED]
    state.routine = None
    state.routine_dirty = True  # no routine: nothing to save
    assert not state.routine_dirty


def _restored(routine: bytes) -> Engine:
    engine = _engine()
    engine.restore([], [HouseholdMemory(HH, None, T0, None, 0.0, None, routine=routine)], [])
    return engine


def test_a_restored_routine_is_kept_as_read_and_checked_when_first_decoded() -> None:
    """A restart keeps each stored snapshot as read (no decoding of a hundred thousand); the
    first decode checks it: a good one stays the same object, a malformed one (two bins
    swapped) is replaced by a fresh routine, neither is marked changed."""
    learnt = Routine()
    learnt.observe(9, False, 4 * HOUR)
    learnt.observe(22, False, 9 * HOUR)
    good = learnt.to_bytes()
    engine = _restored(good)
    state = engine.households[HH]
    assert state.routine_data is good and not state.routine_dirty
    routine = state.routine
    assert routine is not None and routine.to_bytes() == good
    assert state.routine_data is good and not state.routine_dirty

    bins = learnt._bins  # the uint32 form of stores written before the snapshot form
    bad = b"CPR2" + good[4:12] + bins[1:2].tobytes() + bins[:1].tobytes() + bins[2:].tobytes()
    engine = _restored(bad)
    state = engine.households[HH]
    assert state.routine_data is bad  # not checked yet
    routine = state.routine
    assert routine is not None and routine.observed_s == 0.0 and not any(routine.counts)
    assert state.routine_data == EMPTY_SNAPSHOT and not state.routine_dirty


def test_short_gaps_grow_the_observed_time_and_a_silence_is_learnt() -> None:
    """Uses a few minutes apart only add observed time (not saved for that alone); a silence
    of an hour is binned and marks the routine changed."""
    engine = _engine()
    state = engine.households[HH]
    at = 1_764_032_400.0  # 2025-11-25 01:00 UTC, 10:00 in Seoul: no anchor hour before 13:00
    for k in range(6):  # on/off every 5 minutes for half an hour
        engine.on_reading(Reading(PlugId("p-1"), at + k * 300.0, 100.0 if k % 2 else 0.5, None))
    engine.take_dirty()
    routine = state.routine
    assert routine is not None and not any(routine.counts)
    assert routine.observed_s == 4 * 300.0  # the gaps between the five activity changes
    assert not state.routine_dirty
    for k in range(1, 13):  # standby, reported every 5 minutes: an hour's silence
        engine.on_reading(Reading(PlugId("p-1"), at + 1500.0 + k * 300.0, 0.5, None))
    engine.on_reading(Reading(PlugId("p-1"), at + 1500.0 + HOUR + 60.0, 100.0, None))
    routine = state.routine
    assert routine is not None and sum(routine.counts) == 1
    assert state.routine_dirty


def test_a_silences_learnt_levels_are_kept_packed_and_read_back_the_same() -> None:
    """The current silence's levels are one bytes object of at most 64 B (at night nearly
    every household holds one), read back equal, "usually active by" included; a silence
    without learnt levels is remembered as such."""
    learnt = Routine()
    for day in range(30):
        for hour, length in ((9, 1.5), (13, 2.5), (22, 9.0)):
            learnt.observe(hour, day % 7 >= 5, length * HOUR * (1 + 0.05 * (day % 3)))
        learnt.observe_wait(2, day % 7 >= 5, 5.0 + 0.25 * (day % 3))  # from 07:00: ~12:00
    engine = _restored(learnt.to_bytes())
    state = engine.households[HH]
    base = 1_764_032_400.0  # 10:00 in Seoul
    for start, by_h in ((base - 4 * HOUR, True), (base, False)):  # from 06:00: by ~13:00
        fresh = engine._levels(state, start)
        assert fresh is not None and (fresh.usual_by_h is not None) is by_h
        assert isinstance(state.levels, bytes) and sys.getsizeof(state.levels) <= 64
        assert engine._levels(state, start) == fresh
    state.routine = Routine()  # nothing learnt: no levels for a new silence
    assert engine._levels(state, base + 60.0) is None
    assert state.levels is not None and engine._levels(state, base + 60.0) is None


def test_plugs_reporting_equal_power_share_one_value() -> None:
    """Each plug keeps its last power; equal values are one object (a city's plugs mostly
    report the same few standby values), a -0.0 stays -0.0, and only a bounded number of
    distinct values is kept for sharing."""
    engine = _engine(Household(HouseholdId("hh-2"), plugs=(PlugSpec(PlugId("p-3")),)))
    at = T0 + 60.0
    for k, plug in enumerate(("p-1", "p-2", "p-3")):
        engine.on_reading(Reading(PlugId(plug), at + k, float("0.5"), None))
    first, second, third = (engine.plugs[PlugId(p)].power_w for p in ("p-1", "p-2", "p-3"))
    assert first == 0.5 and first is second is third
    engine.on_reading(Reading(PlugId("p-1"), at + 10, 0.0, None))
    engine.on_reading(Reading(PlugId("p-2"), at + 10, -0.0, None))
    zero, negative_zero = engine.plugs[PlugId("p-1")].power_w, engine.plugs[PlugId("p-2")].power_w
    assert zero is not None and negative_zero is not None
    assert str(zero) == "0.0" and str(negative_zero) == "-0.0"
    for k in range(3000):  # many distinct in-use values: the table stops growing
        engine.on_reading(Reading(PlugId("p-3"), at + 20 + k, 1000.0 + k / 7, None))
    assert len(engine._powers) <= engine._powers.LIMIT
    engine.on_reading(Reading(PlugId("p-1"), at + 4000, float("0.5"), None))
    assert engine.plugs[PlugId("p-1")].power_w is second  # still shared


def test_fields_kept_outside_the_plug_are_saved_and_restored_as_before() -> None:
    """A plug's offline time (a side object, only while offline), its gateway (the engine's
    map) and its last reading (derived when saved) persist as plain fields did; a configured
    standby stays pinned (the plug's class), a learnt one follows the readings."""
    pinned = Household(HouseholdId("hh-2"), plugs=(PlugSpec(PlugId("p-3"), standby_w=2.0),))
    engine = _engine(pinned)
    plug, fixed = engine.plugs[PlugId("p-1")], engine.plugs[PlugId("p-3")]
    assert fixed.pinned_standby and not plug.pinned_standby
    at = T0 + 60.0
    engine.on_reading(Reading(PlugId("p-1"), at, 1.0, 10.0))
    engine.on_reading(Reading(PlugId("p-3"), at, 1.0, None))
    engine.on_reading(Reading(PlugId("p-1"), at + 30, None, 10.5))  # energy only, later
    engine.on_reading(Reading(PlugId("p-1"), at + 20, 1.0, None))  # power, out of order
    assert plug.standby_w == 1.0 and fixed.standby_w == 2.0
    assert plug._rare is None
    engine.note_gateway(PlugId("p-1"), "zigbee-1")
    engine.on_availability(PlugAvailability(PlugId("p-1"), at + 40, False))
    assert plug.offline_since == at + 40 and plug._rare is not None
    saved, _ = engine.take_dirty()
    memory = {m.plug: m for m in saved}
    assert memory[PlugId("p-1")].last_reading_at == at + 30
    assert memory[PlugId("p-3")].last_reading_at == at
    assert memory[PlugId("p-1")].offline_since == at + 40
    assert memory[PlugId("p-1")].gateway == "zigbee-1" and memory[PlugId("p-3")].gateway is None
    restarted = _engine(pinned)
    restarted.restore(saved, [], [])
    again = restarted.plugs[PlugId("p-1")]
    assert again.offline_since == at + 40 and again.lwt_offline_since == at + 40
    assert restarted.plugs[PlugId("p-3")].standby_w == 2.0
    resaved, _ = restarted.take_dirty()  # (the restored gateway marks the plug to save)
    assert resaved == [memory[PlugId("p-1")]]  # saved again, it is what was saved
    restarted.on_availability(PlugAvailability(PlugId("p-1"), at + 50, True))
    assert again.offline_since is None and again._rare is None
    (after,), _ = restarted.take_dirty()
    assert after.gateway == "zigbee-1" and after.last_reading_at == at + 30
    # the gateway going down takes the plug with it, as a plug field did
    restarted.on_availability(PlugAvailability(PlugId("zigbee-1"), at + 60, False, gateway=True))
    assert again.offline_since == at + 60
