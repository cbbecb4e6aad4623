"""The site spider with scrapy-redis's ``make_request_from_data`` hook: a seed line is a
page number; ``boom`` makes the hook raise, ``nonsense`` makes it return a number."""

from __future__ import annotations

from typing import Any

from scrapy import Request

from spiders.site import SiteSpider

BASE = "https://example.com"


class SeedHookSpider(SiteSpider):
    name = "seed_hook"

    def make_request_from_data(self, data: bytes) -> Any:
        text = data.decode()
        if text == "boom":
            raise ValueError("no page called boom")
        if text == "nonsense":
            return 42
        if text == "none":
            return None
        return Request(f"{BASE}/page?id={int(text)}&lang=en")
