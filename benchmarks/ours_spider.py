"""The benchmark spider run on our engine: ``crawl_speed.py --ours-spider bench``.

Same parse as ``plain_spider`` and ``redis_spider`` (tiny ``{url, title}`` item, follow
every link), so that the ``ours`` column measures the frontier rather than the
project's ``site`` spider, which extracts more per page. ``ours_settings`` adds this
module to ``SPIDER_MODULES``; seeds come from ``crawl:{bench}:start_urls``.
"""

from __future__ import annotations

import scrapy

from benchmarks.plain_spider import FollowAllMixin


class OursBenchSpider(FollowAllMixin, scrapy.Spider):
    """No start URLs of its own: the engine turns the seeds in Redis into requests."""

    name = "bench"
