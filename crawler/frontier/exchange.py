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
import time
from typing import Any

import redis
import redis.asyncio

from crawler.frontier import opening, scripts, seed_key
from crawler.frontier.fingerprints import FingerprintLayout
from crawler.frontier.formats import Entry, held_by, request_body
from crawler.frontier.limits import Politeness
from crawler.frontier.round import Incoming, Outgoing, Push, read_results
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
    ) -> None:
        """``batch_size``: the most requests one script saves (or moves), one atomic step;
        ``node_timeout`` and ``idle_timeout``: how long this node's heartbeats say it keeps
        the crawl from ending (see ``lua/heartbeat.lua``)."""
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
        self._limits = [self.politeness.default.spec(), self.politeness.overrides_json(),
                        int(self.politeness.robots), HAND_OUT_AHEAD]
        self.layout: FingerprintLayout | None = None

    async def open(self, layout: str, recrawl_days: int = 0) -> None:
        """Load the scripts and fix the fingerprint layout (see ``opening.open_crawl``)."""
        self.layout = await opening.open_crawl(self.client, self.keys, layout, recrawl_days,
                                               self.batch_size, self.order)

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
                self._failed_args([(entry_id, "node restarted") for entry_id in chunk]))
            taken += int(back) + int(dead)
        return taken

    async def exchange(self, out: Outgoing) -> Incoming:
        """Send ``out`` in one round trip and return what came back.

        Raises redis-py's connection errors; the caller keeps ``out`` and sends it again.
        """
        mover = self.seed_mover
        if mover is not None and (out.heartbeat is not None or (out.pop and mover.more)):
            await mover.move()
        plan: list[tuple[str, range]] = []

        def queue(pipe: Any) -> None:
            plan[:] = self._queue_all(pipe, out)
        # WAIT after what the node forgets once saved: pushes and dead letters
        results, not_durable = await scripts.execute(
            self.client, queue, self.keys.stats if out.pushes or out.dead else None)
        if not plan:
            return Incoming()
        got = read_results(plan, results)
        if not_durable is not None:  # all of it goes again
            got.saved, got.acks_saved, got.error = [], False, got.error or not_durable
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
                pipe, self._release_keys(), self._failed_args(out.failed))
            plan.append(("failed", nothing))
        if out.release:
            scripts.RELEASE.queue(pipe, self._release_keys(),
                                  [self.keys.pending, "ids", self.node_id, *out.release])
            plan.append(("release", nothing))
        if out.renew:
            scripts.RENEW.queue(pipe, [self.keys.leased, self.keys.deadlines],
                                [self.node_id, self.lease_seconds, *out.renew])
            plan.append(("renew", nothing))
        if out.reclaim:
            scripts.RELEASE.queue(pipe, self._release_keys(),
                                  [self.keys.pending, "expired", RECLAIM_LIMIT, self.max_attempts])
            plan.append(("reclaim", nothing))
        if out.pop:
            scripts.POP.queue(
                pipe,
                [self.keys.domains, self.keys.leased, self.keys.deadlines, self.keys.start_urls,
                 self.keys.sequence, self.keys.attempts, self.keys.inflight, self.keys.pace,
                 self.keys.robots, self.keys.stats],
                [out.pop, self.lease_seconds, self.node_id, int(out.suspects_ok),
                 self.keys.pending, *self._limits],
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
                                        self.keys.pending, len(pushes), b"".join(packed),
                                        *[self._dead_letter(e, why) for e, why in dead]])

    def _failed_args(self, failed: list[tuple[Any, str]]) -> list[Any]:
        """release.lua's ARGV for ``failed`` (entry id, why) pairs: each a failed attempt."""
        return [self.keys.pending, "failed", self.node_id, self.max_attempts,
                *[part for pair in failed for part in pair]]

    def _release_keys(self) -> list[str]:
        return [self.keys.domains, self.keys.leased, self.keys.deadlines, self.keys.stats,
                self.keys.attempts, self.keys.dead, self.keys.inflight]

    def _dead_letter(self, entry: Entry, reason: str) -> str:
        return json.dumps({
            "id": entry.id, "reason": reason, "node": self.node_id, "time": time.time(),
            "entry": entry.stored().decode("utf-8", "backslashreplace"),
        })
