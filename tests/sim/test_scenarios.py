"""Each injected scenario's ground truth agrees with the traffic."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict

import pytest

from careplug.clock import parse_iso
from careplug_sim.decode import ReadingDecoder
from careplug_sim.formats import FAMILIES

from .helpers import HUMAN_ON_W, native_readings, simulate


def _by_device(readings: list) -> dict[str, list]:  # type: ignore[type-arg]
    out: dict[str, list] = defaultdict(list)  # type: ignore[type-arg]
    for r in readings:
        out[r.device].append(r)
    return out


def test_no_human_power_change_after_incapacitation() -> None:
    """From an incident on, each human plug stays on or stays off; plugs keep reporting."""
    p, msgs, _ = simulate(households=20, days=4, seed=11, incidents=8, left_on_p=0.5)
    readings = _by_device(native_readings(msgs))
    human = {pl.device: pl for h in p.households for pl in h.plugs if pl.appliance != "fridge"}
    checked = 0
    for inc in p.incidents:
        for dev, pl in human.items():
            if pl.household != inc.household:
                continue
            # a kettle or microwave already running finishes by itself within minutes
            after = [r for r in readings[dev] if r.published >= inc.start + 600]
            assert after, "plugs keep reporting after an incapacitation"
            states = {r.power_w > HUMAN_ON_W for r in after}
            assert len(states) == 1, (inc, dev)
            checked += 1
    assert checked >= 8
    # and the residents did have a life before
    before = [
        r
        for r in native_readings(msgs)
        if r.device in human and r.power_w > HUMAN_ON_W and r.published < p.incidents[0].start
    ]
    assert before


def test_left_on_appliance_stays_on() -> None:
    """An appliance left on at the incident reports its on-level to the end."""
    p, msgs, _ = simulate(
        households=10, days=3, seed=2, incidents=10, left_on_p=1.0, families={"native": 1.0}
    )
    readings = _by_device(native_readings(msgs))
    left = [i for i in p.incidents if i.left_on]
    assert left
    for inc in left:
        dev = next(
            pl.device
            for h in p.households
            for pl in h.plugs
            if pl.household == inc.household and pl.appliance == inc.left_on
        )
        after = [r for r in readings[dev] if r.published >= inc.start]
        assert after and all(r.power_w > HUMAN_ON_W for r in after)


def test_away_period_has_no_activity() -> None:
    """While away (registered or not) no human plug is on."""
    p, msgs, _ = simulate(households=10, days=6, seed=4, trips=3, hospital_stays=2)
    assert len(p.away) == 5
    readings = _by_device(native_readings(msgs))
    for a in p.away:
        for h in p.households:
            if h.id != a.household:
                continue
            for pl in h.plugs:
                during = [r for r in readings[pl.device] if a.start + 60 <= r.published < a.end]
                assert during
                if pl.appliance != "fridge":
                    assert all(r.power_w < HUMAN_ON_W for r in during), (a, pl.device)


@pytest.mark.parametrize("kind", ["offline", "unplugged"])
def test_plug_fault_silences_the_plug(kind: str) -> None:
    """During Wi-Fi loss or unplugging no reading from that plug; LWT offline then online."""
    p, msgs, _ = simulate(households=8, days=4, seed=6, **{kind: 3})
    assert len(p.plug_faults) == 3
    for f in p.plug_faults:
        mine = [
            (t, topic, payload)
            for t, topic, payload, _ in msgs
            if topic.startswith(f"careplug/plugs/{f.plug}/")
        ]
        inside = [m for m in mine if f.start <= m[0] < f.end]
        assert [m[2] for m in inside] == ["offline"]
        assert inside[0][0] == f.start + 90
        if f.end < p.config.end_epoch:
            assert (f.end, f"careplug/plugs/{f.plug}/status", "online") in mine
        assert any(m[0] < f.start and m[1].endswith("/reading") for m in mine)


def test_power_cut_takes_a_whole_area_offline() -> None:
    """Every plug of the area goes offline together and does not report until power returns."""
    p, msgs, _ = simulate(households=30, days=3, seed=8, power_cuts=1, households_per_area=10)
    cut = p.power_cuts[0]
    assert len(cut.households) == 10
    devices = {pl.device for h in p.households if h.id in cut.households for pl in h.plugs}
    inside = [(t, topic, payload) for t, topic, payload, _ in msgs if cut.start <= t < cut.end]
    ours = [m for m in inside if m[1].split("/")[2] in devices]
    assert {m[1].split("/")[2] for m in ours} == devices
    assert all(m[2] == "offline" and m[0] == cut.start + 90 for m in ours)
    others = [m for m in inside if m[1].split("/")[2] not in devices]
    assert others  # the rest of the city still reports


def test_clock_skew_shifts_device_time_only() -> None:
    """A skewed plug stamps its readings ``offset_s`` off the time it publishes them."""
    p, msgs, _ = simulate(households=6, days=1, seed=3, skewed=2)
    skews = {pl.device: pl.skew_s for h in p.households for pl in h.plugs if pl.skew_s}
    assert len(skews) == 2
    for r in native_readings(msgs):
        assert r.device_time - r.published == skews.get(r.device, 0)


def test_duplicates_late_and_malformed_are_in_traffic() -> None:
    """Each injected message fault appears in the traffic as the truth says."""
    _p, msgs, sim = simulate(
        households=10, days=2, seed=5, duplicate_rate=0.02, late_rate=0.02, malformed_rate=0.02
    )
    kinds: dict[str, int] = defaultdict(int)
    by_topic_payload: dict[tuple[object, object], list[int]] = defaultdict(list)
    for t, topic, payload, _ in msgs:
        by_topic_payload[(topic, payload)].append(t)
    for ev in sim.injected:
        kinds[str(ev["kind"])] += 1
        pub = parse_iso(str(ev["published"]))
        sent = [(t, payload) for t, topic, payload, _ in msgs if topic == ev["topic"] and t == pub]
        assert sent, ev
        if ev["kind"] == "malformed":
            bad = 0
            for _, payload in sent:
                try:
                    obj = json.loads(payload)
                    if not (isinstance(obj, dict) and isinstance(obj.get("power_w"), float)):
                        bad += 1
                except (ValueError, UnicodeDecodeError):
                    bad += 1
            assert bad
        elif ev["kind"] == "late":
            if str(ev["topic"]).startswith("careplug/"):
                stamps = {parse_iso(json.loads(p)["time"]) for _, p in sent}
                assert parse_iso(str(ev["time"])) in stamps
            assert pub - parse_iso(str(ev["time"])) >= 30
        else:
            assert len(by_topic_payload[(ev["topic"], sent[0][1])]) >= 2
    assert set(kinds) == {"duplicate", "late", "malformed"}


def test_kettle_boil_between_reports_shows_only_in_counter() -> None:
    """A boil shorter than the report period raises energy while both readings read standby."""
    _, msgs, _ = simulate(households=30, days=3, seed=12, families={"native": 1.0})
    hidden = 0
    for dev, rs in _by_device(native_readings(msgs)).items():
        if "kettle" not in dev:
            continue
        for a, b in itertools.pairwise(rs):
            if a.power_w < 5 and b.power_w < 5 and b.energy_wh - a.energy_wh > 30:
                hidden += 1
    assert hidden > 5


def test_fridge_cycles_by_itself() -> None:
    """A fridge's compressor runs all day, also after its resident is gone."""
    p, msgs, _ = simulate(households=10, days=3, seed=1, fridge_p=1.0, incidents=10)
    for dev, rs in _by_device(native_readings(msgs)).items():
        if dev.endswith("fridge"):
            late = [r for r in rs if r.published > p.config.end_epoch - 86400]
            on = [r for r in late if r.power_w > 60]
            assert 0.1 < len(on) / len(late) < 0.7


