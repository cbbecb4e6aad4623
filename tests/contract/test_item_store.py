"""The item store against a real Redis: ``locate`` gives the cursor that reads items again."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import redis
import redis.asyncio

from crawler.frontier import scripts
from crawler.items.records import ItemRecords, digest
from crawler.items.stream import START, cursor_before, locate, read_items
from crawler.redis.keys import CrawlKeys

KEYS = CrawlKeys("crawl", "site")
RECORDS = ItemRecords(KEYS, 16)


def store(client: redis.Redis, items: list[dict[str, Any]]) -> None:
    """Store items as the item pipeline does (once per item key)."""
    digests = [digest(item, "url") for item in items]
    keys = [KEYS.items, KEYS.item_keys, KEYS.stats, *RECORDS.script_keys(digests)]
    args = [part for key, item in zip(digests, items, strict=True)
            for part in (RECORDS.field(key), json.dumps(item))]
    client.eval(scripts.STORE_ITEMS.text, len(keys), *keys, *RECORDS.layout_args(), *args)


def pages(first: int, count: int) -> list[dict[str, Any]]:
    return [{"url": f"https://a.test/{i}", "title": f"Page {i}"} for i in range(first,
                                                                              first + count)]


def test_locate_gives_the_cursor_that_reads_the_items_again(redis_url: str,
                                                            client: redis.Redis) -> None:
    store(client, pages(0, 10))
    ids = [i.decode() for i, _ in client.xrange(KEYS.items)]
    assert cursor_before("1700000000000-5") == "1700000000000-4"
    assert cursor_before("1700000000000-0") == f"1699999999999-{2**64 - 1}"
    assert cursor_before("0-1") == "0-0" and cursor_before("0-0") == START

    async def where(keys: list[bytes]) -> tuple[str | None, int]:
        async_client = redis.asyncio.Redis.from_url(redis_url)
        try:
            return await locate(async_client, RECORDS, keys)
        finally:
            await async_client.aclose()

    later = [digest(page, "url") for page in pages(4, 3)] + [bytes(12)]  # and one not stored
    cursor, missing = asyncio.run(where(later))
    assert missing == 1 and cursor == cursor_before(ids[4])
    assert [item["title"] for _, item in read_items(client, KEYS, cursor)] == \
        [f"Page {i}" for i in range(4, 10)]
    assert asyncio.run(where([digest(pages(0, 1)[0], "url")])) == (START, 0)
    assert asyncio.run(where([bytes(12)])) == (None, 1)
