"""The site spider, also following the odd-scheme links of the local site's ``/hostile``
page that Scrapy can fetch (``data:``), as a spider of its own may."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scrapy import Request
from scrapy.http import Response

from spiders.site import SiteSpider

DATA_URL = "data:text/html,%3Ctitle%3EData%3C/title%3E"


class HostileSpider(SiteSpider):
    name = "hostile"

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        yield from super().parse(response, **kwargs)
        if response.url.endswith("/hostile"):
            yield Request(DATA_URL, callback=self.parse)
