"""The HTTP lane (rest/lane.py) on a real socket: HTTP/1.1 as clients actually speak it.

Inference requests are answered from the parser's callbacks; these tests hold it to what
uvicorn's ASGI path guaranteed: pipelined answers in order (also behind a model that runs
in threads), ``Expect: 100-continue``, early 413 without a reset, HTTP/1.0 and
``Connection: close``, deadlines for slow bodies, and disconnected clients' work dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import gzip
from collections.abc import AsyncIterator

import orjson
import pytest

from modelport.server import Server
from modelport.settings import Settings
from tests import models

LIMIT = 1 << 16


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    root = tmp_path_factory.mktemp("lane")
    models.add_sub(root / "add_sub" / "1" / "model.onnx")
    models.slow_model(root / "slow")
    settings = Settings(
        model_repositories=(str(root),),
        http_port=0,
        allow_grpc=False,
        max_request_bytes=LIMIT,
        http_body_timeout_secs=0.5,
    )
    running = Server(settings)
    await running.start()
    yield running
    await running.stop()


def add_sub_body(value: float = 1.0) -> bytes:
    data = [value] * 4
    inputs = [{"name": n, "datatype": "FP32", "shape": [1, 4], "data": data} for n in "ab"]
    return orjson.dumps({"inputs": inputs})


def slow_body(seconds: float) -> bytes:
    return orjson.dumps(
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 1], "data": [seconds]}]}
    )


def post(path: str, body: bytes, *headers: str, version: str = "1.1") -> bytes:
    head = [f"POST {path} HTTP/{version}", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    return ("\r\n".join([*head, *headers]) + "\r\n\r\n").encode() + body


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


@dataclasses.dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return orjson.loads(self.body)


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 10)
    return Answer(int(lines[0].split()[1]), headers, body)


@contextlib.asynccontextmanager
async def connect(
    server: Server,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    return await asyncio.wait_for(reader.read(1), 5) == b""


async def test_keep_alive_serves_many_requests_on_one_connection(server: Server) -> None:
    async with connect(server) as (reader, writer):
        for value in (1.0, 2.0, 3.0):
            writer.write(post("/v2/models/add_sub/infer", add_sub_body(value)))
            answer = await read_answer(reader)
            assert answer.status == 200
            assert answer.json()["outputs"][0]["data"] == [2 * value] * 4
            assert "connection" not in answer.headers


async def test_pipelined_requests_are_answered_in_order(server: Server) -> None:
    async with connect(server) as (reader, writer):
        writer.write(
            post("/v2/models/slow/infer", slow_body(0.2))  # awaited: runs in a thread
            + post("/v2/models/add_sub/infer", add_sub_body(5.0))  # inline
            + get("/v2/models/add_sub")  # Starlette
            + post("/v2/models/nope/infer", add_sub_body())  # refused before its body
            + post("/v2/models/add_sub/infer", add_sub_body(7.0))
        )
        answers = [await read_answer(reader) for _ in range(5)]
        assert [a.status for a in answers] == [200, 200, 200, 404, 200]
        assert answers[0].json()["outputs"][0]["data"] == [pytest.approx(0.4)]
        assert answers[1].json()["outputs"][0]["data"] == [10.0] * 4
        assert answers[2].json()["name"] == "add_sub"
        assert "unknown model 'nope'" in answers[3].json()["error"]
        assert answers[4].json()["outputs"][0]["data"] == [14.0] * 4


async def test_expect_100_continue_is_answered_before_the_body(server: Server) -> None:
    async with connect(server) as (reader, writer):
        body = add_sub_body()
        head = post("/v2/models/add_sub/infer", b"", "Expect: 100-continue")
        writer.write(head.replace(b"Content-Length: 0", f"Content-Length: {len(body)}".encode()))
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        writer.write(body)
        assert (await read_answer(reader)).status == 200


async def test_expect_100_continue_to_an_unknown_model_gets_404_and_no_continue(
    server: Server,
) -> None:
    async with connect(server) as (reader, writer):
        writer.write(
            b"POST /v2/models/nope/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        answer = await read_answer(reader)
        assert answer.status == 404
        assert answer.headers["connection"] == "close"


async def test_declared_size_over_the_limit_is_413_before_the_body_is_sent(
    server: Server,
) -> None:
    async with connect(server) as (reader, writer):
        writer.write(
            f"POST /v2/models/add_sub/infer HTTP/1.1\r\nHost: x\r\nContent-Length: {LIMIT + 1}"
            "\r\n\r\n".encode()
        )
        answer = await read_answer(reader)
        assert answer.status == 413
        assert "exceeds the limit" in answer.json()["error"]
        writer.write(b" " * (LIMIT + 1))  # the rest is read and thrown away, then the close
        assert await closed_by_server(reader)


async def test_chunked_body_over_the_limit_is_413_and_the_server_serves_on(
    server: Server,
) -> None:
    async with connect(server) as (reader, writer):
        writer.write(
            b"POST /v2/models/add_sub/infer HTTP/1.1\r\nHost: x\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b" " * 4096
        for _ in range(LIMIT // len(chunk) + 2):
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        writer.write(b"0\r\n\r\n")
        answer = await read_answer(reader)
        assert answer.status == 413
        assert await closed_by_server(reader)
        await assert_serving(server)


async def test_a_refused_request_with_an_endless_body_is_answered_and_closed(
    server: Server,
) -> None:
    async with connect(server) as (reader, writer):
        writer.write(
            b"POST /v2/models/nope/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b" " * 4096
        for _ in range(LIMIT // len(chunk) + 2):  # past the limit: answered without the end
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        answer = await read_answer(reader)
        assert answer.status == 404 and answer.headers["connection"] == "close"
        for _ in range(LIMIT // len(chunk) + 2):  # past twice the limit: cut off
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        assert await closed_by_server(reader)
    await assert_serving(server)


async def test_gzip_body_through_the_lane(server: Server) -> None:
    async with connect(server) as (reader, writer):
        writer.write(
            post(
                "/v2/models/add_sub/infer",
                gzip.compress(add_sub_body(2.0)),
                "Content-Encoding: gzip",
            )
        )
        answer = await read_answer(reader)
        assert answer.status == 200 and answer.json()["outputs"][0]["data"] == [4.0] * 4


@pytest.mark.parametrize(
    ("version", "extra"), [("1.0", ()), ("1.1", ("Connection: close",))], ids=["http1.0", "close"]
)
async def test_the_connection_closes_when_the_client_asks(
    server: Server, version: str, extra: tuple[str, ...]
) -> None:
    async with connect(server) as (reader, writer):
        writer.write(post("/v2/models/add_sub/infer", add_sub_body(), *extra, version=version))
        answer = await read_answer(reader)
        assert answer.status == 200
        assert answer.headers["connection"] == "close"
        assert await closed_by_server(reader)


async def test_a_body_slower_than_its_deadline_is_cut_off(server: Server) -> None:
    async with connect(server) as (reader, writer):
        writer.write(
            b"POST /v2/models/add_sub/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
        )
        writer.write(b"{")
        assert await asyncio.wait_for(reader.read(1), 5) == b""  # 0.5 s deadline, 0.5 s tick
        await assert_serving(server)


async def test_a_disconnected_clients_request_is_dropped(server: Server) -> None:
    before = await statistics(server)
    async with connect(server) as (first_reader, first):
        first.write(post("/v2/models/slow/infer", slow_body(0.4)))  # occupies the one instance
        await asyncio.sleep(0.1)
        async with connect(server) as (_, second):
            second.write(post("/v2/models/slow/infer", slow_body(0.01)))  # waits in the queue
            await asyncio.sleep(0.05)
        # the second client has gone before its batch forms
        assert (await read_answer(first_reader)).status == 200
        await asyncio.sleep(0.2)
        after = await statistics(server)
        assert after["inference_count"] - before["inference_count"] == 1
        assert after["execution_count"] - before["execution_count"] == 1
        assert server.registry.get("slow").inflight == 0


async def test_a_body_cut_off_by_a_disconnect_is_not_kept(server: Server) -> None:
    """A connection is a reference cycle (parser and protocol), freed only by the garbage
    collector; the part of a body its client sent before going away must not wait with it."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(3):
            async with connect(server) as (_, writer):
                head = post("/v2/models/add_sub/infer", b"", "Content-Type: application/json")
                writer.write(head.replace(b"Content-Length: 0", b"Content-Length: %d" % LIMIT))
                writer.write(b"[" * (LIMIT // 2))  # half the body, then the client is gone
                await writer.drain()
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.2)
        gc.collect()
        held = [o for o in gc.garbage if isinstance(o, list)]
        kept = sum(len(item) for o in held for item in o if isinstance(item, bytes))
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert kept < LIMIT // 8, f"{kept} bytes of cut-off bodies wait for the garbage collector"
    await assert_serving(server)


async def statistics(server: Server) -> dict:
    async with connect(server) as (reader, writer):
        writer.write(get("/v2/models/slow/stats"))
        answer = await read_answer(reader)
        return answer.json()["model_stats"][0]


async def assert_serving(server: Server) -> None:
    async with connect(server) as (reader, writer):
        writer.write(post("/v2/models/add_sub/infer", add_sub_body()))
        assert (await read_answer(reader)).status == 200
