"""A crawl's partitions: a fixed number of key groups, each in its own hash tag, that
spread one crawl over the masters of a Redis Cluster (``docs/partitions.md``).

A domain belongs to partition ``crc32(domain) % count`` (Frontera's rule), so its queue,
its leases, its counters and its fingerprints share one slot and de-duplication with
enqueueing stays one script. The number is fixed when the crawl begins and recorded with
it (``keys.seen_meta``); a cluster grows by moving slots, never by changing the number
(StormCrawler #688). One partition, the default on a single Redis, keeps every key name
of earlier versions.
"""

from __future__ import annotations

import zlib
from typing import Any

from crawler.redis.keys import CrawlKeys

FIELD = "partitions"  # in keys.seen_meta
LAYOUT_FIELD = "layout"  # in keys.seen_meta: recorded by every version, so a crawl
# that has it and no FIELD began before partitions and has one
MOST = 4096
PER_MASTER = 16  # the default on a cluster: this many partitions a master, rounded up


def partition_of(domain: str, count: int) -> int:
    """The partition of ``domain`` in a crawl of ``count`` partitions."""
    return zlib.crc32(domain.encode("utf-8", "surrogatepass")) % count if count > 1 else 0


def checked(value: Any, where: str) -> int:
    """``value`` (a setting, named by ``where``) as a number of partitions: 0 chooses the
    default (``default_count``); else a power of two from 1 to ``MOST``."""
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = -1
    if count != 0 and not (1 <= count <= MOST and count & (count - 1) == 0):
        raise ValueError(f"{where}={value!r} must be 0 (the default) or a power of two "
                         f"from 1 to {MOST}")
    return count


def default_count(masters: int) -> int:
    """The default number of partitions: 1 on a single Redis or Sentinel (``masters`` 0),
    ``PER_MASTER`` a cluster master rounded up to a power of two."""
    if masters <= 0:
        return 1
    wanted = PER_MASTER * masters
    return 1 << (wanted - 1).bit_length()


def count_from(recorded: Any) -> int:
    """The number of partitions a crawl recorded (``HGET seen_meta partitions``); 1 when it
    recorded none (a crawl that has not begun, or began before partitions)."""
    try:
        return max(1, int(recorded)) if recorded is not None else 1
    except ValueError:
        return 1


async def fix_count(client: Any, keys: CrawlKeys, wanted: int) -> int:
    """Record ``wanted`` partitions for the crawl of ``keys`` unless it has a number, and
    return the number it keeps: the first node's, or 1 for a crawl that began before
    partitions (its layout is recorded and no number). Call before the layout is recorded
    (``opening.open_crawl``), so that a new crawl never looks like an old one."""
    began_before = bool(await client.hexists(keys.seen_meta, LAYOUT_FIELD))
    await client.hsetnx(keys.seen_meta, FIELD, 1 if began_before else wanted)
    return count_from(await client.hget(keys.seen_meta, FIELD))


def recorded_count(client: Any, keys: CrawlKeys) -> int:
    """The number of partitions of the crawl of ``keys`` (a synchronous client)."""
    return count_from(client.hget(keys.seen_meta, FIELD))
