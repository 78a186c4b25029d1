"""Real loopback receivers for the notifier tests: a stdlib HTTP server and aiosmtpd."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port


@dataclass
class Received:
    """One request the HTTP receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = 0.0
    """Wall-clock time of receipt (seconds since the epoch)."""

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
                Received(self.command, self.path, dict(self.headers.items()), body, time.time())
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
    return free_port()


@dataclass(frozen=True)
class TlsFiles:
    """A self-signed certificate for 127.0.0.1 and its key."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """Generate a self-signed cert with the openssl CLI (must exist when CI=true)."""
    if shutil.which("openssl") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("openssl CLI not found")
        pytest.skip("openssl CLI not found")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return TlsFiles(cert, key)


@dataclass
class SmtpServer:
    """A real aiosmtpd server: ``messages`` holds what it accepted."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)


USER, PASSWORD = "careplug", "pa55-word"


class _Handler:
    """Accepts mail; recipients starting with tempfail/reject get 451/550."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, server: object, session: object, envelope: Any, address: str, rcpt_options: object
    ) -> str:
        if address.startswith("tempfail"):
            return "451 4.3.0 mailbox busy, try later"
        if address.startswith("reject"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(msg, EmailMessage)
        self.server.messages.append(msg)
        self.server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"


def _authenticator(
    server: object, session: object, envelope: object, mechanism: str, auth_data: Any
) -> Any:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    # handled=False makes aiosmtpd answer 535 on failure
    return AuthResult(success=ok, handled=False)


def _start_smtp(tls_files: TlsFiles, *, implicit_tls: bool) -> tuple[Any, SmtpServer]:
    try:
        from aiosmtpd.controller import Controller
    except ImportError:  # pragma: no cover - aiosmtpd is a dev dependency
        if os.environ.get("CI") == "true":
            pytest.fail("aiosmtpd not installed")
        pytest.skip("aiosmtpd not installed")
    state = SmtpServer(free_port())
    kwargs: dict[str, Any] = {"authenticator": _authenticator, "auth_required": True}
    if implicit_tls:
        # aiosmtpd counts only STARTTLS as TLS in auth_require_tls, and warns when AUTH is
        # required without it; AUTH is still offered and checked, just not mandatory here
        kwargs.update(
            ssl_context=tls_files.server_context(), auth_require_tls=False, auth_required=False
        )
    else:
        kwargs.update(tls_context=tls_files.server_context(), require_starttls=True)
    controller = Controller(_Handler(state), hostname="127.0.0.1", port=state.port, **kwargs)
    controller.start()
    return controller, state


@pytest.fixture
def smtp_starttls(tls_files: TlsFiles) -> Iterator[SmtpServer]:
    """aiosmtpd requiring STARTTLS then AUTH."""
    controller, state = _start_smtp(tls_files, implicit_tls=False)
    try:
        yield state
    finally:
        controller.stop()


@pytest.fixture
def smtp_implicit_tls(tls_files: TlsFiles) -> Iterator[SmtpServer]:
    """aiosmtpd on implicit TLS (the port-465 style), with AUTH."""
    controller, state = _start_smtp(tls_files, implicit_tls=True)
    try:
        yield state
    finally:
        controller.stop()
