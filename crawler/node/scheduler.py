"""A Scrapy scheduler whose pending requests live in the shared Redis frontier.

The engine sees an ordinary scheduler: ``enqueue_request`` and ``next_request`` never
touch the network. Behind them a ``ExchangeLoop`` task trades with Redis in batches:
it pushes the requests callbacks yielded, acknowledges the requests Scrapy is done
with, renews leases, and tops up a small local buffer of leased requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterator
from typing import Any

from scrapy import Request, Spider, signals
from scrapy.core.scheduler import BaseScheduler
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Response
from scrapy.utils.defer import deferred_from_coro
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from crawler.errors import CrawlerError
from crawler.frontier import deletion
from crawler.frontier.exchange import Frontier
from crawler.frontier.formats import Entry
from crawler.frontier.limits import domain_of
from crawler.frontier.round import Push
from crawler.node import codec
from crawler.node.config import FrontierConfig
from crawler.node.engine import engine_slot
from crawler.node.exchange_loop import ExchangeLoop
from crawler.node.leases import LeaseBook
from crawler.node.membership import new_node_id, same_node_elsewhere
from crawler.node.pacing import PacedRequests
from crawler.node.robots import RobotsReporter
from crawler.redis import connection
from crawler.redis.keys import CrawlKeys, is_scrapy_redis_spider

logger = logging.getLogger(__name__)


class RedisScheduler(BaseScheduler):
    """Scheduler over the Redis frontier (set ``SCHEDULER`` to this class, or use the add-on).

    Every node of a crawl runs one; together they fetch each request once, whatever
    the number of nodes, and a node may stop, crash or join at any time. The engine's
    calls never touch the network: requests it enqueues wait for the exchange loop's
    next round, and it is handed requests the node already holds under lease
    (``LeaseBook``), which the loop tops up.
    """

    def __init__(self, crawler: Crawler, config: FrontierConfig, keys: CrawlKeys) -> None:
        self.crawler = crawler
        self.config = config
        self.keys = keys
        self.spider: Spider | None = None
        self.book = LeaseBook(PacedRequests(self._wake_engine, self._hand_back,
                                            self._robots_read), self._request_of)
        self._robots_mw: RobotsTxtMiddleware | None = None
        self._robots_warming: dict[str, asyncio.Task[None]] = {}
        self._robots_warm: set[str] = set()
        self.sync: ExchangeLoop | None = None
        self.robots: RobotsReporter | None = None
        # Requests that cannot go through Redis, kept in this node's memory (not crash-safe)
        self.local: deque[Request] = deque()
        self._local_seen: set[bytes] = set()  # their fingerprints (unless dont_filter)
        self._local_causes: set[str] = set()  # the causes already warned about
        self._engine_open = False  # the spider_opened signal came
        self._stop_reason: str | None = None  # a stop asked for while the engine opened

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedisScheduler:
        """Read the settings once; the crawl is named after the spider."""
        config = FrontierConfig.from_settings(crawler.settings)
        spider = crawler.spider or crawler.spidercls  # the instance: ``-a redis_key=...``
        assert spider is not None
        return cls(crawler, config,
                   CrawlKeys.for_spider(config.redis.key_prefix, spider,
                                        config.redis.start_urls_key))

    def open(self, spider: Spider) -> Deferred[None]:
        """Connect to Redis and start trading with it; raises ``RedisUnavailableError``."""
        self.spider = spider
        return deferred_from_coro(self._open(spider))

    def _take_over_seeds(self, spider: Spider) -> None:
        """A scrapy-redis spider reads its seeds itself (LPOP on its ``redis_key``, from its
        idle handler) and keeps itself open while its ``MAX_IDLE_TIME_BEFORE_CLOSE`` (default
        0: forever) runs. Here the frontier leases those seeds from the same key (a killed
        node loses none), so the spider's reading and its idle handler are switched off:
        the crawl ends by the cluster's rule, like any other."""
        if not is_scrapy_redis_spider(spider):
            return
        mixin: Any = spider  # a scrapy_redis.spiders.RedisMixin (the package is not imported)
        self.crawler.signals.disconnect(mixin.spider_idle, signal=signals.spider_idle)
        mixin.next_requests = _no_requests  # (what its start_requests return, too)
        logger.info("scrapy-redis spider %r: the frontier leases its seeds from %s; the "
                    "crawl ends when the cluster is done (MAX_IDLE_TIME_BEFORE_CLOSE=%s)",
                    spider.name, self.keys.start_urls, self.config.idle_timeout)

    async def _open(self, spider: Spider) -> None:
        slot = engine_slot(self.crawler.engine)
        self._take_over_seeds(spider)
        url = await asyncio.to_thread(connection.resolve_url, self.config.redis)  # may start Redis
        client = await connection.async_client(self.config.redis, url)
        node_id = new_node_id(self.config.node_id)
        frontier = Frontier(client, self.keys, self.config.queue_order, node_id,
                            self.config.lease_seconds, self.config.max_attempts,
                            self.config.politeness, self.config.batch_size,
                            self.config.node_timeout, self.config.idle_timeout,
                            self.config.partitions)
        previous = await frontier.previous_state()
        if previous is not None and same_node_elsewhere(previous, previous["now"],
                                                        self.config.node_timeout):
            raise CrawlerError(
                f"node id {node_id!r} is in use by a running node (pid "
                f"{previous.get('pid')} on {previous.get('host')}, heartbeat "
                f"{previous['now'] - float(previous.get('beat', 0)):.0f} s ago) of crawl "
                f"{self.keys.crawl!r} at {connection.redact(url)}: give each node its own "
                "SCHEDULER_NODE_ID")
        if self.config.flush_on_start:
            deleted = await deletion.delete_crawl_async(client, self.keys,
                                                     keep=[self.keys.start_urls])
            logger.info("SCHEDULER_FLUSH_ON_START: deleted the %d keys of crawl %r (seeds "
                        "waiting are kept)", deleted, self.keys.crawl)
        await frontier.open(self.config.fingerprint_layout(), self.config.recrawl_days)
        if previous is not None:
            taken = await frontier.take_back_own_leases()
            logger.info("Node %s restarted: %d requests it had leased are back in the queue",
                        node_id, taken)
        self.sync = ExchangeLoop(self, self.book, frontier, slot, url, self.config,
                                 self.crawler.stats)
        if self.config.politeness.robots:  # kept here: signals hold weak references
            self.robots = RobotsReporter(self.crawler, self.sync.crawl_delay,
                                         self.config.politeness.robots_max_delay)
            downloader = getattr(self.crawler.engine, "downloader", None)
            middlewares = getattr(getattr(downloader, "middleware", None), "middlewares", ())
            self._robots_mw = next(
                (m for m in middlewares if isinstance(m, RobotsTxtMiddleware)), None)
        self.crawler.signals.connect(self._engine_opened, signal=signals.spider_opened)
        self.crawler.signals.connect(self._on_idle, signal=signals.spider_idle)
        self.crawler.signals.connect(self._on_spider_error, signal=signals.spider_error)
        self.crawler.signals.connect(self._reached_downloader,
                                     signal=signals.request_reached_downloader)
        self.sync.start()
        logger.info("Frontier of crawl %r at %s, node %s", self.keys.crawl,
                    connection.redact(url), node_id)

    def close(self, reason: str) -> Deferred[None]:
        """Save what is not saved yet and hand unstarted requests back to the queue."""
        return deferred_from_coro(self._close(reason))

    async def _close(self, reason: str) -> None:
        if self.sync is None:
            return
        if self.local:
            logger.warning("%d requests this node kept in memory (they cannot go through "
                           "Redis) were not fetched: they are lost", len(self.local))
        await self.sync.stop()
        if reason == "finished" and not self.config.persist:
            client = await connection.async_client(self.config.redis, self.sync.url)
            deleted = await deletion.delete_crawl_async(client, self.keys,
                                                     keep=deletion.kept_after_finish(self.keys))
            logger.info("SCHEDULER_PERSIST is off: deleted the %d frontier keys of the "
                        "finished crawl", deleted)
        await connection.close_async_clients()

    def stop_crawl(self, reason: str = "stopped") -> None:
        """Close the spider without waiting: ``scrapy stop`` said so (or the frontier
        task failed); once the engine has opened it (its item pipelines ...), if it is
        still opening."""
        if not self._engine_open:
            self._stop_reason = self._stop_reason or reason
            return
        assert self.crawler.engine is not None
        asyncio.get_running_loop().create_task(
            self.crawler.engine.close_spider_async(reason=reason))

    def _engine_opened(self) -> None:
        self._engine_open = True
        if self._stop_reason is not None:
            self.stop_crawl(self._stop_reason)

    def _on_idle(self) -> None:
        if self.sync is None or not self.sync.crawl_finished:
            raise DontCloseSpider

    def _on_spider_error(self, failure: Failure, response: Response) -> None:
        """A callback raised: its request is an attempt that failed, not a done one."""
        if self.sync is not None and response.request is not None:
            self.book.callback_failed(response.request,
                                      f"{type(failure.value).__name__}: {failure.value}")

    def has_pending_requests(self) -> bool:
        """Whether requests wait on this node (leased, held, kept in memory, or not yet
        pushed). Unlike Scrapy's, the cluster's queue does not count: when this is False the
        engine goes idle, and the crawl ends only when the cluster is done (the
        ``spider_idle`` handler keeps the spider open until then)."""
        return bool(len(self.book) or self.local) or (
            self.sync is not None and self.sync.has_outgoing())

    def _hand_back(self, entry_id: str) -> None:
        assert self.sync is not None
        self.crawler.stats.inc_value("frontier/paced_handed_back")
        self.book.hand_back(entry_id)
        self.sync.wake()

    def _robots_read(self, domain: str, request: Request) -> bool:
        """Whether this node has read ``domain``'s robots.txt (or needs not); if not, ask
        the robots middleware to read it now, and wake the engine when it has."""
        if (self._robots_mw is None or domain in self._robots_warm
                or request.meta.get("dont_obey_robotstxt")):
            return True
        if domain not in self._robots_warming:
            self._robots_warming[domain] = asyncio.get_running_loop().create_task(
                self._read_robots(domain, request))
        return False

    async def _read_robots(self, domain: str, request: Request) -> None:
        assert self._robots_mw is not None
        try:
            await self._robots_mw.robot_parser(request)
        except Exception:  # the middleware logs it; the request will tell again
            logger.debug("Reading robots.txt of %s failed", domain, exc_info=True)
        self._robots_warm.add(domain)
        del self._robots_warming[domain]
        self._wake_engine()

    def _request_of(self, entry: Entry) -> Request | None:
        assert self.sync is not None
        return self.sync.request_of(entry)

    def _reached_downloader(self, request: Request) -> None:
        self.book.paced.settled(request)

    def _wake_engine(self) -> None:
        if self.sync is not None:
            self.sync.nextcall.schedule()

    def enqueue_request(self, request: Request) -> bool:
        """Buffer the request for the next batched push.

        Returns ``True``: whether it is a duplicate is decided in Redis, in batch, and
        counted in the stats as ``frontier/duplicates``, or on the node, which drops a
        request whose fingerprint it saved in the last ``SCHEDULER_RECENT_SECONDS``
        (``RecentFingerprints``), counted as ``frontier/duplicates_on_node``: neither
        sends Scrapy's ``request_dropped``. As in Scrapy's scheduler, a
        ``dont_filter`` request is neither checked nor recorded there: the page of a seed
        (scrapy-redis's and ``start_urls`` ones are ``dont_filter``) is fetched again when a
        link reaches it, and a ``CrawlSpider`` gives its item then. A request that cannot
        go through Redis (see ``_keep_local``) is kept in this node's memory, as Scrapy's
        own scheduler would; ``False`` when it is a duplicate of one kept so.
        """
        return self._enqueue(request, recrawl=False)

    def enqueue_seed(self, request: Request, recrawl: bool) -> None:
        """Buffer a request a seed stands for. ``recrawl``: the seed is in this project's
        format, whose ``dont_filter`` means a re-crawl (``scrapy seed --recrawl``): fetched
        even if seen, and recorded as seen today, so that its links do not fetch it again."""
        self._enqueue(request, recrawl)

    def _enqueue(self, request: Request, recrawl: bool) -> bool:
        assert self.crawler.request_fingerprinter is not None
        fingerprint = self.crawler.request_fingerprinter.fingerprint(request)
        assert self.sync is not None, "RedisScheduler.open() was not awaited"
        if not request.dont_filter and self.sync.saved_recently(fingerprint):
            self.crawler.stats.inc_value("frontier/duplicates_on_node")
            return True  # (False would cost a request_dropped signal: ~10 us, what it saved)
        try:
            payload = codec.encode(request, self.spider)
        except codec.EncodeError as exc:
            return self._keep_local(request, fingerprint, exc)
        recorded = fingerprint if recrawl or not request.dont_filter else None
        push = Push(recorded, request.priority, domain_of(request), payload,
                    request.dont_filter)
        self.sync.push(push)
        return True

    def _keep_local(self, request: Request, fingerprint: bytes, exc: codec.EncodeError) -> bool:
        """Keep ``request`` (it holds a callback not on the spider, an object in ``meta``,
        a ``meta`` JSON would change) in memory: fetched by this node, not crash-safe."""
        if not request.dont_filter:
            if fingerprint in self._local_seen:
                return False
            self._local_seen.add(fingerprint)
        self.crawler.stats.inc_value("frontier/kept_local")
        if exc.cause not in self._local_causes:
            self._local_causes.add(exc.cause)
            logger.warning("Requests with %s cannot go through Redis: this node keeps them in "
                           "its memory and fetches them itself (not crash-safe: lost if the "
                           "node dies; counted in frontier/kept_local). First: %s",
                           exc.cause, exc)
        self.local.append(request)
        self._wake_engine()
        return True

    def next_request(self) -> Request | None:
        """The next request for the engine to download: one this node holds under lease (or
        keeps in memory), or ``None`` while the prefetch refills or the crawl is paused (the
        loop wakes the engine when requests come)."""
        if self.sync is None or self.sync.stopping or self.sync.paused:
            return None
        if self.local:
            return self.local.popleft()
        request = self.book.hand_out()
        if request is not None:
            self.sync.handed_out()
        return request

    def __len__(self) -> int:
        return len(self.book)


def _no_requests() -> Iterator[Request]:
    """What a scrapy-redis spider's ``next_requests`` yields on this scheduler: nothing."""
    return iter(())
