"""The site spider, with page 0 also linking to pages no request of which can go through
Redis: a lambda callback, an object in ``meta``, a ``meta`` with an int key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from scrapy import Request
from scrapy.http import Response

from spiders.site import SiteSpider
from tests.spiders.fanout import page_url

LOCAL = ("lambda", "object", "int key")  # the ?via= of the three


class KeptLocalSpider(SiteSpider):
    name = "kept_local"

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        yield from super().parse(response, **kwargs)
        if "id=0&" not in response.url:
            return
        base = response.url.split("/page?")[0]
        yield Request(page_url(base, 1) + "&via=lambda",
                      callback=lambda r: [self._item(r, 0)])
        yield Request(page_url(base, 2) + "&via=object", meta={"when": object()},
                      callback=self.leaf)
        yield Request(page_url(base, 3) + "&via=int+key", meta={"by_id": {7: "seven"}},
                      callback=self.leaf)

    def leaf(self, response: Response) -> Iterator[Any]:
        """One item, and the meta key ``by_id`` as it came back."""
        item = self._item(response, 0)
        if "by_id" in response.meta:
            item["by_id_keys"] = [type(k).__name__ for k in response.meta["by_id"]]
        yield item
