"""A plain ``CrawlSpider`` (the example's ``dmoz``): ``start_urls``, no Redis of its own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scrapy.http import Response
from scrapy.linkextractors import LinkExtractor
from scrapy.spiders import CrawlSpider, Rule


class LocalCrawl(CrawlSpider):
    """Follow every link of the site given with ``-a site=URL``; one item a page."""

    name = "local_crawl"

    rules = (Rule(LinkExtractor(), callback="parse_directory", follow=True),)

    def __init__(self, site: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = [site]

    def parse_directory(self, response: Response) -> Iterator[dict[str, Any]]:
        yield {"name": response.css("title::text").get(), "url": response.url}
