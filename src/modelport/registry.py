"""What is loaded: model versions, their states, and the runtimes serving them.

``repository`` says what exists on storage; the registry loads it through ``runtimes``
and keeps each version's state (READY, or UNAVAILABLE with its reason). Changes are
applied atomically: a new or changed version is loaded and checked beside the one that
serves, then swapped in with one assignment on the event loop; a failed reload leaves
the old version serving; a retired version finishes its in-flight requests before it is
closed. Runtimes are synchronous: each model has its own executor, and ``run`` is the one
place where a call leaves the loop.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeGuard, cast

from modelport.errors import ErrorCode, InvalidInput, ModelNotFound, ModelNotReady, shown
from modelport.loading import expected_bytes, load_failure, load_model, load_runtime
from modelport.metrics import Metrics, ModelGauges
from modelport.model import LoadedModel
from modelport.repository.layout import ModelProblem, ModelSource
from modelport.requestlog import live_figures
from modelport.residency import DirectLoads, Residency
from modelport.runtimes import RuntimeOptions
from modelport.types import ModelIndexEntry

logger = logging.getLogger(__name__)

Found = Sequence[ModelSource | ModelProblem]
Loader = Callable[[ModelSource, RuntimeOptions, int, bool], LoadedModel]
"""How a version becomes a ``LoadedModel``: ``load_model`` (its runtime in this process),
or, on Ray, a model whose calls go to its deployment's replicas."""
PARKED = "parked under the memory budget; restored on its next request"


class ModelState(enum.Enum):
    LOADING = "LOADING"
    READY = "READY"
    UNAVAILABLE = "UNAVAILABLE"


@dataclass
class VersionRecord:
    version: int
    state: ModelState
    reason: str = ""
    model: LoadedModel | None = None
    fingerprint: tuple[tuple[str, int, int], ...] = ()
    kept: str = ""
    """Why this version serves beyond the version policy (a newer one failed to load)."""


@dataclass
class ModelRecord:
    versions: dict[int, VersionRecord] = field(default_factory=dict)
    problem: str = ""
    unloaded: bool = False
    holding: bool = False
    """An update failed and the versions that served before keep serving (beyond the
    version policy, or despite a config that no longer parses) until it succeeds."""


