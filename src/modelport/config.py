"""Per-model configuration files: ``ModelConfig`` is the optional
``config.yaml``/``config.json`` beside a model's version directories (server settings are
in ``settings.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from modelport.errors import InvalidInput
from modelport.tensor import TensorSpec, datatype


class ConfigError(ValueError):
    """A model's config file is malformed; the model is unavailable with this reason."""


@dataclass(frozen=True)
class VersionPolicy:
    kind: str = "latest"  # latest | all | specific
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def select(self, available: list[int]) -> list[int]:
        ordered = sorted(available)
        if self.kind == "all":
            return ordered
        if self.kind == "specific":
            return [v for v in ordered if v in self.versions]
        return ordered[-self.num_versions :]


DEFAULT_MAX_QUEUE_SIZE = 1024


@dataclass(frozen=True)
class DynamicBatching:
    """config.yaml's ``dynamic_batching`` block, with Triton's names."""

    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_delay_us: int = 0
    preserve_ordering: bool = False
    max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE  # 0: unbounded, as Triton
    default_timeout_us: int = 0
    latency_slo_ms: float = 0.0
    """0: the delay and batch size are fixed; else the batcher tunes them to keep p99 under it."""


@dataclass(frozen=True)
class RequestLogging:
    """config.yaml's ``logging`` block: a sample of the requests, with their inputs and
    outputs, written off the request path (``requestlog.py``)."""

    sink: str
    """A folder, or an fsspec URL (``s3://bucket/prefix``)."""
    sample: float = 1.0
    inputs: bool = True
    outputs: bool = True
    format: str = "jsonl"
    """``jsonl`` or ``parquet`` (needs pyarrow: ``modelport[parquet]``)."""
    drift: DriftWatch | None = None
    """None: no drift figures."""


@dataclass(frozen=True)
class DriftWatch:
    """``logging.drift``: compare the logged requests with a reference (``drift.py``)."""

    profile: str = ""
    """A profile file in the model directory (``modelport profile-data``); empty: use
    ``profile.json`` there when it exists, else the first ``reference_rows`` rows."""
    window: int = 1000
    """Rows (of the sampled requests) the live figures are computed over."""
    reference_rows: int = 1000


@dataclass(frozen=True)
class ModelConfig:
    name: str = ""
    platform: str = ""
    max_batch_size: int | None = None
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    version_policy: VersionPolicy = field(default_factory=VersionPolicy)
    label_files: Mapping[str, str] = field(default_factory=dict)
    """Output name → labels file (one label per line), relative to the model directory."""
    default_model_filename: str = ""
    parameters: Mapping[str, str | int | float | bool] = field(default_factory=dict)
    version_labels: Mapping[str, int] = field(default_factory=dict)
    """TF Serving's version labels, e.g. ``{stable: 1, canary: 2}``."""
    dynamic_batching: DynamicBatching | None = None
    instance_count: int = 1
    """Batches (or requests) of this model that may run at once (``instance_group.count``)."""
    trusted_sha256: tuple[str, ...] = ()
    """SHA-256 digests of artifacts that may run code when loaded (see ``--allow-pickle``)."""
    request_logging: RequestLogging | None = None
    """None: this model's requests are never recorded (the default; say so for health data)."""


CONFIG_FILES = ("config.yaml", "config.yml", "config.json")
_KEYS = {
    "name", "platform", "backend", "max_batch_size", "input", "inputs", "output", "outputs",
    "version_policy", "label_file", "default_model_filename", "parameters", "version_labels",
    "dynamic_batching", "instance_group", "trusted_sha256", "logging",
}  # fmt: skip


def load_model_config(model_dir: Path) -> ModelConfig:
    """The model's config file, or defaults when it has none."""
    for name in CONFIG_FILES:
        path = model_dir / name
        if path.is_file():
            return parse_model_config(path.read_text(encoding="utf-8"), name)
    return ModelConfig()


def parse_model_config(text: str, filename: str) -> ModelConfig:
    try:
        if filename.endswith(".json"):
            raw = json.loads(text, object_pairs_hook=_unique_pairs)
        else:
            raw = yaml.load(text, Loader=_UniqueKeyLoader)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{filename}: {exc}") from exc
    if raw is None:
        return ModelConfig()
    if not isinstance(raw, dict):
        raise ConfigError(f"{filename}: expected a mapping at the top level")
    return _model_config(raw, filename)


