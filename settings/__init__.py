"""The project's Scrapy settings. Every value a deployment changes can come from the
environment (``REDIS_URL=redis://host:6379/0 scrapy crawl site``): the add-on applies the
variables ``crawler.environment`` lists, and every default of ``crawler.config``."""

from __future__ import annotations

BOT_NAME = "crawler"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"
COMMANDS_MODULE = "crawler.commands"

ADDONS = {"crawler.addon.RedisFrontier": 0}
ITEM_PIPELINES = {
    "crawler.pipelines.redis_store.RedisItemStorePipeline": 500,
    # On only when POSTGRES_DSN is set; runs after the Redis store, which keeps every item.
    "crawler.pipelines.postgres.PostgresPipeline": 600,
}

ROBOTSTXT_OBEY = True
# Nodes open no control port of their own: the cluster is steered through Redis
# (scrapy pause/resume/stop) and watched with scrapy status.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
FEED_EXPORT_ENCODING = "utf-8"
