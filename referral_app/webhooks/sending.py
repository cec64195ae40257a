"""One HTTP POST to a receiver, to the address that was checked.

The connection goes to the address `urls.resolve` approved, so a name cannot resolve to a
public address for the check and a private one for the connect. No redirects are followed
(http.client never does): a 3xx is a failed attempt.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .urls import UnsafeUrl, private_allowed, resolve, split_url

log = logging.getLogger(__name__)


USER_AGENT = "referral-webhooks/1.0 (+https://www.standardwebhooks.com/)"


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: making one loads the CA bundle (~25 ms)."""
    return ssl.create_default_context()


@dataclass(frozen=True)
class SendResult:
    """What one HTTP attempt got: a status code, or an error text (never both empty)."""

    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _pinned_connector(
    addresses: list[str], port: int, deadline: float
) -> Callable[..., socket.socket]:
    """http.client's `_create_connection`, connecting only to the checked addresses, one
    after the other, within the attempt's time."""

    def connect(_address, timeout, source_address=None):
        last_error: OSError | None = None
        for address in addresses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no time left to connect")
            try:
                return socket.create_connection(
                    (address, port), min(timeout, remaining), source_address
                )
            except OSError as exc:
                last_error = exc
        raise last_error or OSError("no address to connect to")

    return connect


def send(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> SendResult:
    """POST `body` to `url`: addresses re-checked now, no redirects, at most `timeout`
    seconds in all (a watchdog cuts a receiver that drips its answer)."""
    started = time.monotonic()

    def result(status: int | None, error: str | None) -> SendResult:
        return SendResult(status, error, int((time.monotonic() - started) * 1000))

    try:
        scheme, host, port, path = split_url(url)
        addresses = resolve(host, port, allow_private=private_allowed())
    except UnsafeUrl as exc:
        return result(None, "refused: " + exc.reason)
    if scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=_tls_context()
        )
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    connection._create_connection = _pinned_connector(addresses, port, started + timeout)
    watchdog = threading.Timer(timeout, _cut, args=(connection,))
    watchdog.daemon = True
    watchdog.start()
    try:
        connection.request("POST", path, body=body, headers=headers)
        status = connection.getresponse().status  # the body is not needed: closed unread
    except (OSError, http.client.HTTPException, ValueError) as exc:
        timed_out = isinstance(exc, TimeoutError) or time.monotonic() - started >= timeout
        return result(None, "timeout" if timed_out else _describe(exc))
    finally:
        watchdog.cancel()
        connection.close()
    if 300 <= status < 400:
        return result(status, "redirect not followed")
    if not 200 <= status < 300:
        return result(status, f"HTTP {status}")
    return result(status, None)


def _cut(connection: http.client.HTTPConnection) -> None:
    """Wake a blocked read when the whole attempt ran out of time."""
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _describe(exc: BaseException) -> str:
    """A short error text without addresses (the log must not carry receivers' IPs)."""
    if isinstance(exc, ssl.SSLError):
        return "TLS error"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, http.client.HTTPException):
        return "invalid HTTP response"
    return type(exc).__name__
