"""Evaluate benchmark: readings per second through ``careplug evaluate`` on a generated CSV.

The CSV has ``--readings`` rows (default 1,000,000) from ``--plugs`` plugs (two per household)
reporting every 5 minutes, sorted by time; each plug is in use a few times a day (activity to
detect) and one household in fifty goes silent halfway (alerts to raise). The whole command is
timed from the outside (start-up, reading, sorting, engine) and its own figure is reported too.

Run: ``python tests/benchmarks/bench_evaluate.py [--readings 1000000] [--plugs 1000]``.
Progress on stderr, one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import benchlib as b

from careplug.clock import monotonic

PERIOD_S = 300


def write_csv(path: Path, readings: int, plugs: list[str]) -> int:
    """Rows in time order; the number written."""
    rounds = math.ceil(readings / len(plugs))
    start = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    silent_from = rounds // 2
    written = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("time,device,power_w,energy_wh\n")
        for k in range(rounds):
            stamp = datetime.fromtimestamp(start + k * PERIOD_S, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            slot = k % 288  # 5-minute slot of the day
            used = slot in (84, 85, 150, 151, 220, 221, 222)  # 07:00, 12:30, 18:20
            lines = []
            for i, plug in enumerate(plugs):
                if written == readings:
                    break
                quiet = i % 100 < 2 and k >= silent_from  # households i//2 going silent
                power = 85.0 + (i % 3) * 40 if used and not quiet else 1.0 + (k % 2) * 0.2
                lines.append(f"{stamp},{plug},{power:.1f},{k * 2.5 + i % 5:.1f}\n")
                written += 1
            out.write("".join(lines))
    return written


def main() -> None:
    """Generate, run ``careplug evaluate``, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--plugs", type=int, default=1_000)
    args = parser.parse_args()
    b.exit_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="bench-evaluate-") as name:
        tmp = Path(name)
        plugs = b.write_registry(tmp / "households.csv", args.plugs // 2, 2)
        b.log(f"writing {args.readings} readings")
        t0 = monotonic()
        n = write_csv(tmp / "readings.csv", args.readings, plugs)
        generate_s = monotonic() - t0
        b.log("running careplug evaluate")
        t0 = monotonic()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "careplug",
                "evaluate",
                "--readings",
                str(tmp / "readings.csv"),
                "--registry",
                str(tmp / "households.csv"),
                "--report",
                str(tmp / "report.json"),
            ],
            capture_output=True,
            check=True,
            timeout=600,
        )
        seconds = monotonic() - t0
        report = json.loads((tmp / "report.json").read_text())
    alerts = len(proc.stdout.splitlines())
    print(
        json.dumps(
            {
                "readings": n,
                "plugs": len(plugs),
                "households": len(plugs) // 2,
                "generate_seconds": round(generate_s, 2),
                "command_seconds": round(seconds, 2),
                "command_readings_per_s": round(n / seconds),
                "engine_seconds": report["seconds"],
                "engine_readings_per_s": report["readings_per_second"],
                "alerts": alerts,
                "target_met_1m_under_30s": n >= 1_000_000 and seconds < 30,
                "load_average_before": b.load_average(),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
