"""The fast lane: inference requests answered from the HTTP parser's own callbacks.

uvicorn turns every request into an ASGI task: a scope, receive and send messages, a task,
and two writes (the head, then the body). For an inference on a small model that costs as
much as the model. This protocol, a subclass of uvicorn's httptools protocol, takes
``POST`` requests to the inference routes itself: it gathers the body in ``on_body`` and,
in ``on_message_complete``, asks :class:`~modelport.rest.inference.InferenceService` for
the reply (ready at once for a model that runs inline) and writes status line, headers and
body with one ``write``. A reply that must be awaited (a model in threads or behind the
batcher) is finished in a task. Everything else (other routes and methods, upgrades, a
request pipelined behind one not yet answered) goes through uvicorn as before.

uvicorn's bookkeeping keeps working because the lane puts a :class:`LaneCycle` where
uvicorn keeps its current request: pipelined requests queue behind it, shutdown lets it
finish and then closes the connection, a disconnect marks it (and cancels an awaited
reply: the batcher drops the request), and ``on_response_complete`` arms the keep-alive
timeout and starts the next queued request.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Awaitable
from dataclasses import dataclass, field

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from modelport.auth import OPEN, Pass
from modelport.errors import ErrorCode
from modelport.rest.body import too_large
from modelport.rest.connection import GuardedHttpToolsProtocol
from modelport.rest.inference import Exchange, InferenceService, Reply, Route

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _NoEvent:
    """uvicorn sets its cycle's ``message_event`` on disconnect; the lane waits on none."""

    def set(self) -> None:
        return None


class LaneCycle:
    """The attributes uvicorn's protocol reads of its current request cycle."""

    __slots__ = ("disconnected", "keep_alive", "message_event", "response_complete", "task")

    def __init__(self, keep_alive: bool) -> None:
        self.keep_alive = keep_alive
        self.response_complete = False
        self.disconnected = False
        self.message_event = _NoEvent()
        self.task: asyncio.Task[None] | None = None


@dataclass(slots=True)
class _Pending:
    """An inference request whose body is being read."""

    exchange: Exchange
    cycle: LaneCycle
    refused: Reply | None
    """An error decided before the body (answered once the body has been read)."""
    admitted: Pass = OPEN
    """The access policy's pass, released once the request is answered."""
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    discarding: bool = False
    """Answered early with ``connection: close``: the rest of the body is read and thrown
    away before closing (closing with unread data would reset the connection, and the
    client, still sending, would never read the answer)."""


