"""Trim the Redis item store as Scrapy's feed exports (``FEEDS``) store their files.

Scrapy writes each scraped item into the current file (a *slot*) of every feed whose
filter takes it; with ``FEED_EXPORT_BATCH_ITEM_COUNT`` a full slot is stored (closed,
uploaded) and a new one begins, else the one file is stored when the crawl ends. This
follows the same items into the same slots and, once a slot's storage has stored the file
without an error, trims its items from Redis: an item is trimmed once its file is stored.
A file that fails to store trims nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from itemadapter import ItemAdapter
from scrapy.extensions.feedexport import FeedExporter, FeedSlot
from scrapy.utils.defer import ensure_awaitable

from crawler.frontier.fingerprints import KEPT_BYTES
from crawler.items.records import digest

logger = logging.getLogger(__name__)

Trim = Callable[[list[bytes]], Awaitable[None]]


def feed_exporter(extensions: Iterable[Any]) -> FeedExporter | None:
    """Scrapy's feed exporter among the crawler's enabled extensions, if ``FEEDS`` is set."""
    return next((e for e in extensions if isinstance(e, FeedExporter)), None)


class FeedTrim:
    """Knows which items went into which feed slot; trims a slot's items once it is stored.

    ``item_scraped`` must run after the feed exporter's own handler (it is connected
    later), and ``adopt_slots`` once the exporter has opened its first slots."""

    def __init__(self, exporter: FeedExporter, key_field: str, trim: Trim) -> None:
        self.exporter = exporter
        self.key_field = key_field
        self.trim = trim
        self.current: dict[str, FeedSlot] = {}  # feed (URI template) -> its slot seen last
        self.digests: dict[int, bytearray] = {}  # id(slot) -> its items' digests

    def adopt_slots(self) -> None:
        """Follow the slots the exporter has now (the first ones, or new batches)."""
        for slot in self.exporter.slots:
            if self.current.get(slot.uri_template) is not slot:
                self._adopt(slot)

    def item_scraped(self, item: Any) -> None:
        """Note the slots ``item`` went into: a feed's slot replaced by a new batch just
        now was closed by this very item, which is in the closed one."""
        key = digest(ItemAdapter(item).asdict(), self.key_field)
        for slot in self.exporter.slots:
            previous = self.current.get(slot.uri_template)
            if not slot.filter.accepts(item):
                continue
            target = previous if previous is not None else slot
            if previous is not slot:
                self._adopt(slot)
            self.digests[id(target)] += key

    def _adopt(self, slot: FeedSlot) -> None:
        self.current[slot.uri_template] = slot
        self.digests[id(slot)] = bytearray()
        storage = slot.storage
        store = storage.store

        async def store_then_trim(file: Any) -> None:
            await ensure_awaitable(store(file))  # raises if the file was not stored
            keys = self.digests.pop(id(slot), bytearray())
            await self.trim([bytes(keys[i:i + KEPT_BYTES])
                             for i in range(0, len(keys), KEPT_BYTES)])

        storage.store = store_then_trim  # type: ignore[method-assign,assignment]
