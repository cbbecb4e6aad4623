"""What one round between a node and the frontier carries, and what it brings back.

A node gathers what it has to say in an ``Outgoing``; ``Frontier.exchange`` sends it as
one pipeline of scripts and ``read_results`` turns their replies into an ``Incoming``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from crawler.frontier.formats import Entry, split_popped


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

    ``acks`` are saved in one atomic script with the first ``batch_size`` pushes: an ack
    whose request yielded pushes beyond those must wait until a round saved them, or a
    refused script could leave a parent acknowledged and its children unsaved.
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
    saved: list[range] = field(default_factory=list)  # the indexes of the pushes saved
    acks_saved: bool = False  # whether the acks and dead letters were saved
    # after a pop: seconds until a queued domain may be served again (inf: none queued)
    next_ready: float | None = None
    wanted: int = 0  # entries the pop asked for


def read_results(plan: list[tuple[str, range]], results: list[Any]) -> Incoming:
    """What the steps of ``plan`` (each named, with the indexes of the pushes it saves)
    that succeeded brought back; the first error, if any, in ``error``."""
    got = Incoming()
    for (step, pushes), result in zip(plan, results, strict=True):
        if isinstance(result, Exception):
            got.error = got.error or result
        elif step in ("push", "push+acks"):
            got.added += int(result[0])
            got.duplicates += int(result[1])
            got.acked += int(result[2])
            got.saved.append(pushes)
            got.acks_saved = got.acks_saved or step == "push+acks"
        elif step in ("reclaim", "failed"):
            got.reclaimed += int(result[0]) if step == "reclaim" else 0
            got.poisoned += int(result[1])
        elif step == "pop":
            isolated, next_ready, sizes, entries = result
            got.popped = split_popped(sizes, entries)
            got.suspect = isolated.decode() if isolated else None
            got.next_ready = int(next_ready) / 1000 if int(next_ready) >= 0 else math.inf
        elif step == "heartbeat":
            now, queued, leased, seeds, enqueued, control, busy_until = result
            got.cluster = ClusterView(float(now), int(queued), int(leased), int(seeds),
                                      int(enqueued), control.decode(), float(busy_until))
    return got

