"""The task that trades a node's local state with the Redis frontier, in batches.

Each round is one ``Frontier.exchange``: pushes, dead letters, acks, lease renewals,
a pop that tops up the buffer, and (every heartbeat) the node's heartbeat, a reclaim
of expired leases and a fresh view of the cluster. Nothing leaves the local lists
until Redis has confirmed it, so a lost connection loses nothing: the round is sent
again when Redis is back.

The loop runs the rounds and applies what they bring back; its parts: ``outbox`` (what a
round sends, and what Redis saved of it), ``round_timing`` (when rounds happen),
``heartbeat`` (the node's state), ``outage`` (a failing Redis), ``crawl_control``
(pause, resume, stop, the crawl's end) and ``closing`` (what a stopping node sends last).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sized
from typing import Any, Protocol

import redis
from scrapy import Request, Spider
from scrapy.statscollectors import StatsCollector

from crawler.errors import DecodeError
from crawler.frontier.exchange import Frontier
from crawler.frontier.formats import KIND_SEED, Entry
from crawler.frontier.round import Incoming, Push
from crawler.node import codec, seeds
from crawler.node.closing import send_last
from crawler.node.config import FrontierConfig
from crawler.node.crawl_control import CrawlControl
from crawler.node.engine import EngineSlot
from crawler.node.heartbeat import Heartbeat
from crawler.node.leases import LeaseBook
from crawler.node.outage import Outage
from crawler.node.outbox import Outbox
from crawler.node.recent_fingerprints import RecentFingerprints
from crawler.node.round_timing import RoundTiming

logger = logging.getLogger(__name__)

FRONTIER_ERROR = "frontier_error"  # the close reason when the frontier task failed
failed_crawls: set[str] = set()  # crawls of this process closed for it (exit status 1)


class Node(Protocol):
    """What the loop needs of the node it serves (the scheduler)."""

    @property
    def spider(self) -> Spider | None:
        """The spider, once the node opened."""

    @property
    def local(self) -> Sized:
        """Requests kept in memory because they cannot go through Redis."""

    def enqueue_seed(self, request: Request, recrawl: bool) -> None:
        """Push a request a seed stands for."""

    def stop_crawl(self, reason: str = "stopped") -> None:
        """Close the spider without waiting."""


class ExchangeLoop:
    """Sends what the node owes the frontier (its pushes, and what ``LeaseBook`` holds to
    say about its leases) and brings back leases, in rounds, on its own asyncio task."""

    def __init__(self, node: Node, book: LeaseBook, frontier: Frontier, engine: EngineSlot,
                 url: str, config: FrontierConfig, stats: StatsCollector) -> None:
        self.node = node
        self.book = book
        self.frontier = frontier
        self.config = config
        self.stats = stats
        self.inprogress = engine.inprogress  # a request leaving it is done: acked
        self.nextcall = engine.nextcall  # wakes the engine (see crawler.node.engine)
        self.url = url
        self.outbox = Outbox(book, config.batch_size, config.lease_seconds,
                             frontier.partitions,
                             RecentFingerprints(config.recent_seconds, config.recent_fingerprints))
        self.heartbeat = Heartbeat(stats)
        self.outage = Outage(url, stats)
        self.timing = RoundTiming(config)
        self.control = CrawlControl(frontier.keys, config, self.nextcall, node.stop_crawl)
        self.stopping = False
        self.half_prefetch = max(1, config.prefetch // 2)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def pushes(self) -> list[Push]:
        """The requests waiting to be enqueued."""
        return self.outbox.pushes

    @property
    def paused(self) -> bool:
        """Whether ``scrapy pause`` holds the crawl: no new requests are handed out."""
        return self.control.paused

    @property
    def crawl_finished(self) -> bool:
        """Whether the cluster is done, as the latest heartbeat saw it."""
        return self.control.crawl_finished

    # -- what the scheduler tells it -------------------------------------------------
    def start(self) -> None:
        """Start the loop on the running asyncio event loop."""
        self._task = asyncio.get_running_loop().create_task(self._run())
        self._task.add_done_callback(self._ended)
        self._wake.set()  # the first round at once: the engine is waiting for requests

    def _ended(self, task: asyncio.Task[None]) -> None:
        """The loop ended: if not by ``stop``, the node cannot go on; close the spider
        (reason ``frontier_error``) rather than hang alive without fetching."""
        if self.stopping or task.cancelled():
            return
        exc = task.exception()
        logger.error("The frontier task stopped (%s: %s); closing the spider (reason %s) so "
                     "that a supervisor restarts the node; its leases go back to the queue",
                     type(exc).__name__, exc, FRONTIER_ERROR)
        logger.debug("The frontier task's traceback", exc_info=exc)
        failed_crawls.add(self.frontier.keys.crawl)
        self.node.stop_crawl(reason=FRONTIER_ERROR)

    def saved_recently(self, fingerprint: bytes) -> bool:
        """Whether a push of this node saved ``fingerprint`` a moment ago (see
        ``crawler.node.recent_fingerprints``)."""
        return self.outbox.recent.seen(fingerprint)

    def push(self, push: Push) -> None:
        """Queue a request for the next round."""
        self.outbox.pushes.append(push)
        self._wake.set()

    def handed_out(self) -> None:
        """The engine took a request: top the prefetch up once it runs low."""
        if self._pop_due():
            self._wake.set()

    def wake(self) -> None:
        """Have a round soon: the book has something to say (a request handed back)."""
        self._wake.set()

    def crawl_delay(self, domain: str, seconds: float) -> None:
        """Tell the cluster the robots.txt Crawl-delay of ``domain`` (0: none), next round."""
        self.outbox.crawl_delays[domain] = seconds
        self._wake.set()

    def has_outgoing(self) -> bool:
        """Whether something waits to be sent."""
        return self.outbox.has_outgoing()

    async def stop(self) -> None:
        """Stop the loop, then send everything left and hand back what was not started."""
        self.stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await self._task
            except Exception:  # already logged, and the spider is closing for it
                logger.debug("The frontier task had failed", exc_info=True)
        self.book.collect_done(self.inprogress)
        release = self.book.release_all()  # not started or never finished: others will
        await send_last(self.frontier, self.outbox, release, self.url)

    # -- the loop ----------------------------------------------------------------------
    async def _run(self) -> None:
        outage = self.outage
        while not self.stopping:
            # A pop that is due goes at once, before the engine runs again.
            if not (self._wake.is_set() and self._pop_due() and not outage.backoff):
                try:
                    await asyncio.wait_for(self._wake.wait(),
                                           timeout=self.timing.wait_seconds(outage.backoff))
                except TimeoutError:
                    pass
            self._wake.clear()
            if self.stopping:
                break
            if self.config.flush_delay and not outage.backoff and len(self.book) and (
                    gather := self.timing.gather_seconds(self._pop_due())):
                await asyncio.sleep(gather)
            try:
                await self._round()
            except (redis.RedisError, OSError) as exc:
                outage.failed(exc)
                continue
            outage.answered()

    def _pop_due(self) -> bool:
        """Whether the prefetch is half empty (and the crawl not paused)."""
        return len(self.book) <= self.config.prefetch // 2 and not self.paused

    async def _round(self) -> None:
        self.book.collect_done(self.inprogress)
        now = time.monotonic()
        beat = self.timing.beat_due(now)
        # Half the prefetch a pop at most: the next one is on its way while the engine
        # takes those (a round that leaves the book low is followed by another at once).
        want = min(self.config.prefetch - len(self.book), self.half_prefetch) if (
            self._pop_due()) else 0
        sent = self.outbox.plan(pop=want, heartbeat=self._node_state() if beat else None)
        got = await self.frontier.exchange(sent.out)
        if got.sent:
            self.stats.inc_value("frontier/round_trips")
            self.timing.last_round = now
        self.outbox.forget_saved(sent, got)  # what was saved is never sent twice
        if got.error is not None:
            self._apply(got)  # what did succeed (a pop's leases above all) is not lost
            raise got.error  # the rest stays queued here and goes again (idempotent)
        self.outbox.forget_sent(sent, now)
        if beat:
            self.timing.last_beat = now
        self._apply(got)
        if self.outbox.pushes or self.book.unusable or self.book.done_saved or (
                want and len(got.popped) == want and self._pop_due()):
            self._wake.set()

    def _node_state(self) -> dict[str, Any]:
        book = self.book
        busy = bool(len(book) or book.in_engine or self.outbox.pushes or book.owes()
                    or self.node.local)
        return self.heartbeat.state(busy, len(book.in_engine), len(book))

    # -- what came back ------------------------------------------------------------------
    def _apply(self, got: Incoming) -> None:
        if got.added:
            self.stats.inc_value("scheduler/enqueued/redis", got.added)
        if got.duplicates:
            self.stats.inc_value("frontier/duplicates", got.duplicates)
        if got.reclaimed:
            self.stats.inc_value("frontier/reclaimed", got.reclaimed)
            logger.info("Reclaimed %d requests whose lease had expired", got.reclaimed)
        if got.poisoned:
            self.stats.inc_value("frontier/poisoned", got.poisoned)
            logger.warning("%d requests failed %d times and went to the dead letters (%s)",
                           got.poisoned, self.config.max_attempts, self.frontier.keys.dead)
        if got.suspect is not None:
            self.book.suspect = got.suspect
        self.timing.popped(got)
        requests = 0
        for entry in got.popped:
            requests += self._take(entry)
        if requests:
            self.stats.inc_value("scheduler/dequeued/redis", requests)
        if got.popped:
            self.nextcall.schedule()
        if got.cluster is not None:
            self.control.follow(got.cluster, self.stopping,
                                busy=bool(got.popped or self.book.in_engine))

    def _take(self, entry: Entry) -> bool:
        """Keep a popped entry: whether it is a request (a seed becomes pushes)."""
        if entry.is_request:
            self.book.lease(entry)  # its request is built when it is handed out
            return True
        spider = self.node.spider
        assert spider is not None
        try:
            if entry.kind != KIND_SEED:
                raise DecodeError(f"unknown entry kind {entry.kind!r}")
            # In this project's seed format (no make_request_from_data hook on the spider),
            # dont_filter means a re-crawl; a hook's (scrapy-redis's) means what Scrapy says.
            recrawl = getattr(spider, "make_request_from_data", None) is None
            for request in list(seeds.requests_from_raw(entry.payload, spider)):
                self.node.enqueue_seed(request, recrawl)
            self.book.seed_done(entry.id)  # sent with the pushes above, in the same script
        except Exception as exc:  # any entry a node cannot turn into requests: the spider's
            # make_request_from_data, a form value, a meta of the wrong type ...
            self._unusable(entry, exc)
        return False

    def request_of(self, entry: Entry) -> Request | None:
        """The request a leased entry holds, or None: it cannot be built, and goes to the
        dead letters next round."""
        try:
            return codec.decode(entry.payload, self.node.spider)
        except Exception as exc:  # (a request class unknown here, a malformed field ...)
            self._unusable(entry, exc)
            self._wake.set()
            return None

    def _unusable(self, entry: Entry, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        logger.warning("Queue entry %s moved to the dead letters (%s): %r", entry.id,
                       reason, entry.payload[:120])
        self.stats.inc_value("frontier/dead_letters")
        self.book.unusable_entry(entry, reason)
