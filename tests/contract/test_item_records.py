"""The item store's once-per-key records and its trim, against a real Redis, no crawl."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import redis
import redis.asyncio

from crawler.items import stream
from crawler.items.records import ItemRecords, digest, open_records
from crawler.items.stream import ItemStore, item_key
from crawler.redis.keys import CrawlKeys

KEYS = CrawlKeys("crawl", "site")


def items(first: int, last: int) -> list[dict[str, Any]]:
    return [{"url": f"https://a.test/{i}", "title": f"Page {i}"} for i in range(first, last)]


async def store(redis_url: str, batches: list[list[dict[str, Any]]],
                bucket_bits: int = 16) -> None:
    """Each batch from its own node (client and store), all at once."""
    clients = [redis.asyncio.Redis.from_url(redis_url) for _ in batches]
    try:
        stores = [ItemStore(c, await open_records(c, KEYS, bucket_bits), "url") for c in clients]
        await asyncio.gather(*(s.add(item) for s, batch in zip(stores, batches, strict=True)
                               for item in batch))
    finally:
        for c in clients:
            await c.aclose()


def urls(client: redis.Redis) -> list[str]:
    return sorted(json.loads(f[b"item"])["url"] for _, f in client.xrange(KEYS.items))


async def trim(redis_url: str, batch: list[dict[str, Any]]) -> int:
    return await trim_bits(redis_url, batch, 0)


async def trim_bits(redis_url: str, batch: list[dict[str, Any]], bucket_bits: int) -> int:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        records = await open_records(client, KEYS, bucket_bits)
        return await stream.trim(client, records, [digest(i, "url") for i in batch])
    finally:
        await client.aclose()


def test_two_nodes_store_each_item_once_in_compact_records(redis_url: str,
                                                           client: redis.Redis) -> None:
    asyncio.run(store(redis_url, [items(0, 300), items(150, 450)]))
    assert urls(client) == sorted(i["url"] for i in items(0, 450))
    assert client.hget(KEYS.stats, "items") == b"450"
    assert client.hget(KEYS.stats, "item_duplicates") == b"150"
    records = ItemRecords(KEYS, 16)
    ids = {json.loads(f[b"item"])["url"]: i.decode() for i, f in client.xrange(KEYS.items)}
    for item in items(0, 450):
        key = digest(item, "url")
        assert key.hex() == item_key(item, "url")  # PostgreSQL's item_key, as before
        value = client.hget(records.bucket(key), key[2:])  # 10 bytes a field
        assert value == ids[item["url"]].encode()
        assert client.object("encoding", records.bucket(key)) == b"listpack"
    assert not client.exists(KEYS.item_keys)


def test_the_layout_recorded_first_holds(redis_url: str, client: redis.Redis) -> None:
    asyncio.run(store(redis_url, [items(0, 10)], bucket_bits=8))
    asyncio.run(store(redis_url, [items(0, 20)], bucket_bits=16))  # a changed setting
    assert len(urls(client)) == 20
    assert json.loads(client.get(KEYS.item_records + "layout")) == {"bucket_bits": 8}


def test_records_of_earlier_versions_still_count(redis_url: str, client: redis.Redis) -> None:
    old = items(0, 5)
    for item in old:  # as an earlier version stored them: hex key -> stream id
        stream_id = client.xadd(KEYS.items, {"item": json.dumps(item)})
        client.hset(KEYS.item_keys, item_key(item, "url"), stream_id)
    asyncio.run(store(redis_url, [items(0, 10)]))
    assert urls(client) == sorted(i["url"] for i in items(0, 10))
    assert client.hget(KEYS.stats, "item_duplicates") == b"5"
    assert asyncio.run(trim(redis_url, items(3, 7))) == 4  # two old, two new
    assert urls(client) == sorted(i["url"] for i in items(0, 3) + items(7, 10))


def test_trim_deletes_what_was_committed_and_keeps_the_rest(redis_url: str,
                                                            client: redis.Redis) -> None:
    asyncio.run(store(redis_url, [items(0, 10)], bucket_bits=0))
    cursor = client.xrange(KEYS.items, count=1)[0][0].decode()
    assert stream.trimmed_after(client, KEYS, cursor) is None
    assert asyncio.run(trim(redis_url, items(2, 6))) == 4
    assert asyncio.run(trim(redis_url, items(2, 6))) == 0  # again: nothing more goes
    assert urls(client) == sorted(i["url"] for i in items(0, 2) + items(6, 10))
    trimmed = stream.trimmed_after(client, KEYS, cursor)
    assert trimmed is not None and trimmed[0] == 4
    assert stream.trimmed_after(client, KEYS, trimmed[1]) is None
    asyncio.run(store(redis_url, [items(0, 10)], bucket_bits=0))  # fetched again
    assert len(urls(client)) == 6, "a trimmed item was stored a second time"
    assert client.hlen(KEYS.item_records + "all") == 10  # its record stays, value emptied
    assert client.hget(KEYS.item_records + "all", digest(items(2, 3)[0], "url")) == b""


def test_scripts_and_python_name_the_same_buckets(redis_url: str, client: redis.Redis) -> None:
    asyncio.run(store(redis_url, [items(0, 50)], bucket_bits=20))
    records = ItemRecords(KEYS, 20)
    for item in items(0, 50):
        key = digest(item, "url")
        assert len(records.bucket(key)) == len(KEYS.item_records) + 5
        assert client.hexists(records.bucket(key), records.field(key))
    assert asyncio.run(trim_bits(redis_url, items(0, 50), 20)) == 50