class ModelRegistry:
    def __init__(
        self,
        options: RuntimeOptions,
        default_max_batch: int = 0,
        drain_timeout: float = 30.0,
        metrics: Metrics | None = None,
        require_checksums: bool = False,
        residency: Residency | None = None,
        loader: Loader = load_model,
    ) -> None:
        self._loader = loader
        self._require_checksums = require_checksums
        self.residency = residency or DirectLoads()
        self._options = options
        self._metrics = metrics or Metrics()
        self._default_max_batch = default_max_batch
        self._drain_timeout = drain_timeout
        self._models: dict[str, ModelRecord] = {}
        self._lock = asyncio.Lock()
        self._routes: Mapping[tuple[str, str], LoadedModel] = {}
        """Every ready version by (name, version), and the newest by (name, ""): rebuilt
        whole on the loop after each change and never mutated, so a lookup from any thread
        (:meth:`ready`) reads one consistent table."""

    # --- changes ----------------------------------------------------------------------

    async def load(self, found: Found) -> None:
        """Initial load: every source, concurrently; failures are kept as reasons."""
        await self.apply(found, names=None)

    async def apply(
        self, found: Found, names: Iterable[str] | None = None, retry_failed: bool = False
    ) -> None:
        """Make the loaded set match ``found`` for ``names`` (None: every model, and models
        absent from ``found`` are unloaded). A version that failed to load is tried again
        only when its files change, or with ``retry_failed`` (an explicit load)."""
        async with self._lock:
            wanted = set(names) if names is not None else None
            by_name = _group(found)
            scope = set(by_name) if wanted is None else wanted
            if wanted is None:
                scope |= {n for n, r in self._models.items() if not r.unloaded}
            try:
                await asyncio.gather(
                    *(self._apply_model(n, by_name.get(n, []), retry_failed) for n in scope)
                )
            finally:
                self._publish()

    async def unload(self, name: str) -> None:
        async with self._lock:
            if name not in self._models:
                raise ModelNotFound(f"unknown model {shown(name)}")
            try:
                await self._apply_model(name, [], retry_failed=False)
            finally:
                self._publish()

    async def _apply_model(
        self, name: str, items: list[ModelSource | ModelProblem], retry_failed: bool
    ) -> None:
        record = self._models.setdefault(name, ModelRecord())
        problems = [item.reason for item in items if isinstance(item, ModelProblem)]
        sources = {item.version: item for item in items if isinstance(item, ModelSource)}
        if problems and _has_ready(record):
            self._keep_serving(name, record, f"reload failed: {problems[0]}")
            return
        record.problem = problems[0] if problems else ""
        record.unloaded = not items
        await asyncio.gather(
            *(self._load_version(record, s, retry_failed) for s in sources.values())
        )
        failed = [v for v in sources if record.versions[v].state is not ModelState.READY]
        stale = [v for v in record.versions if v not in sources]
        record.holding = bool(failed) and any(_is_ready(record.versions[v]) for v in stale)
        kept = f"kept serving: version(s) {failed} failed to load" if record.holding else ""
        for version, r in record.versions.items():
            r.kept = kept if version in stale else ""
        if record.holding:  # what served keeps serving until its successors are ready
            stale = [v for v in stale if not _is_ready(record.versions[v])]
        await asyncio.gather(*(self._retire(record, v) for v in stale))

    def _keep_serving(self, name: str, record: ModelRecord, problem: str) -> None:
        """A model whose directory became unusable keeps its loaded versions; logged once."""
        problem = f"{problem}; serving the loaded versions"
        if problem != record.problem:
            logger.error("model %s: %s", name, problem)
        record.problem, record.holding = problem, True

    async def _load_version(
        self, record: ModelRecord, source: ModelSource, retry_failed: bool
    ) -> None:
        current = record.versions.get(source.version)
        if _unchanged(current, source) and (current.model is not None or not retry_failed):
            return  # loaded, or failed and not worth a retry (nor a log line) until it changes
        if current is None:
            current = record.versions[source.version] = VersionRecord(
                source.version, ModelState.LOADING
            )
        started = time.monotonic()
        options, checksums = self._options, self._require_checksums
        try:
            model = await self.residency.load(
                partial(self._loader, source, options, self._default_max_batch, checksums),
                partial(load_runtime, source, options, checksums),
                partial(expected_bytes, source),
            )
        except Exception as exc:  # any load failure stays with this version
            self._load_failed(source, current, load_failure(exc, source.root))
            return
        model.load_seconds = time.monotonic() - started
        previous = current.model
        current.model, current.state, current.reason = model, ModelState.READY, ""
        current.fingerprint = source.fingerprint
        logger.info("model %s version %d is ready", source.name, source.version)
        self._publish()  # requests reach the new load before the previous one drains
        if previous is not None:
            await self._release(previous)

    def _load_failed(self, source: ModelSource, current: VersionRecord, reason: str) -> None:
        current.fingerprint = source.fingerprint
        if current.model is not None:
            current.reason = f"reload failed: {reason}; serving the previous load"
        else:
            current.state, current.reason = ModelState.UNAVAILABLE, reason
        logger.error("model %s version %d: %s", source.name, source.version, current.reason)

    async def _retire(self, record: ModelRecord, version: int) -> None:
        retired = record.versions.pop(version)
        self._publish()  # no new request reaches it while it drains
        if retired.model is not None:
            logger.info("unloading version %d", version)
            await self._release(retired.model)

    async def _release(self, model: LoadedModel) -> None:
        """A replaced or retired version: its requests finish, then its runtime goes."""
        await model.drain(self._drain_timeout)
        self.residency.forget(model)

    def _publish(self) -> None:
        routes: dict[tuple[str, str], LoadedModel] = {}
        for name, record in self._models.items():
            ready = [r for r in record.versions.values() if _is_ready(r)]
            for r in ready:
                routes[(name, str(r.version))] = cast(LoadedModel, r.model)
            if ready:
                routes[(name, "")] = cast(LoadedModel, _newest(ready).model)
        self._routes = routes

    # --- lookups ----------------------------------------------------------------------

    def ready(self, name: str, version: str = "") -> LoadedModel | None:
        """The ready version a request reaches (the newest for ``""``), from any thread;
        None when there is none (then :meth:`get` says why)."""
        return self._routes.get((name, version))

    def get(self, name: str, version: str = "") -> LoadedModel:
        """The version asked for, or the newest ready one; 404 and 503 as Triton answers."""
        record = self._record(name, version)
        if record.model is None or record.state is not ModelState.READY:
            detail = f": {record.reason}" if record.reason else ""
            raise ModelNotReady(
                f"model {shown(name)} version {record.version} is not ready{detail}"
            )
        return record.model

    def _record(self, name: str, version: str) -> VersionRecord:
        model = self._models.get(name)
        if model is None:
            raise ModelNotFound(f"unknown model {shown(name)}")
        if not model.versions:
            why = "it is unloaded" if model.unloaded and not model.problem else model.problem
            raise ModelNotReady(f"model {shown(name)} is not ready: {why}")
        if not version:
            return _newest(model.versions.values())
        if not version.isdigit():
            raise InvalidInput(f"model version must be a positive integer, got {shown(version)}")
        record = model.versions.get(int(version))
        if record is None:
            raise ModelNotFound(f"unknown version {version} of model {shown(name)}")
        return record

    def ready_models(self, name: str = "") -> list[LoadedModel]:
        """Every ready version (of one model, or of all), oldest first."""
        names = [name] if name else sorted(self._models)
        return [
            r.model
            for n in names
            for _, r in sorted(self._models.get(n, ModelRecord()).versions.items())
            if r.state is ModelState.READY and r.model is not None
        ]

    def is_ready(self, name: str, version: str = "") -> bool:
        try:
            self.get(name, version)
        except (ModelNotFound, ModelNotReady):
            return False
        return True

    def names(self) -> list[str]:
        return sorted(self._models)

    def all_ready(self) -> bool:
        """Every model meant to be loaded is ready (unloaded models do not count). A model
        whose update failed while its earlier versions keep serving counts as ready: it
        serves all it served before, and the failure is in the index and the log."""
        active = [m for m in self._models.values() if not m.unloaded]
        return all(m.holding or _fully_ready(m) for m in active)

    def index(self) -> list[ModelIndexEntry]:
        entries = []
        for name, model in sorted(self._models.items()):
            if not model.versions:
                reason = model.problem or ("unloaded" if model.unloaded else "")
                entries.append(ModelIndexEntry(name, "", "UNAVAILABLE", reason))
            for version, r in sorted(model.versions.items()):
                entries.append(self._entry(name, version, r, model.problem))
        return entries

    def _entry(self, name: str, version: int, r: VersionRecord, problem: str) -> ModelIndexEntry:
        reason = r.reason or r.kept or problem
        if not self.residency.limit or r.model is None:
            return ModelIndexEntry(name, str(version), r.state.value, reason)
        resident, size = r.model.resident, r.model.memory_bytes
        reason = reason or ("" if resident else PARKED)
        return ModelIndexEntry(name, str(version), r.state.value, reason, resident, size)

    def count_failure(self, code: ErrorCode, name: str) -> None:
        """A failed inference request. The model label is kept only for a model that exists,
        so names sent by clients cannot inflate the metric's label set."""
        self._metrics.failure(code, name if name in self._models else "")

    def gauges(self) -> list[ModelGauges]:
        """Every version's state, queue depth, in-flight count and load time, for /metrics."""
        found = []
        for name, model in self._models.items():
            for version, r in model.versions.items():
                m = r.model
                depth = m.batcher.depth if m is not None and m.batcher is not None else 0
                found.append(
                    ModelGauges(
                        name,
                        str(version),
                        r.state.value,
                        depth,
                        m.inflight if m else 0,
                        m.load_seconds if m else 0.0,
                        m.stats if m else None,
                        m.memory_bytes if m else 0,
                        m.resident if m else False,
                        _logged(m),
                        _live(m),
                        _drift(m),
                        _tuned(m),
                    )
                )
        return found

    def close(self) -> None:
        self._routes = {}
        for model in self._models.values():
            for record in model.versions.values():
                if record.model is not None:
                    record.model.close()
                    record.model = None


