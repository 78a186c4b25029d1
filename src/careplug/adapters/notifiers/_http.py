"""The HTTP plumbing shared by the webhook and SMS-gateway notifiers (stdlib urllib).

urllib rather than httpx: one blocking POST per notification needs no pool, no async and no
extra dependency, and the outbox, not the transport, owns retries.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request

from careplug.errors import DeliveryError

_MAX_RESPONSE_BYTES = 64 * 1024


def check_http_url(url: str) -> None:
    """Reject anything but an absolute http(s) URL, so ``file:`` and friends never reach urllib."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise ValueError(f"not an http(s) URL: {redact_url(url)}")


def redact_url(url: str) -> str:
    """The URL without credentials, query or fragment: webhook URLs carry their secret there
    (Slack's ``/services/T…/B…/secret`` path too, so only the first path segment is kept)."""
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname or ""
    if parsed.port is not None:
        host = f"{host}:{parsed.port}"
    first = parsed.path.lstrip("/").split("/", 1)[0]
    path = f"/{first}/…" if first and parsed.path.strip("/") != first else parsed.path
    return f"{parsed.scheme}://{host}{path}"


def retryable_status(status: int) -> bool:
    """Whether an HTTP error status is worth retrying: 5xx, 408 and 429 yes, other 4xx no."""
    return status >= 500 or status in {408, 429}


def request(
    url: str, *, method: str, body: bytes | None, headers: dict[str, str], timeout_s: float
) -> int:
    """Send one request; return the 2xx status or raise a classified ``DeliveryError``.

    The error message carries the status or the OS error, never the URL (it may hold a secret).
    """
    req = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310 - scheme checked by check_http_url
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as response:  # noqa: S310
            response.read(_MAX_RESPONSE_BYTES)
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise DeliveryError(
            f"HTTP {exc.code} {exc.reason}", retryable=retryable_status(exc.code)
        ) from None
    except TimeoutError as exc:
        raise DeliveryError(f"timed out after {timeout_s:g} s", retryable=True) from exc
    except urllib.error.URLError as exc:
        # refused, unreachable, DNS failure, TLS handshake: all may heal by themselves
        raise DeliveryError(f"connection failed: {exc.reason}", retryable=True) from None
    except (http.client.HTTPException, OSError) as exc:
        raise DeliveryError(f"connection failed: {type(exc).__name__}", retryable=True) from None
    if not 200 <= status < 300:
        # a 1xx/3xx that urllib did not follow: the endpoint is misconfigured
        raise DeliveryError(f"HTTP {status}", retryable=False)
    return status
