"""Which partitions a node pops from and reclaims in (``docs/partitions.md``).

Each node walks the partitions from its own random starting point: a round pops from the
next ``k = min(P, ceil(want / SHARE))`` of them, skipping a partition whose last pop said
nothing was queued for a backoff that doubles up to ``MAX_BACKOFF`` seconds (reset when the
node pushes into it or a pop finds work there). When every partition is backed off, the one
whose backoff ends first is popped: a node never stops asking. Each heartbeat reclaims
expired leases in the next ``ceil(P / RECLAIM_SHARE)`` partitions of a second walk.
"""

from __future__ import annotations

import math
import random
import time

SHARE = 16  # entries wanted a partition popped
FIRST_BACKOFF = 0.25  # seconds a partition found empty is skipped, doubling ...
MAX_BACKOFF = 10.0  # ... up to this
RECLAIM_SHARE = 8  # a heartbeat reclaims in one partition of this many


class PopWalk:
    """One node's walk over the ``count`` partitions of its crawl."""

    def __init__(self, count: int, rng: random.Random | None = None) -> None:
        rng = rng or random.Random()
        self.count = count
        self._next = rng.randrange(count)
        self._next_reclaim = rng.randrange(count)
        self._backoff: dict[int, float] = {}  # partition -> seconds of its last backoff
        self._until: dict[int, float] = {}  # partition -> monotonic time it is skipped until

    def choose(self, want: int, now: float | None = None) -> list[tuple[int, int]]:
        """``(partition, how many)`` to pop this round for ``want`` entries."""
        if want <= 0:
            return []
        if self.count == 1:
            return [(0, want)]
        now = time.monotonic() if now is None else now
        k = min(self.count, math.ceil(want / SHARE))
        order = [(self._next + i) % self.count for i in range(self.count)]
        ready = [p for p in order if self._until.get(p, 0.0) <= now][:k]
        if not ready:  # every partition backed off: the one that comes back first
            ready = [min(order, key=lambda p: self._until[p])]
        self._next = (ready[-1] + 1) % self.count
        share, extra = divmod(want, len(ready))
        return [(p, share + (i < extra)) for i, p in enumerate(ready) if share + (i < extra)]

    def popped(self, partition: int, nothing_queued: bool, now: float | None = None) -> None:
        """What a pop in ``partition`` said: whether nothing is queued there now."""
        if not nothing_queued:
            self.pushed_into(partition)
            return
        now = time.monotonic() if now is None else now
        backoff = min(MAX_BACKOFF, self._backoff.get(partition, FIRST_BACKOFF / 2) * 2)
        self._backoff[partition] = backoff
        self._until[partition] = now + backoff

    def pushed_into(self, partition: int) -> None:
        """This node queued work in ``partition``: pop there again at once."""
        self._backoff.pop(partition, None)
        self._until.pop(partition, None)

    def to_reclaim(self) -> list[int]:
        """The partitions this heartbeat reclaims expired leases in."""
        step = math.ceil(self.count / RECLAIM_SHARE)
        chosen = [(self._next_reclaim + i) % self.count for i in range(step)]
        self._next_reclaim = (self._next_reclaim + step) % self.count
        return chosen
