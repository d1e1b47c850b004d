"""modelport's own HTTP/1.1 server (rest/http11.py, rest/asgi.py, rest/listener.py) under an
ASGI app of the test's, over real sockets on 127.0.0.1: what uvicorn used to do for the
non-inference routes, byte for byte where it matters."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from modelport.rest.listener import HttpListener


async def app(scope, receive, send) -> None:
    """/echo: the body back; /stream: three chunks, no length; /boom: fails before answering;
    /half: fails after the head."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    path = scope["path"]
    if path == "/boom":
        raise RuntimeError("boom")
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one ", b"two ", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    content = body or scope["method"].encode()
    headers = [(b"content-length", b"%d" % len(content)), (b"x-path", path.encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if path == "/half":
        raise RuntimeError("half")
    await send({"type": "http.response.body", "body": content})


@pytest.fixture
async def listener() -> AsyncIterator[tuple[HttpListener, int]]:
    served = HttpListener(app, None, head_timeout=5.0, body_timeout=5.0)
    served.settings.keep_alive_timeout = 0.3
    sock = socket.create_server(("127.0.0.1", 0))
    await served.start(sock)
    yield served, sock.getsockname()[1]
    await served.stop(1.0)


async def exchange(port: int, raw: bytes, until_closed: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(-1) if until_closed else reader.read(65536), 10)
    writer.close()
    return data


async def test_pipelined_requests_are_answered_in_order(listener) -> None:
    _, port = listener
    raw = (
        b"".join(
            b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n%02d" % i for i in range(5)
        )
        + b"GET /last HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    answer = await exchange(port, raw)
    assert answer.count(b"HTTP/1.1 200 OK") == 6
    bodies = [part.split(b"\r\n\r\n", 1)[1][:2] for part in answer.split(b"HTTP/1.1 200 OK")[1:]]
    assert bodies == [b"00", b"01", b"02", b"03", b"04", b"GE"]
    assert answer.endswith(b"GET") and b"connection: close" in answer


async def test_a_chunked_request_body_reaches_the_app_whole(listener) -> None:
    _, port = listener
    raw = (b"POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close"
           b"\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")  # fmt: skip
    assert (await exchange(port, raw)).endswith(b"\r\n\r\nhello world")


async def test_a_response_without_a_length_is_chunked(listener) -> None:
    _, port = listener
    answer = await exchange(port, b"GET /stream HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    head, body = answer.split(b"\r\n\r\n", 1)
    assert b"transfer-encoding: chunked" in head
    assert body == b"4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\n"


async def test_head_gets_the_headers_and_no_body(listener) -> None:
    _, port = listener
    answer = await exchange(port, b"HEAD /echo HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"\r\n\r\n")
    assert b"content-length: 4" in answer and b"date: " in answer


async def test_an_app_that_fails_gets_a_500_or_a_closed_connection(listener) -> None:
    _, port = listener
    failed = await exchange(port, b"GET /boom HTTP/1.1\r\nhost: x\r\n\r\n")
    assert (
        failed.startswith(b"HTTP/1.1 500 Internal Server Error") and b"connection: close" in failed
    )
    half = await exchange(port, b"GET /half HTTP/1.1\r\nhost: x\r\n\r\n")
    assert half.startswith(b"HTTP/1.1 200 OK") and half.endswith(b"\r\n\r\n")  # cut off


async def test_100_continue_is_sent_when_the_app_reads(listener) -> None:
    _, port = listener
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /echo HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 3\r\n"
                 b"connection: close\r\n\r\n")  # fmt: skip
    assert (
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        == b"HTTP/1.1 100 Continue\r\n\r\n"
    )
    writer.write(b"abc")
    assert (await asyncio.wait_for(reader.read(-1), 10)).endswith(b"\r\n\r\nabc")
    writer.close()


async def test_http_1_0_and_upgrades_are_answered_then_closed(listener) -> None:
    _, port = listener
    old = await exchange(port, b"GET /old HTTP/1.0\r\n\r\n")
    assert old.startswith(b"HTTP/1.1 200 OK") and b"connection: close" in old
    upgrade = b"GET /up HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: h2c\r\n\r\n"
    answer = await exchange(port, upgrade)
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"GET")


async def test_an_idle_keep_alive_connection_is_closed(listener) -> None:
    _, port = listener
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /one HTTP/1.1\r\nhost: x\r\n\r\n")
    first = await asyncio.wait_for(reader.readuntil(b"GET"), 10)
    assert first.startswith(b"HTTP/1.1 200 OK")
    assert await asyncio.wait_for(reader.read(-1), 10) == b""  # closed by the server
    writer.close()


async def test_stop_waits_for_the_answer_in_flight_and_refuses_new_connections() -> None:
    release = asyncio.Event()

    async def slow(scope, receive, send) -> None:
        await receive()
        await release.wait()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"2")]})  # fmt: skip
        await send({"type": "http.response.body", "body": b"ok"})

    served = HttpListener(slow, None, head_timeout=5.0, body_timeout=5.0)
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    await served.start(sock)
    pending = asyncio.create_task(exchange(port, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"))
    await asyncio.sleep(0.2)
    stopping = asyncio.create_task(served.stop(10.0))
    await asyncio.sleep(0.2)
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    release.set()
    answer = await pending
    await stopping
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"ok")
    assert b"connection: close" in answer  # the server told it the connection ends