def _model_config(raw: dict[str, Any], filename: str) -> ModelConfig:
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigError(f"{filename}: unknown keys {unknown}; known keys are {sorted(_KEYS)}")
    outputs = raw.get("outputs", raw.get("output", []))
    return ModelConfig(
        name=_optional_str(raw, "name", filename),
        platform=_optional_str(raw, "platform", filename)
        or _optional_str(raw, "backend", filename),
        max_batch_size=_max_batch(raw.get("max_batch_size"), filename),
        inputs=_specs(raw.get("inputs", raw.get("input", [])), filename),
        outputs=_specs(outputs, filename),
        version_policy=_version_policy(raw.get("version_policy"), filename),
        label_files=_label_files(raw, outputs, filename),
        default_model_filename=_optional_str(raw, "default_model_filename", filename),
        parameters=_parameters(raw.get("parameters", {}), filename),
        version_labels=_version_labels(raw.get("version_labels", {}), filename),
        dynamic_batching=_dynamic_batching(raw.get("dynamic_batching"), filename),
        instance_count=_instance_count(raw.get("instance_group"), filename),
        trusted_sha256=_digests(raw.get("trusted_sha256", []), filename),
        request_logging=_request_logging(raw.get("logging"), filename),
    )


_LOGGING_KEYS = {"sink", "sample", "inputs", "outputs", "format", "drift"}
_DRIFT_KEYS = {"profile", "window", "reference_rows"}


def _request_logging(value: Any, filename: str) -> RequestLogging | None:
    if value is None or value is False:
        return None
    if not isinstance(value, dict) or set(value) - _LOGGING_KEYS or "sink" not in value:
        raise ConfigError(
            f"{filename}: logging takes sink (required), sample, inputs, outputs, format, drift"
        )
    sink, sample = value["sink"], value.get("sample", 1.0)
    if not isinstance(sink, str) or not sink:
        raise ConfigError(f"{filename}: logging.sink must be a folder or a URL")
    if type(sample) not in (int, float) or not 0 < sample <= 1:
        raise ConfigError(f"{filename}: logging.sample is a fraction in (0, 1], got {sample!r}")
    flags = {key: value.get(key, True) for key in ("inputs", "outputs")}
    if not all(isinstance(flag, bool) for flag in flags.values()):
        raise ConfigError(f"{filename}: logging.inputs and logging.outputs are true or false")
    form = value.get("format", "jsonl")
    if form not in ("jsonl", "parquet"):
        raise ConfigError(f"{filename}: logging.format is jsonl or parquet, got {form!r}")
    drift = _drift(value.get("drift"), filename)
    return RequestLogging(sink, float(sample), flags["inputs"], flags["outputs"], form, drift)


def _drift(value: Any, filename: str) -> DriftWatch | None:
    if value is None or value is False:
        return None
    if value is True:
        return DriftWatch()
    if not isinstance(value, dict) or set(value) - _DRIFT_KEYS:
        raise ConfigError(f"{filename}: logging.drift is true or takes {sorted(_DRIFT_KEYS)}")
    profile = value.get("profile", "")
    if not isinstance(profile, str) or Path(profile).is_absolute() or ".." in Path(profile).parts:
        raise ConfigError(f"{filename}: logging.drift.profile is a file in the model directory")
    sizes = {key: value.get(key, 1000) for key in ("window", "reference_rows")}
    for key, size in sizes.items():
        if type(size) is not int or not 10 <= size <= 1_000_000:
            raise ConfigError(f"{filename}: logging.drift.{key} is a row count, 10 to 1,000,000")
    return DriftWatch(profile, sizes["window"], sizes["reference_rows"])


def _digests(value: Any, filename: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(_is_sha256(item) for item in items):
        raise ConfigError(f"{filename}: trusted_sha256 must be SHA-256 hex digests (64 hex digits)")
    return tuple(item.lower() for item in items)


def _is_sha256(item: Any) -> bool:
    return isinstance(item, str) and re.fullmatch("[0-9a-fA-F]{64}", item) is not None


def _optional_str(raw: dict[str, Any], key: str, filename: str) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str):
        raise ConfigError(f"{filename}: {key} must be a string")
    return value


def _max_batch(value: Any, filename: str) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise ConfigError(f"{filename}: max_batch_size must be a non-negative integer")
    return value


def _specs(items: Any, filename: str) -> tuple[TensorSpec, ...]:
    if not isinstance(items, list):
        raise ConfigError(f"{filename}: inputs and outputs must be lists")
    return tuple(_spec(item, filename) for item in items)


def _spec(item: Any, filename: str) -> TensorSpec:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise ConfigError(f"{filename}: each input/output needs a name")
    name = item["name"]
    dtype = str(item.get("datatype", item.get("data_type", ""))).removeprefix("TYPE_")
    dtype = {"STRING": "BYTES", "FLOAT": "FP32"}.get(dtype, dtype)
    shape = item.get("shape", item.get("dims", []))
    try:
        datatype(dtype)
    except InvalidInput as exc:
        raise ConfigError(f"{filename}: {name}: {exc.message}") from exc
    if not isinstance(shape, list) or any(type(d) is not int or d < -1 for d in shape):
        raise ConfigError(f"{filename}: {name}: shape must be a list of integers >= -1")
    return TensorSpec(name, dtype, tuple(shape))


