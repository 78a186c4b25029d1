"""Observing the handling time of many messages at once records what one call each would."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from careplug.adapters.metrics import CareplugMetrics


def _handling(metrics: CareplugMetrics) -> dict[str, float]:
    """The histogram's samples (buckets, count, sum) by name and labels."""
    text = generate_latest(metrics.registry).decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("careplug_message_handling_seconds") and "_created" not in line:
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


@pytest.mark.parametrize(
    ("seconds", "count"),
    [(0.0, 3), (0.0005, 2), (0.0007, 7), (0.01, 1), (0.3, 1000), (2.5, 4), (99.0, 5)],
)
def test_messages_handled_matches_one_observe_per_message(seconds: float, count: int) -> None:
    """Buckets (edges included), +Inf and count are those of ``count`` observe() calls; the sum
    too, but for the rounding of adding the same number ``count`` times."""
    batched, single = CareplugMetrics(), CareplugMetrics()
    batched.messages_handled(0.002, 1)
    single.handling_seconds.observe(0.002)
    batched.messages_handled(seconds, count)
    for _ in range(count):
        single.handling_seconds.observe(seconds)
    got, want = _handling(batched), _handling(single)
    total = "careplug_message_handling_seconds_sum"
    assert got.pop(total) == pytest.approx(want.pop(total), rel=1e-12)
    assert got["careplug_message_handling_seconds_count"] == count + 1
    assert len(got) == 14  # 12 buckets, +Inf, count
    assert got == want
