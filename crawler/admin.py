"""Deleting a crawl's keys, for ``scrapy reset``, ``SCHEDULER_FLUSH_ON_START`` and
``SCHEDULER_PERSIST = False``. It touches only keys of the crawl it is given."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import redis

from crawler.keys import CrawlKeys

logger = logging.getLogger(__name__)


def crawl_keys(client: redis.Redis, keys: CrawlKeys) -> list[str]:
    """Every existing key of the crawl (SCAN, never KEYS), its seeds key included."""
    found = {k.decode() for k in client.scan_iter(match=keys.pattern, count=1000)}
    if client.exists(keys.start_urls):
        found.add(keys.start_urls)
    return sorted(found)


def delete_crawl(client: redis.Redis, keys: CrawlKeys, keep: Iterable[str] = ()) -> int:
    """Delete the crawl's keys except those named in ``keep``; return how many went."""
    kept = set(keep)
    doomed = [k for k in crawl_keys(client, keys) if k not in kept]
    for start in range(0, len(doomed), 500):
        client.unlink(*doomed[start:start + 500])
    return len(doomed)


def kept_after_finish(keys: CrawlKeys) -> list[str]:
    """The keys that outlive a finished crawl with ``SCHEDULER_PERSIST = False``."""
    return [keys.items, keys.item_keys, keys.stats, keys.dead, keys.start_urls]
