"""The dynamic batcher's waiting requests, with O(1) bookkeeping per request.

Waiting requests are kept in arrival order and, beside it, in one FIFO per stackable kind
(``key``) with its row count. A request that leaves early (timed out, or its caller went
away) is only marked, and skipped when it reaches the front, so nothing is ever searched
for or removed from the middle.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, Protocol, TypeVar


class Waiting(Protocol):
    key: tuple[object, ...]
    """Requests of one key can be stacked into one batch."""
    rows: int
    """-1: its inputs disagree on dim 0, so it runs alone."""
    waiting: bool


Item = TypeVar("Item", bound=Waiting)


class WaitQueue(Generic[Item]):
    """Waiting requests: in arrival order, and by kind with each kind's rows."""

    def __init__(self) -> None:
        self._arrivals: deque[Item] = deque()
        self._kinds: dict[tuple[object, ...], deque[Item]] = {}
        self._rows: dict[tuple[object, ...], int] = {}
        self._counts: dict[tuple[object, ...], int] = {}
        self.depth = 0

    def add(self, item: Item) -> None:
        self._arrivals.append(item)
        self._kinds.setdefault(item.key, deque()).append(item)
        self._rows[item.key] = self._rows.get(item.key, 0) + item.rows
        self._counts[item.key] = self._counts.get(item.key, 0) + 1
        self.depth += 1

    def leave(self, item: Item) -> None:
        """``item`` goes without being batched; it is skipped when it reaches the front."""
        if not item.waiting:
            return
        item.waiting = False
        self.depth -= 1
        self._rows[item.key] -= item.rows
        self._counts[item.key] -= 1
        if not self._counts[item.key]:  # none of its kind waits: forget the kind
            del self._kinds[item.key], self._rows[item.key], self._counts[item.key]

    def oldest(self) -> Item | None:
        while self._arrivals and not self._arrivals[0].waiting:
            self._arrivals.popleft()
        return self._arrivals[0] if self._arrivals else None

    def rows(self, key: tuple[object, ...]) -> int:
        return self._rows.get(key, 0)

    def take(self, first: Item, max_rows: int) -> list[Item]:
        """The oldest waiting requests of ``first``'s kind, up to ``max_rows`` rows."""
        kind = self._kinds.get(first.key, deque())
        batch: list[Item] = []
        rows = 0
        while kind:
            item = kind[0]
            if item.waiting and batch and (rows + item.rows > max_rows or first.rows < 0):
                break
            kind.popleft()
            if item.waiting:
                self.leave(item)
                batch.append(item)
                rows += item.rows
        return batch

    def drain(self) -> list[Item]:
        """Every waiting request, oldest first; the queue is empty after."""
        left = [item for item in self._arrivals if item.waiting]
        for item in left:
            self.leave(item)
        self._arrivals.clear()
        return left
