"""Every HTTP request that is not an inference (those are answered in ``inference.py``):
its ``x-request-id`` (the client's, if safe, or a new one) goes back in the response, and
with ``--access-log`` its access line is written. Pure ASGI around the guarded app."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelport.accesslog import HEADER, AccessLog, AccessRecord, request_id
from modelport.rest.access import client_of

_HEADER = HEADER.encode()
SCOPE_KEY = "modelport.request_id"
"""Where a route finds the request's id in its ASGI scope (TF Serving's predict)."""


class RequestIds:
    def __init__(self, app: ASGIApp, access: AccessLog | None) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(_HEADER, b"").decode("latin-1")
        rid = scope[SCOPE_KEY] = request_id(given)
        started = time.perf_counter_ns()
        sent = {"status": 0, "bytes": 0}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
                message["headers"] = [*message.get("headers", []), (_HEADER, rid.encode())]
            elif message["type"] == "http.response.body":
                sent["bytes"] += len(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, send_with_id)
        if self.access is not None:
            took = (time.perf_counter_ns() - started) / 1e6
            route = f"{scope['method']} {scope['path']}"
            record = AccessRecord(rid, "http", route, sent["status"], took, bytes_out=sent["bytes"])
            record.client = client_of(scope)
            self.access.write(record)
