"""HTTP/1.1 over asyncio, on httptools' parser: modelport's own connection protocol.

One :class:`HttpConnection` per connection. Its parser callbacks hand each request to an
exchange: the inference lane's (``rest/lane.py``: answered from the callbacks, one write),
when the route is an inference route and the connection is idle; else an ASGI cycle
(``rest/asgi.py``) running the Starlette app. Requests pipelined behind an unanswered one
wait in order. The limits uvicorn lacked are here: the head must arrive within
``head_timeout`` and hold at most ``MAX_HEAD_BYTES`` in ``MAX_HEADERS`` headers (else 431),
the body within ``body_timeout`` of the head, and an idle keep-alive connection closes
after ``keep_alive_timeout``; the server's tick checks the deadlines (no timer per request).
Only public interfaces: ``asyncio.Protocol`` and ``httptools.HttpRequestParser``.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol, cast

import httptools

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 128
HIGH_WATER = 64 * 1024
"""Request body bytes buffered for an ASGI app before reading pauses."""
MAX_PIPELINED = 64
STATUS_LINE = {s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in HTTPStatus}


def status_line(status: int) -> bytes:
    return STATUS_LINE.get(status) or b"HTTP/1.1 %d \r\n" % status


class _HeadTooLarge(Exception):
    pass


@dataclass(slots=True)
class Head:
    """A request's head, as parsed."""

    method: bytes
    url: bytes
    path: str
    raw_path: bytes
    query: bytes
    headers: list[tuple[bytes, bytes]]
    http_version: str
    keep_alive: bool
    expect_continue: bool


class Exchange(Protocol):
    """One request on a connection, from its head to its answer."""

    keep_alive: bool
    response_complete: bool

    def body(self, chunk: bytes) -> None: ...
    def complete(self) -> None:
        """The whole body has arrived."""

    def start(self) -> None:
        """Begin answering (at once, or when the requests before it are answered)."""

    def lost(self) -> None:
        """The connection went away."""


class Lane(Protocol):
    """Takes inference requests off the general path (``rest/lane.py``)."""

    def claim(self, connection: HttpConnection, head: Head) -> Exchange | None: ...