def _logged(model: LoadedModel | None) -> tuple[int, int] | None:
    log = model.request_log if model is not None else None
    return (log.recorded - log.lost, log.dropped + log.lost) if log is not None else None


def _live(model: LoadedModel | None) -> dict[str, float] | None:
    log = model.request_log if model is not None else None
    if log is None or not log.labels:
        return None
    return {**live_figures(log.window), "labels": float(log.labels)}


def _drift(model: LoadedModel | None) -> dict[str, dict[str, float]] | None:
    log = model.request_log if model is not None else None
    return log.drift.figures() if log is not None and log.drift is not None else None


def _tuned(model: LoadedModel | None) -> tuple[int, int, int] | None:
    tuner = model.batcher.tuner if model is not None and model.batcher is not None else None
    return (tuner.delay_us, tuner.cap, tuner.p99_ns) if tuner is not None else None


def _group(found: Found) -> dict[str, list[ModelSource | ModelProblem]]:
    grouped: dict[str, list[ModelSource | ModelProblem]] = {}
    for item in found:
        grouped.setdefault(item.name, []).append(item)
    return grouped


def _newest(records: Iterable[VersionRecord]) -> VersionRecord:
    """The newest ready version, or the newest of all when none is ready (on the hot path:
    a plain loop, no lists)."""
    newest = ready = None
    for record in records:
        if newest is None or record.version > newest.version:
            newest = record
        if record.state is ModelState.READY and (ready is None or record.version > ready.version):
            ready = record
    found = ready or newest
    assert found is not None  # callers check that there are versions
    return found


def _unchanged(current: VersionRecord | None, source: ModelSource) -> TypeGuard[VersionRecord]:
    return current is not None and current.fingerprint == source.fingerprint


def _is_ready(record: VersionRecord) -> bool:
    return record.state is ModelState.READY and record.model is not None


def _has_ready(record: ModelRecord) -> bool:
    return any(_is_ready(r) for r in record.versions.values())


def _fully_ready(record: ModelRecord) -> bool:
    return not record.problem and all(_is_ready(r) for r in record.versions.values())
