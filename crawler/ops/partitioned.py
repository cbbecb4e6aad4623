"""A crawl's per-partition state read as one crawl (``docs/partitions.md``): queues,
leases, attempts, counters and dead letters summed over every partition.

A crawl that recorded no number of partitions has one, whose keys are the crawl's own:
it is read with exactly the commands of earlier versions. Every partition is read in one
pipeline, which a cluster client splits per master and sends in parallel.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from crawler.redis.keys import CrawlKeys

# Counters that the item store keeps in partition 0's stats hash for the whole crawl:
# read once, never summed with (nor mistaken for) a partition's own.
CRAWL_WIDE_COUNTERS = frozenset({"items", "item_duplicates"})


@dataclass(frozen=True)
class PartitionState:
    """What one partition holds now."""

    keys: CrawlKeys
    domains: int = 0  # domains with entries queued
    retrying: int = 0  # entries that failed before (their attempts)
    leased: int = 0
    dead: int = 0  # dead letters
    counts: dict[str, int] = field(default_factory=dict)  # its stats hash

    @property
    def queued(self) -> int:
        """Entries in its domain queues (the stats' ``queued``)."""
        return self.counts.get("queued", 0)


READS = 5  # commands ``queue_reads`` adds a partition


def queue_reads(pipe: Any, keys: CrawlKeys) -> None:
    """Add to ``pipe`` the ``READS`` commands that read the partition of ``keys``."""
    pipe.zcount(keys.domains, "-inf", "(inf")  # not the member scored +inf (lib.lua)
    pipe.hlen(keys.attempts)
    pipe.hlen(keys.leased)
    pipe.hgetall(keys.stats)
    pipe.llen(keys.dead)


def parse(keys: CrawlKeys, replies: list[Any]) -> PartitionState:
    """The state of the partition of ``keys`` from the replies to its ``queue_reads``."""
    domains, retrying, leased, stats, dead = replies
    counts = {k.decode(): int(v) for k, v in stats.items() if v.lstrip(b"-").isdigit()}
    return PartitionState(keys, int(domains), int(retrying), int(leased), int(dead), counts)


def read(client: Any, every: list[CrawlKeys]) -> list[PartitionState]:
    """The state of each partition of ``every``, read in one pipeline."""
    if not every:
        return []
    pipe = client.pipeline(transaction=False)
    for keys in every:
        queue_reads(pipe, keys)
    replies = pipe.execute()
    return [parse(keys, replies[i * READS:(i + 1) * READS]) for i, keys in enumerate(every)]


def counters(states: list[PartitionState]) -> dict[str, int]:
    """The crawl's counters: each partition's summed, the crawl-wide ones (items) as
    partition 0 (``states[0]``) holds them."""
    total: dict[str, int] = {}
    for state in states:
        for name, value in state.counts.items():
            if name not in CRAWL_WIDE_COUNTERS:
                total[name] = total.get(name, 0) + value
    return {**total, **{k: v for k, v in states[0].counts.items() if k in CRAWL_WIDE_COUNTERS}}


def balance(queued: Iterable[int]) -> float | None:
    """How unevenly entries are queued: the fullest partition's count over the mean (1.0
    is even, the number of partitions is all in one); ``None`` with nothing queued."""
    counts = [max(0, n) for n in queued]
    total = sum(counts)
    return round(max(counts) * len(counts) / total, 2) if total else None


def newest_first(lists: Iterable[list[dict[str, Any]]], limit: int) -> list[dict[str, Any]]:
    """The ``limit`` newest of several lists of records, each newest first (dead letters,
    whose ``time`` is Redis server time), merged; a record without a time counts as
    oldest. One list comes back in its own order."""
    def when(record: dict[str, Any]) -> float:
        try:
            return float(record.get("time") or 0)
        except (TypeError, ValueError):
            return 0.0
    return list(itertools.islice(heapq.merge(*lists, key=when, reverse=True), limit))
