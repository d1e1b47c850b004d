"""A loaded model version: its runtime, how a call reaches it, and its statistics.

How a call reaches the runtime is decided once, at load, in :func:`execution_mode`: a
model whose warm-up inference takes less than ``INLINE_BUDGET_NS`` runs inline on the
event loop (a thread hand-off would cost more than the inference); a slower one runs in
its own executor, ``instance_count`` calls at a time. With ``dynamic_batching`` configured,
requests go through a :class:`~modelport.batching.DynamicBatcher` first. The choice is a
strategy object (``execution.py``: Inline, Threaded, Batched); when
:meth:`LoadedModel.runs_now` says so, the data plane calls :meth:`LoadedModel.compute`
without awaiting anything (``DataPlane.compute_now``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from modelport.batching import BatchingPolicy, DynamicBatcher
from modelport.config import ModelConfig
from modelport.drift import Profile
from modelport.errors import ModelNotReady
from modelport.execution import Batched, Execution, Inline, Threaded
from modelport.requestlog import RequestLog
from modelport.runtimes import Runtime
from modelport.tensor import TensorSpec, datatype
from modelport.types import ModelMetadata, ModelStats, Traced

logger = logging.getLogger(__name__)

INLINE_BUDGET_NS = 500_000
DRAIN_POLL_S = 0.005
Arrays = Mapping[str, np.ndarray]


class Keeper(Protocol):
    """What puts a parked model's runtime back (the memory budget in ``residency``)."""

    async def restore(self, model: LoadedModel) -> None: ...

    def settle(self) -> None:
        """A request left the model: meet the budget again if busy models broke it."""


