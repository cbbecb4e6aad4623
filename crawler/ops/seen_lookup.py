"""A crawl's fingerprints looked up from outside (``scrapy seed``, ``scrapy forget``): each
request's in the partition of its domain, as a node records it (``docs/partitions.md``)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, NamedTuple

from crawler.frontier import partitions
from crawler.frontier.fingerprints import BloomLayout, FingerprintLayout, layout_from_json
from crawler.redis.keys import CrawlKeys

CHUNK = 1000  # fingerprints looked up in one round trip


class Print(NamedTuple):
    """A request's fingerprint and its domain (``crawler.frontier.limits.domain_of``)."""

    fingerprint: bytes
    domain: str


class SeenLookup:
    """The fingerprint layout of each partition of one crawl."""

    def __init__(self, keys: CrawlKeys, recorded: str | bytes, recrawl_days: int = 0,
                 count: int = 1) -> None:
        """``recorded``: the layout's JSON (``keys.seen_meta``); ``count``: the crawl's
        number of partitions."""
        self.layouts: list[FingerprintLayout] = [
            layout_from_json(k, recorded, recrawl_days, count) for k in keys.every_partition(count)]

    @classmethod
    def of_crawl(cls, client: Any, keys: CrawlKeys, recorded: str | bytes,
                 recrawl_days: int = 0) -> SeenLookup:
        """The lookup of the crawl of ``keys`` with the number of partitions it recorded."""
        return cls(keys, recorded, recrawl_days, partitions.recorded_count(client, keys))

    @property
    def is_bloom(self) -> bool:
        """Whether the crawl keeps its fingerprints in a Bloom filter (it cannot forget)."""
        return isinstance(self.layouts[0], BloomLayout)

    def _by_partition(self, prints: list[Print]) -> dict[int, list[int]]:
        """The indexes of ``prints`` in each partition, in order."""
        grouped: dict[int, list[int]] = defaultdict(list)
        for index, found in enumerate(prints):
            grouped[partitions.partition_of(found.domain, len(self.layouts))].append(index)
        return grouped

    def known(self, client: Any, prints: list[Print]) -> list[bool]:
        """Which requests the crawl has seen (and recently enough not to re-crawl them), one
        round trip for each ``CHUNK`` of a partition's."""
        seen = [False] * len(prints)
        for partition, indexes in self._by_partition(prints).items():
            layout = self.layouts[partition]
            for start in range(0, len(indexes), CHUNK):
                chunk = indexes[start:start + CHUNK]
                found = layout.known(client, [prints[i].fingerprint for i in chunk])
                for index, is_known in zip(chunk, found, strict=True):
                    seen[index] = is_known
        return seen

    def forget(self, client: Any, prints: list[Print]) -> int:
        """Delete the fingerprints of ``prints``; how many were recorded. ``ValueError``
        for a Bloom filter, which cannot forget one."""
        forgotten = 0
        for partition, indexes in self._by_partition(prints).items():
            layout = self.layouts[partition]
            if isinstance(layout, BloomLayout):
                raise ValueError("a Bloom filter cannot forget a URL")
            forgotten += layout.forget(client, [prints[i].fingerprint for i in indexes])
        return forgotten
