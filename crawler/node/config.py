"""A node's settings: how it trades with the frontier, and the frontier's layout and limits
it asks for when a crawl begins (the Redis settings are ``crawler.redis.config``'s)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scrapy.settings import BaseSettings

from crawler.errors import ConfigError
from crawler.frontier.exchange import BATCH_SIZE, IDLE_TIMEOUT, NODE_TIMEOUT
from crawler.frontier.fingerprints import describe
from crawler.frontier.limits import Politeness, from_values
from crawler.frontier.partitions import checked
from crawler.redis.config import RedisConfig
from crawler.setting_values import SettingValues

QUEUE_ORDERS = ("priority", "fifo", "lifo")
QUIET_FLUSHES = 5  # writes nobody waits for are this many flush delays apart

# scrapy-redis names its queue variants by class (0.9.1 still ships the older names);
# its users may keep that setting.
_SCRAPY_REDIS_QUEUES = {
    "scrapy_redis.queue.PriorityQueue": "priority",
    "scrapy_redis.queue.FifoQueue": "fifo",
    "scrapy_redis.queue.LifoQueue": "lifo",
    "scrapy_redis.queue.SpiderPriorityQueue": "priority",
    "scrapy_redis.queue.SpiderQueue": "fifo",
    "scrapy_redis.queue.SpiderStack": "lifo",
}

DEFAULTS: dict[str, Any] = {
    "SCHEDULER_PERSIST": True,
    "SCHEDULER_FLUSH_ON_START": False,
    "SCHEDULER_QUEUE_ORDER": "priority",
    "SCHEDULER_QUEUE_CLASS": None,
    "SCHEDULER_PREFETCH": 64,
    "SCHEDULER_BATCH_SIZE": BATCH_SIZE,
    "SCHEDULER_LEASE_SECONDS": 10.0,
    "SCHEDULER_HEARTBEAT_SECONDS": 1.0,
    "SCHEDULER_NODE_TIMEOUT": NODE_TIMEOUT,
    "SCHEDULER_NODE_ID": None,
    "SCHEDULER_FLUSH_DELAY": 0.005,
    "SCHEDULER_RECENT_SECONDS": 30.0,
    "SCHEDULER_RECENT_FINGERPRINTS": 100_000,
    "SCHEDULER_MAX_ATTEMPTS": 5,
    "SCHEDULER_PARTITIONS": 0,
    "MAX_IDLE_TIME_BEFORE_CLOSE": IDLE_TIMEOUT,
    "FINGERPRINT_STORE": "exact",
    "FINGERPRINT_BUCKET_BITS": 16,
    "BLOOM_CAPACITY": 100_000_000,
    "BLOOM_BITS_PER_URL": 32,
    "RECRAWL_AFTER_DAYS": 0,
    "DOMAIN_CONCURRENCY": 0,
    "DOMAIN_RATE": "",
    "DOMAIN_LIMITS": {},
    "ROBOTSTXT_MAX_DELAY": 60.0,
}


def _node_id(value: Any, where: str) -> str | None:
    if value in (None, ""):
        return None
    text = str(value)
    if not text.isprintable() or " " in text or len(text) > 200:
        raise ConfigError(f"{where}={text[:60]!r} must be up to 200 "
                          "printable characters without spaces")
    return text


@dataclass(frozen=True)
class FrontierConfig:
    """A node's settings, typed and checked (defaults in ``DEFAULTS``), with the Redis ones."""

    redis: RedisConfig
    persist: bool
    flush_on_start: bool
    queue_order: str
    prefetch: int
    batch_size: int
    lease_seconds: float
    heartbeat_seconds: float
    node_timeout: float
    node_id: str | None
    flush_delay: float
    recent_seconds: float  # a node drops a link it saved less than this long ago
    recent_fingerprints: int  # ... remembering this many at most (0: none)
    max_attempts: int
    idle_timeout: float
    fingerprint_store: str
    bucket_bits: int
    bloom_capacity: int
    bloom_bits_per_url: int
    recrawl_days: int
    politeness: Politeness
    partitions: int = 0  # wanted when the crawl begins (0: partitions.default_count)

    @property
    def quiet_interval(self) -> float:
        """Seconds between two writes nobody waits for (acks and pushes alone, items)."""
        return QUIET_FLUSHES * self.flush_delay

    def fingerprint_layout(self) -> str:
        """The fingerprint layout these settings ask for, as recorded with a new crawl."""
        return describe(self.fingerprint_store, self.bucket_bits, self.bloom_capacity,
                        self.bloom_bits_per_url)

    @classmethod
    def from_settings(cls, settings: BaseSettings,
                      environ: Mapping[str, str] | None = None) -> FrontierConfig:
        """Build the config from Scrapy settings and the environment variables of
        ``crawler.environment``; a bad value raises ``ConfigError`` naming its source."""
        values = SettingValues(settings, DEFAULTS, environ)
        where, get, number = values.where, values.get, values.number
        order = str(get("SCHEDULER_QUEUE_ORDER")).lower()
        queue_class = values.raw("SCHEDULER_QUEUE_CLASS")
        if queue_class is not None:
            order = _SCRAPY_REDIS_QUEUES.get(str(queue_class), "")
            if not order:
                raise ConfigError(
                    f"{where('SCHEDULER_QUEUE_CLASS')}={queue_class!r} is not one of "
                    f"{sorted(_SCRAPY_REDIS_QUEUES)}; use SCHEDULER_QUEUE_ORDER instead"
                )
        if order not in QUEUE_ORDERS:
            raise ConfigError(
                f"{where('SCHEDULER_QUEUE_ORDER')}={order!r} must be one of {QUEUE_ORDERS}"
            )
        bits = int(number("FINGERPRINT_BUCKET_BITS", 0))
        if bits > 24 or bits % 4:
            raise ConfigError(f"{where('FINGERPRINT_BUCKET_BITS')}={bits} must be a multiple "
                              "of 4 from 0 to 24")
        store = str(get("FINGERPRINT_STORE")).lower()
        if store not in ("exact", "bloom"):
            raise ConfigError(f"{where('FINGERPRINT_STORE')}={store!r} must be 'exact' or "
                              "'bloom'")
        recrawl = int(number("RECRAWL_AFTER_DAYS", 0))
        if recrawl and store == "bloom":
            raise ConfigError("setting RECRAWL_AFTER_DAYS needs FINGERPRINT_STORE='exact': a "
                              "Bloom filter cannot tell when it saw a URL")
        try:
            partitions = checked(get("SCHEDULER_PARTITIONS"), where("SCHEDULER_PARTITIONS"))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return cls(
            redis=RedisConfig.from_settings(settings, environ),
            persist=values.flag("SCHEDULER_PERSIST"),
            flush_on_start=values.flag("SCHEDULER_FLUSH_ON_START"),
            queue_order=order,
            prefetch=int(number("SCHEDULER_PREFETCH", 1)),
            batch_size=int(number("SCHEDULER_BATCH_SIZE", 1)),
            lease_seconds=number("SCHEDULER_LEASE_SECONDS", 1),
            heartbeat_seconds=number("SCHEDULER_HEARTBEAT_SECONDS", 0.1),
            node_timeout=number("SCHEDULER_NODE_TIMEOUT", 1),
            node_id=_node_id(values.raw("SCHEDULER_NODE_ID"), where("SCHEDULER_NODE_ID")),
            flush_delay=number("SCHEDULER_FLUSH_DELAY", 0),
            recent_seconds=number("SCHEDULER_RECENT_SECONDS", 0),
            recent_fingerprints=int(number("SCHEDULER_RECENT_FINGERPRINTS", 0)),
            max_attempts=int(number("SCHEDULER_MAX_ATTEMPTS", 1)),
            idle_timeout=number("MAX_IDLE_TIME_BEFORE_CLOSE", 0),
            fingerprint_store=store,
            bucket_bits=bits,
            bloom_capacity=int(number("BLOOM_CAPACITY", 1000)),
            bloom_bits_per_url=int(number("BLOOM_BITS_PER_URL", 4)),
            recrawl_days=recrawl,
            politeness=from_values(get("DOMAIN_CONCURRENCY"), get("DOMAIN_RATE"),
                                   get("DOMAIN_LIMITS"), values.flag("ROBOTSTXT_OBEY"),
                                   number("ROBOTSTXT_MAX_DELAY", 0)),
            partitions=partitions,
        )

