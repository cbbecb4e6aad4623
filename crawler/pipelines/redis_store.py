"""Persist items in the crawl's shared item store in Redis, which ``scrapy export`` reads.

With a durable store configured and ``ITEMS_TRIM_COMMITTED`` (the default), Redis is a
bounded buffer: what the durable store has committed leaves the stream. The durable store
is the PostgreSQL pipeline when it runs (it trims after each batch it commits), else
Scrapy's ``FEEDS`` (trimmed here as each feed file is stored).
"""

from __future__ import annotations

import logging
from typing import Any

from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.crawler import Crawler

from crawler.items import stream
from crawler.items.config import ItemsConfig
from crawler.items.feeds import FeedTrim, feed_exporter
from crawler.items.records import open_records
from crawler.items.stream import ItemStore
from crawler.redis import connection
from crawler.redis.config import RedisConfig
from crawler.redis.keys import CrawlKeys

logger = logging.getLogger(__name__)


class RedisItemStorePipeline:
    """Stores every item once per item key (see ``ITEM_KEY_FIELD``); passes it on unchanged."""

    def __init__(self, redis: RedisConfig, items: ItemsConfig, keys: CrawlKeys,
                 crawler: Crawler) -> None:
        self.redis = redis
        self.items = items
        self.keys = keys
        self.crawler = crawler
        self.store: ItemStore | None = None
        self.feeds: FeedTrim | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedisItemStorePipeline:
        redis = RedisConfig.from_settings(crawler.settings)
        assert crawler.spidercls is not None
        pipeline = cls(redis, ItemsConfig.from_settings(crawler.settings),
                       CrawlKeys(redis.key_prefix, crawler.spidercls.name, redis.start_urls_key),
                       crawler)
        crawler.signals.connect(pipeline.follow_feeds, signals.spider_opened)
        return pipeline

    async def open_spider(self) -> None:
        url = connection.resolve_url(self.redis)
        client = await connection.async_client(self.redis, url)
        records = await open_records(client, self.keys, self.items.bucket_bits)
        self.store = ItemStore(client, records, self.items.key_field,
                               gather=self.items.gather_seconds)

    async def process_item(self, item: Any) -> Any:
        assert self.store is not None, "open_spider() was not awaited"
        await self.store.add(ItemAdapter(item).asdict())
        return item

    def follow_feeds(self) -> None:
        """Trim as ``FEEDS`` stores its files, unless PostgreSQL trims (or trimming is off)."""
        exporter = feed_exporter(self.crawler.extensions.middlewares)
        if exporter is None or not self.items.trim_committed or self.store is None:
            return
        assert self.crawler.engine is not None
        pipelines = self.crawler.engine.scraper.itemproc.middlewares
        if any(getattr(p, "trims_committed", False) for p in pipelines):
            return  # (PostgresPipeline: it trims what it commits)
        whole = [uri for uri, options in exporter.feeds.items()
                 if not options["batch_item_count"]]
        if whole:
            logger.warning("Items are trimmed from the Redis item store %s as the feeds store "
                           "their files; %s has no FEED_EXPORT_BATCH_ITEM_COUNT, so its file, "
                           "and its items' trim, wait for the end of the crawl", self.keys.items,
                           ", ".join(whole))
        self.feeds = FeedTrim(exporter, self.items.key_field, self._trim_stored)
        self.feeds.adopt_slots()
        # (connected after the FeedExporter's own handler, as FeedTrim needs; only when
        # there are feeds to follow, so that other crawls pay nothing an item)
        self.crawler.signals.connect(self.feeds.item_scraped, signals.item_scraped)

    async def _trim_stored(self, digests: list[bytes]) -> None:
        assert self.store is not None
        await stream.trim_committed(self.store.client, self.store.records, digests, "the feed")

