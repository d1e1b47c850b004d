"""An HTTP listener: a bound socket served with :class:`~modelport.rest.http11.HttpConnection`,
plain or TLS, and its graceful stop.

A tick every ``TICK_S`` refreshes the ``date`` header and closes connections whose head, body
or keep-alive wait ran past its deadline. Stopping closes the socket (no new connections),
closes idle connections, lets the others finish their current answer within the grace period,
then closes what is left and cancels its work.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import socket
import ssl
import time
from collections.abc import Callable

from modelport.rest.asgi import App, AsgiCycle
from modelport.rest.http11 import ConnectionSettings, Head, HttpConnection, Lane

TICK_S = 0.5
BACKLOG = 2048


class HttpListener:
    def __init__(
        self,
        app: App,
        lane: Lane | None,
        head_timeout: float,
        body_timeout: float,
        tls: Callable[[], ssl.SSLContext] | None = None,
    ) -> None:
        self.settings = ConnectionSettings(
            self._cycle, lane, head_timeout, body_timeout, default_headers=_date()
        )
        self.connections: set[HttpConnection] = set()
        self._app = app
        self._tls = tls
        self._server: asyncio.Server | None = None
        self._tick: asyncio.Task[None] | None = None

    def _cycle(self, connection: HttpConnection, head: Head) -> AsgiCycle:
        return AsgiCycle(self._app, connection, head)

    def _connection(self) -> HttpConnection:
        return HttpConnection(self.settings, self.connections)

    async def start(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        context = self._tls() if self._tls is not None else None
        self._server = await loop.create_server(
            self._connection, sock=sock, ssl=context, backlog=BACKLOG
        )
        self._tick = asyncio.create_task(self._ticking())

    async def _ticking(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self.settings.default_headers = _date()
            now = time.monotonic()
            for connection in list(self.connections):
                connection.close_if_late(now)

    async def stop(self, grace: float) -> None:
        if self._server is None:
            return
        self._server.close()
        for connection in list(self.connections):
            connection.shutdown()
        deadline = time.monotonic() + grace
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for connection in list(self.connections):
            connection.transport.abort()
            for task in list(connection.tasks):
                task.cancel()
        if self._tick is not None:
            self._tick.cancel()
            await asyncio.gather(self._tick, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 1.0)
        self._server = self._tick = None


def _date() -> tuple[tuple[bytes, bytes], ...]:
    return ((b"date", email.utils.formatdate(usegmt=True).encode("ascii")),)
