"""A generic whole-site crawler: seed it with any site's URL and it crawls that site.

    scrapy seed site urls.txt
    scrapy crawl site [-a depth=3] [-a allow='/docs/'] [-a deny='\\?print=']

It follows links that stay on the seed's host (or its subdomains), within the depth
limit and the allow/deny regular expressions, and yields one item per page.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor

EXCERPT_CHARS = 300


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


class SiteSpider(Spider):
    """Crawls the sites it is seeded with, page by page."""

    name = "site"

    def __init__(self, depth: str | int | None = None, allow: str | None = None,
                 deny: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_depth = int(depth) if depth not in (None, "") else None
        self.links = LinkExtractor(allow=allow or (), deny=deny or ())

    async def start(self) -> AsyncIterator[Any]:
        """Nothing: seeds come from Redis (``scrapy seed site FILE``)."""
        return
        yield  # pragma: no cover  (makes this an async generator)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        """One item for the page, then the page's links that stay on its site."""
        site = response.meta.get("site") or _host(response.url)
        links = self.links.extract_links(response) if isinstance(response, TextResponse) else []
        yield self._item(response, len(links))
        depth = int(response.meta.get("depth", 0))
        if self.max_depth is not None and depth >= self.max_depth:
            return
        for link in links:
            host = _host(link.url)
            if host == site or host.endswith("." + site):
                yield Request(link.url, callback=self.parse, meta={"site": site})

    @staticmethod
    def _item(response: Response, out_links: int) -> dict[str, Any]:
        title = text = None
        if isinstance(response, TextResponse):
            title = (response.xpath("normalize-space(//title)").get() or None)
            words = response.xpath(
                "//body//text()[not(ancestor::script) and not(ancestor::style)]").getall()
            text = re.sub(r"\s+", " ", " ".join(words)).strip()[:EXCERPT_CHARS]
        return {
            "url": response.url,
            "status": response.status,
            "title": title,
            "text": text,
            "links": out_links,
            "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "latency": round(float(response.meta.get("download_latency", 0.0)), 4),
        }
