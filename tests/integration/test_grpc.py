"""V2 gRPC in process: a real grpc.aio server on 127.0.0.1:0 and the generated stubs."""

from __future__ import annotations

import struct

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from modelport.protocol._generated import grpc_service_pb2 as pb
from modelport.protocol._generated import grpc_service_pb2_grpc as pb_grpc

Stub = pb_grpc.GRPCInferenceServiceStub


@pytest.fixture
def stub(grpc_channel: grpc.aio.Channel) -> Stub:
    return Stub(grpc_channel)


def add_sub_request(a: np.ndarray, b: np.ndarray, **fields: object) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="add_sub", **fields)
    for name, array in (("a", a), ("b", b)):
        request.inputs.add(name=name, datatype="FP32", shape=array.shape)
        request.raw_input_contents.append(array.astype(np.float32).tobytes())
    return request


def outputs(response: pb.ModelInferResponse) -> dict[str, np.ndarray]:
    return {
        o.name: np.frombuffer(raw, np.float32).reshape(tuple(o.shape))
        for o, raw in zip(response.outputs, response.raw_output_contents, strict=True)
    }


async def test_health_and_metadata(stub: Stub) -> None:
    assert (await stub.ServerLive(pb.ServerLiveRequest())).live
    assert not (await stub.ServerReady(pb.ServerReadyRequest())).ready  # a broken model
    assert (await stub.ModelReady(pb.ModelReadyRequest(name="add_sub"))).ready
    meta = await stub.ModelMetadata(pb.ModelMetadataRequest(name="add_sub"))
    assert (meta.name, meta.platform, list(meta.versions)) == ("add_sub", "onnxruntime_onnx", ["1"])
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.inputs] == [
        ("a", "FP32", [-1, 4]),
        ("b", "FP32", [-1, 4]),
    ]
    server = await stub.ServerMetadata(pb.ServerMetadataRequest())
    assert server.name == "modelport" and "statistics" in server.extensions


async def test_infer_raw_contents(stub: Stub) -> None:
    a, b = np.arange(8).reshape(2, 4), np.ones((2, 4))
    response = await stub.ModelInfer(add_sub_request(a, b, id="g1"))
    assert (response.id, response.model_name, response.model_version) == ("g1", "add_sub", "1")
    got = outputs(response)
    assert np.array_equal(got["sum"], a + b) and np.array_equal(got["diff"], a - b)


async def test_infer_typed_contents_and_output_subset(stub: Stub) -> None:
    request = pb.ModelInferRequest(model_name="add_sub")
    for name in "ab":
        tensor = request.inputs.add(name=name, datatype="FP32", shape=[1, 4])
        tensor.contents.fp32_contents.extend([1, 2, 3, 4])
    request.outputs.add(name="diff")
    response = await stub.ModelInfer(request)
    assert [o.name for o in response.outputs] == ["diff"]
    assert outputs(response)["diff"].tolist() == [[0, 0, 0, 0]]


async def test_bytes_and_int_types(stub: Stub) -> None:
    request = pb.ModelInferRequest(model_name="identity_bytes")
    request.inputs.add(name="input", datatype="BYTES", shape=[1, 2])
    raw = struct.pack("<I", 2) + b"hi" + struct.pack("<I", 3) + b"yo!"
    request.raw_input_contents.append(raw)
    response = await stub.ModelInfer(request)
    assert response.raw_output_contents[0] == raw
    typed = pb.ModelInferRequest(model_name="identity_int8")
    typed.inputs.add(name="input", datatype="INT8", shape=[1, 2]).contents.int_contents.extend(
        [-5, 7]
    )
    out = await stub.ModelInfer(typed)
    assert np.frombuffer(out.raw_output_contents[0], np.int8).tolist() == [-5, 7]


def bad(**changes: object) -> pb.ModelInferRequest:
    request = add_sub_request(np.zeros((1, 4)), np.zeros((1, 4)))
    for key, value in changes.items():
        if key == "raw":
            del request.raw_input_contents[:]
            request.raw_input_contents.extend(value)  # type: ignore[arg-type]
        else:
            setattr(request, key, value)
    return request


