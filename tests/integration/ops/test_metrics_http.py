"""The metrics HTTP server on a real loopback socket, and the container healthcheck."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from careplug.adapters.metrics import CareplugMetrics, MetricsServer, healthcheck
from careplug.clock import VirtualClock

from .conftest import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def served() -> Iterator[tuple[CareplugMetrics, MetricsServer, VirtualClock]]:
    clock = VirtualClock(1_760_000_000.0)
    metrics = CareplugMetrics(clock)
    server = MetricsServer(metrics, host="127.0.0.1", port=0)
    server.start()
    try:
        yield metrics, server, clock
    finally:
        server.close()


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read()


def samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_endpoint_exposes_recorded_values(
    served: tuple[CareplugMetrics, MetricsServer, VirtualClock],
) -> None:
    """What the runtime records is what Prometheus scrapes."""
    metrics, server, clock = served
    metrics.message_received("tasmota", clock.now())
    metrics.message_received("tasmota", clock.now())
    metrics.message_received("shelly_gen2", clock.now())
    metrics.message_rejected("invalid_json")
    metrics.handling_seconds.observe(0.003)
    metrics.set_households({"ok": 40, "alerting": 2})
    metrics.set_households({"ok": 41, "alerting": 1})
    metrics.set_open_alerts({("inactivity", "high"): 1})
    metrics.notification_outcome("sms", "delivered")
    metrics.acknowledged("inactivity", raised_at=clock.now() - 900, acknowledged_at=clock.now())
    metrics.set_broker_connected(True)
    clock.advance(42)

    status, ctype, body = get(f"http://127.0.0.1:{server.port}/metrics")
    assert status == 200
    assert ctype.startswith("text/plain")
    got = samples(body)
    assert got[("careplug_messages_received_total", (("family", "tasmota"),))] == 2
    assert got[("careplug_messages_received_total", (("family", "shelly_gen2"),))] == 1
    assert got[("careplug_messages_rejected_total", (("reason", "invalid_json"),))] == 1
    assert got[("careplug_message_handling_seconds_count", ())] == 1
    assert got[("careplug_households", (("status", "ok"),))] == 41
    assert got[("careplug_households", (("status", "alerting"),))] == 1
    assert got[("careplug_open_alerts", (("kind", "inactivity"), ("severity", "high")))] == 1
    key = ("careplug_notifications_total", (("channel", "sms"), ("outcome", "delivered")))
    assert got[key] == 1
    ack = ("careplug_alert_time_to_acknowledge_seconds_sum", (("kind", "inactivity"),))
    assert got[ack] == 900
    assert got[("careplug_broker_connected", ())] == 1
    assert got[("careplug_last_message_age_seconds", ())] == 42


def test_healthz_is_alive_and_unknown_paths_are_404(
    served: tuple[CareplugMetrics, MetricsServer, VirtualClock],
) -> None:
    """/healthz answers 200 whatever readiness says."""
    _, server, _ = served
    server.add_readiness_check("broker connected", lambda: (False, "connection refused"))
    assert get(f"http://127.0.0.1:{server.port}/healthz")[0] == 200
    assert get(f"http://127.0.0.1:{server.port}/nope")[0] == 404


def test_readyz_names_each_failing_check(
    served: tuple[CareplugMetrics, MetricsServer, VirtualClock],
) -> None:
    """503 with every check's verdict while one fails; 200 once all pass."""
    _, server, _ = served
    state = {"connected": False}

    def broken() -> tuple[bool, str]:
        raise OSError("disk full")

    server.add_readiness_check(
        "broker connected",
        lambda: (state["connected"], "connected" if state["connected"] else "not connected"),
    )
    server.add_readiness_check("store writable", broken)
    server.add_readiness_check("receiving traffic", lambda: (True, "last message 3 s ago"))

    status, ctype, body = get(f"http://127.0.0.1:{server.port}/readyz")
    assert (status, ctype) == (503, "application/json")
    assert json.loads(body) == {
        "ready": False,
        "checks": {
            "broker connected": {"ok": False, "reason": "not connected"},
            "store writable": {"ok": False, "reason": "check raised OSError: disk full"},
            "receiving traffic": {"ok": True, "reason": "last message 3 s ago"},
        },
    }

    state["connected"] = True
    server.add_readiness_check("store writable", lambda: (True, "ok"))
    status, _, body = get(f"http://127.0.0.1:{server.port}/readyz")
    assert status == 200
    assert json.loads(body)["ready"] is True


def test_healthcheck_exit_status(
    served: tuple[CareplugMetrics, MetricsServer, VirtualClock],
) -> None:
    """0 for a 200, 1 for an error status, a closed port or a bad URL."""
    _, server, _ = served
    base = f"http://127.0.0.1:{server.port}"
    assert healthcheck(f"{base}/healthz", timeout=2) == 0
    server.add_readiness_check("broker connected", lambda: (False, "down"))
    assert healthcheck(f"{base}/readyz", timeout=2) == 1
    assert healthcheck(f"http://127.0.0.1:{free_port()}/healthz", timeout=2) == 1
    assert healthcheck("file:///etc/passwd", timeout=2) == 1


def test_registries_are_separate() -> None:
    """Two instances never share counters (a dedicated registry each)."""
    a, b = CareplugMetrics(), CareplugMetrics()
    a.message_received("tasmota", 0.0)
    assert (
        samples(b.exposition()).get(("careplug_messages_received_total", (("family", "tasmota"),)))
        is None
    )
    assert (
        samples(a.exposition())[("careplug_messages_received_total", (("family", "tasmota"),))] == 1
    )
