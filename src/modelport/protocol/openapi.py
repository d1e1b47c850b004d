"""The OpenAPI 3.1 document of a running server, from the loaded models' signatures.

Each model gets its own V2 ``infer`` path, with a request schema that names its real inputs
(datatype, shape, an example of the right size), its ``/predict`` path and TF Serving's
``:predict``; health, metadata and the repository index are listed once. Sans-IO: a dict in,
a dict out; the console serves it at ``/openapi.json`` and Swagger UI reads it at ``/docs``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from modelport.tensor import TensorSpec
from modelport.types import ModelMetadata

JSON = "application/json"
_NUMBER_KINDS = {"BOOL": "boolean", "BYTES": "string"}
_EXAMPLE_ELEMENTS = 4096
"""Examples stop at this many elements (a 224x224x3 image would fill the page)."""


def document(models: Iterable[ModelMetadata], version: str) -> dict[str, Any]:
    paths: dict[str, Any] = dict(_server_paths())
    for model in models:
        paths.update(_model_paths(model))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "modelport",
            "version": version,
            "description": "The Open Inference Protocol (V2), /predict and TF Serving's REST "
            "API for the models this server has loaded.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": _object({"error": {"type": "string"}})},
        },
        "security": [{}, {"apiKey": []}],
    }


def _server_paths() -> dict[str, Any]:
    return {
        "/v2/health/live": {"get": _get("Liveness", "health")},
        "/v2/health/ready": {"get": _get("Readiness (every model ready)", "health")},
        "/v2": {"get": _get("Server metadata", "server")},
        "/v2/models": {"get": _get("Every model version with its state and signature", "server")},
        "/v2/repository/index": {"post": _get("The repository index", "server")},
    }


def _model_paths(model: ModelMetadata) -> dict[str, Any]:
    base = f"/v2/models/{model.name}"
    tag = model.name
    return {
        base: {"get": _get(f"Metadata of {model.name}", tag)},
        f"{base}/ready": {"get": _get(f"Whether {model.name} is ready", tag)},
        f"{base}/infer": {"post": _infer(model, tag)},
        f"/models/{model.name}/predict": {"post": _predict(model, tag)},
        f"/v1/models/{model.name}:predict": {"post": _tf_predict(model, tag)},
    }


def _get(summary: str, tag: str) -> dict[str, Any]:
    return {"summary": summary, "tags": [tag], "responses": _responses(None)}


def _infer(model: ModelMetadata, tag: str) -> dict[str, Any]:
    inputs = [_v2_tensor(spec, model.max_batch_size) for spec in model.inputs]
    example = {"inputs": [_v2_example(spec, model.max_batch_size) for spec in model.inputs]}
    body = _object(
        {"id": {"type": "string"}, "inputs": {"type": "array", "prefixItems": inputs}},
        required=["inputs"],
    )
    outputs = [_v2_tensor(spec, model.max_batch_size) for spec in model.outputs]
    answer = _object(
        {
            "model_name": {"const": model.name},
            "model_version": {"type": "string"},
            "outputs": {"type": "array", "prefixItems": outputs},
        }
    )
    return {
        "summary": f"Infer with {model.name} (Open Inference Protocol V2)",
        "tags": [tag],
        "requestBody": _body(body, example),
        "responses": _responses(answer),
    }


def _predict(model: ModelMetadata, tag: str) -> dict[str, Any]:
    if len(model.inputs) == 1:  # one input: its values; several: an object of them by name
        value: Any = _values(model.inputs[0], model.max_batch_size)
    else:
        value = {spec.name: _values(spec, model.max_batch_size) for spec in model.inputs}
    body = _object({"input": {"type": ["array", "object"]}}, required=["input"])
    return {
        "summary": f"Plain JSON: {{'input': ...}} → {{'output': ...}} with {model.name}",
        "tags": [tag],
        "requestBody": _body(body, {"input": value}),
        "responses": _responses(_object({"output": {"type": "array"}})),
    }


def _tf_predict(model: ModelMetadata, tag: str) -> dict[str, Any]:
    example = {"inputs": {s.name: _values(s, model.max_batch_size) for s in model.inputs}}
    body = _object({"instances": {"type": "array"}, "inputs": {}})
    return {
        "summary": f"TensorFlow Serving's predict API with {model.name}",
        "tags": [tag],
        "requestBody": _body(body, example),
        "responses": _responses(_object({"predictions": {}, "outputs": {}})),
    }


def _v2_tensor(spec: TensorSpec, max_batch: int) -> dict[str, Any]:
    return _object(
        {
            "name": {"const": spec.name},
            "datatype": {"const": spec.datatype},
            "shape": {"type": "array", "items": {"type": "integer"}},
            "data": {"type": "array", "items": {"type": _kind(spec.datatype)}},
        },
        required=["name", "datatype", "shape", "data"],
        description=f"shape {list(_shape(spec, max_batch, -1))} (-1: any size)",
    )


def _v2_example(spec: TensorSpec, max_batch: int) -> dict[str, Any]:
    shape = _shape(spec, max_batch, 1)
    count = math.prod(shape)
    return {
        "name": spec.name,
        "datatype": spec.datatype,
        "shape": list(shape),
        "data": [_zero(spec.datatype)] * min(count, _EXAMPLE_ELEMENTS),
    }


def _values(spec: TensorSpec, max_batch: int) -> Any:
    """A nested list of zeros in the tensor's shape (variable dimensions as 1)."""
    shape = _shape(spec, max_batch, 1)
    if math.prod(shape) > _EXAMPLE_ELEMENTS:
        return []
    value: Any = _zero(spec.datatype)
    for size in reversed(shape):
        value = [value] * size
    return value


def _shape(spec: TensorSpec, max_batch: int, variable: int) -> tuple[int, ...]:
    return tuple(variable if dim < 0 else dim for dim in spec.shape)


def _zero(datatype: str) -> Any:
    return {"BOOL": False, "BYTES": ""}.get(datatype, 0)


def _kind(datatype: str) -> str:
    return _NUMBER_KINDS.get(datatype, "number")


def _object(
    properties: dict[str, Any], required: list[str] | None = None, description: str = ""
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if description:
        schema["description"] = description
    return schema


def _body(schema: dict[str, Any], example: Any) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": schema, "example": example}}}


def _responses(answer: dict[str, Any] | None) -> dict[str, Any]:
    error = {"content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}
    ok: dict[str, Any] = {"description": "OK"}
    if answer is not None:
        ok["content"] = {JSON: {"schema": answer}}
    return {
        "200": ok,
        "400": {"description": "Invalid request", **error},
        "404": {"description": "Unknown model", **error},
        "503": {"description": "Not ready, or overloaded", **error},
    }