@pytest.mark.parametrize("family", sorted(set(FAMILIES) - {"native"}))
def test_every_family_encodes_the_same_readings(family: str) -> None:
    """Decoded in native units, a family reports the power and energy native JSON does."""
    kw = dict(households=4, days=1, seed=21, report_on_change=False)
    _, native, _ = simulate(families={"native": 1.0}, **kw)
    _, other, _ = simulate(families={family: 1.0}, **kw)
    prefix = FAMILIES[family].id_prefix
    dec = ReadingDecoder({})
    rows = [
        row
        for t, topic, payload, _ in other
        for row in dec.decode(t, topic, payload.encode() if isinstance(payload, str) else payload)
    ]
    want = {
        (r.published, r.device.replace("plug-", f"{prefix}-", 1)): r
        for r in native_readings(native)
    }
    assert len(rows) == len(want)
    gen1_like = not FAMILIES[family].counter_survives_power_loss
    for time, device, power, energy, _ in rows:
        r = want[(int(parse_iso(time)), device)]
        assert abs(float(power) - r.power_w) <= 0.6
        if not gen1_like:
            assert abs(float(energy) - r.energy_wh) <= 0.6
    for _t, _topic, payload, _ in other:
        if payload and str(payload)[0] == "{":
            json.loads(payload)  # JSON families emit valid JSON
