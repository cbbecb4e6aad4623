"""The project's Scrapy settings. Every value a deployment changes can come from the
environment: ``REDIS_URL=redis://host:6379/0 scrapy crawl site``."""

from __future__ import annotations

import os

BOT_NAME = "crawler"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"
COMMANDS_MODULE = "crawler.commands"

ADDONS = {"crawler.addon.RedisFrontier": 0}
ITEM_PIPELINES = {"pipelines.redis_store.RedisItemStorePipeline": 500}

ROBOTSTXT_OBEY = True
TELNETCONSOLE_ENABLED = False
FEED_EXPORT_ENCODING = "utf-8"

# Values a deployment sets from the environment (a setting given with -s still wins).
_FROM_ENV = {
    "REDIS_URL": str,
    "REDIS_KEY_PREFIX": str,
    "LOG_LEVEL": str,
    "CONCURRENT_REQUESTS": int,
    "CONCURRENT_REQUESTS_PER_DOMAIN": int,
    "DOWNLOAD_DELAY": float,
    "DEPTH_LIMIT": int,
    "MAX_IDLE_TIME_BEFORE_CLOSE": float,
    "SCHEDULER_LEASE_SECONDS": float,
    "SCHEDULER_PREFETCH": int,
    "SCHEDULER_QUEUE_ORDER": str,
    "USER_AGENT": str,
}
for _name, _type in _FROM_ENV.items():
    if _name in os.environ:
        globals()[_name] = _type(os.environ[_name])
