"""Deleting a crawl's keys: the scheduler's asyncio deletion (``deletion.delete_crawl_async``)
takes the same keys as the commands' synchronous one."""

from __future__ import annotations

import asyncio

import redis
import redis.asyncio

from crawler.frontier import deletion
from crawler.redis.keys import CrawlKeys

KEYS = CrawlKeys("crawl", "site")


def test_the_async_deletion_takes_the_same_keys_as_the_sync_one(redis_url: str,
                                                                 client: redis.Redis) -> None:
    def fill() -> None:
        client.rpush(KEYS.start_urls, "https://example.com/")
        client.mset({f"{KEYS.queue}:d{i}": 1 for i in range(1200)})  # three UNLINK chunks
        client.hset(KEYS.stats, "done", 1)
        client.set("crawl:{other}:queue", "keep")

    async def delete_async() -> int:
        async with redis.asyncio.Redis.from_url(redis_url) as async_client:
            return await deletion.delete_crawl_async(async_client, KEYS, keep=[KEYS.stats])

    fill()
    assert deletion.delete_crawl(client, KEYS, keep=[KEYS.stats]) == 1201
    left = sorted(client.keys())
    client.flushall()
    fill()
    assert asyncio.run(delete_async()) == 1201
    assert sorted(client.keys()) == left == [b"crawl:{other}:queue", KEYS.stats.encode()]
