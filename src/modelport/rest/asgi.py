"""One request through an ASGI application, on modelport's own HTTP/1.1 connection.

The ``http`` scope of ASGI 3 (spec 2.3), ``receive`` with the body as it arrives (and
``http.disconnect`` once the client is gone or the answer is written), ``send`` writing the
head (``content-length`` when given, else chunked), the body, and ``connection: close``
when the connection will not be kept. A failing app gets a 500 when nothing was sent yet,
else the connection is closed (a half-sent answer cannot be repaired).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from modelport.rest.http11 import HIGH_WATER, Head, HttpConnection, status_line

logger = logging.getLogger(__name__)

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Message, Receive, Send], Awaitable[None]]
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
FAILED = b"Internal Server Error"


def scope_of(connection: HttpConnection, head: Head) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": head.http_version,
        "server": connection.server,
        "client": connection.client,
        "scheme": connection.scheme,
        "method": head.method.decode("ascii", "replace"),
        "root_path": "",
        "path": head.path,
        "raw_path": head.raw_path,
        "query_string": head.query,
        "headers": head.headers,
        "state": {},
    }


class AsgiCycle:
    def __init__(self, app: App, connection: HttpConnection, head: Head) -> None:
        self.app = app
        self.connection = connection
        self.scope = scope_of(connection, head)
        self.keep_alive = head.keep_alive
        self.response_complete = False
        self.disconnected = False
        self._continue = head.expect_continue
        self._body = bytearray()
        self._more_body = True
        self._arrived = asyncio.Event()
        self._started = False
        self._chunked = False
        self._length_left = 0
        self._head_only = head.method == b"HEAD"

    # what the connection calls

    def start(self) -> None:
        self.connection.start_task(self.run())

    def body(self, chunk: bytes) -> None:
        if self.response_complete:
            return
        self._body += chunk
        if len(self._body) > HIGH_WATER:
            self.connection.flow.pause_reading()
        self._arrived.set()

    def complete(self) -> None:
        self._more_body = False
        self._arrived.set()

    def lost(self) -> None:
        if not self.response_complete:
            self.disconnected = True
        self._arrived.set()

    # the app's side

    async def run(self) -> None:
        try:
            await self.app(self.scope, self.receive, self.send)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError) and self.disconnected:
                return
            logger.error("exception in the HTTP application", exc_info=exc)
            self._fail()
            if not isinstance(exc, Exception):
                raise
        else:
            if not self.response_complete and not self.disconnected:
                logger.error("the HTTP application returned without a complete answer")
                self._fail()

    def _fail(self) -> None:
        transport = self.connection.transport
        if self._started or transport.is_closing():
            transport.close()
            return
        head = status_line(500) + b"content-type: text/plain; charset=utf-8\r\n"
        head += b"content-length: %d\r\nconnection: close\r\n\r\n" % len(FAILED)
        transport.write(head + FAILED)
        transport.close()
        self.response_complete = True

    async def receive(self) -> Message:
        transport = self.connection.transport
        if self._continue and not transport.is_closing():
            transport.write(CONTINUE)
            self._continue = False
        if not self.disconnected and not self.response_complete:
            self.connection.flow.resume_reading()
            await self._arrived.wait()
            self._arrived.clear()
        if self.disconnected or self.response_complete:
            return {"type": "http.disconnect"}
        message = {"type": "http.request", "body": bytes(self._body), "more_body": self._more_body}
        self._body.clear()
        return message

    async def send(self, message: Message) -> None:
        flow = self.connection.flow
        if flow.write_paused and not self.disconnected:
            await flow.drain()
        if self.disconnected:
            return
        if not self._started:
            self._send_head(message)
        elif not self.response_complete:
            self._send_body(message)
        else:
            raise RuntimeError(f"ASGI message {message['type']!r} after the response was sent")

    def _send_head(self, message: Message) -> None:
        if message["type"] != "http.response.start":
            raise RuntimeError(f"expected 'http.response.start', got {message['type']!r}")
        self._started, self._continue = True, False
        status = int(message["status"])
        parts = [status_line(status)]
        for name, value in self.connection.settings.default_headers:
            parts += [name, b": ", value, b"\r\n"]
        length: int | None = None
        for name, value in message.get("headers", []):
            name = name.lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and b"close" in value.lower():
                self.keep_alive = False
                continue  # written below, once
            parts += [name, b": ", value, b"\r\n"]
        bodiless = self._head_only or status in (204, 304) or status < 200
        self._chunked = length is None and not bodiless
        self._length_left = 0 if self._head_only or length is None else length
        if self._chunked:
            parts.append(b"transfer-encoding: chunked\r\n")
        if not self.keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        self.connection.transport.write(b"".join(parts))

    def _send_body(self, message: Message) -> None:
        if message["type"] != "http.response.body":
            raise RuntimeError(f"expected 'http.response.body', got {message['type']!r}")
        body, more = bytes(message.get("body", b"")), bool(message.get("more_body", False))
        transport = self.connection.transport
        if self._chunked:
            out = [b"%x\r\n" % len(body), body, b"\r\n"] if body else []
            transport.write(b"".join([*out, b"" if more else b"0\r\n\r\n"]))
        elif not self._head_only:
            if len(body) > self._length_left:
                raise RuntimeError("response content longer than its content-length")
            self._length_left -= len(body)
            transport.write(body)
        if not more:
            self._finish()

    def _finish(self) -> None:
        if self._length_left:
            raise RuntimeError("response content shorter than its content-length")
        self.response_complete = True
        self._arrived.set()
        if not self.keep_alive:
            self.connection.transport.close()
        self.connection.response_complete()
