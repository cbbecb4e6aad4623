"""A ``RedisCrawlSpider``: seeds from ``mycrawler:start_urls``; every link followed."""

from __future__ import annotations

from typing import Any

from scrapy.http import Response
from scrapy.linkextractors import LinkExtractor
from scrapy.spiders import Rule
from scrapy_redis.spiders import RedisCrawlSpider


class MyCrawler(RedisCrawlSpider):
    """Spider that reads urls from redis queue (mycrawler:start_urls)."""

    name = "mycrawler_redis"
    redis_key = "mycrawler:start_urls"

    rules = (
        # follow all links
        Rule(LinkExtractor(), callback="parse_page", follow=True),
    )

    def parse_page(self, response: Response) -> dict[str, Any]:
        return {"name": response.css("title::text").get(), "url": response.url}
