"""``careplug-sim record``: a scenario written to files, no broker needed.

Files in the output directory: ``traffic.jsonl`` (the messages), ``households.toml`` (the
registry in careplug's format), ``incidents.csv``, ``away.csv`` and ``truth.json`` (ground
truth). See simulators/README.md for the formats.
"""

from __future__ import annotations

import base64
import csv
import gc
import itertools
import json
import multiprocessing
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from json.encoder import encode_basestring
from pathlib import Path
from typing import IO

from careplug.clock import parse_iso
from careplug_sim.decode import ReadingDecoder
from careplug_sim.formats import _ISO, NATIVE_PREFIX, iso_utc
from careplug_sim.generator import Message, RenderReading, Simulation
from careplug_sim.scenario import Plan

_dumps = json.JSONEncoder(ensure_ascii=False).encode
_quote = encode_basestring


def message_line(msg: Message, stamp: str | None = None) -> str:
    """One ``traffic.jsonl`` line (with its newline); ``stamp`` is ``iso_utc(msg[0])`` if known."""
    t, topic, payload, retain = msg
    when = stamp or iso_utc(t)
    if isinstance(payload, bytes):
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            b64 = base64.b64encode(payload).decode("ascii")
            return (
                f'{{"time": "{when}", "topic": {_dumps(topic)}, "payload_b64": "{b64}", '
                f'"qos": 1, "retain": {"true" if retain else "false"}}}\n'
            )
        payload = text
    # topics are built from safe ids; only the payload needs JSON escaping
    return (
        f'{{"time": "{when}", "topic": "{topic}", "payload": {_quote(payload)}, '
        f'"qos": 1, "retain": {"true" if retain else "false"}}}\n'
    )


def _native_line(device: str, t: int, t_dev: int, tz: str, watts: float, wh: float) -> str:
    # exactly message_line() of formats.native_reading(), in one step: ids need no escaping
    when = _ISO.get(t) or iso_utc(t)
    stamp = when if t_dev == t else iso_utc(t_dev)
    return (
        f'{{"time": "{when}", "topic": "{NATIVE_PREFIX}/{device}/reading", '
        f'"payload": "{{\\"device\\": \\"{device}\\", \\"time\\": \\"{stamp}\\", '
        f'\\"power_w\\": {watts:.1f}, \\"energy_wh\\": {wh:.3f}}}", "qos": 1, "retain": false}}\n'
    )


def line_renderer(family: str) -> RenderReading | None:
    """The fast line renderer of a family's readings (native only so far)."""
    return _native_line if family == "native" else None


def _lines(part: Sequence[Message | str]) -> str:
    # one ISO string per distinct second: messages are sorted, many share a second
    out: list[str] = []
    last_t = -1
    stamp = ""
    quote = _quote
    for msg in part:
        if isinstance(msg, str):
            out.append(msg)
            continue
        t, topic, payload, retain = msg
        if t != last_t:
            last_t = t
            stamp = iso_utc(t)
        if isinstance(payload, str) and not retain:
            out.append(
                f'{{"time": "{stamp}", "topic": "{topic}", "payload": {quote(payload)}, '
                '"qos": 1, "retain": false}\n'
            )
        else:
            out.append(message_line(msg, stamp))
    return "".join(out)


def write_traffic(sim: Simulation, out: IO[str], chunk_s: int = 3600) -> int:
    """Write every message as JSON lines; the number written."""
    count = 0
    for part in sim.chunks(chunk_s):
        out.write(_lines(part))
        count += len(part)
    return count


