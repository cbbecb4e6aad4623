"""The shared frontier in Redis: everything a node says to it goes in one round trip.

A node collects what it has to say (new requests, finished ones, leases to renew or
hand back, how many entries it wants, its heartbeat) in an ``Outgoing`` and sends it
with ``exchange``: one pipeline of Lua scripts. The safety rule lives in ``push.lua``:
the requests callbacks yielded are saved and the requests that yielded them are
acknowledged in one atomic script, so a failure can duplicate a fetch but never lose one.

A crawl of several partitions (``docs/partitions.md``) gets each partition's share of a
round in scripts of its own, on that partition's keys: pushes by their domain's partition,
acknowledgements and other lease business by the partition in the lease's id
(``lease_ids``), pops in the partitions ``pop_walk`` picks. There an acknowledgement never
rides with children (``crawler.node.outbox`` sends it once they are saved everywhere).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from typing import Any

import redis
import redis.asyncio

from crawler.frontier import lease_ids, opening, scripts, seed_key
from crawler.frontier.fingerprints import FingerprintLayout
from crawler.frontier.formats import Entry, held_by, request_body
from crawler.frontier.limits import Politeness
from crawler.frontier.partitions import partition_of
from crawler.frontier.pop_walk import PopWalk
from crawler.frontier.round import Incoming, Outgoing, Push, Step, read_results
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


class Frontier:
    """One crawl's queue, leases and fingerprints, seen from one node."""

    def __init__(
        self, client: redis.asyncio.Redis, keys: CrawlKeys, order: str, node_id: str,
        lease_seconds: float, max_attempts: int, politeness: Politeness | None = None,
        batch_size: int = BATCH_SIZE,
        node_timeout: float = NODE_TIMEOUT, idle_timeout: float = IDLE_TIMEOUT,
        partitions: int = 0,
    ) -> None:
        """``batch_size``: the most requests one script saves (or moves), one atomic step;
        ``node_timeout`` and ``idle_timeout``: how long this node's heartbeats say it keeps
        the crawl from ending (see ``lua/heartbeat.lua``); ``partitions``: the number of
        partitions this node asks for should it begin the crawl (0: the default,
        ``partitions.default_count``); ``open`` sets ``self.partitions``, the crawl's."""
        self.client = client
        # On a cluster, seeds on a start key in another slot are moved into the crawl's
        # own seeds key, which the scripts then read (see ``seed_key``).
        self.seed_mover = seed_key.mover_for(client, keys, node_id)
        self.keys = keys if self.seed_mover is None else self.seed_mover.keys
        self.order = order
        self.node_id = node_id
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.politeness = politeness or Politeness()
        self.batch_size = batch_size
        self.node_timeout = node_timeout
        self.idle_timeout = idle_timeout
        self.wanted_partitions = partitions
        self._limits = [self.politeness.default.spec(), self.politeness.overrides_json(),
                        int(self.politeness.robots), HAND_OUT_AHEAD]
        self.layouts: list[FingerprintLayout] = []
        self._set_partitions(1)

    def _set_partitions(self, count: int) -> None:
        self.partitions = count
        self.parts = self.keys.every_partition(count)  # each partition's keys
        self.walk = PopWalk(count)
        # the other partitions' queued, leased, seen and done as the last heartbeat read
        # them: heartbeat.lua adds them to the crawl's series sample
        self._others = [0, 0, 0, 0]

    @property
    def layout(self) -> FingerprintLayout | None:
        """Partition 0's fingerprint layout (the crawl's, with one partition)."""
        return self.layouts[0] if self.layouts else None

    async def open(self, layout: str, recrawl_days: int = 0) -> None:
        """Load the scripts, fix the crawl's number of partitions (the first node's; 1 for
        a crawl an earlier version began) and its fingerprint layout (see
        ``opening.open_crawl``)."""
        count, self.layouts = await opening.open_crawl(
            self.client, self.keys, layout, recrawl_days, self.batch_size, self.order,
            self.wanted_partitions)
        self._set_partitions(count)

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
        """End the leases a previous life of this node (same id) left, in every partition,
        each counted as a failed attempt ("node restarted"), so they go back to their
        queues at once rather than when their leases expire; how many.

        It scans each partition's whole leased hash, O(leases) once a restart, in steps of
        1,000 that never hold Redis long: an index of each node's leases would make it
        O(own leases) but cost a write on every pop and every ack."""
        taken = 0
        for keys in self.parts:
            ids: list[bytes] = []
            async for entry_id, value in self.client.hscan_iter(keys.leased, count=1000):
                if held_by(value, self.node_id):
                    ids.append(entry_id)
            for start in range(0, len(ids), self.batch_size):
                chunk = ids[start:start + self.batch_size]
                back, dead = await scripts.RELEASE.run(
                    self.client, _release_keys(keys),
                    self._failed_args(keys, [(entry_id, "node restarted") for entry_id in chunk]))
                taken += int(back) + int(dead)
        return taken

    async def exchange(self, out: Outgoing) -> Incoming:
        """Send ``out`` in one round trip and return what came back.

        Raises redis-py's connection errors; the caller keeps ``out`` and sends it again.
        """
        mover = self.seed_mover
        if mover is not None and (out.heartbeat is not None or (out.pop and mover.more)):
            await mover.move()
        plan: list[Step] = []
        durable: list[str] = []

        def queue(pipe: Any) -> None:
            plan[:], durable[:] = self._queue_all(pipe, out)
        # WAIT after what the node forgets once saved: pushes and dead letters, on every
        # master that saved some
        results, not_durable = await scripts.execute(self.client, queue, durable)
        if not plan:
            return Incoming()
        got = read_results(plan, results, self.partitions)
        if mover is not None and mover.waiting and got.cluster is not None:
            got.cluster = replace(got.cluster, seeds=got.cluster.seeds + mover.waiting)
        self._learn(plan, got)
        if not_durable is not None:  # all of it goes again
            got.saved, got.acks_saved, got.error = [], False, got.error or not_durable
        got.sent, got.wanted = True, out.pop
        return got

    def _learn(self, plan: list[Step], got: Incoming) -> None:
        """Follow what a round said about the partitions: the pops' outcomes and pushes
        for the walk, the other partitions' counts for the next heartbeat's sample."""
        for partition, nothing_queued in got.pops:
            self.walk.popped(partition, nothing_queued)
        for step in plan:
            if step.pushes:
                self.walk.pushed_into(step.partition)
        if got.others is not None:
            self._others = got.others

    def _queue_all(self, pipe: Any, out: Outgoing) -> tuple[list[Step], list[str]]:
        """Queue the scripts that carry ``out`` on ``pipe``, in the safe order, each on its
        partition's keys; name each step (with the indexes of the pushes it saves and its
        partition), and the keys whose masters must replicate what they saved."""
        plan: list[Step] = []
        count = self.partitions
        delays: dict[int, list[Any]] = {}
        for domain, delay in out.crawl_delays.items():
            delays.setdefault(partition_of(domain, count), []).extend((domain, delay))
        for p, pairs in sorted(delays.items()):
            scripts.ROBOTS.queue(pipe, [self.parts[p].robots, self.parts[p].pace], pairs)
            plan.append(Step("robots", (), p))
        pops = self.walk.choose(out.pop)
        # A partition whose round saves nothing (no pushes, no dead letters) and reclaims
        # nothing acknowledges in its pop: one script less.
        acks = lease_ids.by_partition(out.acks)
        riding: dict[int, list[str]] = {}
        if not out.pushes and not out.reclaim:
            dead = {lease_ids.split(entry.id)[0] for entry, _ in out.dead}
            riding = {p: acks.pop(p) for p, _ in pops if p in acks and p not in dead}
        durable = self._queue_pushes(pipe, out, acks, plan)
        for p, failed in sorted(lease_ids.pairs_by_partition(out.failed).items()):
            scripts.RELEASE.queue(pipe, _release_keys(self.parts[p]),
                                  self._failed_args(self.parts[p], failed))
            plan.append(Step("failed", (), p))
        for p, ids in sorted(lease_ids.by_partition(out.release).items()):
            keys = self.parts[p]
            scripts.RELEASE.queue(pipe, _release_keys(keys),
                                  [keys.pending, "ids", self.node_id, *ids])
            plan.append(Step("release", (), p))
        for p, ids in sorted(lease_ids.by_partition(out.renew).items()):
            keys = self.parts[p]
            scripts.RENEW.queue(pipe, [keys.leased, keys.deadlines],
                                [self.node_id, self.lease_seconds, *ids])
            plan.append(Step("renew", (), p))
        if out.reclaim:
            for p in self.walk.to_reclaim():
                keys = self.parts[p]
                scripts.RELEASE.queue(pipe, _release_keys(keys),
                                      [keys.pending, "expired", RECLAIM_LIMIT, self.max_attempts])
                plan.append(Step("reclaim", (), p))
        for number, (p, want) in enumerate(pops):
            keys = self.parts[p]
            # Seeds are partition 0's; elsewhere the pop reads a key that never exists.
            seeds = keys.start_urls if p == 0 else f"{keys.pending} ~ no seeds: partition 0's"
            scripts.POP.queue(
                pipe,
                [keys.domains, keys.leased, keys.deadlines, seeds, keys.sequence,
                 keys.attempts, keys.inflight, keys.pace, keys.robots, keys.stats],
                # one entry that failed twice or more a round at most (the first pop's)
                [want, self.lease_seconds, self.node_id, int(out.suspects_ok and not number),
                 keys.pending, *self._limits, " ".join(riding.get(p, []))],
            )
            plan.append(Step("pop+acks" if p in riding else "pop", (), p))
        if out.heartbeat is not None:
            self._queue_heartbeat(pipe, out.heartbeat, plan)
        return plan, durable

    def _queue_pushes(self, pipe: Any, out: Outgoing, acks: dict[int, list[str]],
                      plan: list[Step]) -> list[str]:
        """Queue push.lua for ``out``'s pushes and dead letters and ``acks`` (bare ids by
        partition): per partition, in chunks of ``batch_size`` pushes, the acks and dead
        letters with the first chunk; the keys (one a partition) whose masters must
        replicate what they saved."""
        count, size = self.partitions, self.batch_size
        if count == 1:
            indexes: dict[int, list[int]] = {0: list(range(len(out.pushes)))} if out.pushes else {}
        else:
            indexes = {}
            for i, push in enumerate(out.pushes):
                indexes.setdefault(partition_of(push.domain, count), []).append(i)
        dead = lease_ids.pairs_by_partition(
            (entry.id, (entry._replace(id=lease_ids.split(entry.id)[1]), why))
            for entry, why in out.dead)
        durable = []
        for p in sorted({*indexes, *acks, *dead}):
            mine = indexes.get(p, [])
            chunks = [mine[i:i + size] for i in range(0, len(mine), size)] or [[]]
            for number, chunk in enumerate(chunks):
                # The acks ride with the first script: in one with the pushes when they fit
                # in one; the caller sends acks of requests whose children are in later
                # scripts (or other partitions) only once those are saved (``Outgoing``).
                first = number == 0
                self._queue_push(pipe, self.parts[p], [out.pushes[i] for i in chunk],
                                 acks.get(p, []) if first else [],
                                 [pair for _, pair in dead.get(p, [])] if first else [])
                plan.append(Step("push+acks" if first else "push", chunk, p))
            if mine or p in dead:
                durable.append(self.parts[p].stats)
        return durable

    def _queue_heartbeat(self, pipe: Any, heartbeat: dict[str, Any], plan: list[Step]) -> None:
        """Queue heartbeat.lua (partition 0: the crawl-wide keys) and, with several
        partitions, the reads of the others' counts (``read_results`` sums them)."""
        keys = self.keys
        others = self._others if self.partitions > 1 else []
        scripts.HEARTBEAT.queue(
            pipe,
            [keys.nodes, keys.beats, keys.busy_until, keys.leased, keys.start_urls,
             keys.stats, keys.series, keys.series_lock, keys.control],
            [self.node_id, json.dumps(heartbeat), SERIES_INTERVAL, SERIES_SAMPLES,
             FORGET_NODE_SECONDS, self.node_timeout, self.idle_timeout, *others],
        )
        plan.append(Step("heartbeat", (), 0))
        for p, part in enumerate(self.parts[1:], start=1):
            pipe.hmget(part.stats, "enqueued", "seen", "done", "queued")
            plan.append(Step("stats", (), p))
            pipe.hlen(part.leased)
            plan.append(Step("leased", (), p))

    def _queue_push(self, pipe: Any, keys: CrawlKeys, pushes: list[Push], done: list[str],
                    dead: list[tuple[Entry, str]]) -> None:
        """Queue push.lua on partition ``keys`` for ``pushes``, acknowledging ``done`` and
        the ``dead`` entries (bare ids; it stores their dead letters); the requests go
        packed in one argument (see push.lua)."""
        assert self.layouts, "Frontier.open() was not awaited"
        layout = self.layouts[keys.partition]
        locate = layout.locate
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
        names = [keys.domains, keys.sequence, keys.stats, keys.leased, keys.deadlines,
                 keys.attempts, keys.inflight, keys.dead, *bucket_index]
        scripts.PUSH.queue(pipe, names, [self.order, layout.spec, self.node_id,
                                         " ".join(done), " ".join(e.id for e, _ in dead),
                                         keys.pending, len(pushes), b"".join(packed),
                                         *[self._dead_letter(e, why) for e, why in dead]])

    def _failed_args(self, keys: CrawlKeys, failed: list[tuple[Any, str]]) -> list[Any]:
        """release.lua's ARGV for ``failed`` (bare entry id, why) pairs of partition
        ``keys``: each a failed attempt."""
        return [keys.pending, "failed", self.node_id, self.max_attempts,
                *[part for pair in failed for part in pair]]

    def _dead_letter(self, entry: Entry, reason: str) -> str:
        return json.dumps({
            "id": entry.id, "reason": reason, "node": self.node_id, "time": time.time(),
            "entry": entry.stored().decode("utf-8", "backslashreplace"),
        })


def _release_keys(keys: CrawlKeys) -> list[str]:
    """release.lua's KEYS on partition ``keys``."""
    return [keys.domains, keys.leased, keys.deadlines, keys.stats, keys.attempts, keys.dead,
            keys.inflight]
