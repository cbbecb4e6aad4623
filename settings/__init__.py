"""The project's Scrapy settings. Every value a deployment changes can come from the
environment: ``REDIS_URL=redis://host:6379/0 scrapy crawl site``."""

from __future__ import annotations

import os

BOT_NAME = "crawler"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"
COMMANDS_MODULE = "crawler.commands"

ADDONS = {"crawler.addon.RedisFrontier": 0}
ITEM_PIPELINES = {
    "pipelines.redis_store.RedisItemStorePipeline": 500,
    # On only when POSTGRES_DSN is set; runs after the Redis store, which keeps every item.
    "pipelines.postgres.PostgresPipeline": 600,
}

ROBOTSTXT_OBEY = True
# Nodes open no control port of their own: the cluster is steered through Redis
# (scrapy pause/resume/stop) and watched with scrapy status.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
FEED_EXPORT_ENCODING = "utf-8"

# Values a deployment sets from the environment (a setting given with -s still wins).
_FROM_ENV = {
    "REDIS_URL": str,
    "REDIS_KEY_PREFIX": str,
    "REDIS_SOCKET_TIMEOUT": float,
    "REDIS_SSL_CA_CERTS": str,
    "REDIS_SSL_CERTFILE": str,
    "REDIS_SSL_KEYFILE": str,
    "LOG_LEVEL": str,
    "CONCURRENT_REQUESTS": int,
    "CONCURRENT_REQUESTS_PER_DOMAIN": int,
    "DOWNLOAD_DELAY": float,
    "DEPTH_LIMIT": int,
    "DOMAIN_CONCURRENCY": int,
    "DOMAIN_RATE": str,
    "DOMAIN_LIMITS": str,
    "MAX_IDLE_TIME_BEFORE_CLOSE": float,
    "SCHEDULER_LEASE_SECONDS": float,
    "SCHEDULER_NODE_ID": str,
    "SCHEDULER_NODE_TIMEOUT": float,
    "SCHEDULER_PREFETCH": int,
    "SCHEDULER_QUEUE_ORDER": str,
    "USER_AGENT": str,
    "POSTGRES_DSN": str,
    "POSTGRES_TABLE": str,
    "POSTGRES_BATCH_SIZE": int,
    "POSTGRES_BUFFER_ITEMS": int,
}
for _name, _type in _FROM_ENV.items():
    if _name in os.environ:
        globals()[_name] = _type(os.environ[_name])
