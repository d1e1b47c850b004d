"""The clouds' serving contracts, mapped onto the codecs modelport already has (sans-IO).

SageMaker's ``POST /invocations`` (and Azure ML's ``/score``) take whatever body a client of
modelport already sends: a V2 body, TF Serving's (``instances`` or ``inputs``), or the plain
``{"input": ...}`` (Azure's samples say ``{"data": ...}``: the same). Vertex AI's predict
route takes ``{"instances": [...], "parameters": {...}}`` and answers ``{"predictions":
[...], "deployedModelId": ...}``.
"""

from __future__ import annotations

from typing import Any, Literal

from modelport.errors import InvalidInput
from modelport.protocol import tfserving
from modelport.types import InferRequest, InferResponse, ModelMetadata

Kind = Literal["v2", "tfserving", "predict"]
MME_HEADER = "x-amzn-sagemaker-target-model"
"""SageMaker multi-model endpoints name the model in this header (``NAME`` or ``NAME.tar.gz``)."""


def body_kind(obj: Any) -> Kind:
    """Which protocol a JSON body speaks, from its shape."""
    if isinstance(obj, dict):
        inputs = obj.get("inputs")
        if isinstance(inputs, list) and inputs and all(_is_v2_tensor(i) for i in inputs):
            return "v2"
        if "instances" in obj or "inputs" in obj:
            return "tfserving"
        if "input" in obj or "data" in obj:
            return "predict"
    raise InvalidInput(
        'expected a V2 body ({"inputs": [{"name", "datatype", "shape", "data"}]}), '
        'TF Serving\'s ({"instances": [...]}) or {"input": ...}'
    )


def _is_v2_tensor(item: Any) -> bool:
    return isinstance(item, dict) and "datatype" in item


def as_plain(obj: dict[str, Any]) -> dict[str, Any]:
    """``{"data": x}`` (Azure's samples) as modelport's ``{"input": x}``."""
    return obj if "input" in obj else {"input": obj["data"]}


def target_model(header: str | None, default: str) -> str:
    return header.removesuffix(".tar.gz") if header else default


def decode_vertex(obj: Any, metadata: ModelMetadata, version: str) -> InferRequest:
    if not isinstance(obj, dict) or "instances" not in obj:
        raise InvalidInput('a Vertex AI prediction request is {"instances": [...]}')
    parameters = obj.get("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidInput("'parameters' must be an object")
    request, _ = tfserving.decode_predict({"instances": obj["instances"]}, metadata, version)
    return request


def encode_vertex(response: InferResponse, deployed_model_id: str) -> dict[str, Any]:
    predictions = tfserving.encode_predict(response, row=True)["predictions"]
    return {"predictions": predictions, "deployedModelId": deployed_model_id}
