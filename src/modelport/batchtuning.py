"""Online tuning of a batcher to a latency objective (``dynamic_batching.latency_slo_ms``).

The configured ``max_queue_delay_microseconds`` and ``max_batch_size`` become upper bounds;
the tuner chooses the delay and the batch cap actually used. Every ``PERIOD_NS`` with at least
``MIN_SAMPLES`` answered requests it reads the period's p99 latency (queue + compute) and:

- over ``HIGH`` x the objective: takes a quarter off the delay, and once the delay is spent, a
  quarter off the cap (smaller batches finish sooner), unless batches leave requests behind
  (then a smaller cap would lower throughput and raise latency: it waits);
- under ``LOW`` x the objective: gives back an eighth of the bounds (waiting for partners
  and bigger batches raise throughput while latency allows);
- in between: holds.

Small steps and a band between the two lines keep it still under steady load: a step moves
latency less than the band is wide, so it settles inside the band instead of see-sawing.
Sans-IO: time comes in as numbers, so tests drive it with a model of the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PERIOD_NS = 1_000_000_000
MIN_SAMPLES = 64
MAX_SAMPLES = 20_000
HIGH = 0.9
LOW = 0.6


@dataclass
class SloTuner:
    slo_ns: int
    max_delay_us: int
    max_batch: int
    delay_us: int = field(init=False)
    cap: int = field(init=False)
    p99_ns: int = field(init=False, default=0)
    """The last full period's p99 latency."""
    adjustments: int = field(init=False, default=0)
    _samples: list[int] = field(init=False, default_factory=list)
    _behind: int = field(init=False, default=0)
    _period_start: int = field(init=False, default=-1)

    def __post_init__(self) -> None:
        self.delay_us, self.cap = self.max_delay_us, self.max_batch

    def observe(self, latency_ns: int, now_ns: int, left_behind: bool = False) -> None:
        """One answered request's latency; a batch that left requests waiting says so."""
        if self._period_start < 0:
            self._period_start = now_ns
        if len(self._samples) < MAX_SAMPLES:
            self._samples.append(latency_ns)
        self._behind += int(left_behind)
        if now_ns - self._period_start >= PERIOD_NS and len(self._samples) >= MIN_SAMPLES:
            self._adjust()
            self._samples, self._behind, self._period_start = [], 0, now_ns

    def _adjust(self) -> None:
        self.p99_ns = int(np.percentile(self._samples, 99))
        before = (self.delay_us, self.cap)
        if self.p99_ns > HIGH * self.slo_ns:
            self._tighten()
        elif self.p99_ns < LOW * self.slo_ns:
            self.delay_us = min(self.max_delay_us, self.delay_us + max(1, self.max_delay_us // 8))
            self.cap = min(self.max_batch, self.cap + max(1, self.max_batch // 8))
        self.adjustments += int((self.delay_us, self.cap) != before)

    def _tighten(self) -> None:
        if self.delay_us > 0:  # the last sixteenth goes at once, not in ever smaller steps
            small = self.delay_us <= self.max_delay_us // 16
            self.delay_us = 0 if small else self.delay_us * 3 // 4
        elif not self._behind:  # batches keep up: smaller ones finish sooner
            self.cap = max(1, self.cap * 3 // 4)
