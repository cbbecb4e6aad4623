"""Persist items in the crawl's shared item store in Redis, which ``scrapy export`` reads."""

from __future__ import annotations

from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler

from crawler.items.config import ItemsConfig
from crawler.items.stream import ItemStore
from crawler.redis import connection
from crawler.redis.config import RedisConfig
from crawler.redis.keys import CrawlKeys


class RedisItemStorePipeline:
    """Stores every item once per item key (see ``ITEM_KEY_FIELD``); passes it on unchanged."""

    def __init__(self, redis: RedisConfig, items: ItemsConfig, keys: CrawlKeys) -> None:
        self.redis = redis
        self.items = items
        self.keys = keys
        self.store: ItemStore | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedisItemStorePipeline:
        redis = RedisConfig.from_settings(crawler.settings)
        assert crawler.spidercls is not None
        return cls(redis, ItemsConfig.from_settings(crawler.settings),
                   CrawlKeys(redis.key_prefix, crawler.spidercls.name, redis.start_urls_key))

    async def open_spider(self) -> None:
        url = connection.resolve_url(self.redis)
        client = await connection.async_client(self.redis, url)
        self.store = ItemStore(client, self.keys, self.items.key_field,
                               gather=self.items.gather_seconds)

    async def process_item(self, item: Any) -> Any:
        assert self.store is not None, "open_spider() was not awaited"
        await self.store.add(ItemAdapter(item).asdict())
        return item
