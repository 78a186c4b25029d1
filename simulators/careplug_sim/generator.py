"""Turn a :class:`~careplug_sim.scenario.Plan` into MQTT traffic, lazily and in time order.

:class:`Simulation` produces messages chunk by chunk (``chunk()``), so a month of traffic never
sits in memory and a live run can start at once. Every plug and every household has its own
seeded generator, so the traffic does not depend on the chunk size: ``record`` and ``run`` emit
the same messages for the same seed.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from careplug_sim.appliances import fridge_cycle
from careplug_sim.formats import FAMILIES, Out, iso_utc, z2m_bridge
from careplug_sim.household import Segment, day_schedule
from careplug_sim.scenario import HouseholdSpec, Plan, PlugSpec

Message = tuple[int, str, str | bytes, bool]
"""A message on the wire: publish time (epoch s), topic, payload, retain. QoS is always 1."""

RenderReading = Callable[[str, int, int, str, float, float], str]
"""render(device, publish time, device time, tz, watts, wh) -> the message's finished line(s)."""

LineRenderer = Callable[[str], RenderReading | None]
"""The reading renderer of a firmware family, if it has a fast one."""

FOREVER = 2**62
LWT_DELAY_S = 90
"""A dead client's Last Will comes after 1.5 x a 60 s keep-alive."""

_GARBAGE: tuple[str | bytes, ...] = (
    '{"device": "x", "power_w": ',
    "nan",
    '{"power_w": "abc", "energy_wh": null}',
    b"\xff\xfe\x00garbage\x80",
    "[]",
    '{"device": 12, "time": "yesterday", "power_w": -5}',
)


@dataclass(slots=True)
class Window:
    """A span in which a plug does not report; ``power_lost`` if it is also unpowered."""

    start: int
    end: int
    power_lost: bool


TABLE_SIZE = 65521
"""A prime: per-report randomness is read from a table of this many uniforms."""


def uniform_table(seed: int) -> list[float]:
    """The scenario's table of uniforms in [0, 1).

    Per-report randomness (jitter, noise, message faults) is looked up at an index made of the
    plug's offset and the report's time instead of drawn from a sequential generator, so the
    state at any instant can be computed without replaying every report before it: ``record``
    can split a month into time ranges run in parallel and still write the very bytes one
    process would. A lookup is also much cheaper than a draw.
    """
    rng = random.Random(seed * 7919 + 3)
    return [rng.random() for _ in range(TABLE_SIZE)]


