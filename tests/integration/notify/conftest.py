"""Real loopback receivers for the notifier tests: a stdlib HTTP server and aiosmtpd."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    """One request the HTTP receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """A real HTTP server on a free loopback port that records requests.

    ``status`` maps a path to the status to answer (default 200); ``delay_s`` makes it slow.
    """

    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=dict)
    delay_s: float = 0.0

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    """Start the receiver; stop it after the test."""
    receiver: HttpReceiver

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver.received.append(
                Received(self.command, self.path, dict(self.headers.items()), body)
            )
            if receiver.delay_s:
                time.sleep(receiver.delay_s)
            status = receiver.status.get(self.path.split("?", 1)[0], 200)
            payload = b"ok" if status < 300 else b"nope"
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (timeout test)

        do_POST = _handle
        do_GET = _handle
        do_PUT = _handle

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = HttpReceiver(server)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def refused_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
