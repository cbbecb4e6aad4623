"""A crawl seen from outside: what ``scrapy status``, the dashboard and ``/metrics`` show.

``crawl_status`` reads one crawl with a blocking client (the dashboard calls it from
Twisted's thread pool) and returns plain JSON-ready values; ``progress`` and ``chart`` turn
the cluster's series of samples into a rate, an ETA and chart points. Times are Redis
server time, like the nodes' heartbeats and the samples, so the reader's clock never
matters.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import redis

from crawler.frontier import partitions
from crawler.frontier.exchange import SERIES_INTERVAL, SERIES_SAMPLES
from crawler.frontier.formats import Entry, Lease
from crawler.node import membership
from crawler.node.config import FrontierConfig
from crawler.ops import partitioned
from crawler.redis.keys import CrawlKeys

logger = logging.getLogger(__name__)

RATE_WINDOW = 60.0  # seconds of history behind the rate
ETA_WINDOW = 30.0  # seconds of history behind the ETA (a frontier turns from growing quickly)
MIN_SPAN = 5.0  # a rate measured over less time than this is noise
RECENT_SAMPLES = int((RATE_WINDOW + SERIES_INTERVAL) / SERIES_INTERVAL) + 2
GAP = 3 * SERIES_INTERVAL  # samples further apart than this: no node was sampling between
BUSIEST_DOMAINS = 5  # domains with the most requests in flight, shown by status
LEASE_SAMPLE = 1000  # leases read (a random sample) to count the leases by domain


@dataclass(frozen=True)
class Sample:
    """One cluster sample of the crawl's series (or the state just read, for "now")."""

    t: float
    queued: int
    leased: int
    seeds: int
    done: int
    items: int

    @property
    def remaining(self) -> int:
        """What is left to fetch: queued, leased and seeds waiting."""
        return self.queued + self.leased + self.seeds

    @classmethod
    def parse(cls, raw: bytes) -> Sample | None:
        """A sample from its JSON; ``None`` for one this code cannot read."""
        try:
            data = json.loads(raw)
            return cls(float(data["t"]), *(int(data.get(k) or 0) for k in
                                           ("queued", "leased", "seeds", "done", "items")))
        except (ValueError, TypeError, KeyError):
            return None


def _reference(samples: list[Sample], now: Sample, window: float) -> Sample | None:
    """The oldest sample between ``MIN_SPAN`` and about ``window`` seconds before ``now``."""
    usable = [s for s in samples if MIN_SPAN <= now.t - s.t <= window + SERIES_INTERVAL]
    return min(usable, key=lambda s: s.t) if usable else None


def progress(samples: list[Sample], now: Sample, live_ppm: float) -> tuple[float, int | None]:
    """Cluster pages/min over about the last ``RATE_WINDOW`` seconds, and the seconds left
    until the frontier is empty at its net shrink rate over about the last ``ETA_WINDOW``
    seconds (``None`` unless it shrinks).

    ``samples`` are the series, any order; ``now`` is the state just read. Without a sample
    old enough, the rate is the sum of the live nodes' own rates (``live_ppm``).
    """
    ref = _reference(samples, now, RATE_WINDOW)
    ppm = live_ppm if ref is None else max(0.0, (now.done - ref.done) * 60 / (now.t - ref.t))
    ref = _reference(samples, now, ETA_WINDOW)
    eta = None
    if ref is not None and now.remaining:
        shrink = (ref.remaining - now.remaining) / (now.t - ref.t)
        eta = round(now.remaining / shrink) if shrink > 0 else None
    return round(ppm, 1), eta


def crawl_state(alive: list[dict[str, Any]], remaining: int, enqueued: int,
                control: str = "") -> str:
    """``paused`` or ``stopped`` when an operator said so (``scrapy pause``/``stop``), else
    ``running``, ``idle`` (live nodes, nothing left), ``stopped`` (work left, no live
    node), ``finished`` (nothing left, no live node) or ``empty`` (never started)."""
    if control:
        return control
    if alive:
        return "running" if remaining or any(n["idle_seconds"] < 0 for n in alive) else "idle"
    if remaining:
        return "stopped"
    return "finished" if enqueued else "empty"


