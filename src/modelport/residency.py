"""Which loaded models hold memory: without a budget, all of them; with
``--model-memory-budget``, the most recently used that fit.

Under a budget, loads run one at a time and each is measured: the growth of the process's
resident memory while it loads (its framework imported beforehand, outside the measure),
never less than the size of its files; a restore measures again. Before a load, the least
recently used *idle* models (no request in the model, none queued) are parked (their
runtime released; metadata, configuration and statistics kept) until the new one fits; a
parked model's next request waits in ``LoadedModel.run`` while it is restored. A model
with requests in flight is never parked: when only busy models remain, the load goes
ahead over the budget, and idle ones are parked as soon as those requests finish. A model
whose files alone exceed the budget is refused before it is loaded. The measure is an
estimate (freed heap is reused, and a framework's first model carries its set-up), as
every peer's is; the figures are in the index and ``/metrics``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from modelport.errors import ModelNotReady, shown
from modelport.memory import release_freed, resident_bytes, shown_bytes
from modelport.model import LoadedModel
from modelport.runtimes import Runtime

logger = logging.getLogger(__name__)

Load = Callable[[], LoadedModel]
Reload = Callable[[], Runtime]
Estimate = Callable[[], int]


class DirectLoads:
    """No budget: each load runs in a thread, concurrently with the others."""

    limit = 0

    async def load(self, load: Load, reload: Reload, estimate: Estimate) -> LoadedModel:
        return await asyncio.to_thread(load)

    def forget(self, model: LoadedModel) -> None:
        """Nothing is tracked."""


@dataclass
class BudgetCounts:
    """Parks and restores since start, for ``/metrics``."""

    parked: int = 0
    restored: int = 0
    restore_seconds: float = 0.0


@dataclass
class MemoryBudget:
    limit: int
    counts: BudgetCounts = field(default_factory=BudgetCounts)
    _kept: dict[int, tuple[LoadedModel, Reload, int]] = field(default_factory=dict)
    """Every version loaded under the budget (by ``id``: a model is not hashable)."""
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _over: bool = False
    """A load went over the budget because only busy models were left to park."""
    _settling: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def used(self) -> int:
        """Measured memory of the resident models."""
        return sum(m.memory_bytes for m, _, _ in self._kept.values() if m.resident)

    async def load(self, load: Load, reload: Reload, estimate: Estimate) -> LoadedModel:
        """A new model version, loaded once there is room for what ``estimate`` expects
        (its files' size; it also imports the runtime's framework, outside the measure)."""
        async with self._lock:
            expected = await asyncio.to_thread(estimate)
            if expected > self.limit:
                raise ValueError(self._too_large(expected))
            await self._make_room(expected)
            before = resident_bytes()
            model = await asyncio.to_thread(load)
            model.memory_bytes = max(resident_bytes() - before, expected)
            model.keeper, self._kept[id(model)] = self, (model, reload, expected)
            if model.memory_bytes > self.limit:
                logger.warning(
                    "%s measured %s while loading, more than the whole budget (the first model"
                    " of a framework also carries its one-time set-up)",
                    _label(model),
                    shown_bytes(model.memory_bytes),
                )
            await self._make_room(0, keep=model)
            return model

    async def restore(self, model: LoadedModel) -> None:
        """Put a parked model's runtime back (a request for it is waiting)."""
        async with self._lock:
            kept = self._kept.get(id(model))
            if model.resident or kept is None:
                return  # restored by an earlier request, or retired meanwhile
            _, reload, expected = kept
            await self._make_room(model.memory_bytes, keep=model)
            started, before = time.monotonic(), resident_bytes()
            try:
                runtime = await asyncio.to_thread(reload)
            except Exception as exc:
                raise ModelNotReady(_unrestorable(model, exc)) from exc
            model.memory_bytes = max(resident_bytes() - before, expected)  # the latest measure
            model.restored(runtime)
            self.counts.restored += 1
            self.counts.restore_seconds += time.monotonic() - started
            logger.info("%s restored", _label(model))

    def forget(self, model: LoadedModel) -> None:
        """A version that is retired: no longer counted or restored."""
        self._kept.pop(id(model), None)

    def settle(self) -> None:
        """After a request: when a load went over the budget, park what has become idle."""
        if self._over and not self._settling:
            task = asyncio.get_running_loop().create_task(self._settle())
            self._settling.add(task)
            task.add_done_callback(self._settling.discard)

    async def _settle(self) -> None:
        async with self._lock:
            await self._make_room(0)

    async def _make_room(self, needed: int, keep: LoadedModel | None = None) -> None:
        while self.used + needed > self.limit:
            victim = self._least_recently_used(keep)
            if victim is None:
                if not self._over:
                    logger.warning(
                        "memory budget %s exceeded (%s): the other models have requests in"
                        " flight; idle ones are parked as they finish",
                        shown_bytes(self.limit),
                        shown_bytes(self.used + needed),
                    )
                self._over = True
                return
            await self._park(victim)
        self._over = False

    def _least_recently_used(self, keep: LoadedModel | None) -> LoadedModel | None:
        idle = [m for m, _, _ in self._kept.values() if m.resident and m is not keep and _idle(m)]
        return min(idle, key=lambda m: m.used_ns, default=None)

    async def _park(self, model: LoadedModel) -> None:
        runtime = model.park()
        await asyncio.to_thread(_release, runtime)
        self.counts.parked += 1
        logger.info("%s parked (memory budget)", _label(model))

    def _too_large(self, size: int) -> str:
        return (
            f"its files take {shown_bytes(size)}, more than the whole --model-memory-budget"
            f" ({shown_bytes(self.limit)})"
        )


Residency = DirectLoads | MemoryBudget


def _idle(model: LoadedModel) -> bool:
    depth = model.batcher.depth if model.batcher is not None else 0
    return model.inflight == 0 and depth == 0


def _release(runtime: Runtime) -> None:
    runtime.unload()
    release_freed()


def _label(model: LoadedModel) -> str:
    return f"model {model.metadata.name} version {model.version}"


def _unrestorable(model: LoadedModel, exc: Exception) -> str:
    name = shown(model.metadata.name)
    return f"model {name} version {model.version} could not be loaded again: {exc}"
