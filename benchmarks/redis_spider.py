"""scrapy-redis 0.9.1 benchmark spider: same parse as ``plain_spider``, Redis frontier.

Seeds are read from the list ``bench:start_urls`` (JSON ``{"url": ...}``); requests
go through scrapy-redis's scheduler (sorted-set priority queue) and its Redis
set dupefilter. Run by ``crawl_speed.py`` as ``scrapy runspider
benchmarks/redis_spider.py -s REDIS_URL=... -s MAX_IDLE_TIME_BEFORE_CLOSE=2``.
scrapy-redis is a dev-only dependency: ``pip install scrapy-redis==0.9.1``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from scrapy_redis.spiders import RedisSpider

from benchmarks.plain_spider import FollowAllMixin


class RedisBenchSpider(FollowAllMixin, RedisSpider):  # type: ignore[misc]
    """scrapy-redis spider; ends after ``MAX_IDLE_TIME_BEFORE_CLOSE`` idle seconds."""

    name = "bench"
    custom_settings: ClassVar[dict[str, Any]] = {
        "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        "SCHEDULER_PERSIST": False,
    }
