"""The site spider, with one page whose callback always raises and one that kills the node."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

from scrapy.http import Response

from spiders.site import SiteSpider

RAISES = 7
CRASHES = 9


class PoisonSpider(SiteSpider):
    name = "poison"

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        page = int(parse_qs(urlsplit(response.url).query)["id"][0])
        if page == CRASHES:
            os._exit(3)  # the node dies in the middle of this request
        for output in super().parse(response, **kwargs):
            if page != RAISES or not isinstance(output, dict):
                yield output  # page 7 yields its links but no item, then fails
        if page == RAISES:
            raise ValueError("this page always fails")
