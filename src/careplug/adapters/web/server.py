"""Serving the console: uvicorn in a background thread (inside the daemon) or in the foreground.

Loopback by default: put a TLS-terminating reverse proxy in front to reach it from elsewhere.
"""

from __future__ import annotations

import threading
from typing import Any

import structlog
import uvicorn

from careplug.clock import monotonic
from careplug.errors import CareplugError

log = structlog.get_logger("careplug.console")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9320


class ConsoleServer:
    """A uvicorn server running an ASGI app in a daemon thread; ``port`` 0 picks a free one."""

    def __init__(self, app: Any, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="console", daemon=True)
        self.host = host
        self.port = port

    def start(self, timeout: float = 10.0) -> ConsoleServer:
        """Start serving; returns once the socket listens (:class:`CareplugError` if not)."""
        self._thread.start()
        deadline = monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or monotonic() > deadline:
                raise CareplugError(f"console did not start on {self.host}:{self.port}")
            threading.Event().wait(0.02)
        servers = getattr(self._server, "servers", [])
        if servers and servers[0].sockets:
            self.port = int(servers[0].sockets[0].getsockname()[1])
        log.info("console_started", host=self.host, port=self.port)
        return self

    @property
    def url(self) -> str:
        """The base URL the console answers on."""
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout)
        log.info("console_stopped", host=self.host, port=self.port)


def serve_in_thread(app: Any, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> ConsoleServer:
    """Start ``app`` on ``host:port`` in a background thread; stop it with ``.stop()``."""
    return ConsoleServer(app, host, port).start()