def _node_row(node_id: bytes, raw: bytes, now: float, node_timeout: float) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads(raw)
    except ValueError:
        state = {}
    alive = membership.is_live(state, now, node_timeout)
    return {
        "node": node_id.decode(errors="replace"),
        "alive": alive,
        "host": state.get("host"),
        "pid": state.get("pid"),
        "last_beat_seconds_ago": round(now - float(state.get("beat", 0)), 1),
        "idle_seconds": round(membership.idle_seconds(state, now), 1),
        "pages": int(state.get("pages") or 0),
        "ppm": float(state.get("ppm") or 0) if alive else 0.0,
        "items": int(state.get("items") or 0),
        "errors": int(state.get("errors") or 0),
        "in_progress": int(state.get("in_progress") or 0),
        "prefetched": int(state.get("prefetched") or 0),
    }


def leases_by_domain(client: redis.Redis,
                     leased: list[tuple[CrawlKeys, int]]) -> list[tuple[str, int]]:
    """(domain, requests leased) pairs, most first: what nodes hold of each domain now.

    ``leased``: each partition's keys and how many leases it holds. Counted on a random
    sample of about ``LEASE_SAMPLE`` leases (all of them when there are no more), each
    partition's share of it as its share of the leases, and scaled to the leases in all:
    one refresh reads a bounded number of leases however many nodes hold.
    """
    held = [(keys, count) for keys, count in leased if count > 0]
    total = sum(count for _, count in held)
    pipe = client.pipeline(transaction=False)
    for keys, count in held:
        share = LEASE_SAMPLE if total <= LEASE_SAMPLE else math.ceil(LEASE_SAMPLE * count / total)
        pipe.hrandfield(keys.leased, share, withvalues=True)
    estimated: dict[str, float] = {}
    for (_, count), sample in zip(held, pipe.execute() if held else [], strict=True):
        values = sample[1::2]
        found: Counter[str] = Counter()
        for value in values:
            try:
                entry = Entry.parse(Lease.parse(value).entry)
            except ValueError:  # not written by pop.lua: not counted
                continue
            if entry.is_request:
                found[entry.domain] += 1
        scale = max(count, len(values)) / len(values) if values else 1.0
        for domain, n in found.items():
            estimated[domain] = estimated.get(domain, 0.0) + n * scale
    return sorted(((d, round(n)) for d, n in estimated.items()),
                  key=lambda pair: (-pair[1], pair[0]))


