"""The bare-gRPC limit: grpcio's thread-pool server (as modelport uses it) with V2 handlers
that decode, run onnxruntime and encode, and nothing else: no validation, statistics,
request ids or access control. What perf_analyzer needs answers (server and model
metadata, config); a plain HTTP thread answers ``/v2/health/live`` and the success count
at ``/v2/models/mlp/stats`` (the benchmark's CPU-per-request figure reads it).

The same handlers can run behind two other Python gRPC front ends, to measure them against
the thread pool (``benchmarks/grpc_frontends.py``): ``aio`` (grpcio's asyncio server, on
uvloop) and ``grpclib`` (pure-Python HTTP/2 on asyncio; ``pip install grpclib``).

Run: ``python benchmarks/bare_grpc.py MODEL.onnx PORT_FILE [threads|aio|grpclib]``.
"""

from __future__ import annotations

import http.server
import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import onnxruntime as ort
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from modelport.protocol._generated import grpc_service_pb2 as pb
from modelport.protocol._generated import grpc_service_pb2_grpc as pb_grpc

options = ort.SessionOptions()
options.intra_op_num_threads = options.inter_op_num_threads = 1
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
served = [0]


class Bare(pb_grpc.GRPCInferenceServiceServicer):
    def ServerLive(self, request: Any, context: Any) -> Any:
        return pb.ServerLiveResponse(live=True)

    def ServerReady(self, request: Any, context: Any) -> Any:
        return pb.ServerReadyResponse(ready=True)

    def ServerMetadata(self, request: Any, context: Any) -> Any:
        return pb.ServerMetadataResponse(name="bare", version="1")

    def ModelReady(self, request: Any, context: Any) -> Any:
        return pb.ModelReadyResponse(ready=True)

    def ModelMetadata(self, request: Any, context: Any) -> Any:
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name="mlp",
            versions=["1"],
            platform="onnxruntime_onnx",
            inputs=[tensor(name="input", datatype="FP32", shape=[-1, 784])],
            outputs=[tensor(name="probabilities", datatype="FP32", shape=[-1, 10])],
        )

    def ModelConfig(self, request: Any, context: Any) -> Any:
        config = pb.ModelConfig(name="mlp", max_batch_size=32, platform="onnxruntime_onnx")
        config.input.add(name="input", data_type=pb.TYPE_FP32, dims=[784])
        config.output.add(name="probabilities", data_type=pb.TYPE_FP32, dims=[10])
        return pb.ModelConfigResponse(config=config)

    def ModelInfer(self, request: Any, context: Any) -> Any:
        shape = tuple(request.inputs[0].shape)
        x = np.frombuffer(request.raw_input_contents[0], np.float32).reshape(shape)
        y = session.run(["probabilities"], {"input": x})[0]
        answer = pb.ModelInferResponse(model_name=request.model_name, id=request.id)
        answer.outputs.add(name="probabilities", datatype="FP32", shape=list(y.shape))
        answer.raw_output_contents.append(y.tobytes())
        served[0] += 1  # approximate across threads: only the CPU figure reads it
        return answer


class Stats(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        stats = {"inference_stats": {"success": {"count": served[0]}}}
        body = json.dumps({"model_stats": [stats]}).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def serve_threads() -> None:
    server = grpc.server(ThreadPoolExecutor(128), maximum_concurrent_rpcs=128)
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(Bare(), server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    announce(port)
    server.wait_for_termination()


METHODS: tuple[str, ...] = ("ServerLive", "ServerReady", "ServerMetadata", "ModelReady")
METHODS += ("ModelMetadata", "ModelConfig", "ModelInfer")


def serve_aio() -> None:
    """grpc.aio: the same handlers, each wrapped in a coroutine."""
    handlers = Bare()

    class AioBare(pb_grpc.GRPCInferenceServiceServicer):
        pass

    for name in METHODS:
        setattr(AioBare, name, _coroutine(getattr(handlers, name)))

    async def main() -> None:
        server = grpc.aio.server()
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(AioBare(), server)  # type: ignore[no-untyped-call]
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        announce(port)
        await server.wait_for_termination()

    uvloop.run(main())


def _coroutine(method: Any) -> Any:
    async def handler(self: Any, request: Any, context: Any) -> Any:
        return method(request, context)

    return handler


def serve_grpclib() -> None:
    """grpclib: the same handlers, mapped by path as grpclib's generated code would."""
    from grpclib.const import Cardinality, Handler  # type: ignore[import-not-found]
    from grpclib.server import Server  # type: ignore[import-not-found]

    handlers = Bare()
    service = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]

    def unary(name: str) -> Any:
        method = getattr(handlers, name)

        async def handle(stream: Any) -> None:
            await stream.send_message(method(await stream.recv_message(), None))

        rpc = service.methods_by_name[name]
        request, response = getattr(pb, rpc.input_type.name), getattr(pb, rpc.output_type.name)
        return Handler(handle, Cardinality.UNARY_UNARY, request, response)

    class Mapped:
        def __mapping__(self) -> dict[str, Any]:
            return {f"/{service.full_name}/{name}": unary(name) for name in METHODS}

    async def main() -> None:
        server = Server([Mapped()])
        await server.start("127.0.0.1", 0)
        announce(server._server.sockets[0].getsockname()[1])
        await server.wait_closed()

    uvloop.run(main())


def announce(grpc_port: int) -> None:
    """Start the stats thread and write both ports where the benchmark looks for them."""
    stats = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stats)
    threading.Thread(target=stats.serve_forever, daemon=True).start()
    Path(sys.argv[2]).write_text(json.dumps({"http": stats.server_port, "grpc": grpc_port}))


if __name__ == "__main__":
    frontend = sys.argv[3] if len(sys.argv) > 3 else "threads"
    {"threads": serve_threads, "aio": serve_aio, "grpclib": serve_grpclib}[frontend]()
