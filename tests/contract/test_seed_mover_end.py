"""On a Redis Cluster, seeds on a start key in another slot (scrapy-redis's
``<spider>:start_urls``) reach the crawl through a node's seed mover, which holds a lock
while it copies them. A node that dies holding it (kill -9 in the middle of a move) leaves
the lock for ``LOCK_MS``: the seeds still on the start key must keep the crawl from ending
meanwhile, or it ends with them never crawled."""

from __future__ import annotations

import asyncio

from redis.crc import key_slot

from crawler.frontier.exchange import Frontier
from crawler.frontier.round import ClusterView, Outgoing
from crawler.node.membership import crawl_finished
from crawler.redis import connection
from crawler.redis.keys import CrawlKeys
from tests.contract.test_partitions import EXACT, UNLIMITED, P, drain, push
from tests.contract.test_redis_topologies import config

KEYS = CrawlKeys("crawl", "site", start_urls_template="%(name)s:start_urls")
IDLE = {"idle_for": 100.0}


def test_seeds_on_the_start_key_keep_the_crawl_going_while_a_dead_mover_holds_the_lock(
        cluster_url: str) -> None:
    assert key_slot(KEYS.start_urls.encode()) != key_slot(KEYS.stats.encode())

    async def main() -> list[bool]:
        client = await connection.async_client(config(cluster_url), cluster_url)
        try:
            f = Frontier(client, KEYS, "priority", "n1", 60, max_attempts=3,
                         politeness=UNLIMITED, partitions=P)
            await f.open(EXACT)
            # a crawl that ran: a request enqueued, fetched and acknowledged
            await f.exchange(Outgoing(pushes=[push("http://a.example/", "a.example")]))
            (entry,) = await drain(f)
            assert (await f.exchange(Outgoing(acks=[entry.id]))).error is None
            # a node died moving seeds: the lock stays, the seeds wait on the start key
            await client.set(KEYS.seeds_lock, "dead node", px=30_000)
            await client.lpush(KEYS.start_urls, "http://seed.example/")
            ends, previous = [], None
            for _ in range(3):
                got = await f.exchange(Outgoing(heartbeat=IDLE, reclaim=True))
                assert got.error is None and got.cluster is not None, got.error
                view: ClusterView = got.cluster
                ends.append(crawl_finished(view, 2.0, previous))
                previous = view
            return ends
        finally:
            await connection.close_async_clients()

    assert asyncio.run(main()) == [False, False, False], "the crawl ended, a seed waiting"