def _duration(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def registry_toml(plan: Plan) -> str:
    """The households in careplug's registry format (config/households.example.toml)."""
    lines = [
        "# careplug household registry written by careplug-sim "
        f"(seed {plan.config.seed}); pseudonymous ids only.",
        "",
    ]
    for h in plan.households:
        cws = ", ".join(f'"{c}"' for c in h.caseworkers)
        lines += [
            "[[household]]",
            f'id = "{h.id}"',
            f'timezone = "{h.timezone}"',
            f'tier = "{h.tier}"',
            f"caseworkers = [{cws}]",
            f'area = "{h.area}"',
            "",
        ]
        for p in h.plugs:
            lines += [
                "  [[household.plug]]",
                f'  id = "{p.device}"',
                f'  appliance = "{p.appliance}"',
                f'  report_period = "{_duration(p.report_period)}"',
                "",
            ]
    return "\n".join(lines)


def truth(plan: Plan, injected: list[dict[str, object]]) -> dict[str, object]:
    """Every injected event, times as ISO 8601 UTC."""
    cfg = plan.config

    def times(d: dict[str, object]) -> dict[str, object]:
        return {
            k: iso_utc(v) if k in ("start", "end") and isinstance(v, int) else v
            for k, v in d.items()
        }

    return {
        "seed": cfg.seed,
        "start": iso_utc(cfg.start_epoch),
        "end": iso_utc(cfg.end_epoch),
        "households": len(plan.households),
        "plugs": [
            {
                "plug": p.device,
                "household": p.household,
                "appliance": p.appliance,
                "family": p.family,
                "report_period": p.report_period,
                "report_on_change": p.report_on_change,
            }
            for h in plan.households
            for p in h.plugs
        ],
        "incidents": [times(asdict(i)) for i in plan.incidents],
        "away": [times(asdict(a)) for a in plan.away],
        "plug_faults": [times(asdict(f)) for f in plan.plug_faults],
        "power_cuts": [times(asdict(c)) for c in plan.power_cuts],
        "clock_skew": [
            {"plug": p.device, "household": p.household, "offset_s": p.skew_s}
            for h in plan.households
            for p in h.plugs
            if p.skew_s
        ],
        "messages": injected,
    }


CHUNK_S = 3600


def _record_range(
    plan: Plan, start: int, end: int, path: Path
) -> tuple[int, list[dict[str, object]]]:
    """Write the messages published in ``[start, end)`` to ``path``; count and injected faults."""
    # the generator allocates many small tuples and no cycles: the cyclic GC only costs time
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        sim = Simulation(plan, render=line_renderer)
        count = 0
        with path.open("w", encoding="utf-8", newline="\n") as f:
            for part in sim.line_chunks(CHUNK_S, start=start, end=end):
                f.write(_lines(part))
                count += len(part)
    finally:
        if gc_was_enabled:
            gc.enable()
    return count, sim.injected


def _append(src: Path, out: IO[bytes]) -> None:
    """Append a file in the kernel where possible (the parts are gigabytes)."""
    with src.open("rb") as f:
        remaining = os.fstat(f.fileno()).st_size
        try:
            while remaining > 0:
                copied = os.copy_file_range(f.fileno(), out.fileno(), remaining)
                if copied == 0:
                    break
                remaining -= copied
        except OSError:
            f.seek(os.fstat(f.fileno()).st_size - remaining)
            shutil.copyfileobj(f, out, 16 * 1024 * 1024)


def _ranges(start: int, end: int, pieces: int) -> list[tuple[int, int]]:
    hours = max(1, -(-(end - start) // CHUNK_S))
    per = -(-hours // pieces)
    bounds = [start]
    for i in range(1, pieces):
        cut = (start // CHUNK_S + i * per) * CHUNK_S
        if bounds[-1] < cut < end:
            bounds.append(cut)
    bounds.append(end)
    return list(itertools.pairwise(bounds))


def record(plan: Plan, out_dir: Path, readings_csv: bool = False, workers: int = 1) -> int:
    """Write all scenario files into ``out_dir``; the number of messages.

    With ``workers`` > 1 the time span is cut into ranges generated by parallel processes and
    joined; the files are byte-identical to a single process's.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = plan.config
    ranges = _ranges(cfg.start_epoch, cfg.end_epoch, max(1, workers))
    parts = [out_dir / f".traffic.part{i}" for i in range(len(ranges))]
    if len(ranges) == 1:
        results = [_record_range(plan, *ranges[0], parts[0])]
    else:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(len(ranges)) as pool:
            results = pool.starmap(
                _record_range,
                [(plan, a, b, part) for (a, b), part in zip(ranges, parts, strict=True)],
            )
    traffic = out_dir / "traffic.jsonl"
    parts[0].replace(traffic)
    with traffic.open("ab") as out:
        for part in parts[1:]:
            _append(part, out)
            part.unlink()
    count = sum(n for n, _ in results)
    injected = [ev for _, found in results for ev in found]
    (out_dir / "households.toml").write_text(registry_toml(plan), encoding="utf-8")
    with (out_dir / "incidents.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["household", "start"])
        for i in plan.incidents:
            w.writerow([i.household, iso_utc(i.start)])
    with (out_dir / "away.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["household", "start", "end"])
        for a in plan.away:
            if a.registered:
                w.writerow([a.household, iso_utc(a.start), iso_utc(a.end)])
    (out_dir / "truth.json").write_text(
        json.dumps(truth(plan, injected), indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    if readings_csv:
        export_csv(out_dir / "traffic.jsonl", out_dir / "readings.csv")
    return count


# -- reading traffic files back -------------------------------------------------------------


def read_traffic(path: Path) -> Iterator[tuple[float, str, bytes, int, bool]]:
    """Messages of a ``traffic.jsonl`` file: (epoch seconds, topic, payload, qos, retain)."""
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            obj = json.loads(line)
            if "payload_b64" in obj:
                payload = base64.b64decode(obj["payload_b64"])
            else:
                payload = obj["payload"].encode("utf-8")
            yield (
                parse_iso(obj["time"]),
                obj["topic"],
                payload,
                int(obj.get("qos", 1)),
                bool(obj.get("retain", False)),
            )


def export_csv(traffic: Path, out: Path, registry: Path | None = None) -> int:
    """Readings of a traffic file as CSV ``time,device,power_w,energy_wh,household``.

    Values are converted to careplug's native units (W, Wh) from every family; the household
    comes from the ``households.toml`` next to the traffic file (or ``registry``). Malformed
    payloads and availability messages are left out. Returns the number of rows.
    """
    reg = registry or traffic.with_name("households.toml")
    decoder = ReadingDecoder.from_registry(reg if reg.exists() else None)
    rows = 0
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["time", "device", "power_w", "energy_wh", "household"])
        for at, topic, payload, _qos, _retain in read_traffic(traffic):
            for row in decoder.decode(at, topic, payload):
                w.writerow(row)
                rows += 1
    return rows


def lines(messages: Iterable[Message]) -> Iterator[str]:
    """JSON lines of messages (for tests and tools)."""
    for m in messages:
        yield message_line(m)
