"""What a node does once when it opens a crawl's frontier: fix the number of partitions and
the fingerprint layout (the crawl's first ones win), create a Bloom filter's bitmaps (each
partition's), and move what earlier versions queued (sorted sets) into today's domain
lists, so that an upgrade loses nothing (a crawl they began has one partition)."""

from __future__ import annotations

import logging

import redis.asyncio

from crawler.frontier import partitions, scripts
from crawler.frontier.fingerprints import BloomLayout, FingerprintLayout, layout_from_json
from crawler.redis import durability
from crawler.redis.keys import CrawlKeys

logger = logging.getLogger(__name__)

# Recorded in keys.seen_meta once the crawl's queues are domain lists: later nodes skip
# the SCAN for an earlier version's sorted sets.
QUEUES_FIELD, QUEUES_LAYOUT = "queues", b"lists"


async def open_crawl(client: redis.asyncio.Redis, keys: CrawlKeys, layout: str,
                     recrawl_days: int, batch_size: int, order: str,
                     wanted_partitions: int = 0) -> tuple[int, list[FingerprintLayout]]:
    """Load the scripts, fix the number of partitions and the fingerprint layout and bring
    the crawl's keys up to date; the number the crawl keeps and each partition's layout.

    ``layout`` is ``fingerprints.describe(...)`` of this node's settings; a URL seen
    ``recrawl_days`` or more days ago counts as new (0: never). ``batch_size``: the most
    entries one migration script moves; ``order``: the queue order (push.lua's);
    ``wanted_partitions``: ``SCHEDULER_PARTITIONS`` (0: ``partitions.default_count``).
    """
    await scripts.load(client)
    masters = len(client.get_primaries()) if durability.is_cluster(client) else 0  # type: ignore[attr-defined]
    wanted = wanted_partitions or partitions.default_count(masters)
    count = await partitions.fix_count(client, keys, wanted)
    if wanted_partitions and count != wanted_partitions:
        logger.info("Crawl %r keeps the %d partitions it began with (SCHEDULER_PARTITIONS=%d "
                    "here)", keys.crawl, count, wanted_partitions)
    await client.hsetnx(keys.seen_meta, partitions.LAYOUT_FIELD, layout)
    stored = await client.hget(keys.seen_meta, "layout")
    recorded = stored.decode() if isinstance(stored, bytes) else layout
    if recorded != layout:
        logger.info("Fingerprints of this crawl keep the layout it began with: %s", recorded)
    kept = [layout_from_json(part, recorded, recrawl_days, count)
            for part in keys.every_partition(count)]
    for part_layout in kept:
        if isinstance(part_layout, BloomLayout):
            await create_bitmaps(client, part_layout)
    if count == 1 and await client.hget(keys.seen_meta, QUEUES_FIELD) != QUEUES_LAYOUT:
        await migrate_sorted_sets(client, keys, batch_size, order)
        await client.hset(keys.seen_meta, QUEUES_FIELD, QUEUES_LAYOUT)
    return count, kept


async def migrate_sorted_sets(client: redis.asyncio.Redis, keys: CrawlKeys,
                              batch_size: int, order: str) -> None:
    """Move what earlier versions queued in sorted sets (one for the whole crawl, its
    retry set, then one a domain) into the domain lists, in their order, so that an
    upgrade loses nothing. Nodes opening together share the work: each script moves a
    batch atomically."""
    old = [k for k in (keys.queue, keys.retry) if await client.type(k) == b"zset"]
    old += sorted({k.decode() async for k in client.scan_iter(
        match=keys.domain_queues_pattern, count=1000, _type="zset")})
    moved = 0
    for source in old:
        counted = int(source not in (keys.queue, keys.retry))  # by "queued" already
        while step := int(await scripts.MIGRATE.run(
                client, [source, keys.domains, keys.stats, keys.attempts],
                [keys.pending, batch_size, order, 1 - counted])):
            moved += step
    if moved:
        logger.info("Moved %d requests earlier versions queued in sorted sets into the "
                    "domain lists", moved)


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