@dataclass
class LoadedModel:
    metadata: ModelMetadata
    version: str
    runtime: Runtime
    config: ModelConfig = field(default_factory=ModelConfig)
    labels: Mapping[str, Sequence[str]] = field(default_factory=dict)
    inline: bool = False
    stats: ModelStats = field(default_factory=ModelStats)
    inflight: int = 0
    executor: ThreadPoolExecutor | None = None
    batcher: DynamicBatcher | None = None
    load_seconds: float = 0.0
    execution: Execution = field(init=False, repr=False)
    """How a call reaches the runtime (``execution.py``), chosen at load."""
    resident: bool = field(init=False, default=True)
    """False while parked: its runtime is released and its next request restores it."""
    keeper: Keeper | None = None
    request_log: RequestLog | None = None
    """A sample of its requests, when its config asks for one."""
    drift_profile: Profile | None = None
    """The reference its logged requests are compared with (``logging.drift``)."""
    memory_bytes: int = 0
    """Measured when loaded under a memory budget (0 without one)."""
    used_ns: int = field(init=False, default_factory=time.perf_counter_ns)
    """When it last answered or was (re)loaded (``perf_counter_ns``): its place in least
    recently used order."""
    lock: threading.Lock = field(
        init=False, repr=False, compare=False, default_factory=threading.Lock
    )
    """Guards its statistics and request log (also written by gRPC threads, which compute
    inline models themselves) and the claims below; never held while the runtime runs."""
    _claims: int = field(init=False, repr=False, default=0)
    _unclaimed: threading.Condition = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._unclaimed = threading.Condition(self.lock)
        logging_config = self.config.request_logging
        if logging_config is not None:
            self.request_log = RequestLog(
                logging_config,
                self.metadata.name,
                self.version,
                batched=self.metadata.max_batch_size > 0,
                profile=self.drift_profile,
            )
        if not self.inline:
            workers = self.config.instance_count
            self.executor = ThreadPoolExecutor(workers, thread_name_prefix="modelport-model")
        batching = self.config.dynamic_batching
        if batching is not None and self.metadata.max_batch_size > 0:
            policy = BatchingPolicy(
                max_batch_size=self.metadata.max_batch_size,
                max_queue_delay_us=batching.max_queue_delay_us,
                preferred_batch_sizes=batching.preferred_batch_sizes,
                preserve_ordering=batching.preserve_ordering,
                max_queue_size=batching.max_queue_size,
                default_timeout_us=batching.default_timeout_us,
                instances=self.config.instance_count,
                latency_slo_us=int(batching.latency_slo_ms * 1000),
            )
            self.batcher = DynamicBatcher(self.execute, policy, self.metadata.name)
        self.execution = self._execution()

    def _execution(self) -> Execution:
        if self.batcher is not None:
            return Batched(self.batcher, self.inline)
        return Inline(self.compute) if self.inline else Threaded(self.execute)

    def runs_now(self) -> bool:
        """Whether the next request may be computed now, on this thread
        (``DataPlane.compute_now``): as its execution says (always inline; for a batched model
        that runs inline, when the request is alone), unless the model is parked."""
        return self.resident and self.execution.runs_now()

    def runs_inline(self) -> bool:
        """Whether its requests are computed on the thread that asks (chosen at load)."""
        return isinstance(self.execution, Inline)

    def claim(self) -> bool:
        """Begin computing a request on a thread other than the loop (a gRPC pool thread),
        if the model may be computed there now: resident, and run inline (a batched model's
        batcher lives on the loop). Its runtime is neither parked nor closed until
        :meth:`unclaim`."""
        with self.lock:
            if not (self.resident and self.runs_inline()):
                return False
            self._claims += 1
            return True

    def unclaim(self) -> None:
        with self.lock:
            self._claims -= 1
            if not self._claims:
                self._unclaimed.notify_all()

    def _stop_using(self) -> bool:
        """No new claims, and the runtime's current ones finished (each is one inline
        computation: well under a millisecond). Returns whether it was resident."""
        with self.lock:
            was, self.resident = self.resident, False
            self._unclaimed.wait_for(lambda: not self._claims)
        return was

    async def resident_now(self) -> None:
        """Restore the model if it is parked (the request waits, counted in flight)."""
        if self.resident:
            return
        self.inflight += 1
        try:
            await self._restore()
        finally:
            self._landed()

    def run_now_timed(self, inputs: Arrays, outputs: Sequence[str]) -> tuple[Arrays, int]:
        """One request's outputs and compute time (ns), computed now on this thread (when
        :meth:`runs_now` or :meth:`claim` said so)."""
        result, compute = self.compute(inputs, outputs)
        with self.lock:
            self.ran(0, compute)
        return result, compute

    def compute(self, inputs: Arrays, outputs: Sequence[str]) -> tuple[Arrays, int]:
        """One runtime call on this thread; returns outputs and compute ns."""
        with self.lock:
            self.stats.executed(_rows(inputs))
        return _timed(self.runtime, inputs, outputs)

    async def run(self, inputs: Arrays, outputs: Sequence[str], timeout_us: int = 0) -> Arrays:
        """One request's outputs; queue and compute times go into ``stats``."""
        return (await self.run_timed(inputs, outputs, timeout_us))[0]

    async def run_timed(
        self,
        inputs: Arrays,
        outputs: Sequence[str],
        timeout_us: int = 0,
        trace: Traced | None = None,
    ) -> tuple[Arrays, int, int]:
        """:meth:`run`, and the request's queue and compute times (ns)."""
        if self.resident and self.runs_inline():  # nothing to await
            result, compute = self.run_now_timed(inputs, outputs)
            return result, 0, compute
        self.inflight += 1
        try:
            if not self.resident:
                await self._restore()
            ran = self.execution.run(inputs, outputs, timeout_us, trace)
            result, queued, compute = await ran
        finally:
            self._landed()
        self.ran(queued, compute)
        return result, queued, compute

    def _landed(self) -> None:
        """A request counted in :attr:`inflight` is done with the model (the memory budget
        may park it again once none is)."""
        self.inflight -= 1
        if self.keeper is not None:
            self.keeper.settle()

    async def _restore(self) -> None:
        assert self.keeper is not None  # only a kept model is ever parked
        await self.keeper.restore(self)

    def park(self) -> Runtime:
        """Stop using the runtime (an idle model under a memory budget): requests from now
        on wait in :meth:`run` for :meth:`restored`. Returns the runtime to release."""
        self._stop_using()
        runtime, self.runtime = self.runtime, Parked(self.runtime)
        return runtime

    def restored(self, runtime: Runtime) -> None:
        self.runtime, self.resident = runtime, True
        self.used_ns = time.perf_counter_ns()

    def ran(self, queued: int, compute: int) -> None:
        """Count one request's queue and compute times (on the loop, or holding ``lock``)."""
        self.stats.queue.add(queued)
        self.stats.compute_infer.add(compute)

    async def execute(self, inputs: Arrays, outputs: Sequence[str]) -> tuple[Arrays, int]:
        """One runtime call (a request or a whole batch); returns outputs and compute ns."""
        if self.inline:
            return self.compute(inputs, outputs)
        self.stats.executed(_rows(inputs))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, _timed, self.runtime, inputs, outputs)

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) for in-flight requests, then release the runtime."""
        deadline = time.monotonic() + timeout
        while self.inflight and time.monotonic() < deadline:
            await asyncio.sleep(DRAIN_POLL_S)
        if self.batcher is not None:
            await self.batcher.close()
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        if self.request_log is not None:
            self.request_log.close()
        if self.executor is not None:
            self.executor.shutdown(wait=True)
        if self._stop_using():
            self.runtime.unload()


class Parked:
    """Stands in for a parked model's runtime: the same signature, and no inference."""

    def __init__(self, runtime: Runtime) -> None:
        self.platform, self.inputs, self.outputs = runtime.platform, runtime.inputs, runtime.outputs

    def infer(self, inputs: Arrays, outputs: Sequence[str]) -> Arrays:
        raise ModelNotReady("the model is parked under the memory budget; retry")

    def unload(self) -> None:
        """Nothing is loaded."""