def _version_policy(value: Any, filename: str) -> VersionPolicy:
    if value is None:
        return VersionPolicy()
    if not isinstance(value, dict) or len(value) != 1:
        raise ConfigError(f"{filename}: version_policy must be one of latest, all, specific")
    kind, body = next(iter(value.items()))
    body = body or {}
    if kind == "all":
        return VersionPolicy("all")
    if kind == "latest" and isinstance(body, dict):
        count = body.get("num_versions", 1)
        if type(count) is int and count >= 1:
            return VersionPolicy("latest", num_versions=count)
    if kind == "specific" and isinstance(body, dict):
        versions = body.get("versions", [])
        if isinstance(versions, list) and all(type(v) is int and v > 0 for v in versions):
            return VersionPolicy("specific", versions=tuple(versions))
    raise ConfigError(f"{filename}: invalid version_policy {value!r}")


def _label_files(raw: dict[str, Any], outputs: Any, filename: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in outputs if isinstance(outputs, list) else []:
        if isinstance(item, dict) and isinstance(item.get("label_file"), str):
            found[item["name"]] = item["label_file"]
    model_level = raw.get("label_file")
    if model_level is not None:
        if not isinstance(model_level, str):
            raise ConfigError(f"{filename}: label_file must be a string")
        found.setdefault("", model_level)  # "" means the model's first output
    return found


def _parameters(value: Any, filename: str) -> dict[str, str | int | float | bool]:
    if not isinstance(value, dict) or not all(
        isinstance(v, str | int | float | bool) for v in value.values()
    ):
        raise ConfigError(f"{filename}: parameters must map names to strings, numbers or booleans")
    return {str(k): v for k, v in value.items()}


def _version_labels(value: Any, filename: str) -> dict[str, int]:
    valid = isinstance(value, dict) and all(
        isinstance(k, str) and re.fullmatch(r"[A-Za-z0-9_]+", k) and type(v) is int and v > 0
        for k, v in value.items()
    )
    if not valid:
        raise ConfigError(f"{filename}: version_labels must map [A-Za-z0-9_]+ names to versions")
    return dict(value)


_BATCHING_KEYS = {
    "preferred_batch_size", "max_queue_delay_microseconds", "preserve_ordering",
    "default_queue_policy", "latency_slo_ms",
}  # fmt: skip
_QUEUE_KEYS = {"max_queue_size", "default_timeout_microseconds"}


def _dynamic_batching(value: Any, filename: str) -> DynamicBatching | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - _BATCHING_KEYS:
        raise ConfigError(f"{filename}: dynamic_batching takes {sorted(_BATCHING_KEYS)}")
    queue = value.get("default_queue_policy") or {}
    if not isinstance(queue, dict) or set(queue) - _QUEUE_KEYS:
        raise ConfigError(f"{filename}: default_queue_policy takes {sorted(_QUEUE_KEYS)}")
    sizes = value.get("preferred_batch_size", [])
    if not isinstance(sizes, list) or not all(type(s) is int and s > 0 for s in sizes):
        raise ConfigError(f"{filename}: preferred_batch_size must be positive integers")
    return DynamicBatching(
        preferred_batch_sizes=tuple(sizes),
        max_queue_delay_us=_count(value, "max_queue_delay_microseconds", 0, filename),
        preserve_ordering=bool(value.get("preserve_ordering", False)),
        max_queue_size=_count(queue, "max_queue_size", DEFAULT_MAX_QUEUE_SIZE, filename),
        default_timeout_us=_count(queue, "default_timeout_microseconds", 0, filename),
        latency_slo_ms=_slo(value.get("latency_slo_ms", 0), filename),
    )


def _slo(value: Any, filename: str) -> float:
    if type(value) not in (int, float) or not 0 <= value <= 3_600_000:
        raise ConfigError(f"{filename}: latency_slo_ms is milliseconds (0 for none), got {value!r}")
    return float(value)


def _count(block: dict[str, Any], key: str, default: int, filename: str) -> int:
    value = block.get(key, default)
    if type(value) is not int or value < 0:
        raise ConfigError(f"{filename}: {key} must be a non-negative integer")
    return value


def _instance_count(value: Any, filename: str) -> int:
    if value is None:
        return 1
    if not isinstance(value, list) or not all(isinstance(g, dict) for g in value):
        raise ConfigError(f"{filename}: instance_group must be a list of {{count: N}}")
    counts = [g.get("count", 1) for g in value]
    if not all(type(c) is int and c > 0 for c in counts):
        raise ConfigError(f"{filename}: instance_group count must be a positive integer")
    return sum(counts) or 1


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader (no Python tags) that refuses duplicate keys instead of keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        duplicates = {key for key in keys if keys.count(key) > 1}
        if duplicates:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate keys {sorted(map(str, duplicates))}", node.start_mark
            )
        return super().construct_mapping(node, deep=deep)
