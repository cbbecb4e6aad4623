"""What one round between a node and the frontier carries, and what it brings back.

A node gathers what it has to say in an ``Outgoing``; ``Frontier.exchange`` sends it as
one pipeline of scripts and ``read_results`` turns their replies into an ``Incoming``.
Lease ids are the node's (``lease_ids``: prefixed with their partition but partition 0's).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from crawler.frontier import lease_ids
from crawler.frontier.formats import Entry, read_popped


class Push(NamedTuple):
    """A request to enqueue: its fingerprint, priority, domain and encoded request. No
    fingerprint: enqueued, nothing checked nor recorded (Scrapy's ``dont_filter``). With
    one and ``dont_filter`` (a re-crawled seed): enqueued even if seen, and recorded.
    (A tuple: a node makes one per request it enqueues.)"""

    fingerprint: bytes | None
    priority: int
    domain: str
    payload: bytes
    dont_filter: bool = False


@dataclass
class Outgoing:
    """What a node sends in one exchange.

    ``acks`` are saved in one atomic script with the first ``batch_size`` pushes of their
    partition: an ack whose request yielded pushes beyond those (or, in a crawl of several
    partitions, any push) must wait until a round saved them, or a refused script could
    leave a parent acknowledged and its children unsaved.
    """

    pushes: list[Push] = field(default_factory=list)
    dead: list[tuple[Entry, str]] = field(default_factory=list)
    acks: list[str] = field(default_factory=list)
    release: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    renew: list[str] = field(default_factory=list)
    pop: int = 0
    suspects_ok: bool = True  # may the pop include an entry that failed twice or more?
    heartbeat: dict[str, Any] | None = None
    reclaim: bool = False
    crawl_delays: dict[str, float] = field(default_factory=dict)  # robots.txt, per domain


@dataclass(frozen=True)
class ClusterView:
    """The cluster's state as the last heartbeat read it (times are Redis server time)."""

    now: float
    queued: int
    leased: int
    seeds: int
    enqueued: int
    control: str = ""
    busy_until: float = -math.inf  # the latest time until which a node keeps the crawl
    # from ending (busy, or idle for less than the idle timeout, and live)
    # with several partitions: each one's (queued, leased, enqueued), partition 0 first
    # (the totals above are their sums); None when a read failed
    parts: tuple[tuple[int, int, int], ...] | None = ()


@dataclass
class Incoming:
    """What one exchange brought back."""

    added: int = 0
    duplicates: int = 0
    acked: int = 0
    reclaimed: int = 0
    poisoned: int = 0
    popped: list[Entry] = field(default_factory=list)
    cluster: ClusterView | None = None
    error: Exception | None = None  # a step Redis refused; the others' results are here
    sent: bool = False  # whether anything went to Redis (an empty round sends nothing)
    suspect: str | None = None  # id of the popped entry that failed twice or more, if any
    saved: list[Sequence[int]] = field(default_factory=list)  # indexes of the pushes saved
    acks_saved: bool = False  # whether the acks and dead letters were saved (every one)
    # after a pop: seconds until a queued domain may be served again (inf: none queued)
    next_ready: float | None = None
    wanted: int = 0  # entries the pop asked for
    pops: list[tuple[int, bool]] = field(default_factory=list)  # (partition, nothing queued)
    # the partitions but 0's queued, leased, seen and done summed, if the heartbeat read them
    others: list[int] | None = None


class Step(NamedTuple):
    """One call of a round: what it is, the indexes of the pushes it saves, its partition."""

    name: str
    pushes: Sequence[int]
    partition: int


def read_results(plan: list[Step], results: list[Any], partitions: int = 1) -> Incoming:
    """What the steps of ``plan`` that succeeded brought back (in a crawl of
    ``partitions``); the first error, if any, in ``error``."""
    got = Incoming()
    acks_steps = acks_failed = 0
    heartbeat: list[Any] | None = None
    counts: dict[int, list[int]] = {}  # partition -> [enqueued, seen, done, queued, leased]
    unread = False  # a partition's counts failed
    for (step, pushes, partition), result in zip(plan, results, strict=True):
        if isinstance(result, Exception):
            got.error = got.error or result
            acks_failed += step in ("push+acks", "pop+acks")
            unread = unread or step in ("stats", "leased")
        elif step in ("push", "push+acks"):
            got.added += int(result[0])
            got.duplicates += int(result[1])
            got.acked += int(result[2])
            got.saved.append(pushes)
            acks_steps += step == "push+acks"
        elif step in ("reclaim", "failed"):
            got.reclaimed += int(result[0]) if step == "reclaim" else 0
            got.poisoned += int(result[1])
        elif step in ("pop", "pop+acks"):
            _read_pop(got, partition, result)
            acks_steps += step == "pop+acks"
        elif step == "heartbeat":
            heartbeat = result
        elif step == "stats":
            counts[partition] = [int(v or 0) for v in result]
        elif step == "leased" and partition in counts:
            counts[partition].append(int(result))
    got.acks_saved = acks_steps > 0 and not acks_failed
    if heartbeat is not None:
        got.cluster = _cluster_view(heartbeat, {} if unread else counts, partitions)
        if got.cluster.parts is not None and partitions > 1:
            got.others = [sum(c[i] for c in counts.values()) for i in (3, 4, 1, 2)]
    return got


def _read_pop(got: Incoming, partition: int, result: Any) -> None:
    """Add a pop's reply (in ``partition``) to ``got``: its entries under the node's lease
    ids, and the soonest time a queued domain may be served."""
    isolated, next_ready, acked, numbers, ids, *groups = result
    got.acked += int(acked)
    popped = read_popped(numbers, ids, groups)
    if partition:
        popped = [e._replace(id=lease_ids.tagged(partition, e.id)) for e in popped]
    got.popped += popped
    if isolated:
        got.suspect = lease_ids.tagged(partition, isolated.decode())
    ready = int(next_ready) / 1000 if int(next_ready) >= 0 else math.inf
    got.next_ready = ready if got.next_ready is None else min(got.next_ready, ready)
    # Nothing queued: no domain queued and nothing handed out (seeds, partition 0's, are
    # handed out by a pop that finds no domain: more may wait)
    got.pops.append((partition, math.isinf(ready) and not popped))


def _cluster_view(heartbeat: list[Any], counts: dict[int, list[int]],
                  partitions: int) -> ClusterView:
    """The cluster view of heartbeat.lua's reply (partition 0's counts) and, with several
    partitions, the others' ``counts`` (``[enqueued, seen, done, queued, leased]``)."""
    now, queued, leased, seeds, enqueued, control, busy_until = heartbeat
    view = ClusterView(float(now), int(queued), int(leased), int(seeds), int(enqueued),
                       control.decode(), float(busy_until))
    if partitions == 1:
        return view
    if len(counts) != partitions - 1 or any(len(c) != 5 for c in counts.values()):
        return replace(view, parts=None)
    parts = ((view.queued, view.leased, view.enqueued),
             *((counts[p][3], counts[p][4], counts[p][0]) for p in range(1, partitions)))
    return replace(view, queued=sum(q for q, _, _ in parts), leased=sum(v for _, v, _ in parts),
                   enqueued=sum(e for _, _, e in parts), parts=parts)