class Flow:
    """Reading paused while too much waits to be consumed; writing awaited while the
    transport's buffer is full."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.read_paused = False
        self.write_paused = False
        self._writable = asyncio.Event()
        self._writable.set()

    async def drain(self) -> None:
        await self._writable.wait()

    def pause_reading(self) -> None:
        if not self.read_paused:
            self.read_paused = True
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused:
            self.read_paused = False
            self._transport.resume_reading()

    def pause_writing(self) -> None:
        self.write_paused = True
        self._writable.clear()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._writable.set()


@dataclass
class ConnectionSettings:
    """What every connection of one listener shares."""

    cycle: Callable[[HttpConnection, Head], Exchange]
    """Makes the exchange of a request the lane does not take (an ASGI cycle)."""
    lane: Lane | None = None
    head_timeout: float = 10.0
    body_timeout: float = 60.0
    keep_alive_timeout: float = 5.0
    default_headers: tuple[tuple[bytes, bytes], ...] = ()
    """Written in every response (the ``date``, refreshed by the listener's tick)."""


class HttpConnection(asyncio.Protocol):
    def __init__(self, settings: ConnectionSettings, connections: set[HttpConnection]) -> None:
        self.settings = settings
        self.connections = connections
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.flow: Flow = None  # type: ignore[assignment]
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int] | None = None
        self.scheme = "http"
        self.tasks: set[asyncio.Task[None]] = set()
        self.current: Exchange | None = None
        """The request being answered (or the last answered)."""
        self._parsing: Exchange | None = None
        """The request whose body is arriving."""
        self._pipeline: deque[Exchange] = deque()
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = self._header_count = 0
        self._too_large = False
        self._expect_continue = False
        self._waiting_since: float | None = None
        self._waiting_limit = settings.head_timeout

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.connections.add(self)
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.flow = Flow(self.transport)
        self.client = _address(transport.get_extra_info("peername"))
        self.server = _address(transport.get_extra_info("sockname"))
        self.scheme = "https" if transport.get_extra_info("sslcontext") else "http"
        self.await_part(self.settings.head_timeout)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self.current is not None:  # no protocol to switch to: answer it, then close
                self.current.keep_alive = False
        except httptools.HttpParserError:
            self._refuse_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        for exchange in {self.current, self._parsing, *self._pipeline}:
            if exchange is not None:
                exchange.lost()
        self._pipeline.clear()
        if self.flow is not None:
            self.flow.resume_writing()

    def eof_received(self) -> bool | None:
        """The client sent FIN: the transport closes (what is written is flushed). A FIN
        cannot be told from a client that has gone, so its unanswered work is dropped (as
        uvicorn does, and nginx with its 499): a half-closing client (``nc -N``) gets only
        the answers ready by then."""
        return None

    def pause_writing(self) -> None:
        self.flow.pause_writing()

    def resume_writing(self) -> None:
        self.flow.resume_writing()

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._url, self._headers = b"", []
        self._head_bytes = self._header_count = 0
        self._expect_continue = False
        self.await_part(self.settings.head_timeout)

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._count(len(name) + len(value))
        name, value = name.lower(), value.rstrip(b" \t")  # llhttp keeps trailing whitespace
        if name == b"expect" and value.lower() == b"100-continue":
            self._expect_continue = True
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.await_part(self.settings.body_timeout)
        if self.transport.is_closing():
            return  # answered and closing: what follows in the buffer is not served
        head = self._head()
        idle = self.current is None or self.current.response_complete
        lane = self.settings.lane
        exchange = lane.claim(self, head) if lane and idle and not self._busy_writing() else None
        if exchange is None:
            exchange = self.settings.cycle(self, head)
        self._parsing = exchange
        if idle:
            self.current = exchange
            exchange.start()
        else:
            self._pipeline.append(exchange)
            if len(self._pipeline) >= MAX_PIPELINED:
                self.flow.pause_reading()

    def on_body(self, body: bytes) -> None:
        if self._parsing is not None:
            self._parsing.body(body)

    def on_message_complete(self) -> None:
        self._waiting_since = None
        if self._parsing is not None:
            self._parsing.complete()
            self._parsing = None

    # what exchanges call

    def response_complete(self) -> None:
        """The current request is answered: start the next one, or wait for it."""
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self._pipeline:
            self.current = self._pipeline.popleft()
            self.current.start()
        elif self._parsing is None:
            self.await_part(self.settings.keep_alive_timeout)

    def start_task(self, work: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = self.loop.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # the listener's calls

    def shutdown(self) -> None:
        """Graceful shutdown: close when idle, else once the current answer is written."""
        idle = self.current is None or self.current.response_complete
        if idle and self._parsing is None:
            self.transport.close()
            return
        for exchange in (self.current, self._parsing, *self._pipeline):
            if exchange is not None:
                exchange.keep_alive = False

    def await_part(self, limit: float) -> None:
        """From now, the rest of the head or body must arrive within ``limit`` seconds."""
        self._waiting_since = time.monotonic()
        self._waiting_limit = limit

    def close_if_late(self, now: float) -> None:
        started = self._waiting_since
        if started is not None and now - started > self._waiting_limit:
            self._waiting_since = None
            if not self.transport.is_closing():
                self.transport.close()

    # internals

    def _busy_writing(self) -> bool:
        return self.flow.write_paused

    def _head(self) -> Head:
        url = self._url
        if url[:1] == b"/" and b"?" not in url and b"#" not in url:
            raw_path, query = url, b""  # a plain path: nothing to split off
        else:
            parsed = httptools.parse_url(url)
            raw_path, query = parsed.path, parsed.query or b""
        path = raw_path.decode("latin-1")
        version = self.parser.get_http_version()
        return Head(
            self.parser.get_method(),
            self._url,
            urllib.parse.unquote(path) if "%" in path else path,
            raw_path,
            query,
            self._headers,
            version,
            version != "1.0" and self.parser.should_keep_alive(),
            self._expect_continue,
        )

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES or self._header_count > MAX_HEADERS:
            self._too_large = True
            raise _HeadTooLarge  # the parser turns it into an error: 431 below

    def _refuse_head(self) -> None:
        if self._too_large:
            status, body = 431, b'{"error":"request headers are too large or too many"}'
            kind = b"application/json"
        else:
            status, body = 400, b"Invalid HTTP request received."
            kind = b"text/plain; charset=utf-8"
        head = [status_line(status), b"content-type: ", kind, b"\r\n"]
        head.append(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        if not self.transport.is_closing():
            self.transport.write(b"".join(head) + body)
            self.transport.close()


def _address(found: Any) -> tuple[str, int] | None:
    if isinstance(found, tuple | list) and len(found) >= 2:
        return str(found[0]), int(found[1])
    return None
