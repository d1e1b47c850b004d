"""uvicorn's httptools protocol with the limits it lacks (shared/RELIABILITY.md R3, R4, R6).

* The request head (request line and headers) must arrive within ``head_timeout`` seconds
  of its first byte, or of the connection opening, and the body within ``body_timeout``
  seconds of the head: a client trickling a byte at a time is disconnected instead of
  holding a connection forever. The server's periodic tick checks the deadline
  (``close_if_late``): no timer is set per request.
* The head may hold at most ``MAX_HEAD_BYTES`` and ``MAX_HEADERS`` headers; past either the
  client gets 431 and the connection is closed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 128


class _HeadTooLarge(Exception):
    pass


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    head_timeout = 10.0
    body_timeout = 60.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._waiting_since: float | None = None
        """When the part of the request now awaited (head or body) began to be awaited."""
        self._waiting_limit = self.head_timeout
        self._head_bytes = 0
        self._header_count = 0
        self._too_large = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.await_part(self.head_timeout)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = self._header_count = 0
        self.await_part(self.head_timeout)

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.await_part(self.body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._waiting_since = None
        super().on_message_complete()

    def await_part(self, limit: float) -> None:
        """From now, the rest of the head or body must arrive within ``limit`` seconds."""
        self._waiting_since = time.monotonic()
        self._waiting_limit = limit

    def close_if_late(self, now: float) -> None:
        """Called by the server's periodic tick (no timer per request on the hot path)."""
        started = self._waiting_since
        if started is not None and now - started > self._waiting_limit:
            self._waiting_since = None
            if not self.transport.is_closing():
                self.transport.close()

    def send_400_response(self, msg: str) -> None:
        if not self._too_large:
            super().send_400_response(msg)
            return
        body = b'{"error":"request headers are too large or too many"}'
        head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
        self.transport.write(
            head + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body) + body
        )
        self.transport.close()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES or self._header_count > MAX_HEADERS:
            self._too_large = True
            raise _HeadTooLarge  # the parser turns it into the error send_400_response answers
