"""A Redis that is lost or refuses a round, as the exchange loop lives through it: each new
error logged once and counted, a backoff before the next try, and a line when it is back."""

from __future__ import annotations

import logging
import time

import redis
from scrapy.statscollectors import StatsCollector

from crawler.redis.connection import redact

logger = logging.getLogger("crawler.node.exchange_loop")  # where users have always seen it

CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)
# A Redis Cluster moving a slot between masters (a reshard): redis-py gave up following its
# redirections ("TTL exhausted."), or a script refused to start (frontier lua/lib.lua).
SLOT_MOVING = (redis.exceptions.TryAgainError, redis.exceptions.AskError)
SLOT_MOVING_SAYS = ("TTL exhausted.", "Script attempted to access a non local key")
MAX_BACKOFF = 10.0


class Outage:
    """Whether Redis at ``url`` is failing the node's rounds, since when, and how long the
    loop waits before the next try (``backoff``; 0: Redis answers)."""

    def __init__(self, url: str, stats: StatsCollector) -> None:
        self.url = url
        self.stats = stats
        self.backoff = 0.0
        self._down_since: float | None = None
        self._last_error = ""

    def failed(self, exc: Exception) -> None:
        """A round failed: back off; log a lost connection, or a batch Redis refused (out
        of memory, a missing ACL permission, a read-only replica), once. Everything stays
        queued on the node."""
        self.backoff = min(MAX_BACKOFF, max(0.25, self.backoff * 2))
        self.stats.inc_value("frontier/redis_errors")
        if self._down_since is None:
            self._down_since = time.monotonic()
        if str(exc) == self._last_error:
            logger.debug("Redis still failing, next try in %.1f s: %s", self.backoff, exc)
            return
        self._last_error = str(exc)
        if isinstance(exc, CONNECTION_ERRORS):
            logger.error("Redis at %s unreachable (%s); retrying with backoff, nothing is "
                         "dropped", redact(self.url), exc)
        elif isinstance(exc, SLOT_MOVING) or str(exc).startswith(SLOT_MOVING_SAYS):
            logger.warning("Redis at %s: a slot of the crawl is moving between cluster "
                           "masters (%s); the round will be sent again, nothing is dropped",
                           redact(self.url), exc)
        else:
            logger.error("Redis at %s refused a batch: %s; retrying with backoff, nothing is "
                         "dropped", redact(self.url), exc)

    def answered(self) -> None:
        """A round went through: if Redis was failing, say it is back."""
        if self.backoff:
            logger.warning("Redis at %s is back after %.1f s; carrying on", redact(self.url),
                           time.monotonic() - (self._down_since or time.monotonic()))
            self.backoff, self._down_since, self._last_error = 0.0, None, ""
