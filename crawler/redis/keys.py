"""The one place that names Redis keys.

Every key of one crawl is shaped ``<prefix>:{<tag>}:<role>``. A crawl is cut into a
fixed number of partitions (``crawler.frontier.partitions``): partition 0's tag is
``{<crawl>}``, partition ``p``'s ``{<crawl>/<p>}``. A tag puts its keys in one Redis
Cluster slot, so a Lua script may touch several of them at once. Each partition holds
the queues, leases, counters and fingerprints of its domains; the crawl-wide keys (nodes,
control, series, items, seeds, the layout) are partition 0's. A crawl of one partition
(a single Redis, and every crawl of earlier versions) has exactly the names it had.

The per-domain queues are the one exception to "every key a script touches arrives in
``KEYS``": the scripts build their names from the ``pending`` prefix they are passed and a
domain (lib.lua's ``priorities_key`` and ``list_key``, mirrored here). On a Redis Cluster
that works because a domain's queues are in its partition's slot, as the prefix is.

A scrapy-redis start key (``%(name)s:start_urls``, ``REDIS_START_URLS_KEY``) has no hash
tag and may lie in another slot: on a cluster the nodes then move its seeds into
``own_start_urls`` (see ``crawler.frontier.seed_key``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from crawler.errors import ConfigError

SCRAPY_REDIS_START_URLS = "%(name)s:start_urls"  # scrapy-redis's REDIS_START_URLS_KEY default
PARTITION_SUFFIX = re.compile(r"(.*)/\d+")  # ``{<crawl>/<p>}``: partition p's tag


def is_scrapy_redis_spider(spider: object) -> bool:
    """Whether ``spider`` (a class or an instance) is one of scrapy-redis's ``RedisSpider``,
    ``RedisCrawlSpider`` (its ``RedisMixin``): it reads its own seeds, from ``redis_key``."""
    cls = spider if isinstance(spider, type) else type(spider)
    return any(c.__name__ == "RedisMixin" and c.__module__ == "scrapy_redis.spiders"
               for c in cls.__mro__)


def start_urls_template(spider: object, configured: str | None) -> str | None:
    """The key (a ``%(name)s`` template) whose seeds the crawl of ``spider`` (a class or an
    instance) reads, as scrapy-redis picks it: the spider's own ``redis_key``, else
    ``configured`` (``REDIS_START_URLS_KEY``), else scrapy-redis's default for its spiders,
    and ``None`` (``<prefix>:{<crawl>}:start_urls``) for any other."""
    own = getattr(spider, "redis_key", None)
    if isinstance(own, str) and own.strip():
        return own
    if configured is not None:
        return configured
    return SCRAPY_REDIS_START_URLS if is_scrapy_redis_spider(spider) else None


def _escaped(key: str) -> str:
    """``key`` with SCAN's pattern characters escaped."""
    for special in "\\[]?*":
        key = key.replace(special, "\\" + special)
    return key