def _rows(inputs: Arrays) -> int:
    first = next(iter(inputs.values()), None)
    return int(first.shape[0]) if first is not None and first.ndim else 1


def _timed(runtime: Runtime, inputs: Arrays, outputs: Sequence[str]) -> tuple[Arrays, int]:
    started = time.perf_counter_ns()
    result = runtime.infer(inputs, outputs)
    return result, time.perf_counter_ns() - started


def execution_mode(runtime: Runtime, metadata: ModelMetadata, config: ModelConfig) -> bool:
    """True to run inline: set by ``parameters.execution`` (inline|thread), else measured."""
    chosen = str(config.parameters.get("execution", "auto"))
    if chosen in ("inline", "thread"):
        return chosen == "inline"
    try:
        elapsed = _warm_up(runtime, metadata.inputs, [s.name for s in metadata.outputs])
    except Exception as exc:  # a model that needs real data to run: measure nothing, use threads
        logger.info("model %s: warm-up skipped (%s); running in threads", metadata.name, exc)
        return False
    logger.info("model %s: warm-up inference %d µs", metadata.name, elapsed // 1000)
    return elapsed < INLINE_BUDGET_NS


def _warm_up(runtime: Runtime, inputs: Sequence[TensorSpec], outputs: list[str]) -> int:
    """The fastest of three batch-1 inferences on zeros, in ns."""
    feeds = {spec.name: _zeros(spec) for spec in inputs}
    best = None
    for _ in range(3):
        started = time.perf_counter_ns()
        runtime.infer(feeds, outputs)
        elapsed = time.perf_counter_ns() - started
        best = elapsed if best is None else min(best, elapsed)
    return best or 0


def _zeros(spec: TensorSpec) -> np.ndarray:
    shape = tuple(1 if dim < 0 else dim for dim in spec.shape)
    row = datatype(spec.datatype)
    if row.name == "BYTES":
        return np.full(shape, b"", dtype=object)
    return np.zeros(shape, dtype=row.numpy)
