"""The site spider, with page 0 linking to pages 1..FANOUT in order (``dont_filter``:
fetched each time they are enqueued, but page ``FILTERED``) and no other links."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

from scrapy import Request
from scrapy.http import Response

from spiders.site import SiteSpider

FANOUT = 12
FILTERED = 5  # its fingerprint is checked: a test breaks the bucket it lives in


def page_url(base: str, page: int) -> str:
    """The URL of ``page`` of the local site at ``base``, as the site links it."""
    return f"{base}/page?id={page}&lang=en"


class FanoutSpider(SiteSpider):
    name = "fanout"

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        yield self._item(response, 0)
        if parse_qs(urlsplit(response.url).query)["id"][0] == "0":
            base = response.url.split("/page?")[0]
            for page in range(1, FANOUT + 1):
                yield Request(page_url(base, page), callback=self.parse,
                              dont_filter=page != FILTERED)
