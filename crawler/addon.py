"""A Scrapy add-on that switches the Redis frontier on.

    ADDONS = {"crawler.addon.RedisFrontier": 0}
"""

from __future__ import annotations

from scrapy.settings import BaseSettings


class RedisFrontier:
    """Makes every ``scrapy crawl`` of the project a node of a crawl shared through Redis."""

    def update_settings(self, settings: BaseSettings) -> None:
        """Install the Redis scheduler. (The ``seed``/``status``/``export``/``reset`` commands
        come with ``COMMANDS_MODULE = "crawler.commands"``, which Scrapy reads before add-ons.)"""
        settings.set("SCHEDULER", "crawler.scheduler.RedisScheduler", priority="addon")
