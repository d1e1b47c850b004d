"""How a call reaches a model's runtime: one small strategy per model version, chosen at load.

- :class:`Inline`: the runtime is called on the event loop (a model faster than a thread
  hand-off); a transport may compute the answer right in its parser callback.
- :class:`Threaded`: the call goes to the model's own thread pool and is awaited.
- :class:`Batched`: the call joins the :class:`~modelport.batching.DynamicBatcher`; a request
  that arrives alone to a model that runs inline is computed on the spot instead.

Each says whether the next request may be computed now (``runs_now``) and runs one request
(``run``: its outputs, queue time and compute time in ns). ``LoadedModel`` owns the rest
(in-flight counts, parking, statistics).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

import numpy as np

from modelport.batching import DynamicBatcher
from modelport.types import Traced

Arrays = Mapping[str, np.ndarray]
Compute = Callable[[Arrays, Sequence[str]], tuple[Arrays, int]]
"""A runtime call on this thread: outputs and compute ns."""
Execute = Callable[[Arrays, Sequence[str]], Awaitable[tuple[Arrays, int]]]
"""A runtime call, awaited (on the loop, or in the model's threads)."""
Ran = tuple[Arrays, int, int]
"""A request's outputs, queue time and compute time (ns)."""


class Execution(Protocol):
    kind: str

    def runs_now(self) -> bool:
        """Whether the next request may be computed now, on this thread (``compute``)."""

    def run(
        self, inputs: Arrays, outputs: Sequence[str], timeout_us: int, trace: Traced | None
    ) -> Awaitable[Ran]:
        """One request's outputs, queue and compute time, once awaited."""


class Inline:
    kind = "inline"

    def __init__(self, compute: Compute) -> None:
        self._compute = compute

    def runs_now(self) -> bool:
        return True

    async def run(
        self, inputs: Arrays, outputs: Sequence[str], timeout_us: int, trace: Traced | None
    ) -> Ran:
        result, compute = self._compute(inputs, outputs)
        return result, 0, compute


class Threaded:
    kind = "thread"

    def __init__(self, execute: Execute) -> None:
        self._execute = execute

    def runs_now(self) -> bool:
        return False

    async def run(
        self, inputs: Arrays, outputs: Sequence[str], timeout_us: int, trace: Traced | None
    ) -> Ran:
        submitted = time.perf_counter_ns()
        result, compute = await self._execute(inputs, outputs)
        return result, max(time.perf_counter_ns() - submitted - compute, 0), compute


class Batched:
    kind = "batched"

    def __init__(self, batcher: DynamicBatcher, inline: bool) -> None:
        self.batcher = batcher
        self._inline = inline

    def runs_now(self) -> bool:
        """A lone request to a model that runs inline: nothing to wait for (the batcher
        counts the arrival either way)."""
        return self._inline and self.batcher.alone_now()

    def run(
        self, inputs: Arrays, outputs: Sequence[str], timeout_us: int, trace: Traced | None
    ) -> Awaitable[Ran]:
        # A model that runs inline was asked runs_now() already: here, it was not alone.
        return self.batcher.enqueue(inputs, outputs, timeout_us, trace, queued=self._inline)
