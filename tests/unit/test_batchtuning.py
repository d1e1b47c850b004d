"""The latency-objective tuner against a model of a server (sans-IO: time is a number).
It brings p99 under the objective by giving up delay first, then batch size; it settles
and stays still under steady load; it never shrinks batches that leave requests behind;
and it gives the bounds back when latency allows."""

from __future__ import annotations

import numpy as np

from modelport.batchtuning import HIGH, PERIOD_NS, SloTuner

MS = 1_000_000
CLOCK = [0]
"""Time in ns, moving forward across every drive() of the module."""


def drive(tuner: SloTuner, latency_ms, periods: int, behind: bool = False) -> list[tuple]:
    """Feed ``periods`` seconds of 100 requests each, latency from the tuner's current
    choices; returns the (delay, cap, p99) after each period."""
    rng = np.random.default_rng(0)
    seen = []
    for _ in range(periods):
        for _ in range(100):
            CLOCK[0] += PERIOD_NS // 100
            now = CLOCK[0]
            base = latency_ms(tuner.delay_us, tuner.cap)
            tuner.observe(int(base * MS * rng.uniform(0.9, 1.0)), now, behind)
        seen.append((tuner.delay_us, tuner.cap, tuner.p99_ns))
    return seen


def server(delay_us: int, cap: int) -> float:
    """p99 of a server whose lone requests take 1 ms, each row of a batch 0.2 ms more, and
    whose requests wait out the delay."""
    return 1.0 + delay_us / 1000 + 0.2 * cap


def test_it_gives_up_delay_then_batch_size_until_p99_is_under_the_objective() -> None:
    tuner = SloTuner(slo_ns=5 * MS, max_delay_us=8000, max_batch=32)
    seen = drive(tuner, server, 40)
    delays = [d for d, _, _ in seen]
    first_cap_cut = next(i for i, (_, c, _) in enumerate(seen) if c < 32)
    assert delays[first_cap_cut] == 0  # the delay went first
    assert tuner.p99_ns <= HIGH * 5 * MS and tuner.delay_us == 0 and 1 < tuner.cap < 32
    assert len({(d, c) for d, c, _ in seen[-20:]}) == 1  # then it holds: no see-saw


def test_it_keeps_the_bounds_while_latency_is_well_under() -> None:
    tuner = SloTuner(slo_ns=50 * MS, max_delay_us=2000, max_batch=16)
    drive(tuner, server, 10)
    assert (tuner.delay_us, tuner.cap, tuner.adjustments) == (2000, 16, 0)


def test_batches_that_leave_requests_behind_are_not_shrunk() -> None:
    tuner = SloTuner(slo_ns=2 * MS, max_delay_us=1000, max_batch=32)
    drive(tuner, lambda delay, cap: 10.0, 20, behind=True)  # overloaded: p99 over regardless
    assert tuner.delay_us == 0 and tuner.cap == 32  # smaller batches would only serve fewer


def test_it_gives_the_bounds_back_when_latency_falls() -> None:
    tuner = SloTuner(slo_ns=5 * MS, max_delay_us=8000, max_batch=32)
    drive(tuner, server, 40)
    tightened = tuner.cap
    drive(tuner, lambda delay, cap: 0.5, 30)  # the load went away
    assert tuner.cap > tightened and tuner.cap == 32 and tuner.delay_us == 8000


def test_too_few_requests_change_nothing() -> None:
    tuner = SloTuner(slo_ns=1 * MS, max_delay_us=500, max_batch=8)
    for i in range(50):  # fewer than a period needs, however long it takes
        tuner.observe(100 * MS, i * PERIOD_NS)
    assert (tuner.delay_us, tuner.cap, tuner.adjustments) == (500, 8, 0)
