"""What is loaded: model versions, their states, and the runtimes serving them.

``repository`` says what exists on storage; the registry loads it through
``runtimes``, keeps each version's state (READY, or UNAVAILABLE with its reason) and
hands the data plane a :class:`LoadedModel` to run. Runtimes are synchronous: each
model gets its own executor, and this is the one place where a call leaves the loop.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from modelport import runtimes
from modelport.errors import InvalidInput, ModelNotFound, ModelNotReady
from modelport.repository.layout import ModelProblem, ModelSource, contained
from modelport.runtimes import Runtime, RuntimeOptions
from modelport.tensor import TensorSpec
from modelport.types import ModelIndexEntry, ModelMetadata

logger = logging.getLogger(__name__)


class ModelState(enum.Enum):
    LOADING = "LOADING"
    READY = "READY"
    UNAVAILABLE = "UNAVAILABLE"


@dataclass
class LoadedModel:
    """A model version ready to run: its metadata, its runtime and its executor."""

    metadata: ModelMetadata
    version: str
    runtime: Runtime
    labels: Mapping[str, Sequence[str]] = field(default_factory=dict)
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="modelport-model")
    )

    async def run(
        self, inputs: Mapping[str, np.ndarray], outputs: Sequence[str]
    ) -> Mapping[str, np.ndarray]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.runtime.infer, inputs, outputs)

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.runtime.unload()


@dataclass
class VersionRecord:
    name: str
    version: int
    state: ModelState
    reason: str = ""
    model: LoadedModel | None = None


class ModelRegistry:
    def __init__(self, options: RuntimeOptions) -> None:
        self._options = options
        self._versions: dict[str, dict[int, VersionRecord]] = {}
        self._problems: dict[str, str] = {}

    async def load(self, found: Sequence[ModelSource | ModelProblem]) -> None:
        """Load every source (in threads, concurrently); failures are kept as reasons."""
        sources = [item for item in found if isinstance(item, ModelSource)]
        for item in found:
            if isinstance(item, ModelProblem):
                self._problems[item.name] = item.reason
                logger.error("model %s is unavailable: %s", item.name, item.reason)
        for source in sources:
            records = self._versions.setdefault(source.name, {})
            records[source.version] = VersionRecord(source.name, source.version, ModelState.LOADING)
        await asyncio.gather(*(asyncio.to_thread(self._load_one, s) for s in sources))

    def _load_one(self, source: ModelSource) -> None:
        record = self._versions[source.name][source.version]
        try:
            record.model = load_model(source, self._options)
        except Exception as exc:  # any load failure marks only this version unavailable
            record.state, record.reason = ModelState.UNAVAILABLE, _reason(exc, source.root)
            logger.error(
                "model %s version %d failed to load: %s", source.name, source.version, record.reason
            )
        else:
            record.state = ModelState.READY

    def get(self, name: str, version: str = "") -> LoadedModel:
        """The version asked for, or the newest ready one; 404 and 503 as Triton answers."""
        record = self._record(name, version)
        if record.model is None or record.state is not ModelState.READY:
            detail = f": {record.reason}" if record.reason else ""
            raise ModelNotReady(f"model '{name}' version {record.version} is not ready{detail}")
        return record.model

    def _record(self, name: str, version: str) -> VersionRecord:
        records = self._versions.get(name)
        if not records:
            if name in self._problems:
                raise ModelNotReady(f"model '{name}' is not ready: {self._problems[name]}")
            raise ModelNotFound(f"unknown model '{name}'")
        if not version:
            ready = [r for r in records.values() if r.state is ModelState.READY]
            return max(ready or records.values(), key=lambda r: r.version)
        if not version.isdigit():
            raise InvalidInput(f"model version must be a positive integer, got {version!r}")
        record = records.get(int(version))
        if record is None:
            raise ModelNotFound(f"unknown version {version} of model '{name}'")
        return record

    def ready_versions(self, name: str) -> list[str]:
        records = self._versions.get(name, {})
        return [str(v) for v, r in sorted(records.items()) if r.state is ModelState.READY]

    def is_ready(self, name: str, version: str = "") -> bool:
        try:
            self.get(name, version)
        except (ModelNotFound, ModelNotReady):
            return False
        return True

    def names(self) -> list[str]:
        return sorted(set(self._versions) | set(self._problems))

    def all_ready(self) -> bool:
        states = [r.state for v in self._versions.values() for r in v.values()]
        return not self._problems and all(s is ModelState.READY for s in states)

    def index(self) -> list[ModelIndexEntry]:
        entries = [
            ModelIndexEntry(name, "", "UNAVAILABLE", why) for name, why in self._problems.items()
        ]
        for name, records in self._versions.items():
            entries += [
                ModelIndexEntry(name, str(r.version), r.state.value, r.reason)
                for r in records.values()
            ]
        return sorted(entries, key=lambda e: (e.name, e.version))

    def close(self) -> None:
        for records in self._versions.values():
            for record in records.values():
                if record.model is not None:
                    record.model.close()
                    record.model = None


def load_model(source: ModelSource, options: RuntimeOptions) -> LoadedModel:
    """Load one version: find its artifact, check its path, start the runtime, merge config."""
    config = source.config
    kind, artifact = runtimes.detect(
        source.version_dir, config.default_model_filename, config.platform
    )
    artifact = contained(artifact, source.root)
    if not artifact.exists():
        raise FileNotFoundError(f"{artifact.name} not found in version {source.version}")
    runtime = runtimes.load(kind, artifact, replace(options, parameters=config.parameters))
    metadata = ModelMetadata(
        name=source.name,
        platform=runtime.platform,
        inputs=_merged(runtime.inputs, config.inputs, "input"),
        outputs=_merged(runtime.outputs, config.outputs, "output"),
        max_batch_size=config.max_batch_size or 0,
    )
    labels = _labels(source, metadata)
    return LoadedModel(metadata, str(source.version), runtime, labels)


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


def _reason(exc: Exception, root: Path) -> str:
    """An error message safe to show over the network: no absolute repository paths."""
    text = str(exc).strip() or type(exc).__name__
    for prefix in {str(root.resolve()), str(root)}:
        text = text.replace(prefix + "/", "").replace(prefix, "<repository>")
    return text.splitlines()[0] if text else type(exc).__name__
