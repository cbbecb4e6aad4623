"""Plain Scrapy benchmark spider: follows every link, yields ``{url, title}``.

Run by ``crawl_speed.py`` as ``scrapy runspider benchmarks/plain_spider.py -a start_url=URL``
(in-memory scheduler and dupefilter: Scrapy's defaults).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import scrapy
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor


class FollowAllMixin:
    """Parse logic shared by the benchmark spiders, so that they do the same work."""

    link_extractor = LinkExtractor()

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        """Yield a tiny item for the page, then a request for every link on it."""
        if not isinstance(response, TextResponse):
            return
        yield {"url": response.url, "title": response.css("title::text").get()}
        for link in self.link_extractor.extract_links(response):
            yield scrapy.Request(link.url, callback=self.parse)


class PlainBenchSpider(FollowAllMixin, scrapy.Spider):
    """Starts from ``-a start_url=...``."""

    name = "bench"

    def __init__(self, start_url: str = "", *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not start_url:
            raise ValueError("pass -a start_url=http://...")
        self.start_urls = [start_url]
