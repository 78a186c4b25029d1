"""The "message rate collapsed while connected" rule and its rate tracker."""

from __future__ import annotations

from careplug.adapters.metrics import (
    CollapseReason,
    RateSample,
    RateTracker,
    traffic_collapsed,
)

NOW = 1_760_000_000.0


def steady(rate_per_min: int, start: float, end: float) -> list[RateSample]:
    return [RateSample(t, 60.0, rate_per_min) for t in range(int(start), int(end), 60)]


def test_collapse_is_detected_when_recent_rate_falls_under_the_ratio() -> None:
    """120/min for an hour, then 5/min for ten minutes: collapsed."""
    history = steady(120, NOW - 4200, NOW - 600) + steady(5, NOW - 600, NOW)
    verdict = traffic_collapsed(history, NOW, connected=True)
    assert verdict.collapsed
    assert verdict.reason is CollapseReason.COLLAPSED
    assert verdict.recent_rate == 5 / 60
    assert verdict.baseline_rate == 2.0


def test_total_silence_is_a_collapse() -> None:
    """Zero messages in the window (empty buckets) is the clearest collapse."""
    history = steady(120, NOW - 4200, NOW - 600) + steady(0, NOW - 600, NOW)
    assert traffic_collapsed(history, NOW, connected=True).collapsed


def test_normal_rate_is_not_a_collapse() -> None:
    """A dip to half the baseline stays above a 10 % ratio."""
    history = steady(120, NOW - 4200, NOW - 600) + steady(60, NOW - 600, NOW)
    verdict = traffic_collapsed(history, NOW, connected=True)
    assert not verdict.collapsed
    assert verdict.reason is CollapseReason.HEALTHY


def test_disconnected_is_not_reported_as_collapse() -> None:
    """A down connection is another alarm: this rule says nothing."""
    history = steady(120, NOW - 4200, NOW - 600) + steady(0, NOW - 600, NOW)
    verdict = traffic_collapsed(history, NOW, connected=False)
    assert (verdict.collapsed, verdict.reason) == (False, CollapseReason.DISCONNECTED)


def test_too_little_history_gives_no_verdict() -> None:
    """Fifteen minutes after start-up there is no baseline to compare with."""
    history = steady(120, NOW - 900, NOW - 600) + steady(0, NOW - 600, NOW)
    verdict = traffic_collapsed(history, NOW, connected=True)
    assert (verdict.collapsed, verdict.reason) == (False, CollapseReason.NOT_ENOUGH_HISTORY)


def test_recent_reconnect_gives_no_verdict() -> None:
    """Samples from before a reconnect do not count as baseline for this connection."""
    history = steady(120, NOW - 4200, NOW - 600) + steady(0, NOW - 600, NOW)
    verdict = traffic_collapsed(history, NOW, connected=True, connected_since=NOW - 700)
    assert verdict.reason is CollapseReason.NOT_ENOUGH_HISTORY


def test_quiet_baseline_is_not_judged() -> None:
    """A deployment with almost no traffic cannot collapse meaningfully."""
    history = steady(0, NOW - 4200, NOW)
    verdict = traffic_collapsed(history, NOW, connected=True)
    assert (verdict.collapsed, verdict.reason) == (False, CollapseReason.QUIET_BASELINE)


def test_rate_tracker_history_feeds_the_rule() -> None:
    """Recorded traffic, then silence: the tracker's history (with empty buckets) collapses."""
    tracker = RateTracker(width=60.0, keep_s=7200.0)
    t = NOW - 4200
    while t < NOW - 600:
        tracker.record(t)
        t += 1.0  # one message a second
    history = tracker.history(NOW)
    assert sum(s.count for s in history) == 3600
    assert history[-1].count == 0
    assert traffic_collapsed(history, NOW, connected=True).collapsed


def test_rate_tracker_forgets_old_buckets() -> None:
    """Only ``keep_s`` of history is kept."""
    start = 1_759_999_980.0  # a multiple of 60: buckets align
    tracker = RateTracker(width=60.0, keep_s=600.0)
    for i in range(100):
        tracker.record(start + i * 60)
    history = tracker.history(start + 99 * 60 + 30)
    assert len(history) == 11
    assert history[0].start == start + 89 * 60
    assert history[-1].width == 30.0
    assert [s.count for s in history] == [1] * 11
