"""Deleting a crawl's keys, for ``scrapy reset``, ``SCHEDULER_FLUSH_ON_START`` and
``SCHEDULER_PERSIST = False``. It touches only keys of the crawl it is given.

On a Redis Cluster the cluster client's SCAN visits every master (its cursor is one per
node) and UNLINK is split by slot: the crawl's keys share one slot, its start key may not."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import redis
import redis.asyncio

from crawler.redis.keys import CrawlKeys

logger = logging.getLogger(__name__)

_CHUNK = 500  # keys a single UNLINK deletes


def _selected(scanned: Iterable[bytes], seeds_exist: bool, keys: CrawlKeys,
              keep: Iterable[str] = ()) -> list[str]:
    """The keys a SCAN of the crawl's pattern found, its seeds key if it exists, less ``keep``
    (a name ending in ``:`` keeps every key it begins)."""
    found = {k.decode() for k in scanned} | ({keys.start_urls} if seeds_exist else set())
    kept = set(keep)
    prefixes = tuple(k for k in kept if k.endswith(":"))
    return sorted(k for k in found - kept if not k.startswith(prefixes))


def _chunks(doomed: list[str]) -> list[list[str]]:
    return [doomed[start:start + _CHUNK] for start in range(0, len(doomed), _CHUNK)]


def crawl_keys(client: redis.Redis, keys: CrawlKeys) -> list[str]:
    """Every existing key of the crawl (SCAN, never KEYS), its seeds key included."""
    return _selected(client.scan_iter(match=keys.pattern, count=1000),
                     bool(client.exists(keys.start_urls)), keys)


def delete_crawl(client: redis.Redis, keys: CrawlKeys, keep: Iterable[str] = ()) -> int:
    """Delete the crawl's keys except those named in ``keep``; return how many went."""
    doomed = _selected(client.scan_iter(match=keys.pattern, count=1000),
                       bool(client.exists(keys.start_urls)), keys, keep)
    for chunk in _chunks(doomed):
        client.unlink(*chunk)
    return len(doomed)


async def delete_crawl_async(client: redis.asyncio.Redis, keys: CrawlKeys,
                             keep: Iterable[str] = ()) -> int:
    """``delete_crawl`` with an asyncio client, for the scheduler: never blocks the loop."""
    scanned = [k async for k in client.scan_iter(match=keys.pattern, count=1000)]
    doomed = _selected(scanned, bool(await client.exists(keys.start_urls)), keys, keep)
    for chunk in _chunks(doomed):
        await client.unlink(*chunk)
    return len(doomed)


def kept_after_finish(keys: CrawlKeys) -> list[str]:
    """The keys that outlive a finished crawl with ``SCHEDULER_PERSIST = False``."""
    return [keys.items, keys.item_keys, keys.item_records, keys.stats, keys.dead,
            keys.start_urls]
