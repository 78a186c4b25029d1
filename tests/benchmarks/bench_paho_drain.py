"""Micro-benchmark: the MQTT client alone draining a QoS 1 backlog, acks from another thread.

A persistent MQTT 5 session is created at a real Mosquitto, N native readings are queued for
it, then one client drains the backlog while a second thread acknowledges what it received
every 5 ms, in batches, as careplug's driver does (manual ack). Nothing else is done per
message: this is the client's own per-message cost. Variants, each a step of careplug's
``FastClient`` (``careplug.adapters.fastpaho``):

- ``plain``: ``paho.Client``, ``on_message``, ``ack(mid, qos)`` per message;
- ``nolog``: ``plain`` with paho's ``_easy_log`` replaced by a no-op (what logging costs);
- ``buffered``: ``FastClient`` without a sink: buffered reads, paho's own PUBLISH handling;
- ``sink``: ``FastClient`` with ``message_sink``: the PUBLISH fast path, acks one by one;
- ``fast``: the sink and ``ack_many`` (careplug's configuration).

After the drain a QoS 1 round trip makes sure the broker has handled every PUBACK, then the
session is reopened: ``redelivered`` must be 0.

Run: ``python tests/benchmarks/bench_paho_drain.py [N] [variant ...] [--prof]``; one JSON line
per variant on stdout; ``--prof`` prints a yappi profile (``pip install yappi``) on stderr.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import benchlib as b
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from careplug.adapters.fastpaho import FastClient
from careplug.clock import monotonic

VARIANTS = ("plain", "nolog", "buffered", "sink", "fast")


class _NoLogClient(paho.Client):
    def _easy_log(self, level: Any, fmt: str, *args: Any) -> None:
        return None


def drain(port: int, n: int, variant: str, prof: bool) -> dict[str, object]:
    """Drain the queued backlog of ``n`` with one variant; its rate and CPU per message."""
    cls: type[paho.Client] = {
        "plain": paho.Client,
        "nolog": _NoLogClient,
    }.get(variant, FastClient)
    client = cls(
        CallbackAPIVersion.VERSION2, client_id="drain", protocol=paho.MQTTv5, manual_ack=True
    )
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    pending: list[tuple[int, int]] = []
    lock = threading.Lock()
    done = threading.Event()
    stop = threading.Event()
    acked = [0]

    def on_message(c: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        _topic, _payload = msg.topic, bytes(msg.payload)
        with lock:
            pending.append((msg.mid, msg.qos))

    def sink(topic: str, payload: bytes, retain: bool, mid: int, qos: int) -> None:
        with lock:
            pending.append((mid, qos))

    client.on_message = on_message
    if variant in ("sink", "fast") and isinstance(client, FastClient):
        client.message_sink = sink

    def acker() -> None:
        while not stop.is_set():
            time.sleep(0.005)
            with lock:
                batch = pending[:]
                pending.clear()
            if variant == "fast" and isinstance(client, FastClient):
                client.ack_many([mid for mid, _ in batch])
            else:
                for mid, qos in batch:
                    client.ack(mid, qos)
            acked[0] += len(batch)
            if acked[0] >= n:
                done.set()

    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 65535
    if prof:
        import yappi

        yappi.set_clock_type("cpu")
        yappi.start()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = monotonic()
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    threading.Thread(target=acker, daemon=True).start()
    client.loop_start()
    done.wait(600)
    seconds = monotonic() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    stop.set()
    if prof:
        yappi.stop()
        stats = yappi.get_func_stats()
        stats.sort("tsub")
        for s in list(stats)[:25]:
            print(
                f"{s.tsub * 1e6 / n:7.2f} us/msg own {s.ttot * 1e6 / n:7.2f} total "
                f"{s.ncall:8d} {s.module.split('/')[-1]}:{s.name}",
                file=sys.stderr,
            )
        yappi.clear_stats()
    cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    # the broker handles PUBACKs in order: once this publish is acknowledged, so are they
    client.publish("careplug/bench/flush", b"", qos=1).wait_for_publish(60)
    client.disconnect()
    client.loop_stop()
    return {
        "variant": variant,
        "n": acked[0],
        "per_s": round(acked[0] / seconds),
        "cpu_us": round(1e6 * cpu / max(acked[0], 1), 1),
        "redelivered": b.count_redelivered(port, "drain"),
    }


def main() -> None:
    """Queue and drain once per variant named on the command line (all by default)."""
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    prof = "--prof" in sys.argv
    n = int(args[0]) if args else 100_000
    variants = args[1:] or list(VARIANTS)
    messages = [
        (
            f"careplug/plugs/p{i % 2000:05d}/reading",
            json.dumps({"device": f"p{i % 2000:05d}", "time": 1.0 + i, "power_w": 1.2}).encode(),
        )
        for i in range(n)
    ]
    b.log(f"load average before: {b.load_average()}")
    for variant in variants:
        with tempfile.TemporaryDirectory() as d, b.mosquitto(Path(d)) as port:
            b.make_session(port, "drain", b.READING_TOPIC, v5=True)
            b.publish_all(port, messages)
            print(json.dumps(drain(port, n, variant, prof)), flush=True)
    b.log(f"load average after: {b.load_average()}")


if __name__ == "__main__":
    main()
