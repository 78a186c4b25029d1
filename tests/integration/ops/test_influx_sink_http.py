"""InfluxSink's answers to HTTP statuses, against a real loopback HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client.parser import text_string_to_metric_families

from careplug.adapters.influx import InfluxSink
from careplug.adapters.metrics import CareplugMetrics
from careplug.clock import monotonic

pytestmark = pytest.mark.integration


class Recorder:
    """Answers each write with the next scripted status (then 204) and keeps the bodies."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.bodies: list[tuple[int, str]] = []
        self.lock = threading.Lock()


@pytest.fixture
def server() -> Iterator[Callable[[list[int]], tuple[str, Recorder]]]:
    servers: list[ThreadingHTTPServer] = []

    def start(statuses: list[int]) -> tuple[str, Recorder]:
        recorder = Recorder(statuses)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                with recorder.lock:
                    status = recorder.statuses.pop(0) if recorder.statuses else 204
                    recorder.bodies.append((status, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}", recorder

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def sink_for(url: str) -> InfluxSink:
    return InfluxSink(
        url=url,
        token="t",
        org="o",
        bucket="b",
        batch_size=10,
        flush_interval_s=0.02,
        retry_base_s=0.02,
        retry_max_s=0.05,
    )


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = monotonic() + timeout
    while not condition():
        assert monotonic() < deadline, "condition not met in time"
        threading.Event().wait(0.01)


def test_5xx_and_429_are_retried_with_the_same_batch(
    server: Callable[[list[int]], tuple[str, Recorder]],
) -> None:
    """503, 500, 429, then success: one batch, sent four times, written once."""
    url, rec = server([503, 500, 429])
    sink = sink_for(url)
    sink.start()
    sink.write_reading("hh 1", "plug,a", 1_760_000_000.5, 3.25, None)
    wait_for(lambda: sink.stats().written == 1)
    sink.close(timeout=1)
    assert [status for status, _ in rec.bodies] == [503, 500, 429, 204]
    assert len({body for _, body in rec.bodies}) == 1
    # Tag values with a space and a comma are escaped; time in ms.
    assert rec.bodies[-1][1] == r"reading,household=hh\ 1,plug=plug\,a power_w=3.25 1760000000500"
    stats = sink.stats()
    assert (stats.retries, stats.dropped, stats.last_error) == (3, 0, "http 429")


def test_4xx_drops_the_batch_and_counts_it(
    server: Callable[[list[int]], tuple[str, Recorder]],
) -> None:
    """A 400 means the data is bad: not retried, counted as dropped, later points still go."""
    url, rec = server([400])
    sink = sink_for(url)
    sink.start()
    for i in range(3):
        sink.write_alert("hh-1", f"a-{i}", "inactivity", "high", "raised", 1_760_000_000.0 + i)
    wait_for(lambda: sink.stats().dropped == 3)
    sink.write_device_status("hh-1", "plug-a", 1_760_000_010.0, online=True)
    wait_for(lambda: sink.stats().written == 1)
    sink.close(timeout=1)
    assert [status for status, _ in rec.bodies] == [400, 204]
    assert rec.bodies[0][1].count("\n") == 2
    assert 'alert_id="a-0"' in rec.bodies[0][1]
    assert rec.bodies[1][1] == "device_status,household=hh-1,plug=plug-a online=1i 1760000010000"
    assert sink.stats().retries == 0


def test_sink_counters_are_exported_as_metrics(
    server: Callable[[list[int]], tuple[str, Recorder]],
) -> None:
    """CareplugMetrics.track_sink reads the sink's stats at scrape time."""
    url, _ = server([503])
    sink = sink_for(url)
    metrics = CareplugMetrics()
    metrics.track_sink(sink.stats)
    sink.start()
    sink.write_activity("hh-1", "plug-a", 1_760_000_000.0, "power_above_threshold")
    wait_for(lambda: sink.stats().written == 1)
    sink.close(timeout=1)
    values = {
        s.name: s.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for s in family.samples
    }
    assert values["careplug_history_points_written_total"] == 1
    assert values["careplug_history_write_retries_total"] == 1
    assert values["careplug_history_points_dropped_total"] == 0
    assert values["careplug_history_points_buffered"] == 0