@dataclass(frozen=True)
class CrawlKeys:
    """Names of the Redis keys of one crawl."""

    prefix: str
    crawl: str
    start_urls_template: str | None = None
    partition: int = 0  # whose queues, leases, counters and fingerprints these name

    def __post_init__(self) -> None:
        clash = PARTITION_SUFFIX.fullmatch(self.crawl)
        if clash:
            raise ConfigError(f"crawl name {self.crawl!r} ends in /<number>, as the keys of a "
                              f"partition of crawl {clash.group(1)!r} do: rename the spider")

    @classmethod
    def for_spider(cls, prefix: str, spider: object, configured: str | None) -> CrawlKeys:
        """The keys of the crawl of ``spider`` (a class or an instance), named after it;
        its seeds on the key ``start_urls_template`` picks."""
        return cls(prefix, str(getattr(spider, "name", "")),
                   start_urls_template(spider, configured))

    @property
    def tag(self) -> str:
        """The hash tag of this partition's keys, without its braces."""
        return self.crawl if self.partition == 0 else f"{self.crawl}/{self.partition}"

    def in_partition(self, partition: int) -> CrawlKeys:
        """The same crawl's keys of ``partition``."""
        return replace(self, partition=partition)

    def every_partition(self, count: int) -> list[CrawlKeys]:
        """The keys of each of a crawl's ``count`` partitions, partition 0 first."""
        return [self.in_partition(p) for p in range(count)]

    def _key(self, role: str) -> str:
        """A key of this partition."""
        return f"{self.prefix}:{{{self.tag}}}:{role}"

    def _crawl_key(self, role: str) -> str:
        """A crawl-wide key: partition 0's, whichever partition these keys name."""
        return f"{self.prefix}:{{{self.crawl}}}:{role}"

    @property
    def pattern(self) -> str:
        """A SCAN pattern that matches every key of this crawl's partition 0 (and no other
        crawl's); ``partitions_pattern`` matches the others."""
        return _escaped(self._crawl_key("")) + "*"

    @property
    def partitions_pattern(self) -> str:
        """A SCAN pattern that matches every key of this crawl's partitions 1 and up."""
        return _escaped(f"{self.prefix}:{{{self.crawl}/") + "[0-9]*"

    @property
    def pending(self) -> str:
        """Prefix of the domain queues: a domain's priorities (``domain_priorities``) and
        one list a priority (``pending_list``). The scripts are passed this prefix."""
        return self._key("pending")

    def domain_priorities(self, domain: str) -> str:
        """Sorted set of the priorities that ``domain`` has entries queued at (member: the
        priority in decimal, score: minus it), ``""``: raw seeds handed back."""
        return f"{self.pending}:{domain}"

    def pending_list(self, domain: str, priority: int) -> str:
        """List of the queued entries (``formats.queued_form``) of ``domain`` at
        ``priority``, the next one first. A domain never holds a space, so no domain's
        list is another's priorities."""
        return f"{self.pending}:{domain} {priority}"

    @property
    def queue(self) -> str:
        """Where earlier versions queued: the single sorted set of the oldest, and the
        prefix of the per-domain sorted sets (``domain_queue``) that came next; a node
        moves what they hold into the domain lists when it opens the crawl."""
        return self._key("queue")

    def domain_queue(self, domain: str) -> str:
        """An earlier version's sorted set of the pending entries of one domain."""
        return f"{self.queue}:{domain}"

    @property
    def domain_queues_pattern(self) -> str:
        """A SCAN pattern that matches every ``domain_queue`` of this crawl."""
        return _escaped(self.queue + ":") + "*"

    @property
    def domains(self) -> str:
        """Sorted set: domain with queued entries -> time (Redis server time) it may next be
        served, by its rate limit, or the lease deadline while its in-flight cap is full."""
        return self._key("domains")

    @property
    def inflight(self) -> str:
        """Hash: domain with an in-flight cap -> how many of its requests nodes hold under
        lease right now."""
        return self._key("inflight")

    @property
    def pace(self) -> str:
        """Hash: rate-limited domain -> earliest time (Redis server time) of its next request."""
        return self._key("pace")

    @property
    def robots(self) -> str:
        """Hash: domain -> its robots.txt Crawl-delay in seconds (0: none), once a node read it."""
        return self._key("robots")

    @property
    def retry(self) -> str:
        """Sorted set in which earlier versions kept entries that failed before; a node
        moves what it holds back into the domain queues when it opens the crawl."""
        return self._key("retry")

    @property
    def sequence(self) -> str:
        """Counter that numbers entries (their ids) when they are leased."""
        return self._key("seq")

    @property
    def leased(self) -> str:
        """Hash: entry id -> leased value (``formats.Lease``) of the entries nodes hold."""
        return self._key("leased")

    @property
    def deadlines(self) -> str:
        """Sorted set: entry id -> lease deadline (Redis server time, seconds)."""
        return self._key("deadlines")

    @property
    def start_urls(self) -> str:
        """List (or set) of seeds in scrapy-redis's start-URL formats."""
        if self.start_urls_template is not None:
            return self.start_urls_template % {"name": self.crawl}
        return self._crawl_key("start_urls")

    @property
    def own_start_urls(self) -> str:
        """The crawl's own seeds key, in its slot, whatever ``start_urls`` is."""
        return self._crawl_key("start_urls")

    @property
    def seeds_lock(self) -> str:
        """Short-lived key held by the node that moves seeds into ``own_start_urls``."""
        return self._crawl_key("seeds_lock")

    @property
    def seen_meta(self) -> str:
        """Hash describing the fingerprint layout chosen when the crawl began."""
        return self._crawl_key("seen")

    def seen_bucket(self, bucket: str) -> str:
        """Hash of one fingerprint bucket: digest remainder -> empty value."""
        return self._key(f"seen:{bucket}")

    @property
    def attempts(self) -> str:
        """Hash: entry id -> JSON list of its failed attempts (lease expired, callback raised)."""
        return self._key("attempts")

    @property
    def stats(self) -> str:
        """Hash of cluster-wide counters (enqueued, duplicates, done, ...)."""
        return self._key("stats")

    @property
    def nodes(self) -> str:
        """Hash: node id -> JSON heartbeat of that node."""
        return self._crawl_key("nodes")

    @property
    def beats(self) -> str:
        """Sorted set: node id -> time (Redis server time) of that node's latest heartbeat."""
        return self._crawl_key("beats")

    @property
    def busy_until(self) -> str:
        """Sorted set: node id -> time (Redis server time) until which that node keeps the
        crawl from ending (busy, or idle for less than ``MAX_IDLE_TIME_BEFORE_CLOSE``)."""
        return self._crawl_key("busy_until")

    @property
    def control(self) -> str:
        """String: "paused" or "stopped" when an operator said so (absent: running)."""
        return self._crawl_key("control")

    @property
    def series(self) -> str:
        """List of cluster samples (JSON), newest first, one per ``SERIES_INTERVAL`` seconds."""
        return self._crawl_key("series")

    @property
    def series_lock(self) -> str:
        """Short-lived key that lets one node a sampling interval write the sample."""
        return self._crawl_key("series_lock")

    @property
    def dead(self) -> str:
        """List of dead letters: entries that could not be decoded, with the reason."""
        return self._key("dead")

    @property
    def items(self) -> str:
        """Stream of scraped items, in the order they were first stored."""
        return self._crawl_key("items")

    @property
    def item_keys(self) -> str:
        """Hash: item key -> stream id, which keeps the item store idempotent."""
        return self._crawl_key("item_keys")

    @property
    def item_records(self) -> str:
        """Prefix of the item records: ``<item_records><hex>`` is a hash of compact item keys
        (``crawler.items.records``), ``<item_records>layout`` their layout."""
        return self._crawl_key("item_keys:")
