"""Dynamic batching: requests that arrive together run as one batch, each gets its own rows.

One collector task per model forms a batch from the oldest waiting request: it adds later
requests whose tensors can be stacked with it (same input names, dtypes and trailing
shapes) until the batch holds ``max_batch_size`` rows, reaches a preferred size, or the
oldest request has waited ``max_queue_delay``. At most ``instances`` batches run at once.
When no batch of the model is running, the waiting requests go at once (waiting for
partners cannot pay): the delay only applies while a batch runs, and ends when none does.
A request that finds nothing waiting, no batch running and no other request to the model
earlier in the same event-loop iteration is alone (:meth:`DynamicBatcher.alone_now`): it runs
at once, as an unbatched model would (a model that runs inline computes it on the spot;
any other, in the request's own task, with no hand-off to the collector), while the
requests that arrive behind it are batched together.
A full queue is refused at once; a request past its timeout fails alone and frees its slot;
a model returning the wrong number of rows fails that batch loudly; a failing batch is retried
request by request, so one bad request fails alone. It only calls ``execute(inputs, outputs)``.

The waiting requests live in a ``batchqueue.WaitQueue`` (O(1) per request).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate

import numpy as np

from modelport.batchqueue import WaitQueue
from modelport.batchtuning import SloTuner
from modelport.errors import InferenceFailed, ModelNotReady, QueueFull, RequestTimeout
from modelport.types import Traced

Arrays = Mapping[str, np.ndarray]
Execute = Callable[[Arrays, Sequence[str]], Awaitable[tuple[Arrays, int]]]
"""Run one batch; returns the outputs and the compute time in ns."""
Result = tuple[Arrays, int, int]
"""A request's own outputs, its queue time and its batch's compute time (ns)."""


@dataclass(frozen=True)
class BatchingPolicy:
    max_batch_size: int
    max_queue_delay_us: int = 0
    preferred_batch_sizes: tuple[int, ...] = ()
    preserve_ordering: bool = False
    max_queue_size: int = 0  # 0: unbounded
    default_timeout_us: int = 0  # 0: none
    instances: int = 1
    latency_slo_us: int = 0
    """0: the delay and batch size are fixed; else tuned online to it (``batchtuning.py``)."""


@dataclass(eq=False)
class _Item:
    inputs: Arrays
    outputs: tuple[str, ...]
    rows: int  # -1: inputs disagree on dim 0, so the request runs alone
    key: tuple[object, ...]
    enqueued: int
    future: asyncio.Future[Result] = field(repr=False)
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)
    waiting: bool = True
    """In the queue: not yet taken into a batch, timed out or abandoned."""
    trace: Traced | None = field(default=None, repr=False)


class DynamicBatcher:
    def __init__(self, execute: Execute, policy: BatchingPolicy, name: str = "model") -> None:
        self._execute = execute
        self.policy = policy
        self._name = name
        self._queue: WaitQueue[_Item] = WaitQueue()
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(policy.instances)
        self._collector: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._order: asyncio.Future[None] | None = None
        self._closed = False
        self._busy = 0
        """Batches dispatched and not yet finished."""
        self._arrivals = 0
        """Requests that reached the batcher in this iteration of the event loop."""
        self._last_arrivals = 0
        """Those of the last iteration that had any: more than one means clients are
        concurrent, and a lone-looking request is likely to have partners soon."""
        self.tuner = (
            SloTuner(policy.latency_slo_us * 1000, policy.max_queue_delay_us, policy.max_batch_size)
            if policy.latency_slo_us
            else None
        )
        """Chooses the delay and batch cap when the model has a latency objective."""

    @property
    def depth(self) -> int:
        return self._queue.depth

    def alone_now(self) -> bool:
        """Whether a request arriving now has no one to be batched with: nothing waits, no
        batch runs, no other request came earlier in this loop iteration (its callbacks run
        one after another, so partners arriving together are seen), and the last iteration
        with requests had one at most (else clients are concurrent). A request found alone
        is counted here (it is computed at once); any other is counted when it is submitted,
        so that each request counts once."""
        busy = self._arrivals or self._busy or self._queue.depth or self._closed
        alone = not busy and self._last_arrivals <= 1
        if alone:
            self._arrived()
        return alone

    def _arrived(self) -> None:
        if not self._arrivals:  # the count restarts once this iteration's callbacks have run
            asyncio.get_running_loop().call_soon(self._next_iteration)
        self._arrivals += 1

    def _next_iteration(self) -> None:
        self._last_arrivals, self._arrivals = self._arrivals, 0

    async def submit(
        self,
        inputs: Arrays,
        outputs: Sequence[str],
        timeout_us: int = 0,
        trace: Traced | None = None,
        queued: bool = False,
    ) -> Result:
        """Queue one request (``queued``: even when alone, as one found not alone already);
        returns its own rows of every requested output."""
        return await self.enqueue(inputs, outputs, timeout_us, trace, queued)

    def enqueue(
        self,
        inputs: Arrays,
        outputs: Sequence[str],
        timeout_us: int = 0,
        trace: Traced | None = None,
        queued: bool = False,
    ) -> Awaitable[Result]:
        """:meth:`submit`, with the request queued (or refused) now, before it is awaited:
        the serving path awaits what it returns (the request's future, or a lone request's
        run) with no coroutine of its own between (about 1,600 of the 393,000 instructions
        a batched request costs: ``benchmarks/instructions.py``)."""
        if self._closed:
            raise ModelNotReady(f"model '{self._name}' is unloading")
        limit = self.policy.max_queue_size
        if limit and self._queue.depth >= limit:
            raise QueueFull(f"the queue of model '{self._name}' is full ({limit} requests)")
        timeout_us = timeout_us or self.policy.default_timeout_us
        if (
            not (queued or self.policy.preserve_ordering or self._slots.locked())
            and self.alone_now()
        ):
            return self._run_now(inputs, outputs, trace)
        self._arrived()
        item = self._item(inputs, outputs, trace)
        self._queue.add(item)
        item.future.add_done_callback(lambda _: self._queue.leave(item))  # cancelled, timed out
        if timeout_us:
            loop = asyncio.get_running_loop()
            item.timer = loop.call_later(timeout_us / 1e6, self._time_out, item)
        self._wakeup.set()
        if self._collector is None:
            self._collector = asyncio.create_task(self._collect())
        return item.future

    async def _run_now(
        self, inputs: Arrays, outputs: Sequence[str], trace: Traced | None
    ) -> Result:
        """A lone request, run in its caller's task on a free instance; it counts as a running
        batch, so those arriving meanwhile gather for the next. (Not when order is kept.)"""
        item = self._item(inputs, outputs, trace)
        await self._slots.acquire()  # free: an instance, taken at once
        self._busy += 1
        try:
            (result,) = await self._results([item])
        finally:
            self._finished()  # (the tuner sees batched requests only: a lone one never waits)
            self._slots.release()
        if isinstance(result, BaseException):
            raise result
        return result

    def _item(self, inputs: Arrays, outputs: Sequence[str], trace: Traced | None = None) -> _Item:
        now = time.monotonic_ns()
        rows = {int(a.shape[0]) if a.ndim else -1 for a in inputs.values()}
        key = tuple(sorted((n, a.dtype.str, a.shape[1:]) for n, a in inputs.items()))
        stackable = len(rows) == 1 and -1 not in rows
        future = asyncio.get_running_loop().create_future()
        unique = ("alone", id(future))  # a request whose inputs disagree on dim 0 runs alone
        size = rows.pop() if stackable else -1
        kind = key if stackable else unique
        return _Item(inputs, tuple(outputs), size, kind, now, future, trace=trace)

    async def _collect(self) -> None:
        while True:
            await self._wait_for_work()  # idle, it holds no instance (a lone request may)
            # Take an instance first: while all are busy, requests gather into bigger batches.
            await self._slots.acquire()
            batch = await self._form_batch()
            if batch:
                self._dispatch(batch)
            else:  # what waited left meanwhile (timed out, or its caller went away)
                self._slots.release()

    def _dispatch(self, batch: list[_Item]) -> None:
        self._busy += 1
        previous, self._order = self._order, asyncio.get_running_loop().create_future()
        behind = self._queue.depth > 0  # this batch leaves requests waiting
        task = asyncio.create_task(self._run(batch, previous, self._order, behind))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _wait_for_work(self) -> None:
        while self._queue.oldest() is None:
            self._wakeup.clear()
            await self._wakeup.wait()

    async def _form_batch(self) -> list[_Item]:
        """Wait up to the delay for compatible requests; return those taken, oldest first."""
        first = self._queue.oldest()
        if first is None:
            return []
        if self._busy:  # while a batch runs, later requests may join this one
            close_at = first.enqueued + self._delay_us() * 1000
            while (
                self._busy
                and not self._full(first)
                and (wait := close_at - time.monotonic_ns()) > 0
            ):
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), wait / 1e9)
            if not first.waiting:  # it left while we waited: start again from the oldest
                return []
        batch = self._queue.take(first, self._cap())
        for item in batch:
            if item.timer is not None:
                item.timer.cancel()
        return batch

    def _delay_us(self) -> int:
        return self.tuner.delay_us if self.tuner is not None else self.policy.max_queue_delay_us

    def _cap(self) -> int:
        return self.tuner.cap if self.tuner is not None else self.policy.max_batch_size

    def _full(self, first: _Item) -> bool:
        rows = self._queue.rows(first.key)
        preferred = self.policy.preferred_batch_sizes
        return rows >= self._cap() or rows in preferred or first.rows < 0

    def _time_out(self, item: _Item) -> None:
        if not item.waiting:
            return
        self._queue.leave(item)
        waited = (time.monotonic_ns() - item.enqueued) // 1000
        item.future.set_exception(
            RequestTimeout(f"request timed out after {waited} µs in the queue")
        )

    async def _run(
        self,
        batch: list[_Item],
        previous: asyncio.Future[None] | None,
        mine: asyncio.Future[None],
        behind: bool = False,
    ) -> None:
        try:
            results = await self._results(batch)
            if self.tuner is not None:
                self._tune(batch, behind)
            if self.policy.preserve_ordering and previous is not None:
                await previous
            for item, result in zip(batch, results, strict=True):
                if not item.future.done():
                    _settle(item.future, result)
        finally:
            mine.set_result(None)
            self._finished()
            self._slots.release()

    def _finished(self) -> None:
        """A batch ended: one forming stops waiting for partners once none runs."""
        self._busy -= 1
        self._wakeup.set()

    def _tune(self, batch: list[_Item], behind: bool) -> None:
        assert self.tuner is not None
        now = time.monotonic_ns()
        for item in batch:
            self.tuner.observe(now - item.enqueued, now, behind)

    async def _results(self, batch: list[_Item]) -> list[Result | BaseException]:
        started = time.monotonic_ns()
        try:
            outputs, compute = await self._execute_batch(batch)
        except Exception as exc:
            if len(batch) == 1:
                return [exc]
            return [r for item in batch for r in await self._results([item])]
        traced = [item.trace for item in batch if item.trace is not None]
        if traced:
            traced[0].batch(traced, sum(item.rows for item in batch), compute)
        return [
            (_rows_of(outputs, item, offset), started - item.enqueued, compute)
            for item, offset in zip(batch, _offsets(batch), strict=True)
        ]  # fmt: skip

    async def _execute_batch(self, batch: list[_Item]) -> tuple[Arrays, int]:
        if len(batch) == 1:
            only = batch[0]
            return await self._execute(only.inputs, only.outputs)
        names = list(dict.fromkeys(n for item in batch for n in item.outputs))
        inputs = {n: np.concatenate([item.inputs[n] for item in batch]) for n in batch[0].inputs}
        outputs, compute = await self._execute(inputs, names)
        total = sum(item.rows for item in batch)
        for name in names:
            got = outputs[name].shape[0] if np.ndim(outputs[name]) else None
            if got != total:
                raise InferenceFailed(
                    f"model '{self._name}' returned {got} rows of '{name}' for a batch of {total}"
                )
        return outputs, compute

    async def close(self) -> None:
        """Stop taking requests, let running batches finish, fail what is still queued."""
        self._closed = True
        if self._collector is not None:
            self._collector.cancel()
            await asyncio.gather(self._collector, return_exceptions=True)
        await asyncio.gather(*self._running, return_exceptions=True)
        for item in self._queue.drain():
            if not item.future.done():
                item.future.set_exception(ModelNotReady(f"model '{self._name}' was unloaded"))


def _rows_of(outputs: Arrays, item: _Item, offset: int) -> dict[str, np.ndarray]:
    """This request's requested outputs: its own rows, or everything when it ran alone."""
    if item.rows < 0:
        return {n: a for n, a in outputs.items() if n in item.outputs}
    return {n: a[offset : offset + item.rows] for n, a in outputs.items() if n in item.outputs}


def _offsets(batch: list[_Item]) -> list[int]:
    return [0, *accumulate(max(item.rows, 0) for item in batch)][:-1]


def _settle(future: asyncio.Future[Result], result: Result | BaseException) -> None:
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