def read_crawl(client: redis.Redis, keys: CrawlKeys, config: FrontierConfig,
               samples: int = RECENT_SAMPLES) -> tuple[dict[str, Any], list[Sample]]:
    """The crawl's status (see ``crawl_status``) and its ``samples`` newest series samples,
    newest first, read in one round trip, plus one for the other partitions of a crawl of
    several, one for the seeds when they wait and one for the leases when nodes hold some."""
    pipe = client.pipeline(transaction=False)
    # (a cluster pipeline blocks pipe.time())
    pipe.execute_command("TIME")  # type: ignore[no-untyped-call]
    pipe.type(keys.start_urls)
    pipe.xlen(keys.items)
    pipe.hgetall(keys.nodes)
    pipe.lrange(keys.series, 0, samples - 1)
    pipe.get(keys.control)
    pipe.hget(keys.seen_meta, partitions.FIELD)
    partitioned.queue_reads(pipe, keys.in_partition(0))
    (secs, micros), seeds_type, items, nodes, series, control, recorded, *first = pipe.execute()
    count = partitions.count_from(recorded)
    states = [partitioned.parse(keys.in_partition(0), first),
              *partitioned.read(client, keys.every_partition(count)[1:])]
    now = secs + micros / 1e6
    seeds_len = {b"list": client.llen, b"set": client.scard, b"zset": client.zcard}
    counter = seeds_len.get(seeds_type)
    seeds = int(counter(keys.start_urls)) if counter else 0
    counts = partitioned.counters(states)
    leased = sum(s.leased for s in states)
    rows = [_node_row(k, v, now, config.node_timeout) for k, v in sorted(nodes.items())]
    alive = [r for r in rows if r["alive"]]
    history = [s for s in map(Sample.parse, series) if s is not None]
    kept = items  # in the stream now: a durable store's commits are trimmed from it
    items = max(counts.get("items", 0), kept)  # stored in all (the counter store_items.lua
    # keeps; a crawl begun before it counted shows what its stream holds)
    current = Sample(now, counts.get("queued", 0), leased, seeds, counts.get("done", 0), items)
    busiest = leases_by_domain(client, [(s.keys, s.leased) for s in states]) if leased else []
    ppm, eta = progress(history, current, sum(r["ppm"] for r in alive))
    status = {
        "crawl": keys.crawl,
        "state": crawl_state(alive, current.remaining, counts.get("enqueued", 0),
                             (control or b"").decode()),
        "server_time": round(now, 3),
        "queued": current.queued,
        "retrying": sum(s.retrying for s in states),  # failed before, queued or leased again
        "in_progress": leased,
        "domains_queued": sum(s.domains for s in states),
        "in_flight_by_domain": dict(busiest[:BUSIEST_DOMAINS]),
        "in_flight_sampled": leased > LEASE_SAMPLE,  # in_flight_by_domain: estimated
        "seeds_waiting": seeds,
        "fingerprints": counts.get("seen", 0),
        "duplicates_dropped": counts.get("duplicates", 0),
        "done": current.done,
        "reclaimed": counts.get("reclaimed", 0),
        "failed_attempts": counts.get("failed", 0),
        "poisoned": counts.get("poisoned", 0),
        "items": items,
        "items_in_redis": kept,
        "dead_letters": sum(s.dead for s in states),
        "partitions": count,
        # the fullest partition's queue over the mean (None: one partition, or none queued)
        "queued_balance": partitioned.balance(s.queued for s in states) if count > 1 else None,
        "pages_per_minute": ppm,
        "eta_seconds": eta,
        "nodes_alive": len(alive),
        "nodes_dead": len(rows) - len(alive),
        "nodes": rows,
    }
    return status, [current, *history]


def crawl_status(client: redis.Redis, keys: CrawlKeys, config: FrontierConfig) -> dict[str, Any]:
    """Queue, leases, seeds, counters, rate, ETA and nodes of one crawl.

    ``pages_per_minute`` is the cluster's rate over about the last minute, ``eta_seconds``
    the time left at the rate the frontier shrinks (``None`` while it grows), ``state``
    one of ``crawl_state``'s words. A dead node's ``ppm`` is 0.
    """
    return read_crawl(client, keys, config)[0]


def chart(samples: list[Sample]) -> list[dict[str, Any]]:
    """The last hour of the series, oldest first, ending with the state just read
    (``samples[0]``): seconds before now, pages/min since the point before, queue, leases.

    A point has no rate when it follows the one before by less than ``MIN_SPAN`` seconds
    (noise), or by more than ``GAP``: then no node was sampling meanwhile, and ``gap`` tells
    the chart not to join the two points.
    """
    now = samples[0].t
    recent = [s for s in samples[1:] if now - s.t <= SERIES_SAMPLES * SERIES_INTERVAL]
    points: list[dict[str, Any]] = []
    before: Sample | None = None
    for s in [*sorted(recent, key=lambda s: s.t), samples[0]]:
        span = s.t - before.t if before is not None else 0.0
        gap = before is not None and not 0 < span <= GAP
        ppm = None
        if before is not None and not gap and span >= MIN_SPAN:
            ppm = round(max(0.0, (s.done - before.done) * 60 / span), 1)
        points.append({"t": round(s.t - now, 1), "ppm": ppm, "queued": s.queued,
                       "leased": s.leased, "gap": gap})
        before = s
    return points
