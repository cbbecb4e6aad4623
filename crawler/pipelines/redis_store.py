"""Persist items in the crawl's shared item store in Redis, which ``scrapy export`` reads."""

from __future__ import annotations

from typing import Any

from itemadapter import ItemAdapter
from scrapy.crawler import Crawler

from crawler.config import FrontierConfig
from crawler.items.stream import ItemStore
from crawler.redis import connection
from crawler.redis.keys import CrawlKeys


class RedisItemStorePipeline:
    """Stores every item once per item key (see ``ITEM_KEY_FIELD``); passes it on unchanged."""

    def __init__(self, config: FrontierConfig, keys: CrawlKeys) -> None:
        self.config = config
        self.keys = keys
        self.store: ItemStore | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedisItemStorePipeline:
        config = FrontierConfig.from_settings(crawler.settings)
        assert crawler.spidercls is not None
        return cls(config, CrawlKeys(config.key_prefix, crawler.spidercls.name,
                                     config.start_urls_key))

    async def open_spider(self) -> None:
        url = connection.resolve_url(self.config)
        client = await connection.async_client(self.config, url)
        self.store = ItemStore(client, self.keys, self.config.item_key_field,
                               gather=self.config.quiet_interval)

    async def process_item(self, item: Any) -> Any:
        assert self.store is not None, "open_spider() was not awaited"
        await self.store.add(ItemAdapter(item).asdict())
        return item