class PlugSim:
    """One plug's firmware: periodic reports, change reports, LWT, energy counter.

    Energy is integrated exactly in integer centiwatt-seconds, so it does not depend on how
    the timeline is cut into chunks.
    """

    def __init__(
        self, spec: PlugSpec, seed: int, start: int, end: int, *, tz: str, jitter: int = 0
    ) -> None:
        self.spec = spec
        self.rng = random.Random(seed)
        fam = FAMILIES[spec.family]
        self.encode = fam.reading
        self.status = fam.status
        self.counter_survives = fam.counter_survives_power_loss
        self.tz = tz
        self.end = end
        p = spec.params
        self.base_w = p.idle_w if spec.appliance == "fridge" else p.standby_w
        self.base_c = round(self.base_w * 100)
        self.segments: list[tuple[int, int, int]] = []
        """(start, end, centiwatts)"""
        self.seg_i = 0
        # drawn either way, so every family sees the same random stream (same life, same power)
        initial_wh = self.rng.uniform(0.0, 50_000.0)
        self.acc_c = round(initial_wh * 360_000) if self.counter_survives else 0
        """Cumulative energy in centiwatt-seconds (1 Wh = 360 000)."""
        self.acc_t = start
        self.period = spec.report_period
        self.jitter = jitter
        self.jitter_span = 2 * jitter + 1
        self.off_noise = self.rng.randrange(TABLE_SIZE)
        self.off_jitter = self.rng.randrange(TABLE_SIZE)
        self.off_fault = self.rng.randrange(TABLE_SIZE)
        self.table: list[float] = []
        self.render: RenderReading | None = None
        self.phase = start + self.rng.randrange(spec.report_period)
        self.k = 0
        self.next_report = self.phase
        self.change_i = 0
        self.windows: list[Window] = []
        self.win_events: list[tuple[int, bool, Window]] = []
        self.fridge_t = start + self.rng.randrange(3600)

    def report_time(self, k: int) -> int:
        """When report number ``k`` goes out: nominal time plus jitter."""
        if k == 0:
            return self.phase
        u = self.table[(k * 7 + self.off_jitter) % TABLE_SIZE]
        return self.phase + k * self.period + int(u * self.jitter_span) - self.jitter

    # -- schedule ------------------------------------------------------------------------

    def add_window(self, window: Window) -> None:
        """A silent span (Wi-Fi loss, unplugged, power cut)."""
        self.windows.append(window)
        self.win_events.append((min(window.start + LWT_DELAY_S, window.end), False, window))
        if window.end < self.end:
            self.win_events.append((window.end, True, window))
        self.win_events.sort(key=lambda e: (e[0], e[1]))
        self.windows.sort(key=lambda w: w.start)

    def extend(self, segments: list[Segment]) -> None:
        """Append segments (sorted, after those already known), dropping unpowered spans."""
        for seg in segments:
            s, e, w = seg
            for win in self.windows:
                if win.power_lost and s < win.end and win.start < e:
                    if s >= win.start:
                        s = e  # switched on during the outage: nothing happens
                    else:
                        e = win.start  # the outage switches it off
            if e > s:
                if self.segments and s < self.segments[-1][1]:
                    s = self.segments[-1][1]
                    if e <= s:
                        continue
                self.segments.append((s, e, round(w * 100)))

    def fill_fridge(self, until: int) -> None:
        """Compressor cycles up to ``until``: the fridge runs by itself."""
        on_w = self.spec.params.on_w
        cycles: list[Segment] = []
        while self.fridge_t < until:
            on_s, off_s = fridge_cycle(self.rng)
            cycles.append((self.fridge_t, self.fridge_t + int(on_s), on_w))
            self.fridge_t += int(on_s + off_s)
        self.extend(cycles)

    # -- state ---------------------------------------------------------------------------

    def _advance(self, t: int) -> int:
        """Integrate energy up to ``t``; the power drawn at ``t`` in centiwatts."""
        segs = self.segments
        acc_t = self.acc_t
        base = self.base_c
        acc = 0
        watts = base
        i = self.seg_i
        n = len(segs)
        while i < n:
            s, e, w = segs[i]
            if s >= t:
                break
            if s > acc_t:
                acc += base * (s - acc_t)
                acc_t = s
            stop = e if e < t else t
            if stop > acc_t:
                acc += w * (stop - acc_t)
                acc_t = stop
            if e <= t:
                i += 1
            else:
                watts = w
                break
        if t > acc_t:
            acc += base * (t - acc_t)
            for win in self.windows:
                if win.power_lost and win.start < t and acc_t < win.end:
                    acc -= base * (min(t, win.end) - max(acc_t, win.start))
        if i > 256:
            del segs[:i]
            self.change_i = max(0, self.change_i - 2 * i)
            i = 0
        self.seg_i = i
        self.acc_t = t
        self.acc_c += acc
        return watts

    def _silent(self, t: int) -> bool:
        return any(win.start <= t < win.end for win in self.windows)

    def _next_change(self) -> int:
        # boundaries of segments: 2*i is a start, 2*i+1 an end
        idx = self.change_i
        segs = self.segments
        while idx // 2 < len(segs):
            t = segs[idx // 2][idx % 2]
            if t >= self.acc_t:
                self.change_i = idx
                return t
            idx += 1
        self.change_i = idx
        return FOREVER

    def _window_event(self, sim: Simulation | None) -> None:
        t, online, win = self.win_events.pop(0)
        self._advance(t)
        if online and win.power_lost and not self.counter_survives:
            self.acc_c = 0  # this firmware's counter does not survive losing power
        if sim is not None:
            sim.put(t, self.status(self.spec.device, online))

    def fast_forward(self, t: int) -> None:
        """Move the state to ``t`` without emitting anything (segments must be known)."""
        while self.win_events and self.win_events[0][0] < t:
            self._window_event(None)
        if t > self.acc_t:
            self._advance(t)
        if self.next_report < t:
            k = max(0, (t - self.phase) // self.period - 1)
            while self.report_time(k) < t:
                k += 1
            self.k = k
            self.next_report = self.report_time(k)

    # -- output --------------------------------------------------------------------------

    def _emit_simple(self, end: int, sim: Simulation) -> None:
        # the common plug: periodic reports only, never silent; state kept in locals
        pending = sim.pending
        table = self.table
        base = self.base_c
        segs = self.segments
        device = self.spec.device
        skew = self.spec.skew_s
        tz = self.tz
        off_noise = self.off_noise
        off_jitter = self.off_jitter
        phase, period, jitter, span = self.phase, self.period, self.jitter, self.jitter_span
        render = None if sim.faulty else self.render
        encode = self.encode
        t = self.next_report
        k = self.k
        acc_c = self.acc_c
        acc_t = self.acc_t
        while t < end:
            k += 1
            following = phase + k * period + int(table[(k * 7 + off_jitter) % TABLE_SIZE] * span)
            following -= jitter
            i = self.seg_i
            seg = segs[i] if i < len(segs) else None
            if seg is None or seg[0] >= t:
                acc_c += base * (t - acc_t)
                acc_t = t
                centi = base
            elif seg[0] <= acc_t and seg[1] > t:
                # still inside the segment running at the last report
                centi = seg[2]
                acc_c += centi * (t - acc_t)
                acc_t = t
            else:
                self.acc_c, self.acc_t = acc_c, acc_t
                centi = self._advance(t)
                acc_c, acc_t = self.acc_c, self.acc_t
            u = table[(t + off_noise) % TABLE_SIZE]
            if centi > base:
                watts = centi * (0.01 + (u - 0.5) * 0.0006)
            else:
                watts = centi * (0.007 + u * 0.006)
            bucket = pending.get(t)
            if bucket is None:
                bucket = pending[t] = []
            if render is not None:
                bucket.append(render(device, t, t + skew, tz, watts, acc_c / 360_000))
            else:
                msgs = encode(device, t + skew, tz, watts, acc_c / 360_000)
                if sim.faulty:
                    msgs = sim.inject(t, device, msgs, (t + self.off_fault) % TABLE_SIZE)
                    bucket = pending.get(t)
                    if bucket is None:
                        bucket = pending[t] = []
                for topic, payload, retain in msgs:
                    bucket.append((t, topic, payload, retain))
            t = following
        self.next_report = t
        self.k = k
        self.acc_c = acc_c
        self.acc_t = acc_t

    def emit(self, until: int, sim: Simulation) -> None:
        """Every message this plug sends before ``until``.

        The hot path of recording: between appliance switchings energy grows linearly, so most
        reports are handled inline without :meth:`_advance`.
        """
        if not self.spec.report_on_change and not self.windows:
            self._emit_simple(min(until, self.end), sim)
            return
        spec = self.spec
        device = spec.device
        skew = spec.skew_s
        roc = spec.report_on_change
        pending = sim.pending
        base = self.base_c
        table = self.table
        off_noise = self.off_noise
        off_fault = self.off_fault
        phase = self.phase
        period = self.period
        off_jitter = self.off_jitter
        jitter = self.jitter
        span = self.jitter_span
        encode = self.encode
        tz = self.tz
        segs = self.segments
        faulty = sim.faulty
        render = None if faulty else self.render
        simple = not roc and not self.windows
        end = min(until, self.end)
        while True:
            t = self.next_report
            if not simple:
                t_chg = self._next_change() if roc else FOREVER
                t_win = self.win_events[0][0] if self.win_events else FOREVER
                if t_win <= t and t_win <= t_chg:
                    if t_win >= end:
                        return
                    self._window_event(sim)
                    continue
                if t_chg < t:
                    t = t_chg
                    self.change_i += 1
                    is_report = False
                else:
                    is_report = True
            else:
                is_report = True
            if t >= end:
                return
            if is_report:
                k = self.k = self.k + 1
                u = table[(k * 7 + off_jitter) % TABLE_SIZE]
                self.next_report = phase + k * period + int(u * span) - jitter
            i = self.seg_i
            if simple and (i >= len(segs) or segs[i][0] >= t):
                # standing by since the last report: no switching in between
                self.acc_c += base * (t - self.acc_t)
                self.acc_t = t
                centi = base
            else:
                centi = self._advance(t)
                if self.windows and self._silent(t):
                    continue
            u = table[(t + off_noise) % TABLE_SIZE]
            if centi > base:
                watts = centi * (0.01 + (u - 0.5) * 0.0006)
            else:
                watts = centi * (0.007 + u * 0.006)
            if render is not None:
                bucket = pending.get(t)
                if bucket is None:
                    bucket = pending[t] = []
                bucket.append(render(device, t, t + skew, tz, watts, self.acc_c / 360_000))
                continue
            msgs = encode(device, t + skew, tz, watts, self.acc_c / 360_000)
            if faulty:
                msgs = sim.inject(t, device, msgs, (t + off_fault) % TABLE_SIZE)
            bucket = pending.get(t)
            if bucket is None:
                bucket = pending[t] = []
            for topic, payload, retain in msgs:
                bucket.append((t, topic, payload, retain))


class HouseholdSim:
    """A resident's days feeding the plugs of one household."""

    def __init__(self, spec: HouseholdSpec, sim: Simulation, seed: int) -> None:
        self.spec = spec
        self.rng = random.Random(seed)
        self.tz = ZoneInfo(spec.timezone)
        self.day = datetime.fromtimestamp(sim.start, self.tz).date() - timedelta(days=1)
        self.next_midnight = sim.start - 86400
        self.incident = next((i for i in sim.plan.incidents if i.household == spec.id), None)
        self.away = [(a.start, a.end) for a in sim.plan.away if a.household == spec.id]
        self.plugs: dict[str, PlugSim] = {}
        for n, p in enumerate(spec.plugs):
            plug = PlugSim(
                p,
                seed * 31 + n + 1,
                sim.start,
                sim.end,
                tz=spec.timezone,
                jitter=int(sim.plan.config.jitter),
            )
            for f in sim.plan.plug_faults:
                if f.plug == p.device:
                    plug.add_window(Window(f.start, f.end, f.kind == "unplugged"))
            for c in sim.plan.power_cuts:
                if spec.id in c.households:
                    plug.add_window(Window(c.start, c.end, True))
            self.plugs[p.appliance] = plug
        self.appliances = {p.appliance: p.params for p in spec.plugs if p.appliance != "fridge"}
        self.left_on_done = False

    def _filter(self, kind: str, segs: list[Segment]) -> list[Segment]:
        out: list[Segment] = []
        inc = self.incident
        for seg in segs:
            s, e, w = seg
            if any(a <= s < b for a, b in self.away):
                continue
            for a, _ in self.away:
                if s < a < e:
                    e = a
            if inc is not None:
                if s >= inc.start:
                    # the cooker's keep-warm follows the cook by itself and nobody ends it
                    if kind == "rice_cooker" and w < 200 and out and out[-1][1] == s:
                        out.append((s, FOREVER, w))
                    continue
                if e > inc.start:
                    # still running when the resident collapsed: short cycles end by themselves,
                    # a keep-warm and an appliance "left on" never end, the rest end then
                    if kind == inc.left_on or (kind == "rice_cooker" and w < 200):
                        e = FOREVER
                    elif kind not in ("kettle", "microwave", "rice_cooker"):
                        e = inc.start
            out.append((s, e, w))
        return out

    def prepare(self, until: int) -> None:
        """Schedules of every day that starts before ``until``; fridge cycles up to it."""
        while self.next_midnight < until:
            self.day += timedelta(days=1)
            self.next_midnight = int(
                datetime(self.day.year, self.day.month, self.day.day, tzinfo=self.tz).timestamp()
            )
            sched = day_schedule(
                self.spec.routine, self.appliances, self.day, self.spec.timezone, self.rng
            )
            for kind, segs in sched.items():
                self.plugs[kind].extend(self._filter(kind, segs))
            inc = self.incident
            if (
                inc is not None
                and inc.left_on
                and not self.left_on_done
                and inc.start < self.next_midnight + 86400
            ):
                self.left_on_done = True
                on_w = self.appliances[inc.left_on].on_w
                self.plugs[inc.left_on].extend([(inc.start - 60, FOREVER, on_w)])
        fridge = self.plugs.get("fridge")
        if fridge is not None:
            fridge.fill_fridge(until + 7200)


class Simulation:
    """The whole scenario as a lazy stream of :data:`Message` chunks in publish-time order."""

    def __init__(self, plan: Plan, render: LineRenderer | None = None) -> None:
        self.plan = plan
        self.render = render
        cfg = plan.config
        self.start = cfg.start_epoch
        self.end = cfg.end_epoch
        self.pending: dict[int, list[Message | str]] = {}
        self.done = self.start
        self.faulty = bool(cfg.duplicate_rate or cfg.late_rate or cfg.malformed_rate)
        self.dup_p = cfg.duplicate_rate
        self.late_p = self.dup_p + cfg.late_rate
        self.bad_p = self.late_p + cfg.malformed_rate
        self.injected: list[dict[str, object]] = []
        self.keep_from = self.start
        self.table = uniform_table(cfg.seed)
        self.households = [
            HouseholdSim(h, self, cfg.seed * 1_000_003 + h.number) for h in plan.households
        ]
        for h in self.households:
            for plug in h.plugs.values():
                plug.table = self.table
                if render is not None:
                    plug.render = render(plug.spec.family)
        for h in self.households:
            for plug in h.plugs.values():
                self.put(self.start, plug.status(plug.spec.device, True))
        if any(p.family == "zigbee2mqtt" for h in plan.households for p in h.plugs):
            self.put(self.start, z2m_bridge(True))

    def put(self, t: int, msgs: list[Out]) -> None:
        """Queue messages published at ``t``."""
        bucket = self.pending.get(t)
        if bucket is None:
            bucket = self.pending[t] = []
        for topic, payload, retain in msgs:
            bucket.append((t, topic, payload, retain))

    def inject(self, t: int, device: str, msgs: list[Out], index: int) -> list[Out]:
        """Apply duplicate, late and malformed faults to one reading's messages.

        ``index`` is where this reading's randomness starts in the uniform table.
        """
        table = self.table
        keep: list[Out] = []
        for n, msg in enumerate(msgs):
            x = table[(index + 2 * n) % TABLE_SIZE]
            if x >= self.bad_p:
                keep.append(msg)
                continue
            topic, _payload, retain = msg
            r = int(table[(index + 2 * n + 1) % TABLE_SIZE] * 1e6)
            if x < self.dup_p:
                later = min(t + r % 4, self.end - 1)
                keep.append(msg)
                self.put(later, [msg])
                kind = "duplicate"
            elif x < self.late_p:
                later = max(t, min(t + 30 + r % 571, self.end - 1))
                self.put(later, [msg])
                kind = "late"
            else:
                later = t
                keep.append((topic, _GARBAGE[r % len(_GARBAGE)], retain))
                kind = "malformed"
            if self.keep_from <= t:
                self.injected.append(
                    {
                        "kind": kind,
                        "plug": device,
                        "topic": topic,
                        "time": iso_utc(t),
                        "published": iso_utc(later),
                    }
                )
        return keep

    def _chunk(self, until: int, since: int) -> list[Message | str]:
        until = min(until, self.end)
        for h in self.households:
            h.prepare(until)
            for plug in h.plugs.values():
                plug.emit(until, self)
        ready = sorted(t for t in self.pending if t < until)
        out: list[Message | str] = []
        for t in ready:
            items = self.pending.pop(t)
            if t >= since:
                out.extend(items)
        self.done = until
        return out

    def chunk(self, until: int) -> list[Message]:
        """Every message published in ``[done, until)``, in order; ``until`` is clamped."""
        return cast(list[Message], self._chunk(until, self.start))

    def fast_forward(self, t: int) -> None:
        """Jump to ``t`` (a chunk boundary) without producing the messages before it."""
        for h in self.households:
            h.prepare(t)
            for plug in h.plugs.values():
                plug.fast_forward(t)
        self.pending = {k: v for k, v in self.pending.items() if k >= t}
        self.done = t

    def _chunks(
        self, size: int, start: int | None, end: int | None
    ) -> Iterator[list[Message | str]]:
        first = self.start if start is None else start
        stop = self.end if end is None else min(end, self.end)
        t = self.start
        if first > self.start:
            warm = max(self.start, (first // size - 1) * size)
            if warm > self.start:
                self.fast_forward(warm)
            t = warm
            self.keep_from = first
        while t < stop:
            t = min(stop, (t // size + 1) * size)
            yield self._chunk(t, first)

    def chunks(
        self, size: int = 3600, start: int | None = None, end: int | None = None
    ) -> Iterator[list[Message]]:
        """Successive chunks of ``size`` seconds of event time from ``start`` to ``end``.

        Chunks are aligned to multiples of ``size``. Starting later than the scenario's start
        warms up over one chunk first (late messages from before ``start`` arrive after it), and
        only messages published at or after ``start`` come out: a run split into ranges gives the
        same messages as a run in one piece.
        """
        if self.render is not None:
            raise ValueError("a rendering simulation yields line_chunks()")
        for part in self._chunks(size, start, end):
            yield cast(list[Message], part)

    def line_chunks(
        self, size: int = 3600, start: int | None = None, end: int | None = None
    ) -> Iterator[list[Message | str]]:
        """Like :meth:`chunks`, but plain readings come pre-rendered by ``render`` as lines."""
        yield from self._chunks(size, start, end)

    def messages(self, size: int = 3600) -> Iterator[Message]:
        """Every message of the scenario, in publish-time order."""
        for part in self.chunks(size):
            yield from part


def payload_b64(payload: str | bytes) -> str | None:
    """Base64 of a payload that is not valid UTF-8, else None."""
    if isinstance(payload, bytes):
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(payload).decode("ascii")
    return None
