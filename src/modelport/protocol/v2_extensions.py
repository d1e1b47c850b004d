"""Triton's extensions as JSON-form dicts: model configuration and statistics.

REST sends these dicts as they are; gRPC parses the same dicts into protobuf messages
(``v2_grpc``), so both protocols report one thing.
"""

from __future__ import annotations

from typing import Any

from modelport.config import ModelConfig, VersionPolicy
from modelport.tensor import TensorSpec
from modelport.types import Duration, ModelMetadata, VersionStats

BACKENDS = {"onnxruntime_onnx": "onnxruntime"}


def config_datatype(datatype: str) -> str:
    """V2 datatype → Triton's model-config enum name (BYTES is TYPE_STRING there)."""
    return "TYPE_STRING" if datatype == "BYTES" else f"TYPE_{datatype}"


def model_config_object(metadata: ModelMetadata, config: ModelConfig) -> dict[str, Any]:
    """Triton's ModelConfig (JSON form) for a loaded model."""
    batched = metadata.max_batch_size > 0
    labels = {config_name(name, metadata): f for name, f in config.label_files.items()}
    return {
        "name": metadata.name,
        "platform": metadata.platform,
        "backend": BACKENDS.get(metadata.platform, ""),
        "version_policy": _policy(config.version_policy),
        "max_batch_size": metadata.max_batch_size,
        "input": [{**_tensor(spec, batched), "format": "FORMAT_NONE"} for spec in metadata.inputs],
        "output": [
            {**_tensor(spec, batched), "label_filename": labels.get(spec.name, "")}
            for spec in metadata.outputs
        ],
        "instance_group": [{"name": f"{metadata.name}_0", "kind": "KIND_CPU", "count": 1}],
        "default_model_filename": config.default_model_filename or "model.onnx",
        "parameters": {k: {"string_value": str(v)} for k, v in config.parameters.items()},
    }


def config_name(output: str, metadata: ModelMetadata) -> str:
    """Label files keyed "" belong to the first output."""
    return output or metadata.outputs[0].name


def _tensor(spec: TensorSpec, batched: bool) -> dict[str, Any]:
    dims = list(spec.shape[1:] if batched and spec.shape else spec.shape)
    return {"name": spec.name, "data_type": config_datatype(spec.datatype), "dims": dims}


def _policy(policy: VersionPolicy) -> dict[str, Any]:
    if policy.kind == "all":
        return {"all": {}}
    if policy.kind == "specific":
        return {"specific": {"versions": list(policy.versions)}}
    return {"latest": {"num_versions": policy.num_versions}}


def statistics_object(entries: list[VersionStats]) -> dict[str, Any]:
    """``{"model_stats": [...]}`` as Triton's statistics extension reports it."""
    return {"model_stats": [_model_stats(entry) for entry in entries]}


def _model_stats(entry: VersionStats) -> dict[str, Any]:
    s = entry.stats
    durations = {
        "success": s.success,
        "fail": s.fail,
        "queue": s.queue,
        "compute_input": s.compute_input,
        "compute_infer": s.compute_infer,
        "compute_output": s.compute_output,
        "cache_hit": Duration(),
        "cache_miss": Duration(),
    }
    return {
        "name": entry.name,
        "version": entry.version,
        "last_inference": s.last_inference_ms,
        "inference_count": s.inference_count,
        "execution_count": s.execution_count,
        "inference_stats": {k: {"count": d.count, "ns": d.ns} for k, d in durations.items()},
        "batch_stats": [],
    }
