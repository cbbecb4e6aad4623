"""A Scrapy extension that writes a crawl's timing and final stats to a JSON file.

Enable it with ``EXTENSIONS={"benchmarks.statsdump.StatsDump": 500}`` and
``BENCH_STATS_FILE=/path/to/stats.json``. It records the monotonic time of the
first and the last response, so that throughput excludes start-up and the idle
wait before close (which differ between schedulers):
``pages_per_s = responses / (last_response - first_response)``; the longest
gap between two responses (a stall of the crawl); and the Unix time of every response
(``response_unix``), so that a benchmark can merge the timelines of several nodes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from crawler.node.robots import is_robots_download


class StatsDump:
    """Counts responses, times the first and last one, dumps everything on close."""

    def __init__(self, crawler: Crawler, path: str) -> None:
        self.crawler = crawler
        self.path = Path(path)
        self.responses = 0
        self.first: float | None = None
        self.last: float | None = None
        self.first_unix = self.last_unix = 0.0
        self.max_gap = 0.0
        self.times: list[float] = []
        crawler.signals.connect(self.response_received, signal=signals.response_received)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StatsDump:
        """Build from settings; disabled unless ``BENCH_STATS_FILE`` is set."""
        path = crawler.settings.get("BENCH_STATS_FILE")
        if not path:
            raise NotConfigured("BENCH_STATS_FILE is not set")
        return cls(crawler, path)

    def response_received(self, request: Request, **kwargs: Any) -> None:
        """Count one page's response and move the time window's end (robots.txt is no page)."""
        if is_robots_download(request):
            return
        now, self.last_unix = time.monotonic(), time.time()
        if self.first is None:
            self.first, self.first_unix = now, self.last_unix
        if self.last is not None:
            self.max_gap = max(self.max_gap, now - self.last)
        self.last = now
        self.responses += 1
        self.times.append(self.last_unix)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        """Write responses, window and Scrapy's stats (values as JSON or str)."""
        window = (self.last - self.first) if self.first is not None and self.last else 0.0
        assert self.crawler.stats is not None
        data = {
            "reason": reason,
            "responses": self.responses,
            "window_s": window,
            "first_response_unix": self.first_unix,
            "last_response_unix": self.last_unix,
            "max_gap_s": self.max_gap,
            "pages_per_s": self.responses / window if window > 0 else 0.0,
            "response_unix": [round(t, 4) for t in self.times],
            "stats": self.crawler.stats.get_stats(),
        }
        self.path.write_text(json.dumps(data, indent=1, sort_keys=True, default=str),
                             encoding="utf-8")
