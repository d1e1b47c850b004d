"""Each loaded model version gets one execution strategy at load, and it decides how a call
reaches the runtime: inline (computed where the request is parsed), in the model's threads,
or through the batcher (a lone request to an inline model still computed on the spot)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from modelport.config import DynamicBatching, ModelConfig
from modelport.execution import Batched, Inline, Threaded
from modelport.model import LoadedModel
from modelport.tensor import TensorSpec
from modelport.types import ModelMetadata

SPEC = (TensorSpec("x", "FP32", (-1, 2)),)


class Doubler:
    platform = "test"
    inputs = outputs = SPEC

    def infer(self, inputs, outputs):
        return {"x": inputs["x"] * 2}

    def unload(self) -> None:
        """Nothing held."""


def model(inline: bool, batched: bool) -> LoadedModel:
    config = ModelConfig(dynamic_batching=DynamicBatching() if batched else None)
    metadata = ModelMetadata(name="m", platform="test", inputs=SPEC, outputs=SPEC,
                             max_batch_size=8)  # fmt: skip
    return LoadedModel(metadata, "1", Doubler(), config, inline=inline)


@pytest.mark.parametrize(
    ("inline", "batched", "kind"),
    [
        (True, False, Inline),
        (False, False, Threaded),
        (True, True, Batched),
        (False, True, Batched),
    ],
)
async def test_each_model_gets_the_strategy_its_load_chose(inline, batched, kind) -> None:
    m = model(inline, batched)
    assert isinstance(m.execution, kind)
    x = np.ones((3, 2), np.float32)
    result, _, compute = await m.run_timed({"x": x}, ["x"])
    np.testing.assert_array_equal(result["x"], x * 2)
    assert m.stats.execution_count == 1 and compute > 0
    m.close()


async def test_runs_now_follows_the_strategy_and_never_a_parked_model() -> None:
    inline, threaded, batched = model(True, False), model(False, False), model(True, True)
    assert inline.runs_now() and not threaded.runs_now()
    assert batched.runs_now()  # alone: nothing queued, running or arriving with it
    assert not batched.runs_now()  # a second one in the same loop iteration: batched
    await asyncio.sleep(0)
    inline.park()
    assert not inline.runs_now()
    for m in (inline, threaded, batched):
        m.close()


async def test_only_a_resident_inline_model_may_be_claimed_by_another_thread() -> None:
    inline, threaded, batched = model(True, False), model(False, False), model(True, True)
    assert inline.claim()
    assert not threaded.claim() and not batched.claim()  # their work belongs to the loop
    inline.unclaim()
    inline.park()
    assert not inline.claim()
    for m in (inline, threaded, batched):
        m.close()


async def test_a_claimed_runtime_is_not_closed_until_its_computation_ends() -> None:
    m = model(True, False)
    assert m.claim()
    closing = asyncio.create_task(asyncio.to_thread(m.close))
    await asyncio.sleep(0.2)
    assert not closing.done()  # waits for the gRPC thread's computation
    assert not m.claim()  # and no new one starts meanwhile
    m.unclaim()
    await asyncio.wait_for(closing, 10)
    assert not m.resident


async def test_requests_found_not_alone_are_batched_together_when_they_reach_the_batcher() -> None:
    """A transport asks runs_now() as requests arrive: the first of a burst is computed on
    the spot, the rest wait for the batcher in tasks of their own, and form one batch there
    (not a second lone run for the first of them to get there)."""
    m = model(True, True)
    x = {"x": np.ones((1, 2), np.float32)}
    assert m.runs_now() and [m.runs_now() for _ in range(3)] == [False] * 3
    m.run_now_timed(x, ["x"])  # the first, on the spot
    await asyncio.sleep(0)  # the next loop iteration: the other three's tasks run
    await asyncio.gather(*(m.run_timed(x, ["x"]) for _ in range(3)))
    assert m.stats.batch_sizes[0] == 1  # one execution of one row (the first) ...
    assert m.stats.execution_count == 2  # ... and one batch of the other three
    m.close()
