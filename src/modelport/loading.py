"""Loading one model version from storage: verify its checksums, find its artifact, check
its path, start its runtime, and merge what the runtime says with the model's config."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from modelport import runtimes
from modelport.config import ModelConfig
from modelport.drift import Profile
from modelport.model import LoadedModel, execution_mode
from modelport.repository import checksums
from modelport.repository.layout import ModelSource, contained
from modelport.runtimes import Runtime, RuntimeOptions
from modelport.tensor import TensorSpec
from modelport.types import ModelMetadata


def locate(source: ModelSource) -> tuple[str, Path]:
    """The runtime name and the artifact of a version, refused if its path leaves the
    repository or the file is missing."""
    config = source.config
    kind, artifact = runtimes.detect(
        source.version_dir, config.default_model_filename, config.platform
    )
    artifact = contained(artifact, source.root)
    if not artifact.exists():
        raise FileNotFoundError(f"{artifact.name} not found in version {source.version}")
    return kind, artifact


def load_model(
    source: ModelSource,
    options: RuntimeOptions,
    default_max_batch: int,
    require_checksums: bool = False,
) -> LoadedModel:
    """Load one version: verify its checksums, find its artifact, check its path, start the
    runtime, merge config."""
    config = source.config
    runtime = load_runtime(source, options, require_checksums)
    inputs = _merged(runtime.inputs, config.inputs, "input")
    outputs = _merged(runtime.outputs, config.outputs, "output")
    metadata = ModelMetadata(
        name=source.name,
        platform=runtime.platform,
        inputs=inputs,
        outputs=outputs,
        max_batch_size=_max_batch(config, inputs, outputs, default_max_batch),
    )
    labels = _labels(source, metadata)
    inline = execution_mode(runtime, metadata, config)
    profile = _drift_profile(source)
    return LoadedModel(
        metadata, str(source.version), runtime, config, labels, inline, drift_profile=profile
    )


def load_runtime(
    source: ModelSource, options: RuntimeOptions, require_checksums: bool = False
) -> Runtime:
    """A version's runtime alone (also how a parked model is restored): checksums
    verified, artifact found inside the repository."""
    if source.version_dir != source.model_dir:  # a single file served alone has no listing
        checksums.verify(source.version_dir, source.root, require_checksums)
    elif require_checksums:
        raise checksums.ChecksumError(
            "a single model file carries no checksums; serve a repository"
        )
    kind, artifact = locate(source)
    return runtimes.load(kind, artifact, options.for_model(source.config))


def expected_bytes(source: ModelSource) -> int:
    """What loading a version will take at least (the size of its files), with its runtime's
    framework imported first, so that measuring the load does not count the import."""
    kind, artifact = locate(source)
    runtimes.preload(kind)
    if source.version_dir == source.model_dir:
        return artifact.stat().st_size
    return sum(f.stat().st_size for f in source.version_dir.rglob("*") if f.is_file())


def _max_batch(
    config: ModelConfig, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec], default: int
) -> int:
    """The configured limit; else ``default`` when dim 0 of every tensor is variable."""
    if config.max_batch_size is not None:
        return config.max_batch_size
    batchable = all(spec.shape and spec.shape[0] == -1 for spec in (*inputs, *outputs))
    return default if batchable else 0


def _merged(
    derived: tuple[TensorSpec, ...], overrides: tuple[TensorSpec, ...], kind: str
) -> tuple[TensorSpec, ...]:
    by_name = {spec.name: spec for spec in overrides}
    unknown = sorted(set(by_name) - {spec.name for spec in derived})
    if unknown:
        raise ValueError(f"config names {kind}(s) {unknown} that the model does not have")
    return tuple(by_name.get(spec.name, spec) for spec in derived)


def _labels(source: ModelSource, metadata: ModelMetadata) -> dict[str, list[str]]:
    labels: dict[str, list[str]] = {}
    for output, filename in source.config.label_files.items():
        name = output or metadata.outputs[0].name
        path = contained(source.model_dir / filename, source.root)
        labels[name] = path.read_text(encoding="utf-8").splitlines()
    return labels


DEFAULT_PROFILE = "profile.json"


def _drift_profile(source: ModelSource) -> Profile | None:
    """The drift reference named by ``logging.drift.profile`` (which must exist), or
    ``profile.json`` beside the config when there is one."""
    logging_config = source.config.request_logging
    watch = logging_config.drift if logging_config is not None else None
    if watch is None:
        return None
    path = contained(source.model_dir / (watch.profile or DEFAULT_PROFILE), source.root)
    if not watch.profile and not path.is_file():
        return None
    return Profile.load(path)


def load_failure(exc: Exception, root: Path) -> str:
    """Why a version failed to load, safe to show over the network: its first line, with no
    absolute repository paths."""
    text = str(exc).strip() or type(exc).__name__
    for prefix in {str(root.resolve()), str(root)}:
        text = text.replace(prefix + "/", "").replace(prefix, "<repository>")
    return text.splitlines()[0] if text else type(exc).__name__