class InferenceLane(GuardedHttpToolsProtocol):
    service: InferenceService

    _pending: _Pending | None = None

    def on_headers_complete(self) -> None:
        if self.transport.is_closing():
            return  # answered and closing: what follows in the buffer is not served
        found = self._lane_route()
        if found is None:
            super().on_headers_complete()
            return
        self.await_part(self.body_timeout)
        self._start(*found)

    def _lane_route(self) -> tuple[Route, str, str] | None:
        if self.parser.get_method() != b"POST" or self.parser.should_upgrade():
            return None
        current = self.cycle
        busy = current is not None and not current.response_complete
        if busy or self.pipeline or self.flow.write_paused:
            return None  # uvicorn queues it behind the unfinished request
        path = httptools.parse_url(self.url).path.decode("ascii")
        return self.service.route(urllib.parse.unquote(path) if "%" in path else path)

    def _start(self, route: Route, name: str, version: str) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in self.headers}
        keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
        self.cycle = cycle = LaneCycle(keep_alive)  # type: ignore[assignment]
        client = self.client[0] if self.client else ""
        exchange, admitted, refused = self.service.open(route, name, version, headers, client)
        self._pending = pending = _Pending(exchange, cycle, refused, admitted)
        if refused is None:
            if self.expect_100_continue:
                self.transport.write(CONTINUE)
        elif refused[0] in (401, 403, 413, 429) or self.expect_100_continue:
            self._answer_early(pending, refused)

    def on_body(self, body: bytes) -> None:
        pending = self._pending
        if pending is None:
            super().on_body(body)
            return
        pending.size += len(body)
        if pending.discarding:
            if pending.size > 2 * self.service.limit:
                self.transport.close()  # enough read for nothing: let the client see a reset
        elif pending.size > self.service.limit:
            self._answer_early(pending, pending.refused or self._over_limit(pending))
        elif pending.refused is None:
            pending.chunks.append(body)

    def _over_limit(self, pending: _Pending) -> Reply:
        message = too_large(pending.size, self.service.limit)
        return self.service.failed(pending.exchange.name, ErrorCode.PAYLOAD_TOO_LARGE, message)

    def on_message_complete(self) -> None:
        pending = self._pending
        if pending is None:
            super().on_message_complete()
            return
        self._pending = None
        self._waiting_since = None
        if pending.discarding or self.transport.is_closing():
            self.transport.close()
            return
        if pending.refused is not None:
            self._answer(pending, pending.refused)
            return
        body = pending.chunks[0] if len(pending.chunks) == 1 else b"".join(pending.chunks)
        reply = self.service.reply(pending.exchange, body)
        if isinstance(reply, tuple):
            self._answer(pending, reply)
        else:
            pending.cycle.task = self._answer_later(pending, reply)

    def _answer_later(self, pending: _Pending, reply: Awaitable[Reply]) -> asyncio.Task[None]:
        async def answer() -> None:
            try:
                self._answer(pending, await reply)
            finally:
                pending.admitted.release()  # also when cancelled: the client went away

        task = self.loop.create_task(answer())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def _answer_early(self, pending: _Pending, reply: Reply) -> None:
        """Answer before the body has been read, then read what is left of it, unused."""
        pending.discarding = True
        pending.chunks.clear()
        self._answer(pending, reply, read_all=False)

    def _answer(self, pending: _Pending, reply: Reply, read_all: bool = True) -> None:
        pending.admitted.release()
        reply = self.service.close(pending.exchange, reply, pending.size)
        cycle = pending.cycle
        keep_alive = cycle.keep_alive and read_all
        if not cycle.disconnected and not self.transport.is_closing():
            head = self.server_state.default_headers
            self.transport.write(http_response(reply, keep_alive, head))
            if not keep_alive and read_all:
                self.transport.close()
        cycle.response_complete = True
        self.on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._pending is not None:  # gone while its body was arriving
            self._pending.admitted.release()
        cycle = self.cycle
        if isinstance(cycle, LaneCycle) and cycle.task is not None and not cycle.response_complete:
            cycle.task.cancel()  # nobody is waiting for it: drop the work
        super().connection_lost(exc)


def http_response(
    reply: Reply, keep_alive: bool, default_headers: list[tuple[bytes, bytes]]
) -> bytes:
    """Status line, headers and body as one buffer. Header names and values come from the
    server (never from a request), so they need no escaping."""
    status, headers, content = reply
    parts = [STATUS_LINE[status]]
    for name, value in default_headers:
        parts += [name, b": ", value, b"\r\n"]
    parts += [f"{name}: {value}\r\n".encode("latin-1") for name, value in headers.items()]
    parts.append(b"content-length: %d\r\n" % len(content))
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts += [b"\r\n", content]
    return b"".join(parts)


def http_protocol(
    service: InferenceService | None, head_timeout: float, body_timeout: float
) -> type[GuardedHttpToolsProtocol]:
    """The protocol class for ``uvicorn.Config(http=...)``: with the lane for ``service``'s
    routes, or (None: the metrics port) only the connection limits."""
    settings: dict[str, object] = {"head_timeout": head_timeout, "body_timeout": body_timeout}
    if service is None:
        return type("GuardedHttpTools", (GuardedHttpToolsProtocol,), settings)
    return type("InferenceLane", (InferenceLane,), {**settings, "service": service})
