"""Deleting a crawl's keys, for ``scrapy reset``, ``SCHEDULER_FLUSH_ON_START`` and
``SCHEDULER_PERSIST = False``. It touches only keys of the crawl it is given.

A crawl's keys are those of each of its partitions (``partitions_pattern``) and its seeds
key. On a Redis Cluster the cluster client's SCAN visits every master (its cursor is one
per node) and UNLINK is split by slot: each partition's keys share one slot."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import redis
import redis.asyncio

from crawler.frontier import partitions
from crawler.redis.keys import CrawlKeys

logger = logging.getLogger(__name__)

_CHUNK = 500  # keys a single UNLINK deletes


def _own_keys(keys: CrawlKeys) -> re.Pattern[str]:
    """Matches the keys of every partition of the crawl of ``keys`` (``partitions.py``: tag
    ``{<crawl>}`` or ``{<crawl>/<partition>}``), and no other crawl's; the group
    ``partition`` is ``/<partition>`` (``None`` in partition 0), ``role`` what follows the tag."""
    return re.compile(re.escape(f"{keys.prefix}:{{{keys.crawl}")
                      + r"(?P<partition>/[1-9][0-9]*)?\}:(?P<role>.*)", re.DOTALL)


class Selection(NamedTuple):
    """The keys to delete, and whether the crawl's number of partitions must stay recorded
    (``keys.seen_meta`` goes, keys of partitions other than 0 stay: their counters are
    read as the crawl's only with it)."""

    doomed: list[str]
    count_stays: bool


def _selected(scanned: Iterable[bytes], seeds_exist: bool, keys: CrawlKeys,
              keep: Iterable[str] = ()) -> Selection:
    """The crawl's keys among those SCAN found, its seeds key if it exists, less ``keep``:
    a key named there is kept in every partition, and a name ending in ``:`` keeps every
    key it begins."""
    own = _own_keys(keys)
    found = {k for k in (k.decode() for k in scanned) if own.fullmatch(k)}
    found |= {keys.start_urls} if seeds_exist else set()
    kept = set(keep)
    roles = tuple(m["role"] for m in map(own.fullmatch, kept) if m is not None)
    prefixes = tuple(role for role in roles if role.endswith(":"))

    def is_kept(key: str) -> bool:
        match = own.fullmatch(key)
        if match is None:
            return key in kept
        return match["role"] in roles or match["role"].startswith(prefixes)
    doomed = sorted(k for k in found if not is_kept(k))
    stay = (own.fullmatch(k) for k in found.difference(doomed))
    return Selection(doomed, keys.seen_meta in doomed
                     and any(m is not None and m["partition"] for m in stay))


def _chunks(doomed: list[str]) -> list[list[str]]:
    return [doomed[start:start + _CHUNK] for start in range(0, len(doomed), _CHUNK)]


def _scan(client: redis.Redis, keys: CrawlKeys) -> Iterator[bytes]:
    """The keys of every partition of the crawl (and maybe others: ``_selected`` picks),
    from every master of a cluster."""
    for pattern in (keys.pattern, keys.partitions_pattern):
        yield from client.scan_iter(match=pattern, count=1000)


def crawl_keys(client: redis.Redis, keys: CrawlKeys) -> list[str]:
    """Every existing key of the crawl, in every partition (SCAN, never KEYS), its seeds
    key included."""
    return _selected(_scan(client, keys), bool(client.exists(keys.start_urls)), keys).doomed


def delete_crawl(client: redis.Redis, keys: CrawlKeys, keep: Iterable[str] = ()) -> int:
    """Delete the crawl's keys, in every partition, except those named in ``keep`` (and the
    number of partitions while keys of several stay); return how many went."""
    doomed, count_stays = _selected(_scan(client, keys), bool(client.exists(keys.start_urls)),
                                    keys, keep)
    count = client.hget(keys.seen_meta, partitions.FIELD) if count_stays else None
    for chunk in _chunks(doomed):
        client.unlink(*chunk)
    if count is not None:
        client.hset(keys.seen_meta, partitions.FIELD, count)
    return len(doomed)


async def delete_crawl_async(client: redis.asyncio.Redis, keys: CrawlKeys,
                             keep: Iterable[str] = ()) -> int:
    """``delete_crawl`` with an asyncio client, for the scheduler: never blocks the loop."""
    scanned = [k for pattern in (keys.pattern, keys.partitions_pattern)
               async for k in client.scan_iter(match=pattern, count=1000)]
    doomed, count_stays = _selected(scanned, bool(await client.exists(keys.start_urls)), keys,
                                    keep)
    count = await client.hget(keys.seen_meta, partitions.FIELD) if count_stays else None
    for chunk in _chunks(doomed):
        await client.unlink(*chunk)
    if count is not None:
        await client.hset(keys.seen_meta, partitions.FIELD, count)
    return len(doomed)


def kept_after_finish(keys: CrawlKeys) -> list[str]:
    """The keys that outlive a finished crawl with ``SCHEDULER_PERSIST = False``: the
    stats and dead letters of every partition, and with several the number of partitions
    (``delete_crawl``), which a later run of the crawl then keeps."""
    return [keys.items, keys.item_keys, keys.item_records, keys.stats, keys.dead,
            keys.start_urls]
