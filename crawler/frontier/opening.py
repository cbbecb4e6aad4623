"""What a node does once when it opens a crawl's frontier: fix the fingerprint layout (the
crawl's first one wins), create a Bloom filter's bitmaps, and move what an earlier
version queued into today's layout, so that an upgrade loses nothing."""

from __future__ import annotations

import logging

import redis.asyncio

from crawler.frontier import scripts
from crawler.frontier.fingerprints import BloomLayout, FingerprintLayout, layout_from_json
from crawler.redis.keys import CrawlKeys

logger = logging.getLogger(__name__)


async def open_crawl(client: redis.asyncio.Redis, keys: CrawlKeys, layout: str,
                     recrawl_days: int, batch_size: int) -> FingerprintLayout:
    """Load the scripts, fix the fingerprint layout and bring the crawl's keys up to date;
    the layout the crawl keeps.

    ``layout`` is ``fingerprints.describe(...)`` of this node's settings; a URL seen
    ``recrawl_days`` or more days ago counts as new (0: never). ``batch_size``: the most
    entries one migration script moves.
    """
    await scripts.load(client)
    await client.hsetnx(keys.seen_meta, "layout", layout)
    stored = await client.hget(keys.seen_meta, "layout")
    recorded = stored.decode() if isinstance(stored, bytes) else layout
    if recorded != layout:
        logger.info("Fingerprints of this crawl keep the layout it began with: %s", recorded)
    kept = layout_from_json(keys, recorded, recrawl_days)
    if isinstance(kept, BloomLayout):
        await create_bitmaps(client, kept)
    await migrate_single_queue(client, keys, batch_size)
    return kept


async def migrate_single_queue(client: redis.asyncio.Redis, keys: CrawlKeys,
                               batch_size: int) -> None:
    """Move what an earlier version queued in one sorted set (the key that now prefixes
    the domain queues), or kept in its retry set, into the domain queues, so that an
    upgrade loses nothing."""
    for source in (keys.queue, keys.retry):
        if await client.type(source) not in (b"zset", "zset"):
            continue
        moved = 0
        while step := int(await scripts.MIGRATE.run(
                client, [source, keys.domains, keys.stats],
                [keys.queue, batch_size])):
            moved += step
        logger.info("Moved %d requests an earlier version kept in %s into per-domain "
                    "queues", moved, source)


async def create_bitmaps(client: redis.asyncio.Redis, layout: BloomLayout) -> None:
    """Create the Bloom bitmaps whole, so that none is grown by SETBIT.

    ``BITFIELD key INCRBY u1 <last bit> 0`` makes Redis allocate a missing bitmap at its
    full size (no zeros are sent) and leaves one that exists as it is, bits set by
    pushes included: nodes that start together need no lock, and each sends one short
    command a missing bitmap, whatever the size of the filter.
    """
    keys = layout.bitmap_keys()
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.exists(key)
    missing = [key for key, found in zip(keys, await pipe.execute(), strict=True)
               if not found]
    if not missing:
        return
    last = layout.bits_per_bitmap - 1
    pipe = client.pipeline(transaction=False)
    for key in missing:
        pipe.execute_command("BITFIELD", key, "OVERFLOW", "WRAP", "INCRBY", "u1", last, 0)
    await pipe.execute()
    logger.info("Created %d of the %d bitmaps (%d MB in all) of the crawl's Bloom filter",
                len(missing), len(keys), len(keys) * layout.bits_per_bitmap // 8 // 10**6)