def typed_int8(values: list[int]) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="identity_int8")
    request.inputs.add(name="input", datatype="INT8", shape=[1, len(values)])
    request.inputs[0].contents.int_contents.extend(values)
    return request


def fp16_typed() -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="identity_fp16")
    request.inputs.add(name="input", datatype="FP16", shape=[1, 1])
    return request


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [
        (bad(model_name="nope"), grpc.StatusCode.NOT_FOUND, "unknown model 'nope'"),
        (bad(model_name="broken"), grpc.StatusCode.UNAVAILABLE, "not ready"),
        (bad(model_version="9"), grpc.StatusCode.NOT_FOUND, "unknown version 9"),
        (bad(raw=[b"\0" * 16]), grpc.StatusCode.INVALID_ARGUMENT, "raw_input_contents has 1"),
        (
            bad(raw=[b"\0" * 16, b"\0" * 12]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "expected 16 bytes of FP32 data for shape [1, 4], got 12",
        ),
        (typed_int8([300]), grpc.StatusCode.INVALID_ARGUMENT, "out of range for INT8"),
        (fp16_typed(), grpc.StatusCode.INVALID_ARGUMENT, "must be sent in raw_input_contents"),
    ],
)
async def test_bad_requests_get_precise_status(
    stub: Stub, request_: pb.ModelInferRequest, code: grpc.StatusCode, message: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ModelInfer(request_)
    assert caught.value.code() == code
    assert message in caught.value.details()
    assert (await stub.ServerLive(pb.ServerLiveRequest())).live


async def test_huge_shape_and_message_limit(stub: Stub) -> None:
    request = add_sub_request(np.zeros((1, 4)), np.zeros((1, 4)))
    request.inputs[0].shape[:] = [16, 2**60 + 2]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ModelInfer(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    big = add_sub_request(np.zeros((1, 300_000)), np.zeros((1, 4)))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ModelInfer(big)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_stream_answers_each_request_and_reports_errors_in_band(stub: Stub) -> None:
    requests = [add_sub_request(np.full((1, 4), i), np.ones((1, 4)), id=f"r{i}") for i in range(20)]
    requests.insert(5, bad(model_name="nope", id="bad"))
    answers = [answer async for answer in stub.ModelStreamInfer(iter(requests))]
    assert len(answers) == 21
    errors = [a.error_message for a in answers if a.error_message]
    assert errors == ["unknown model 'nope'"]
    by_id = {a.infer_response.id: a.infer_response for a in answers if not a.error_message}
    for i in range(20):
        assert outputs(by_id[f"r{i}"])["sum"].tolist() == [[i + 1] * 4]


async def test_config_statistics_index_and_control(stub: Stub) -> None:
    config = (await stub.ModelConfig(pb.ModelConfigRequest(name="add_sub"))).config
    assert (config.name, config.max_batch_size) == ("add_sub", 1024)
    assert config.input[0].data_type == pb.TYPE_FP32 and list(config.input[0].dims) == [4]
    await stub.ModelInfer(add_sub_request(np.zeros((1, 4)), np.zeros((1, 4))))
    stats = await stub.ModelStatistics(pb.ModelStatisticsRequest(name="add_sub"))
    assert stats.model_stats[0].inference_stats.queue.count >= 1
    index = await stub.RepositoryIndex(pb.RepositoryIndexRequest())
    assert {m.name for m in index.models} >= {"add_sub", "broken"}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="add_sub"))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_health_service_and_reflection(grpc_channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(grpc_channel)
    check = await health.Check(health_pb2.HealthCheckRequest(service=""))
    assert check.status == health_pb2.HealthCheckResponse.SERVING
    reflect = reflection_pb2_grpc.ServerReflectionStub(grpc_channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    answers = [a async for a in reflect.ServerReflectionInfo(iter([request]))]
    names = {s.name for s in answers[0].list_services_response.service}
    assert "inference.GRPCInferenceService" in names and "grpc.health.v1.Health" in names
    assert "modelport.v1.Feedback" in names
    described = reflection_pb2.ServerReflectionRequest(
        file_containing_symbol="modelport.v1.Feedback"
    )
    answers = [a async for a in reflect.ServerReflectionInfo(iter([described]))]
    assert answers[0].file_descriptor_response.file_descriptor_proto  # grpcurl can call it
