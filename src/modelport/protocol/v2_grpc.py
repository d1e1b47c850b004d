"""Open Inference Protocol V2 over gRPC: protobuf messages ⇄ ``types`` objects.

Inputs arrive as ``raw_input_contents`` (what tritonclient sends) or typed contents;
outputs always leave as ``raw_output_contents``, the only form tritonclient reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from google.protobuf import json_format

from modelport.config import ModelConfig
from modelport.errors import InvalidInput
from modelport.protocol import v2_extensions
from modelport.protocol._generated import feedback_pb2 as fb
from modelport.protocol._generated import grpc_service_pb2 as pb
from modelport.protocol.v2_json import Label, checked_feedback, reject_duplicates
from modelport.tensor import (
    DataType,
    TensorSpec,
    array_from_buffer,
    array_from_list,
    array_to_bytes,
    checked_shape,
    datatype,
)
from modelport.types import (
    InferInput,
    InferOutput,
    InferRequest,
    InferResponse,
    ModelIndexEntry,
    ModelMetadata,
    RequestedOutput,
    ServerMetadata,
    VersionStats,
)

Scalar = str | int | float | bool


def parameters_of(params: Mapping[str, Any]) -> dict[str, Scalar]:
    """A protobuf ``map<string, InferParameter>`` (or repository parameter map) as a dict."""
    found: dict[str, Scalar] = {}
    if not params:
        return found
    for key, param in params.items():
        choice = param.WhichOneof("parameter_choice")
        if choice is not None:
            found[key] = getattr(param, choice)
    return found


def decode_infer_request(msg: pb.ModelInferRequest) -> InferRequest:
    raw = list(msg.raw_input_contents)
    if raw and len(raw) != len(msg.inputs):
        raise InvalidInput(
            f"raw_input_contents has {len(raw)} entries for {len(msg.inputs)} inputs; "
            "send every input raw or none"
        )
    inputs = tuple(_input(tensor, raw[i] if raw else None) for i, tensor in enumerate(msg.inputs))
    if len(inputs) > 1:
        reject_duplicates((tensor.name for tensor in inputs), "input")
    return InferRequest(
        model_name=msg.model_name,
        model_version=msg.model_version,
        id=msg.id,
        inputs=inputs,
        parameters=parameters_of(msg.parameters),
        outputs=_outputs(msg),
    )


def _input(tensor: pb.ModelInferRequest.InferInputTensor, raw: bytes | None) -> InferInput:
    what = f"input '{tensor.name}'"
    if not tensor.name:
        raise InvalidInput("every input needs a name")
    row = datatype(tensor.datatype)
    shape = checked_shape(list(tensor.shape), what)
    parameters = parameters_of(tensor.parameters)
    if raw is not None:
        if tensor.HasField("contents"):
            raise InvalidInput(f"{what}: has both typed contents and raw_input_contents")
        data = array_from_buffer(raw, row, shape, what)
    else:
        data = _typed(tensor.contents, row, shape, what)
    return InferInput(tensor.name, row.name, data, parameters)


def _typed(
    contents: pb.InferTensorContents, row: DataType, shape: tuple[int, ...], what: str
) -> np.ndarray:
    if row.contents_field is None:
        raise InvalidInput(f"{what}: {row.name} data must be sent in raw_input_contents")
    values = list(getattr(contents, row.contents_field))
    return array_from_list(values, row, shape, what)


def _outputs(msg: pb.ModelInferRequest) -> tuple[RequestedOutput, ...]:
    if not msg.outputs:
        return ()
    outputs = tuple(
        RequestedOutput(o.name, parameters=parameters_of(o.parameters)) for o in msg.outputs
    )
    reject_duplicates((o.name for o in outputs), "output")
    return outputs


def encode_infer_response(response: InferResponse) -> pb.ModelInferResponse:
    msg = pb.ModelInferResponse(
        model_name=response.model_name, model_version=response.model_version, id=response.id
    )
    for output in response.outputs:
        msg.outputs.add(name=output.name, datatype=output.datatype, shape=output.shape)
        msg.raw_output_contents.append(array_to_bytes(output.data))
    return msg


def server_metadata_response(meta: ServerMetadata) -> pb.ServerMetadataResponse:
    return pb.ServerMetadataResponse(
        name=meta.name, version=meta.version, extensions=meta.extensions
    )


def metadata_response(meta: ModelMetadata) -> pb.ModelMetadataResponse:
    tensor = pb.ModelMetadataResponse.TensorMetadata
    return pb.ModelMetadataResponse(
        name=meta.name,
        versions=meta.versions,
        platform=meta.platform,
        inputs=[tensor(name=s.name, datatype=s.datatype, shape=s.shape) for s in meta.inputs],
        outputs=[tensor(name=s.name, datatype=s.datatype, shape=s.shape) for s in meta.outputs],
    )


def model_config_response(meta: ModelMetadata, config: ModelConfig) -> pb.ModelConfigResponse:
    obj = v2_extensions.model_config_object(meta, config)
    return pb.ModelConfigResponse(config=json_format.ParseDict(obj, pb.ModelConfig()))


def statistics_response(entries: list[VersionStats]) -> pb.ModelStatisticsResponse:
    msg = pb.ModelStatisticsResponse()
    json_format.ParseDict(v2_extensions.statistics_object(entries), msg)
    return msg


def index_response(entries: list[ModelIndexEntry]) -> pb.RepositoryIndexResponse:
    index = pb.RepositoryIndexResponse.ModelIndex
    return pb.RepositoryIndexResponse(
        models=[
            index(name=e.name, version=e.version, state=e.state, reason=e.reason) for e in entries
        ]
    )


# --- the client's side ----------------------------------------------------------------


def infer_parameter(value: Scalar) -> pb.InferParameter:
    if isinstance(value, bool):
        return pb.InferParameter(bool_param=value)
    if isinstance(value, int):
        return pb.InferParameter(int64_param=value)
    if isinstance(value, float):
        return pb.InferParameter(double_param=value)
    return pb.InferParameter(string_param=str(value))


def encode_infer_request(request: InferRequest) -> pb.ModelInferRequest:
    """A ``ModelInferRequest`` with every input in ``raw_input_contents``."""
    msg = pb.ModelInferRequest(
        model_name=request.model_name, model_version=request.model_version, id=request.id
    )
    for key, value in request.parameters.items():
        msg.parameters[key].CopyFrom(infer_parameter(value))
    for tensor in request.inputs:
        msg.inputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
        msg.raw_input_contents.append(array_to_bytes(tensor.data))
    for output in request.outputs:
        added = msg.outputs.add(name=output.name)
        for key, value in output.parameters.items():
            added.parameters[key].CopyFrom(infer_parameter(value))
    return msg


def decode_infer_response(msg: pb.ModelInferResponse) -> InferResponse:
    raw = list(msg.raw_output_contents)
    outputs = []
    for i, tensor in enumerate(msg.outputs):
        row = datatype(tensor.datatype)
        shape = checked_shape(list(tensor.shape), f"output '{tensor.name}'")
        data = (
            array_from_buffer(raw[i], row, shape, tensor.name)
            if i < len(raw)
            else _typed(tensor.contents, row, shape, tensor.name)
        )
        outputs.append(InferOutput(tensor.name, row.name, data))
    return InferResponse(
        msg.model_name, msg.model_version, tuple(outputs), msg.id, parameters_of(msg.parameters)
    )


def decode_metadata(msg: pb.ModelMetadataResponse) -> ModelMetadata:
    def specs(items: Any) -> tuple[TensorSpec, ...]:
        return tuple(TensorSpec(t.name, t.datatype, tuple(t.shape)) for t in items)

    return ModelMetadata(
        msg.name, msg.platform, specs(msg.inputs), specs(msg.outputs), tuple(msg.versions)
    )


def decode_feedback(request: fb.ModelFeedbackRequest) -> tuple[str, list[Label]]:
    """modelport.v1.Feedback's request: the request id and one label per row."""
    labels = []
    for label in request.labels:
        kind = label.WhichOneof("value")
        if kind is None:
            raise InvalidInput("each label sets one value: a string, an int, a double or a bool")
        labels.append(getattr(label, kind))
    return checked_feedback(request.id, labels)


def feedback_response(request_id: str, joined: bool) -> fb.ModelFeedbackResponse:
    return fb.ModelFeedbackResponse(id=request_id, joined=joined)


def encode_feedback(model: str, request_id: str, labels: list[Label]) -> fb.ModelFeedbackRequest:
    """The client's side of :func:`decode_feedback`."""
    return fb.ModelFeedbackRequest(
        model_name=model, id=request_id, labels=[_label(v) for v in labels]
    )


def _label(value: Label) -> fb.Label:
    if isinstance(value, bool):
        return fb.Label(bool_value=value)
    if isinstance(value, int):
        return fb.Label(int64_value=value)
    if isinstance(value, float):
        return fb.Label(double_value=value)
    return fb.Label(string_value=str(value))
