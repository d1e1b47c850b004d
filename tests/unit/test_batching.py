"""The dynamic batcher alone (RELIABILITY D1-D8, R8-R9), with a few lines of numpy as model."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from modelport.batching import BatchingPolicy, DynamicBatcher
from modelport.errors import InferenceFailed, InvalidInput, ModelNotReady, QueueFull, RequestTimeout

Arrays = Mapping[str, np.ndarray]


class EchoModel:
    """y = x, z = x * 2; remembers the batch sizes it saw. Knobs for faults and slowness."""

    def __init__(self, delay: float = 0.0, drop_row: bool = False) -> None:
        self.batches: list[int] = []
        self.shapes: list[tuple[int, ...]] = []
        self.delay = delay
        self.drop_row = drop_row

    async def __call__(self, inputs: Arrays, outputs: Sequence[str]) -> tuple[Arrays, int]:
        x = inputs["x"]
        self.batches.append(len(x))
        self.shapes.append(x.shape)
        if self.delay:
            await asyncio.sleep(self.delay)
        if np.any(x == -1):
            raise InvalidInput("poisoned row")
        y = x[:-1] if self.drop_row and len(x) > 1 else x
        return {"y": y.copy(), "z": y * 2}, 1000


def batcher(model: EchoModel, **policy: object) -> DynamicBatcher:
    settings = {"max_batch_size": 32, "max_queue_delay_us": 5000, **policy}
    return DynamicBatcher(model, BatchingPolicy(**settings), "echo")  # type: ignore[arg-type]


def rows(values: list[float]) -> dict[str, np.ndarray]:
    return {"x": np.array(values, np.float32).reshape(len(values), 1)}


async def test_d1_each_request_gets_exactly_its_own_rows() -> None:
    model = EchoModel(delay=0.001)
    b = batcher(model)
    payloads = [[float(i), float(i) + 0.5] for i in range(64)]
    results = await asyncio.gather(*(b.submit(rows(p), ["y"]) for p in payloads))
    for payload, (outputs, queued, compute) in zip(payloads, results, strict=True):
        assert outputs["y"].ravel().tolist() == payload
        assert queued >= 0 and compute == 1000
    assert len(model.batches) < 64 and max(model.batches) <= 32
    await b.close()


async def test_d2_mixed_batch_sizes_in_one_window() -> None:
    b = batcher(EchoModel())
    sizes = [1, 3, 7]
    inputs = [[float(100 * n + i) for i in range(n)] for n in sizes]
    results = await asyncio.gather(*(b.submit(rows(x), ["y"]) for x in inputs))
    assert [r[0]["y"].ravel().tolist() for r in results] == inputs
    await b.close()


async def test_d3_each_gets_only_the_outputs_it_asked_for() -> None:
    model = EchoModel(delay=0.01)
    b = batcher(model)
    first = asyncio.create_task(b.submit(rows([0]), ["y"]))  # alone: runs at once
    await asyncio.sleep(0)  # the three below arrive together while it runs
    only_y, only_z, both = await asyncio.gather(
        b.submit(rows([1]), ["y"]), b.submit(rows([2]), ["z"]), b.submit(rows([3]), ["y", "z"])
    )
    await first
    assert set(only_y[0]) == {"y"} and set(only_z[0]) == {"z"} and set(both[0]) == {"y", "z"}
    assert only_z[0]["z"].ravel().tolist() == [4.0]
    assert model.batches == [1, 3]
    await b.close()


async def test_d4_shapes_that_cannot_stack_are_not_merged() -> None:
    model = EchoModel()
    b = batcher(model)
    narrow = {"x": np.ones((2, 1), np.float32)}
    wide = {"x": np.ones((2, 3), np.float32)}
    a, c = await asyncio.gather(b.submit(narrow, ["y"]), b.submit(wide, ["y"]))
    assert a[0]["y"].shape == (2, 1) and c[0]["y"].shape == (2, 3)
    assert sorted(model.shapes) == [(2, 1), (2, 3)]
    await b.close()


async def test_d5_wrong_row_count_fails_the_batch_loudly() -> None:
    b = batcher(EchoModel(drop_row=True))
    results = await asyncio.gather(
        *(b.submit(rows([float(i)]), ["y"]) for i in range(3)), return_exceptions=True
    )
    # The batch of 3 fails; retried alone, each request of one row gets its own answer.
    assert all(not isinstance(r, BaseException) for r in results)
    assert [r[0]["y"].tolist() for r in results] == [[[0.0]], [[1.0]], [[2.0]]]  # type: ignore[index]


async def test_d5_wrong_row_count_message() -> None:
    b = batcher(EchoModel(drop_row=True))
    with pytest.raises(InferenceFailed, match="returned 1 rows of 'y' for a batch of 2"):
        await b._execute_batch([b._item(rows([1]), ["y"]), b._item(rows([2]), ["y"])])


async def test_d6_one_bad_request_fails_alone() -> None:
    b = batcher(EchoModel())
    results = await asyncio.gather(
        *(b.submit(rows([-1.0 if i == 2 else float(i)]), ["y"]) for i in range(5)),
        return_exceptions=True,
    )
    assert isinstance(results[2], InvalidInput)
    good = [r for i, r in enumerate(results) if i != 2]
    assert [r[0]["y"].item() for r in good] == [0.0, 1.0, 3.0, 4.0]  # type: ignore[index]
    await b.close()


async def test_d7_a_cancelled_request_leaves_the_others_alone() -> None:
    b = batcher(EchoModel(delay=0.01))
    tasks = [asyncio.create_task(b.submit(rows([float(i)]), ["y"])) for i in range(6)]
    await asyncio.sleep(0)
    tasks[3].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[3], asyncio.CancelledError)
    assert [r[0]["y"].item() for i, r in enumerate(results) if i != 3] == [0, 1, 2, 4, 5]  # type: ignore[index]
    again = await b.submit(rows([9.0]), ["y"])
    assert again[0]["y"].item() == 9.0
    await b.close()


async def test_d8_preserve_ordering_across_instances() -> None:
    class Slower(EchoModel):
        async def __call__(self, inputs: Arrays, outputs: Sequence[str]) -> tuple[Arrays, int]:
            await asyncio.sleep(0.03 if inputs["x"][0, 0] == 0 else 0.0)  # first batch is slow
            return await super().__call__(inputs, outputs)

    b = batcher(Slower(), max_batch_size=1, instances=2, preserve_ordering=True)
    finished: list[int] = []

    async def one(i: int) -> None:
        await b.submit(rows([float(i)]), ["y"])
        finished.append(i)

    await asyncio.gather(*(one(i) for i in range(4)))
    assert finished == [0, 1, 2, 3]
    await b.close()


async def test_r8_full_queue_is_refused_at_once() -> None:
    b = batcher(EchoModel(delay=0.05), max_batch_size=1, max_queue_size=2)
    first = asyncio.create_task(b.submit(rows([0.0]), ["y"]))
    await asyncio.sleep(0.01)  # the first one is running; two more fill the queue
    queued = [asyncio.create_task(b.submit(rows([float(i)]), ["y"])) for i in (1, 2)]
    await asyncio.sleep(0)
    with pytest.raises(QueueFull, match="queue of model 'echo' is full"):
        await b.submit(rows([3.0]), ["y"])
    await asyncio.gather(first, *queued)
    await b.close()


async def test_r9_timeout_fails_alone_and_frees_the_slot() -> None:
    b = batcher(EchoModel(delay=0.05), max_batch_size=1, default_timeout_us=10_000)
    slow = asyncio.create_task(b.submit(rows([0.0]), ["y"], timeout_us=1_000_000))
    await asyncio.sleep(0.005)
    with pytest.raises(RequestTimeout, match="timed out after"):
        await b.submit(rows([1.0]), ["y"])  # waits behind the slow one past 10 ms
    await slow
    assert (await b.submit(rows([2.0]), ["y"], timeout_us=1_000_000))[0]["y"].item() == 2.0
    await b.close()


async def test_close_fails_what_is_queued() -> None:
    b = batcher(EchoModel(delay=0.05), max_batch_size=1)
    running = asyncio.create_task(b.submit(rows([0.0]), ["y"]))
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(b.submit(rows([1.0]), ["y"]))
    await asyncio.sleep(0)
    await b.close()
    assert (await running)[0]["y"].item() == 0.0
    with pytest.raises(ModelNotReady):
        await waiting
    with pytest.raises(ModelNotReady, match="unloading"):
        await b.submit(rows([2.0]), ["y"])


async def test_a_lone_request_does_not_wait_out_the_delay() -> None:
    """With nothing else being served, waiting for partners cannot pay: it goes at once."""
    calls: list[int] = []

    async def execute(inputs: Mapping[str, np.ndarray], outputs: Sequence[str]) -> tuple[dict, int]:
        calls.append(len(inputs["x"]))
        await asyncio.sleep(0.05)  # a batch that takes a while: requests gather meanwhile
        return {"y": inputs["x"] * 2}, 0

    # A delay of 1,000 s: any wait for partners would outlast the test's 60 s bound.
    batcher = DynamicBatcher(execute, BatchingPolicy(max_batch_size=8, max_queue_delay_us=10**9))
    one = np.ones((1, 1), np.float32)
    first = asyncio.create_task(batcher.submit({"x": one}, ["y"]))
    await asyncio.sleep(0.01)  # it runs now, not after the delay
    assert calls == [1]
    assert batcher._collector is None  # in its own task: no hand-off to a collector
    behind = [asyncio.create_task(batcher.submit({"x": one}, ["y"])) for _ in range(3)]
    await asyncio.wait_for(asyncio.gather(first, *behind), timeout=60)
    assert calls == [1, 3]  # those that came while it ran: one batch, as soon as it ended
    await batcher.close()


async def test_a_long_queue_with_abandoned_requests_serves_the_rest_and_forgets_them() -> None:
    """4,000 requests of two kinds queue behind a slow batch; every third caller goes away.
    The others get their own rows, the depth counts only who waits, and once all is done
    the queue holds nothing (abandoned requests are marked and skipped, never searched for)."""
    model = EchoModel(delay=0.01)
    b = batcher(model, max_batch_size=64)
    blocker = asyncio.ensure_future(b.submit(rows([0.0]), ["y"]))
    await asyncio.sleep(0)
    kinds = [
        rows([float(i)]) if i % 2 else {"x": np.full((1, 2), i, np.float32)} for i in range(4000)
    ]
    calls = [asyncio.ensure_future(b.submit(x, ["y"])) for x in kinds]
    await asyncio.sleep(0)
    for call in calls[::3]:
        call.cancel()
    await asyncio.sleep(0)  # the cancellations reach the queue's callbacks
    assert b.depth == 4000 - len(calls[::3])
    results = await asyncio.gather(*calls, return_exceptions=True)
    await blocker
    for i, (x, result) in enumerate(zip(kinds, results, strict=True)):
        if i % 3 == 0:
            assert isinstance(result, asyncio.CancelledError)
        else:
            assert isinstance(result, tuple) and np.array_equal(result[0]["y"], x["x"])
    assert b.depth == 0 and b._queue.oldest() is None and not b._queue._kinds
    await b.close()


async def test_a_request_is_alone_only_when_nothing_arrived_with_it() -> None:
    """The first request of a loop iteration with nothing waiting or running is alone (an
    inline model computes it on the spot); others in that iteration are not, and go to the
    batcher; an iteration after concurrent arrivals is not either; anything queued or running
    means company."""
    model = EchoModel(delay=0.01)
    b = batcher(model)
    assert b.alone_now() is True
    assert [b.alone_now(), b.alone_now()] == [False, False]
    behind = [asyncio.ensure_future(b.submit(rows([1.0]), ["y"])) for _ in range(2)]
    await asyncio.sleep(0)  # they are submitted: the iteration saw three requests
    running = b.alone_now()
    await asyncio.gather(*behind)
    assert running is False  # the two are queued or running
    await asyncio.sleep(0)
    assert b.alone_now() is False  # the last iteration with requests had two: concurrent
    await b.close()
    await asyncio.sleep(0)
    assert b.alone_now() is False  # closed: nothing runs through it any more


async def test_lone_requests_after_a_burst_are_alone_again() -> None:
    """Each request counts once, whichever way it goes: after concurrent requests went
    through the batcher, one client at a time is computed on the spot again (no request is
    counted twice, which would keep the batcher believing clients are concurrent)."""
    b = batcher(EchoModel())
    burst = [asyncio.ensure_future(b.submit(rows([float(i)]), ["y"])) for i in range(8)]
    await asyncio.gather(*burst)
    verdicts = []
    for i in range(6):  # then one client: ask, and submit when not alone
        alone = b.alone_now()
        verdicts.append(alone)
        if not alone:
            await b.submit(rows([float(i)]), ["y"])
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    assert verdicts[-3:] == [True, True, True]
    await b.close()
