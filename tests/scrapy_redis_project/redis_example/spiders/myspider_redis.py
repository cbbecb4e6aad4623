"""A ``RedisSpider``: seeds from ``myspider:start_urls``; one item a page, links followed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scrapy.http import Response
from scrapy_redis.spiders import RedisSpider


class MySpider(RedisSpider):
    """Spider that reads urls from redis queue (myspider:start_urls)."""

    name = "myspider_redis"
    redis_key = "myspider:start_urls"

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        yield {"name": response.css("title::text").get(), "url": response.url}
        yield from response.follow_all(css="a", callback=self.parse)
