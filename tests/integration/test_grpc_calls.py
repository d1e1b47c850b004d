"""gRPC calls on the thread-pool server: a client that gives up has its request dropped,
unary or streamed (RELIABILITY R10), and calls beyond the limit are refused at once (R8)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import numpy as np
import pytest

from modelport.grpc.server import GrpcServer
from modelport.protocol._generated import grpc_service_pb2 as pb
from modelport.protocol._generated import grpc_service_pb2_grpc as pb_grpc
from modelport.server import Server
from modelport.settings import Settings
from tests import models

MAX_CALLS = 3


@pytest.fixture(scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Server, int]]:
    root = tmp_path_factory.mktemp("grpc-calls")
    models.slow_model(root / "slow")
    server = Server(Settings(model_repositories=(str(root),)))
    await server.load_models()
    grpc_server = GrpcServer(server.dataplane, max_message_bytes=1 << 20, max_calls=MAX_CALLS)
    port = await grpc_server.start("127.0.0.1", 0)
    yield server, port
    await grpc_server.stop(1)
    await server.stop()


def request(seconds: float) -> pb.ModelInferRequest:
    x = np.array([[seconds]], np.float32)
    tensor = pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP32", shape=[1, 1])
    return pb.ModelInferRequest(
        model_name="slow", inputs=[tensor], raw_input_contents=[x.tobytes()]
    )


def counts(server: Server) -> tuple[int, int]:
    stats = server.registry.get("slow").stats
    return stats.inference_count, stats.execution_count


async def test_a_cancelled_call_is_dropped_from_the_queue(served: tuple[Server, int]) -> None:
    server, port = served
    before = counts(server)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        first = stub.ModelInfer(request(0.4))  # runs on the one instance
        await asyncio.sleep(0.1)
        second = stub.ModelInfer(request(0.01))  # waits in the queue
        await asyncio.sleep(0.05)
        second.cancel()
        answer = await first
        assert np.frombuffer(answer.raw_output_contents[0], np.float32)[0] == pytest.approx(0.8)
    await asyncio.sleep(0.2)
    assert tuple(a - b for a, b in zip(counts(server), before, strict=True)) == (1, 1)
    assert server.registry.get("slow").inflight == 0


async def test_a_cancelled_stream_drops_its_queued_requests(served: tuple[Server, int]) -> None:
    server, port = served
    before = counts(server)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        blocker = stub.ModelInfer(request(0.4))
        await asyncio.sleep(0.1)
        stream = stub.ModelStreamInfer()
        for _ in range(3):
            await stream.write(request(0.01))
        await asyncio.sleep(0.05)
        stream.cancel()
        await blocker
    await asyncio.sleep(0.3)
    assert tuple(a - b for a, b in zip(counts(server), before, strict=True)) == (1, 1)
    assert server.registry.get("slow").inflight == 0


async def test_calls_beyond_the_limit_are_refused_at_once(served: tuple[Server, int]) -> None:
    _, port = served
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        streams = [stub.ModelStreamInfer() for _ in range(MAX_CALLS)]  # each holds a call
        for stream in streams:
            await stream.write(request(0.0))
            await stream.read()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ModelInfer(request(0.0), timeout=5)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        await streams[0].done_writing()
        assert await streams[0].read() == grpc.aio.EOF
        await asyncio.sleep(0.1)
        answer = await stub.ModelInfer(request(0.0), timeout=5)  # a slot is free again
        assert np.frombuffer(answer.raw_output_contents[0], np.float32)[0] == 0.0
        for stream in streams[1:]:
            stream.cancel()
