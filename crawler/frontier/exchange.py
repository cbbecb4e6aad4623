"""The shared frontier in Redis: everything a node says to it goes in one round trip.

A node collects what it has to say (new requests, finished ones, leases to renew or
hand back, how many entries it wants, its heartbeat) in an ``Outgoing`` and sends it
with ``exchange``: one pipeline of Lua scripts. The safety rule lives in ``push.lua``:
the requests callbacks yielded are saved and the requests that yielded them are
acknowledged in one atomic script, so a failure can duplicate a fetch but never lose one.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import redis
import redis.asyncio

from crawler.frontier import scripts
from crawler.frontier.fingerprints import BloomLayout, FingerprintLayout, layout_from_json
from crawler.frontier.formats import ID_LENGTH as ID_LENGTH  # (re-exported: its old home)
from crawler.frontier.formats import KIND_REQUEST as KIND_REQUEST
from crawler.frontier.formats import KIND_REQUEST_V1 as KIND_REQUEST_V1
from crawler.frontier.formats import KIND_SEED as KIND_SEED
from crawler.frontier.formats import Entry, held_by, request_body, split_popped
from crawler.frontier.limits import Politeness
from crawler.redis.keys import CrawlKeys

logger = logging.getLogger(__name__)

RECLAIM_LIMIT = 1000
# Defaults of the settings that shape a round (crawler.node.config reads the settings):
BATCH_SIZE = 500  # requests one push script saves (SCHEDULER_BATCH_SIZE)
NODE_TIMEOUT = 10.0  # a node silent this long is dead (SCHEDULER_NODE_TIMEOUT)
IDLE_TIMEOUT = 10.0  # idle this long, every live node: the crawl ends (MAX_IDLE_TIME_BEFORE_CLOSE)
HAND_OUT_AHEAD = 0.5  # seconds: a rate-limited request may be leased this long before its time
SERIES_INTERVAL = 10.0  # seconds between two cluster samples
SERIES_SAMPLES = 360  # one hour of samples
FORGET_NODE_SECONDS = 3600  # a node silent this long leaves the nodes hash


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


class Frontier:
    """One crawl's queue, leases and fingerprints, seen from one node."""

    def __init__(
        self, client: redis.asyncio.Redis, keys: CrawlKeys, order: str, node_id: str,
        lease_seconds: float, max_attempts: int, politeness: Politeness | None = None,
        batch_size: int = BATCH_SIZE,
        node_timeout: float = NODE_TIMEOUT, idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        """``batch_size``: the most requests one script saves (or moves), one atomic step;
        ``node_timeout`` and ``idle_timeout``: how long this node's heartbeats say it keeps
        the crawl from ending (see ``lua/heartbeat.lua``)."""
        self.client = client
        self.keys = keys
        self.order = order
        self.node_id = node_id
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.politeness = politeness or Politeness()
        self.batch_size = batch_size
        self.node_timeout = node_timeout
        self.idle_timeout = idle_timeout
        self._limits = [self.politeness.default.spec(), self.politeness.overrides_json(),
                        int(self.politeness.robots), HAND_OUT_AHEAD]
        self.layout: FingerprintLayout | None = None

    async def open(self, layout: str, recrawl_days: int = 0) -> None:
        """Load the scripts and fix the fingerprint layout: the crawl's first one wins.

        ``layout`` is ``fingerprints.describe(...)`` of this node's settings; a URL seen
        ``recrawl_days`` or more days ago counts as new (0: never).
        """
        await scripts.load(self.client)
        await self.client.hsetnx(self.keys.seen_meta, "layout", layout)
        stored = await self.client.hget(self.keys.seen_meta, "layout")
        recorded = stored.decode() if isinstance(stored, bytes) else layout
        if recorded != layout:
            logger.info("Fingerprints of this crawl keep the layout it began with: %s",
                        recorded)
        self.layout = layout_from_json(self.keys, recorded, recrawl_days)
        if isinstance(self.layout, BloomLayout):
            await self._create_bitmaps(self.layout)
        await self._migrate_single_queue()

    async def previous_state(self) -> dict[str, Any] | None:
        """The heartbeat state the nodes hash holds for this node's id (a previous life
        of this node, or another node given the same ``SCHEDULER_NODE_ID``), with the
        server's time as ``now``; None if there is none."""
        raw = await self.client.hget(self.keys.nodes, self.node_id)
        if raw is None:
            return None
        seconds, micros = await self.client.time()
        try:
            state: dict[str, Any] = dict(json.loads(raw))
        except ValueError:
            state = {}
        return {**state, "now": seconds + micros / 1e6}

    async def leave(self) -> None:
        """Take this node off the nodes hash and its indexes (it closes)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hdel(self.keys.nodes, self.node_id)
        pipe.zrem(self.keys.beats, self.node_id)
        pipe.zrem(self.keys.busy_until, self.node_id)
        await pipe.execute()

    async def take_back_own_leases(self) -> int:
        """End the leases a previous life of this node (same id) left, each counted as a
        failed attempt ("node restarted"), so they go back to their queues at once
        rather than when their leases expire; how many.

        It scans the whole leased hash, O(leases) once a restart, in steps of 1,000 that
        never hold Redis long: an index of each node's leases would make it O(own leases)
        but cost a write on every pop and every ack."""
        taken = 0
        ids: list[bytes] = []
        async for entry_id, value in self.client.hscan_iter(self.keys.leased, count=1000):
            if held_by(value, self.node_id):
                ids.append(entry_id)
        for start in range(0, len(ids), self.batch_size):
            chunk = ids[start:start + self.batch_size]
            back, dead = await scripts.RELEASE.run(
                self.client, self._release_keys(),
                [self.keys.queue, "failed", self.node_id, self.max_attempts,
                 *[part for entry_id in chunk for part in (entry_id, "node restarted")]])
            taken += int(back) + int(dead)
        return taken

    async def _migrate_single_queue(self) -> None:
        """Move what an earlier version queued in one sorted set (the key that now prefixes
        the domain queues), or kept in its retry set, into the domain queues, so that an
        upgrade loses nothing."""
        for source in (self.keys.queue, self.keys.retry):
            if await self.client.type(source) not in (b"zset", "zset"):
                continue
            moved = 0
            while step := int(await scripts.MIGRATE.run(
                    self.client, [source, self.keys.domains, self.keys.stats],
                    [self.keys.queue, self.batch_size])):
                moved += step
            logger.info("Moved %d requests an earlier version kept in %s into per-domain "
                        "queues", moved, source)

    async def _create_bitmaps(self, layout: BloomLayout) -> None:
        """Create the Bloom bitmaps whole, so that none is grown by SETBIT.

        ``BITFIELD key INCRBY u1 <last bit> 0`` makes Redis allocate a missing bitmap at its
        full size (no zeros are sent) and leaves one that exists as it is, bits set by
        pushes included: nodes that start together need no lock, and each sends one short
        command a missing bitmap, whatever the size of the filter.
        """
        keys = layout.bitmap_keys()
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.exists(key)
        missing = [key for key, found in zip(keys, await pipe.execute(), strict=True)
                   if not found]
        if not missing:
            return
        last = layout.bits_per_bitmap - 1
        pipe = self.client.pipeline(transaction=False)
        for key in missing:
            pipe.execute_command("BITFIELD", key, "OVERFLOW", "WRAP", "INCRBY", "u1", last, 0)
        await pipe.execute()
        logger.info("Created %d of the %d bitmaps (%d MB in all) of the crawl's Bloom filter",
                    len(missing), len(keys), len(keys) * layout.bits_per_bitmap // 8 // 10**6)

    async def exchange(self, out: Outgoing) -> Incoming:
        """Send ``out`` in one round trip and return what came back.

        Raises redis-py's connection errors; the caller keeps ``out`` and sends it again.
        """
        pipe = self.client.pipeline(transaction=False)
        plan = self._queue_all(pipe, out)
        if not plan:
            return Incoming()
        results: list[Any] = await pipe.execute(raise_on_error=False)
        if any(isinstance(r, redis.exceptions.NoScriptError) for r in results):
            # The server lost its script cache (restart, SCRIPT FLUSH): every EVALSHA of
            # the pipeline failed alike, so none ran. Load the scripts and send it again.
            await scripts.load(self.client)
            pipe = self.client.pipeline(transaction=False)
            self._queue_all(pipe, out)
            results = await pipe.execute(raise_on_error=False)
        got = self._read(plan, results)
        got.sent, got.wanted = True, out.pop
        return got

    def _queue_all(self, pipe: Any, out: Outgoing) -> list[tuple[str, range]]:
        """Queue the scripts that carry ``out`` on ``pipe``, in the safe order; name each
        step (with the indexes of the pushes it saves)."""
        plan: list[tuple[str, range]] = []
        nothing = range(0)
        if out.crawl_delays:
            scripts.ROBOTS.queue(pipe, [self.keys.robots, self.keys.pace],
                                 [part for pair in out.crawl_delays.items() for part in pair])
            plan.append(("robots", nothing))
        size = self.batch_size
        chunks = [range(i, min(i + size, len(out.pushes))) for i in range(0, len(out.pushes), size)]
        if not chunks and (out.acks or out.dead):
            chunks = [nothing]
        for number, chunk in enumerate(chunks):
            # The acks ride with the first script: in one with the pushes when they fit in
            # one; the caller sends acks of requests whose children are in later scripts
            # only once those are saved (see ``Outgoing``).
            first = number == 0
            self._queue_push(pipe, [out.pushes[i] for i in chunk], out.acks if first else [],
                             out.dead if first else [])
            plan.append(("push+acks" if first else "push", chunk))
        if out.failed:
            scripts.RELEASE.queue(
                pipe, self._release_keys(),
                [self.keys.queue, "failed", self.node_id, self.max_attempts,
                 *[part for pair in out.failed for part in pair]])
            plan.append(("failed", nothing))
        if out.release:
            scripts.RELEASE.queue(pipe, self._release_keys(),
                                  [self.keys.queue, "ids", self.node_id, *out.release])
            plan.append(("release", nothing))
        if out.renew:
            scripts.RENEW.queue(pipe, [self.keys.leased, self.keys.deadlines],
                                [self.node_id, self.lease_seconds, *out.renew])
            plan.append(("renew", nothing))
        if out.reclaim:
            scripts.RELEASE.queue(pipe, self._release_keys(),
                                  [self.keys.queue, "expired", RECLAIM_LIMIT, self.max_attempts])
            plan.append(("reclaim", nothing))
        if out.pop:
            scripts.POP.queue(
                pipe,
                [self.keys.domains, self.keys.leased, self.keys.deadlines, self.keys.start_urls,
                 self.keys.sequence, self.keys.attempts, self.keys.inflight, self.keys.pace,
                 self.keys.robots, self.keys.stats],
                [out.pop, self.lease_seconds, self.node_id, int(out.suspects_ok),
                 self.keys.queue, *self._limits],
            )
            plan.append(("pop", nothing))
        if out.heartbeat is not None:
            scripts.HEARTBEAT.queue(
                pipe,
                [self.keys.nodes, self.keys.beats, self.keys.busy_until, self.keys.leased,
                 self.keys.start_urls, self.keys.stats, self.keys.series,
                 self.keys.series_lock, self.keys.control],
                [self.node_id, json.dumps(out.heartbeat), SERIES_INTERVAL, SERIES_SAMPLES,
                 FORGET_NODE_SECONDS, self.node_timeout, self.idle_timeout],
            )
            plan.append(("heartbeat", nothing))
        return plan

    def _queue_push(self, pipe: Any, pushes: list[Push], done: list[str],
                    dead: list[tuple[Entry, str]]) -> None:
        """Queue push.lua for ``pushes``, acknowledging ``done`` and the ``dead`` entries
        (whose dead letters it stores); the requests go packed in one argument (see
        push.lua)."""
        assert self.layout is not None, "Frontier.open() was not awaited"
        locate = self.layout.locate
        bucket_index: dict[str, int] = {}
        packed: list[bytes] = []
        for push in pushes:
            index = 0
            fp_field = b""
            if push.fingerprint is not None:
                bucket, fp_field = locate(push.fingerprint)
                index = bucket_index.setdefault(bucket, len(bucket_index) + 9)
                if push.dont_filter:
                    index = -index
            body = request_body(push.domain, push.payload)
            packed += (b"%d %d %d %d " % (index, push.priority, len(fp_field), len(body)),
                       fp_field, body)
        keys = [self.keys.domains, self.keys.sequence, self.keys.stats, self.keys.leased,
                self.keys.deadlines, self.keys.attempts, self.keys.inflight, self.keys.dead,
                *bucket_index]
        scripts.PUSH.queue(pipe, keys, [self.order, self.layout.spec, self.node_id,
                                        " ".join(done), " ".join(e.id for e, _ in dead),
                                        self.keys.queue, len(pushes), b"".join(packed),
                                        *[self._dead_letter(e, why) for e, why in dead]])

    def _release_keys(self) -> list[str]:
        return [self.keys.domains, self.keys.leased, self.keys.deadlines, self.keys.stats,
                self.keys.attempts, self.keys.dead, self.keys.inflight]

    def _dead_letter(self, entry: Entry, reason: str) -> str:
        return json.dumps({
            "id": entry.id, "reason": reason, "node": self.node_id, "time": time.time(),
            "entry": entry.stored().decode("utf-8", "backslashreplace"),
        })

    @staticmethod
    def _read(plan: list[tuple[str, range]], results: list[Any]) -> Incoming:
        """What the steps that succeeded brought back; the first error, if any, in ``error``."""
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

