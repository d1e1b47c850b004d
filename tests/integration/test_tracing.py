"""OpenTelemetry traces: a request's SERVER span continues the caller's W3C traceparent
(HTTP header or gRPC metadata) with queue and compute children, a batch is a span linked to
every request in it; spans reach an OTLP receiver started here; off unless OTEL_* asks."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import grpc
import httpx2
import pytest

pytest.importorskip("opentelemetry.sdk")
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from modelport.protocol._generated import grpc_service_pb2 as pb
from modelport.protocol._generated import grpc_service_pb2_grpc as pb_grpc
from modelport.server import Server
from modelport.settings import Settings
from modelport.tracing import Tracing, wanted

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE}-{PARENT}-01"
ADD = {
    "inputs": [
        {"name": n, "datatype": "FP32", "shape": [2, 4], "data": list(range(8))} for n in "ab"
    ]
}


@pytest.fixture
async def traced(repository: Path) -> AsyncIterator[tuple[Server, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    server = Server(Settings(model_repositories=(str(repository),), http_port=0, grpc_port=0))
    server.tracing = Tracing(provider.get_tracer("test"), provider)
    await server.start()
    yield server, exporter
    await server.stop()


def _by_name(exporter: InMemorySpanExporter) -> dict[str, list]:
    found: dict[str, list] = {}
    for span in exporter.get_finished_spans():
        found.setdefault(span.name, []).append(span)
    return found


async def test_a_rest_request_continues_the_callers_trace(traced) -> None:
    server, exporter = traced
    async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}") as http:
        answer = await http.post(
            "/v2/models/add_sub/infer", json=ADD, headers={"traceparent": TRACEPARENT}
        )
    assert answer.status_code == 200
    spans = _by_name(exporter)
    (request,) = spans["/v2/models/{model}/infer"]
    assert format(request.context.trace_id, "032x") == TRACE
    assert format(request.parent.span_id, "016x") == PARENT
    assert request.attributes["modelport.model"] == "add_sub"
    assert request.attributes["modelport.version"] == "1"
    assert request.attributes["http.response.status_code"] == 200
    for child in ("queue", "compute"):
        (span,) = spans[child]
        assert span.parent.span_id == request.context.span_id
        assert span.context.trace_id == request.context.trace_id
        assert request.start_time <= span.start_time <= span.end_time <= request.end_time


async def test_a_batch_span_links_every_request_in_it(traced) -> None:
    server, exporter = traced
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}]}
    async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}") as http:
        answers = await asyncio.gather(
            *(http.post("/v2/models/batched/infer", json=body) for _ in range(12))
        )
    assert {a.status_code for a in answers} == {200}
    spans = _by_name(exporter)
    requests = {s.context.span_id for s in spans["/v2/models/{model}/infer"]}
    batches = spans["batch"]
    linked = [link.context.span_id for batch in batches for link in batch.links]
    assert sorted(linked) == sorted(requests)  # every request in exactly one batch
    assert sum(b.attributes["modelport.batch.rows"] for b in batches) == 12


async def test_a_grpc_call_continues_the_trace_in_its_metadata(traced) -> None:
    server, exporter = traced
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        request = pb.ModelInferRequest(model_name="identity_fp32")
        tensor = request.inputs.add(name="input", datatype="FP32", shape=[1, 2])
        tensor.contents.fp32_contents.extend([1.0, 2.0])
        await stub.ModelInfer(request, metadata=(("traceparent", TRACEPARENT),))
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.ModelInfer(pb.ModelInferRequest(model_name="nope"))
    calls = _by_name(exporter)["ModelInfer"]
    ok = next(s for s in calls if s.attributes["rpc.grpc.status_code"] == "OK")
    assert format(ok.context.trace_id, "032x") == TRACE
    missing = next(s for s in calls if s.attributes["rpc.grpc.status_code"] == "NOT_FOUND")
    assert format(missing.context.trace_id, "032x") != TRACE  # no traceparent: a new trace


class _Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        _Receiver.bodies.append(self.rfile.read(int(self.headers["content-length"])))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(trace_service_pb2.ExportTraceServiceResponse().SerializeToString())

    def log_message(self, *_: object) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[str]:
    """An OTLP/HTTP trace receiver on 127.0.0.1."""
    _Receiver.bodies = []
    http = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_address[1]}/v1/traces"
    http.shutdown()
    http.server_close()
    thread.join(5)


async def test_spans_go_over_otlp_as_the_environment_says(
    repository: Path, receiver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "modelport-under-test")
    server = Server(Settings(model_repositories=(str(repository),), http_port=0, allow_grpc=False))
    assert server.tracing is not None
    await server.start()
    async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{server.http_port}") as http:
        await http.post("/v2/models/add_sub/infer", json=ADD, headers={"traceparent": TRACEPARENT})
    await server.stop()  # flushes the exporter
    exported = trace_service_pb2.ExportTraceServiceRequest()
    names, services = set(), set()
    for body in _Receiver.bodies:
        exported.ParseFromString(body)
        for resource in exported.resource_spans:
            attrs = {a.key: a.value.string_value for a in resource.resource.attributes}
            services.add(attrs.get("service.name"))
            for scope in resource.scope_spans:
                names |= {span.name for span in scope.spans if span.trace_id.hex() == TRACE}
    assert {"/v2/models/{model}/infer", "queue", "compute"} <= names
    assert services == {"modelport-under-test"}


def test_tracing_is_off_unless_the_environment_asks() -> None:
    assert not wanted({})
    assert not wanted({"OTEL_SERVICE_NAME": "x"})
    assert not wanted({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"})
    assert not wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_SDK_DISABLED": "true"})
    assert wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert wanted({"OTEL_TRACES_EXPORTER": "console"})
    assert Server(Settings()).tracing is None
