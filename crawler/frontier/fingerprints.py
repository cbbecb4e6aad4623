"""Where request fingerprints live in Redis: exact and compact, or a Bloom filter.

**Exact** (the default). Scrapy's fingerprinter gives 20 bytes of SHA1; we keep 12 (96
bits). The first ``bucket_bits`` bits choose a hash key (a bucket), the bytes from there
to the 12th are a binary field in it. Hashes of up to 512 fields (Redis's default
``hash-max-listpack-entries``) stay in the compact listpack encoding, ~15 bytes a field,
where a 40-character hex string in one big set costs ~90 bytes. So 2^bits buckets hold up
to 512 * 2^bits fingerprints compactly: 16 bits (the default) ~33 million, 20 bits ~530
million. With 96 bits the expected number of colliding pairs among 10^10 URLs is
n^2 / 2^97, about 6e-10.

**Bloom** (``FINGERPRINT_STORE = "bloom"``), for crawls bigger than memory: bitmaps of
at most ``BLOOM_BITS_PER_URL`` bits per URL of ``BLOOM_CAPACITY``, k = bits * ln 2 bit
positions by double hashing (h1 + i*h2), set by the push script. Its price is false
positives: a new URL taken for a seen one is never fetched. At capacity, 32 bits per URL
give a rate of 0.6185^32 ~ 2e-7; past capacity the rate climbs. Duplicates it reports are
counted. Bitmaps are created whole when the crawl begins (a bitmap grown by SETBIT gets
Redis's greedy extra megabyte); a filter of 32 MiB or more is cut into bitmaps of just
under 2 MiB, so that the allocator's size classes add nothing to its bits.

The layout is chosen when a crawl begins and stored with it (``keys.seen_meta``), so a
later change of the settings does not break de-duplication of a crawl under way.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from crawler.redis.keys import CrawlKeys

KEPT_BYTES = 12
BITMAP_BYTES = 2 * 1024 * 1024 - 64  # with Redis's string header: jemalloc's 2 MiB class
EPOCH = 1735689600  # 2025-01-01: exact fingerprints record the day they were seen since


def bucket_name(digest: bytes, bucket_bits: int) -> str:
    """The name of the bucket of ``digest`` (a fingerprint, or an item's key): its first
    ``bucket_bits`` bits in hex (the hex of its first bytes when they are a multiple of 4),
    ``all`` when there are none."""
    if not bucket_bits:
        return "all"
    whole = (bucket_bits + 7) // 8
    value = int.from_bytes(digest[:whole], "big") >> (whole * 8 - bucket_bits)
    return f"{value:0{(bucket_bits + 3) // 4}x}"


@dataclass(frozen=True)
class ExactLayout:
    """Maps a fingerprint to its bucket key and field."""

    keys: CrawlKeys
    bucket_bits: int
    recrawl_days: int = 0

    @property
    def spec(self) -> str:
        """What the push script needs: ``exact:<re-crawl after N days, 0 never>``."""
        return f"exact:{self.recrawl_days}"

    def locate(self, fingerprint: bytes) -> tuple[str, bytes]:
        """The bucket key and the field that record ``fingerprint``."""
        return (self.keys.seen_bucket(bucket_name(fingerprint, self.bucket_bits)),
                fingerprint[self.bucket_bits // 8:KEPT_BYTES])

    def known(self, client: Any, fingerprints: list[bytes]) -> list[bool]:
        """Which fingerprints are recorded, and recently enough not to be re-crawled
        (one round trip, read-only)."""
        pipe = client.pipeline(transaction=False)
        pipe.execute_command("TIME")  # (a cluster pipeline blocks pipe.time())
        for fp in fingerprints:
            pipe.hget(*self.locate(fp))
        now, *days = pipe.execute()
        today = (now[0] - EPOCH) // 86400
        return [day is not None and (not self.recrawl_days or
                                     today - int(day) < self.recrawl_days) for day in days]

    def forget(self, client: Any, fingerprints: list[bytes]) -> int:
        """Delete fingerprints so their URLs count as new; return how many were recorded."""
        pipe = client.pipeline(transaction=False)
        for fp in fingerprints:
            pipe.hdel(*self.locate(fp))
        return sum(pipe.execute())


@dataclass(frozen=True)
class BloomLayout:
    """Maps a fingerprint to its bitmap key and the two hashes the push script expands."""

    keys: CrawlKeys
    capacity: int
    bits_per_url: int

    @property
    def bitmaps(self) -> int:
        """How many bitmap keys the filter spreads over: whole 2 MiB ones for a big filter
        (at most 1/16 fewer bits than asked for), one of the exact size otherwise."""
        whole = self.capacity * self.bits_per_url // (BITMAP_BYTES * 8)
        return whole if whole >= 16 else 1

    @property
    def bits_per_bitmap(self) -> int:
        """Bits of each bitmap."""
        if self.bitmaps == 1:
            return math.ceil(self.capacity * self.bits_per_url / 8) * 8
        return BITMAP_BYTES * 8

    def bitmap_keys(self) -> list[str]:
        """Every bitmap's key, to create them whole when the crawl begins."""
        return [self.keys.seen_bucket(f"bloom{i}") for i in range(self.bitmaps)]

    @property
    def hashes(self) -> int:
        """k: bit positions per URL."""
        return max(1, round(self.bits_per_url * math.log(2)))

    @property
    def spec(self) -> str:
        """What the push script needs: ``bloom:<k>:<bits per bitmap>``."""
        return f"bloom:{self.hashes}:{self.bits_per_bitmap}"

    def locate(self, fingerprint: bytes) -> tuple[str, bytes]:
        """The bitmap key, and 8 bytes holding h1 and h2 (big-endian 32-bit each)."""
        bitmap = int.from_bytes(fingerprint[8:12], "big") % self.bitmaps
        return self.keys.seen_bucket(f"bloom{bitmap}"), fingerprint[:8]

    def positions(self, fingerprint: bytes) -> list[int]:
        """The bit offsets of ``fingerprint``, exactly as push.lua computes them."""
        h1 = int.from_bytes(fingerprint[:4], "big")
        h2 = int.from_bytes(fingerprint[4:8], "big") | 1
        return [(h1 + i * h2) % self.bits_per_bitmap for i in range(self.hashes)]

    def known(self, client: Any, fingerprints: list[bytes]) -> list[bool]:
        """Which fingerprints the filter reports as seen (one round trip, read-only)."""
        pipe = client.pipeline(transaction=False)
        for fp in fingerprints:
            key, _ = self.locate(fp)
            for offset in self.positions(fp):
                pipe.getbit(key, offset)
        bits = pipe.execute()
        k = self.hashes
        return [all(bits[i * k:(i + 1) * k]) for i in range(len(fingerprints))]


FingerprintLayout = ExactLayout | BloomLayout


def layout_from_json(keys: CrawlKeys, recorded: str | bytes, recrawl_days: int = 0,
                     partitions: int = 1) -> FingerprintLayout:
    """The layout a crawl recorded (``describe``'s JSON) in ``keys.seen_meta``, for the
    partition ``keys`` names of a crawl of ``partitions`` (a power of two): each partition
    keeps its share of the buckets (``bucket_bits`` less log2 of the count) or of the Bloom
    filter's capacity, so the crawl as a whole has what the layout says."""
    spec = json.loads(recorded)
    if spec["store"] == "bloom":
        return BloomLayout(keys, max(1, int(spec["capacity"]) // partitions),
                           int(spec["bits_per_url"]))
    shift = partitions.bit_length() - 1
    return ExactLayout(keys, max(0, int(spec["bucket_bits"]) - shift), recrawl_days)


def describe(store: str, bucket_bits: int, capacity: int, bits_per_url: int) -> str:
    """The JSON to record for a crawl that starts with these settings."""
    if store == "bloom":
        return json.dumps({"store": "bloom", "capacity": capacity, "bits_per_url": bits_per_url})
    return json.dumps({"store": "exact", "bucket_bits": bucket_bits})
