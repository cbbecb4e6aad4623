"""A Scrapy add-on that switches the Redis frontier on, in this project or any other:

    ADDONS = {"crawler.addon.RedisFrontier": 0}

Scrapy calls ``update_pre_crawler_settings`` before it sets up logging, and
``update_settings`` when a crawler applies its settings, once the project's, the spider's
and the command line's are in, at a priority ("addon") below the project's.
So the add-on writes the scheduler at the priority of the line it replaces (a value set at
equal priority wins), and registers its defaults only where nothing is set.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings
from scrapy.utils.conf import build_component_list
from scrapy.utils.misc import load_object

from crawler.config import DEFAULTS
from crawler.environment import apply_environment
from crawler.errors import ConfigError
from crawler.node.config import FrontierConfig
from crawler.redis import embedded
from crawler.redis.address import ignored_params
from crawler.redis.connection import SecretURL

logger = logging.getLogger(__name__)

OURS = "crawler.scheduler.RedisScheduler"  # the documented path (crawler/scheduler.py)
SCRAPY_DUPEFILTER = "scrapy.dupefilters.RFPDupeFilter"
# Schedulers the add-on replaces: Scrapy's default and scrapy-redis's.
REPLACED = ("scrapy.core.scheduler.Scheduler", "scrapy_redis.scheduler.Scheduler")
_ADDON = SETTINGS_PRIORITIES["addon"]


def _path(value: Any) -> str:
    return value if isinstance(value, str) else f"{value.__module__}.{value.__qualname__}"


class RedisFrontier:
    """Makes every ``scrapy crawl`` of the project a node of a crawl shared through Redis."""

    @classmethod
    def update_pre_crawler_settings(cls, settings: BaseSettings) -> None:
        """Apply the environment before Scrapy sets its logging up (``LOG_LEVEL``)."""
        try:
            apply_environment(settings)
        except ConfigError:
            pass  # named in one line by ``scrapy crawl``, or raised by update_settings

    def update_settings(self, settings: BaseSettings) -> None:
        """Apply the environment, install the Redis scheduler, register every default of
        ``crawler.config.DEFAULTS``, and name the Redis in use. (The ``seed``/``status``/
        ``export``/``reset`` commands come with ``COMMANDS_MODULE = "crawler.commands"``,
        which Scrapy reads before add-ons.)"""
        apply_environment(settings)
        install_scheduler(settings)
        for name, value in DEFAULTS.items():
            if value is not None:
                settings.setdefault(name, value.copy() if isinstance(value, dict) else value,
                                    priority=_ADDON)
        node = FrontierConfig.from_settings(settings)  # a bad value is named now
        config = node.redis
        if config.url in (None, "embedded"):
            # scrapy-redis's spiders and pipeline read REDIS_URL: the same Redis for all.
            priority = max(settings.getpriority("REDIS_URL") or 0, _ADDON)
            settings.set("REDIS_URL", embedded.socket_url(config.embedded_dir), priority)
        url = settings.get("REDIS_URL")
        if isinstance(url, str) and not isinstance(url, SecretURL):
            # Scrapy logs every overridden setting: keep the password out of that log.
            settings.set("REDIS_URL", SecretURL(url), settings.getpriority("REDIS_URL") or _ADDON)
        ignored = ignored_params(settings)
        if ignored:
            logger.warning("REDIS_PARAMS %s make no difference to this engine's Redis "
                           "clients: ignored", ", ".join(ignored))
        idle = settings.get("SCHEDULER_IDLE_BEFORE_CLOSE")
        if idle not in (None, "", 0, "0"):
            logger.info("SCHEDULER_IDLE_BEFORE_CLOSE=%s (scrapy-redis's blocking pop) is not "
                        "used: the crawl ends after MAX_IDLE_TIME_BEFORE_CLOSE=%s seconds "
                        "with every node idle", idle, node.idle_timeout)


def enabled(settings: BaseSettings) -> bool:
    """Whether ``ADDONS`` enables this add-on (or a subclass of it), as Scrapy reads it."""
    for path in build_component_list(settings["ADDONS"]):
        addon = load_object(path)
        if isinstance(addon, type) and issubclass(addon, RedisFrontier):
            return True
    return False


def install_scheduler(settings: BaseSettings) -> None:
    """Our scheduler in place of Scrapy's or scrapy-redis's; another one is refused
    (``ConfigError``)."""
    current = _path(settings["SCHEDULER"])
    before = settings.getpriority("SCHEDULER") or 0
    if current not in (OURS, *REPLACED):
        from crawler.node.scheduler import RedisScheduler

        found = load_object(settings["SCHEDULER"])
        if isinstance(found, type) and issubclass(found, RedisScheduler):
            return
        raise ConfigError(
            f"setting SCHEDULER={current!r} is neither {OURS!r} nor one the RedisFrontier "
            "add-on replaces (Scrapy's or scrapy-redis's): remove that setting, or the add-on")
    settings.set("SCHEDULER", OURS, max(before, _ADDON))
    replaced = []
    if current != OURS and (current != REPLACED[0] or before > SETTINGS_PRIORITIES["default"]):
        replaced.append(f"SCHEDULER={current}")
    dupefilter = _path(settings["DUPEFILTER_CLASS"])
    if dupefilter.startswith("scrapy_redis."):
        priority = max(settings.getpriority("DUPEFILTER_CLASS") or 0, _ADDON)
        settings.set("DUPEFILTER_CLASS", SCRAPY_DUPEFILTER, priority)
        replaced.append(f"DUPEFILTER_CLASS={dupefilter}")
    elif dupefilter != SCRAPY_DUPEFILTER:
        logger.warning("DUPEFILTER_CLASS=%s is not used: the Redis scheduler decides duplicates "
                       "in Redis by REQUEST_FINGERPRINTER_CLASS's fingerprints", dupefilter)
    if replaced:
        logger.info("RedisFrontier add-on: %s replaced by SCHEDULER=%s (duplicates are "
                    "decided in Redis by request fingerprint)", " and ".join(replaced), OURS)
