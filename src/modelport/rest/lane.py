"""The fast lane: inference requests answered from the HTTP parser's own callbacks.

An ASGI request costs a scope, receive and send messages, a task and two writes (the head,
then the body): for an inference on a small model, as much as the model. The lane takes
``POST`` requests to the inference routes on an idle connection (``rest/http11.py`` asks it
first): it gathers the body as it arrives and, once complete, hands it to
:class:`~modelport.rest.inference.InferenceService` with its way to answer (status line,
headers and body in one ``write``) and to start a task. The service answers at once for a
model that runs now, else from that task, which the lane cancels if the client goes away
(the batcher then drops the request). Anything else
(other routes and methods, a request pipelined behind one not yet answered) goes to the
ASGI app.
"""

from __future__ import annotations

import asyncio

from modelport.auth import Pass
from modelport.errors import PayloadTooLarge
from modelport.rest.body import too_large
from modelport.rest.http11 import Head, HttpConnection, status_line
from modelport.rest.inference import Exchange, InferenceService, Reply, Route

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class InferenceLane:
    """The lane of one listener: which requests it takes."""

    def __init__(self, service: InferenceService) -> None:
        self.service = service

    def claim(self, connection: HttpConnection, head: Head) -> LaneExchange | None:
        if head.method != b"POST":
            return None
        found = self.service.route(head.path)
        return LaneExchange(self.service, connection, head, *found) if found else None


class LaneExchange:
    """One inference request on the lane, from its head to its answer."""

    def __init__(
        self,
        service: InferenceService,
        connection: HttpConnection,
        head: Head,
        route: Route,
        name: str,
        version: str,
    ) -> None:
        self.service, self.connection = service, connection
        self.keep_alive = head.keep_alive
        self.response_complete = False
        self.size = 0
        self.chunks: list[bytes] = []
        self.discarding = False
        """Answered early with ``connection: close``: the rest of the body is read and thrown
        away before closing (closing with unread data would reset the connection, and the
        client, still sending, would never read the answer)."""
        self.task: asyncio.Task[None] | None = None
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in head.headers}
        client = connection.client[0] if connection.client else ""
        opened = service.open(route, name, version, headers, client)
        self.exchange: Exchange = opened[0]
        self.admitted: Pass = opened[1]
        self.refused: Reply | None = opened[2]
        """An error decided before the body (answered once the body has been read)."""
        self._continue = head.expect_continue

    def start(self) -> None:
        transport = self.connection.transport
        if self.refused is None:
            if self._continue:
                transport.write(CONTINUE)
        elif self.refused[0] in (401, 403, 413, 429) or self._continue:
            self._answer_early(self.refused)

    def body(self, chunk: bytes) -> None:
        self.size += len(chunk)
        limit = self.service.limit
        if self.discarding:
            if self.size > 2 * limit:
                self.connection.transport.close()  # enough read for nothing: a reset
        elif self.size > limit:
            self._answer_early(self.refused or self._over_limit())
        elif self.refused is None:
            self.chunks.append(chunk)

    def _over_limit(self) -> Reply:
        too_big = PayloadTooLarge(too_large(self.size, self.service.limit))
        return self.service.error(self.exchange.name, too_big)

    def complete(self) -> None:
        transport = self.connection.transport
        if self.discarding or transport.is_closing():
            transport.close()
            return
        if self.refused is not None:
            self._answer(self.refused)
            return
        body = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks = []
        start = self.connection.start_task
        self.task = self.service.respond(self.exchange, body, self._answer, start)

    def lost(self) -> None:
        self.chunks = []  # a body cut off is let go now, not when a connection cycle is collected
        if not self.response_complete:
            self.admitted.release()
            if self.task is not None:
                self.task.cancel()  # nobody is waiting for it: drop the work

    def _answer_early(self, reply: Reply) -> None:
        """Answer before the body has been read, then read what is left of it, unused."""
        self.discarding = True
        self.chunks = []
        self._answer(reply, read_all=False)

    def _answer(self, reply: Reply, read_all: bool = True) -> None:
        self.admitted.release()
        reply = self.service.close(self.exchange, reply, self.size)
        keep_alive = self.keep_alive and read_all
        transport = self.connection.transport
        if not transport.is_closing():
            head = self.connection.settings.default_headers
            transport.write(http_response(reply, keep_alive, head))
            if not keep_alive and read_all:
                transport.close()
        self.response_complete = True
        self.connection.response_complete()


def http_response(
    reply: Reply, keep_alive: bool, default_headers: tuple[tuple[bytes, bytes], ...] = ()
) -> bytes:
    """Status line, headers and body as one buffer. Header names and values come from the
    server (never from a request), so they need no escaping."""
    status, headers, content = reply
    parts = [status_line(status)]
    for name, value in default_headers:
        parts += [name, b": ", value, b"\r\n"]
    parts += [f"{name}: {value}\r\n".encode("latin-1") for name, value in headers.items()]
    parts.append(b"content-length: %d\r\n" % len(content))
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts += [b"\r\n", content]
    return b"".join(parts)
