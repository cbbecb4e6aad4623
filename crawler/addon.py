"""A Scrapy add-on that switches the Redis frontier on.

    ADDONS = {"crawler.addon.RedisFrontier": 0}
"""

from __future__ import annotations

from scrapy.settings import BaseSettings

from crawler.connection import SecretURL


class RedisFrontier:
    """Makes every ``scrapy crawl`` of the project a node of a crawl shared through Redis."""

    def update_settings(self, settings: BaseSettings) -> None:
        """Install the Redis scheduler. (The ``seed``/``status``/``export``/``reset`` commands
        come with ``COMMANDS_MODULE = "crawler.commands"``, which Scrapy reads before add-ons.)"""
        settings.set("SCHEDULER", "crawler.scheduler.RedisScheduler", priority="addon")
        url = settings.get("REDIS_URL")
        if isinstance(url, str) and not isinstance(url, SecretURL):
            # Scrapy logs every overridden setting: keep the password out of that log.
            priority = settings.getpriority("REDIS_URL") or "addon"
            settings.set("REDIS_URL", SecretURL(url), priority=priority)
