"""Seeds on a start key outside the crawl's slot, moved in on a Redis Cluster.

A scrapy-redis start key (``%(name)s:start_urls``, ``REDIS_START_URLS_KEY``) has no hash
tag: on a cluster it lies in another slot than the crawl's ``{crawl}``, and the pop and
heartbeat scripts cannot read it (CROSSSLOT). There the frontier reads the crawl's own
seeds key instead, and a node moves what users push on the start key into it, a batch
at a time, under a short lock (one mover at a time): copy first (and WAIT for the
replicas), remove after (``LREM``/``SREM``/``ZREM`` of the copied values, so seeds pushed
meanwhile at either end stay). A crash between the two steps leaves a seed in both keys:
fetched once more at worst when it is ``dont_filter`` (scrapy-redis's own seeds are),
dropped by the fingerprints otherwise. Nothing is lost.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from redis.crc import key_slot

from crawler.frontier import scripts
from crawler.redis import durability
from crawler.redis.keys import CrawlKeys

logger = logging.getLogger(__name__)

BATCH = 1000  # seeds one move copies
LOCK_MS = 30_000  # how long a mover's lock lasts if it dies holding it


class SeedMover:
    """Moves seeds from ``source`` (another slot) into ``keys.own_start_urls``."""

    def __init__(self, client: Any, keys: CrawlKeys, source: str, node_id: str) -> None:
        self.client = client
        self.keys = keys
        self.source = source
        self.node_id = node_id
        self.more = True  # the last move was full (or none ran yet): move again soon
        # seeds the last move left on ``source`` (1: some, when a full move left more);
        # they keep the crawl from ending (``Frontier.exchange`` adds them to its view)
        self.waiting = 0

    async def move(self) -> int:
        """Move up to ``BATCH`` seeds; how many. Raises redis-py's errors (nothing is lost:
        what was copied and not removed is copied again)."""
        client, target = self.client, self.keys.own_start_urls
        kind = (await client.type(self.source)).decode()
        if kind not in ("list", "set", "zset"):  # nothing there: one read, no lock
            self.more, self.waiting = False, 0
            return 0
        if not await client.set(self.keys.seeds_lock, self.node_id, nx=True, px=LOCK_MS):
            # another node moves them, or died moving them (its lock lasts LOCK_MS)
            self.waiting = 1
            return 0
        try:
            values: list[Any] = []
            if kind == "list":
                values = await client.lrange(self.source, 0, BATCH - 1)
            elif kind == "set":
                values = await client.srandmember(self.source, BATCH)
            else:
                values = await client.zrange(self.source, 0, BATCH - 1, withscores=True)
            self.more = len(values) == BATCH
            self.waiting = int(self.more)
            if not values:
                return 0

            def copy(pipe: Any) -> None:
                if kind == "list":
                    pipe.rpush(target, *values)
                elif kind == "set":
                    pipe.sadd(target, *values)
                else:
                    pipe.zadd(target, dict(values))
            (copied,), not_durable = await scripts.execute(client, copy, [target])
            if isinstance(copied, Exception):
                raise copied
            if not_durable is not None:
                raise not_durable
            pipe = client.pipeline(transaction=False)
            for value in values:
                if kind == "list":
                    pipe.lrem(self.source, 1, value)
                elif kind == "set":
                    pipe.srem(self.source, value)
                else:
                    pipe.zrem(self.source, value[0])
            await pipe.execute()
            logger.info("Moved %d seeds from %s (another Redis Cluster slot) into %s",
                        len(values), self.source, target)
            return len(values)
        finally:
            if await client.get(self.keys.seeds_lock) == self.node_id.encode():
                await client.delete(self.keys.seeds_lock)


def mover_for(client: Any, keys: CrawlKeys, node_id: str) -> SeedMover | None:
    """A ``SeedMover`` when ``client`` is a cluster client and the crawl's start key lies
    in another slot than its other keys; else ``None`` (the scripts read it directly)."""
    if not durability.is_cluster(client):
        return None
    if key_slot(keys.start_urls.encode()) == key_slot(keys.stats.encode()):
        return None
    own = dataclasses.replace(keys, start_urls_template=None)
    return SeedMover(client, own, keys.start_urls, node_id)
