"""InfluxSink against a real VictoriaMetrics speaking /api/v2/write."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from careplug.adapters.influx import InfluxSink
from careplug.clock import monotonic

from .conftest import VictoriaMetrics

pytestmark = pytest.mark.integration

T0 = 1_760_000_000.0  # 2025-10-09, inside VictoriaMetrics' retention


def make_sink(url: str, **kwargs: float) -> InfluxSink:
    options: dict[str, float] = {
        "flush_interval_s": 0.05,
        "timeout_s": 1.0,
        "retry_base_s": 0.05,
        "retry_max_s": 0.2,
    }
    options.update(kwargs)
    return InfluxSink(
        url=url,
        token="unused",
        org="careplug",
        bucket="careplug",
        **options,  # type: ignore[arg-type]
    )


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = monotonic() + timeout
    while not condition():
        if monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def series_by_name(vm: VictoriaMetrics) -> dict[str, list[dict[str, object]]]:
    out: dict[str, list[dict[str, object]]] = {}
    for row in vm.export():
        metric = row["metric"]
        assert isinstance(metric, dict)
        out.setdefault(str(metric["__name__"]), []).append(row)
    return out


def test_points_arrive_with_their_values_tags_and_times(victoria: VictoriaMetrics) -> None:
    """Every kind of point arrives with its tags, values and millisecond time."""
    sink = make_sink(victoria.url)
    sink.start()
    sink.write_reading("hh-1", "plug-a", T0 + 0.25, 1800.5, 12345.0)
    sink.write_reading("hh-1", "plug-a", T0 + 60, None, 12350.0)  # unknown power left out
    sink.write_reading("hh-1", "plug-a", T0 + 90, None, None)  # nothing known: not written
    sink.write_activity("hh-1", "plug-a", T0 + 1, "power_above_threshold")
    sink.write_device_status(None, "plug-z", T0 + 2, online=False)
    sink.write_alert("hh-1", "alert-7", "inactivity", "high", "raised", T0 + 3)
    wait_for(lambda: sink.stats().written == 5)
    sink.close(timeout=2)

    series = series_by_name(victoria)
    power = series["reading_power_w"]
    assert power == [
        {
            "metric": {"__name__": "reading_power_w", "household": "hh-1", "plug": "plug-a"},
            "values": [1800.5],
            "timestamps": [int(T0 * 1000) + 250],
        }
    ]
    assert series["reading_energy_wh"][0]["values"] == [12345, 12350]
    activity = series["activity_count"][0]
    assert activity["metric"] == {
        "__name__": "activity_count",
        "household": "hh-1",
        "plug": "plug-a",
        "reason": "power_above_threshold",
    }
    status = series["device_status_online"][0]
    assert status["metric"] == {"__name__": "device_status_online", "plug": "plug-z"}
    assert status["values"] == [0]
    alert = series["alert_count"][0]
    assert alert["metric"] == {
        "__name__": "alert_count",
        "household": "hh-1",
        "kind": "inactivity",
        "severity": "high",
        "state": "raised",
    }
    stats = sink.stats()
    assert (stats.written, stats.dropped, stats.buffered) == (5, 0, 0)


def test_tags_with_line_protocol_specials_arrive_intact(victoria: VictoriaMetrics) -> None:
    """Device ids may hold spaces, commas, equals signs and backslashes (the decoders allow
    them): the cached, pre-escaped tags must still arrive exactly as given, every time."""
    sink = make_sink(victoria.url)
    sink.start()
    plug = "plug a,b=c\\d"
    for k in range(3):  # the second and third use the cached head
        sink.write_reading("hh 1,x=y", plug, T0 + k, 5.0 + k, None)
    wait_for(lambda: sink.stats().written == 3)
    sink.close(timeout=2)
    power = series_by_name(victoria)["reading_power_w"]
    assert power == [
        {
            "metric": {"__name__": "reading_power_w", "household": "hh 1,x=y", "plug": plug},
            "values": [5.0, 6.0, 7.0],
            "timestamps": [int(T0 * 1000), int(T0 * 1000) + 1000, int(T0 * 1000) + 2000],
        }
    ]


def test_outage_within_the_buffer_bound_loses_nothing(victoria: VictoriaMetrics) -> None:
    """Server down for a while, then back: every buffered point is delivered, none dropped."""
    sink = make_sink(victoria.url, max_points=1_000, batch_size=50)
    sink.start()
    sink.write_reading("hh-1", "plug-a", T0, 0.0, None)
    wait_for(lambda: sink.stats().written == 1)

    victoria.stop()
    started = monotonic()
    for i in range(1, 500):
        sink.write_reading("hh-1", "plug-a", T0 + i, float(i), None)
    hot_path_s = monotonic() - started
    wait_for(lambda: sink.stats().retries >= 3)
    assert sink.stats().last_error is not None
    assert sink.stats().buffered == 499

    victoria.start()
    wait_for(lambda: sink.stats().written == 500)
    sink.close(timeout=2)

    values = series_by_name(victoria)["reading_power_w"][0]["values"]
    assert values == [float(i) for i in range(500)]
    stats = sink.stats()
    assert (stats.dropped, stats.buffered) == (0, 0)
    # Writing never waits for the network, even with the server gone.
    assert hot_path_s < 0.5, hot_path_s


def test_overflow_drops_the_oldest_and_counts_them(victoria: VictoriaMetrics) -> None:
    """With the server down and more points than the bound, the newest survive."""
    victoria.stop()
    sink = make_sink(victoria.url, max_points=10, batch_size=4)
    sink.start()
    for i in range(25):
        sink.write_reading("hh-1", "plug-a", T0 + i, float(i), None)
        time.sleep(0.005)  # let batches go in flight and fail in between
    assert sink.stats().dropped == 15
    assert sink.stats().buffered == 10

    victoria.start()
    wait_for(lambda: sink.stats().written == 10)
    sink.close(timeout=2)
    values = series_by_name(victoria)["reading_power_w"][0]["values"]
    assert values == [float(i) for i in range(15, 25)]
    assert sink.stats().dropped == 15


def test_close_with_server_down_counts_unsent_points_as_dropped(
    victoria: VictoriaMetrics,
) -> None:
    """close() gives up after its timeout and reports what it could not send."""
    victoria.stop()
    sink = make_sink(victoria.url)
    sink.start()
    for i in range(7):
        sink.write_activity("hh-1", "plug-a", T0 + i, "power_above_threshold")
    started = monotonic()
    sink.close(timeout=0.3)
    assert monotonic() - started < 2.5
    stats = sink.stats()
    assert (stats.written, stats.dropped, stats.buffered) == (0, 7, 0)


def test_a_batched_block_queues_its_points_when_it_ends(victoria: VictoriaMetrics) -> None:
    """Points written inside batched() are held until the block ends, then all sent; a
    nested block leaves them to the outer one."""
    sink = make_sink(victoria.url)
    sink.start()
    with sink.batched():
        with sink.batched():
            sink.write_reading("hh-1", "plug-a", T0, 1.0, None)
        sink.write_activity("hh-1", "plug-a", T0 + 1, "power_above_threshold")
        time.sleep(0.3)  # six flush intervals: nothing is queued yet
        assert sink.stats().buffered == 0 and sink.stats().written == 0
    assert sink.stats().buffered == 2
    wait_for(lambda: sink.stats().written == 2)
    sink.close(timeout=2)
    assert set(series_by_name(victoria)) == {"reading_power_w", "activity_count"}


def test_a_backlog_of_full_batches_is_sent_back_to_back(victoria: VictoriaMetrics) -> None:
    """Many full batches queued at once go out one after another, not one per flush
    interval (a fast drain queues far more than a batch per interval)."""
    sink = make_sink(victoria.url, flush_interval_s=30.0, batch_size=100)
    sink.start()
    with sink.batched():
        for i in range(2000):
            sink.write_reading("hh-1", "plug-a", T0 + i, float(i), None)
    wait_for(lambda: sink.stats().written == 2000, timeout=10.0)
    sink.close(timeout=2)
