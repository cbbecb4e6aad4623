"""The task that trades a node's local state with the Redis frontier, in batches.

Each round is one ``Frontier.exchange``: pushes, dead letters, acks, lease renewals,
a pop that tops up the buffer, and (every heartbeat) the node's heartbeat, a reclaim
of expired leases and a fresh view of the cluster. Nothing leaves the local lists
until Redis has confirmed it, so a lost connection loses nothing: the round is sent
again when Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
from collections import deque
from collections.abc import Sized
from typing import Any, Protocol

import redis
from scrapy import Request, Spider
from scrapy.statscollectors import StatsCollector

from crawler.errors import DecodeError
from crawler.frontier.exchange import Frontier
from crawler.frontier.formats import KIND_SEED, Entry
from crawler.frontier.round import Incoming, Outgoing, Push
from crawler.node import codec, membership, seeds
from crawler.node.config import FrontierConfig
from crawler.node.engine import EngineSlot
from crawler.node.leases import LeaseBook
from crawler.redis.connection import redact

logger = logging.getLogger(__name__)

CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)
MAX_BACKOFF = 10.0
CLOSE_RETRY_SECONDS = 30.0
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
        self.pushes: list[Push] = []
        self.crawl_delays: dict[str, float] = {}
        self.stopping = False
        self.paused = False
        self.crawl_finished = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_beat = 0.0
        self._last_renew = time.monotonic()
        self._idle_since: float | None = None
        self._last_round = 0.0
        self._next_pop_at: float | None = None  # when a queued domain may be served again
        self._down_since: float | None = None
        self._last_error = ""
        self._waiting_logged = False
        self._started = time.time()
        self._rate: deque[tuple[float, int]] = deque(maxlen=120)
        self._sent_acks = (0, 0, 0)  # the last Outgoing's (ready, pending, all pending) acks

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

    def push(self, push: Push) -> None:
        """Queue a request for the next round."""
        self.pushes.append(push)
        self._wake.set()

    def handed_out(self) -> None:
        """The engine took a request: top the prefetch up once it runs low."""
        if len(self.book) <= self.config.prefetch // 2:
            self._wake.set()

    def wake(self) -> None:
        """Have a round soon: the book has something to say (a request handed back)."""
        self._wake.set()

    def crawl_delay(self, domain: str, seconds: float) -> None:
        """Tell the cluster the robots.txt Crawl-delay of ``domain`` (0: none), next round."""
        self.crawl_delays[domain] = seconds
        self._wake.set()

    def has_outgoing(self) -> bool:
        """Whether something waits to be sent."""
        return bool(self.pushes or self.book.unusable)

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
        deadline = time.monotonic() + CLOSE_RETRY_SECONDS
        while True:
            out = self._outgoing(pop=0, beat=False)
            out.release = release
            try:
                got = await self.frontier.exchange(out)
                self._forget_saved(out, got)
                if got.error is not None:
                    raise got.error
                if self.pushes or self.book.done or self.book.done_saved or self.book.unusable:
                    continue  # pushes that took several scripts: their acks go now
                await self.frontier.leave()
                break
            except (redis.RedisError, OSError) as exc:
                if time.monotonic() > deadline:
                    logger.error(
                        "Redis at %s unreachable or refusing at close (%s): %d new requests "
                        "and %d acks not saved; the leases of this node's requests expire and "
                        "other nodes fetch them again, so nothing is lost", redact(self.url),
                        exc, len(self.pushes), len(self.book.done) + len(self.book.done_saved))
                    return
                await asyncio.sleep(1.0)
        logger.info("Frontier closed: %d requests handed back", len(release))

    # -- the loop ----------------------------------------------------------------------
    async def _run(self) -> None:
        backoff = 0.0
        while not self.stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._timeout(backoff))
            except TimeoutError:
                pass
            self._wake.clear()
            if self.stopping:
                break
            if self.config.flush_delay and not backoff and len(self.book):
                # Gather a batch, unless the engine is waiting for requests right now.
                await asyncio.sleep(self._gather_seconds())
            try:
                await self._round()
            except (redis.RedisError, OSError) as exc:
                backoff = min(MAX_BACKOFF, max(0.25, backoff * 2))
                self._trouble(exc, backoff)
                continue
            if backoff:
                logger.warning("Redis at %s is back after %.1f s; carrying on", redact(self.url),
                               time.monotonic() - (self._down_since or time.monotonic()))
                backoff, self._down_since, self._last_error = 0.0, None, ""

    def _gather_seconds(self) -> float:
        """How long to gather before a round: ``flush_delay``, and while no pop is due (the
        round only saves and acknowledges), until ``quiet_interval`` after the last round."""
        delay = self.config.flush_delay
        if len(self.book) > self.config.prefetch // 2:
            delay = max(delay, self._last_round + self.config.quiet_interval - time.monotonic())
        return delay

    def _timeout(self, backoff: float) -> float:
        if backoff:
            return backoff
        if self._next_pop_at is not None:
            wait = self._next_pop_at - time.monotonic()
            if wait <= 0:
                self._next_pop_at = None  # the next pop says when again
            return max(0.01, min(self.config.heartbeat_seconds, wait))
        return self.config.heartbeat_seconds

    def _trouble(self, exc: Exception, backoff: float) -> None:
        """Log a lost connection, or a batch Redis refused (out of memory, a missing ACL
        permission, a read-only replica), once; everything stays queued here."""
        self.stats.inc_value("frontier/redis_errors")
        if self._down_since is None:
            self._down_since = time.monotonic()
        if str(exc) == self._last_error:
            logger.debug("Redis still failing, next try in %.1f s: %s", backoff, exc)
            return
        self._last_error = str(exc)
        if isinstance(exc, CONNECTION_ERRORS):
            logger.error("Redis at %s unreachable (%s); retrying with backoff, nothing is "
                         "dropped", redact(self.url), exc)
        else:
            logger.error("Redis at %s refused a batch: %s; retrying with backoff, nothing is "
                         "dropped", redact(self.url), exc)

    async def _round(self) -> None:
        self.book.collect_done(self.inprogress)
        now = time.monotonic()
        beat = now - self._last_beat >= self.config.heartbeat_seconds
        low = len(self.book) <= self.config.prefetch // 2 and not self.paused
        want = self.config.prefetch - len(self.book) if low else 0
        out = self._outgoing(pop=want, beat=beat)
        out.suspects_ok = self.book.suspect is None
        got = await self.frontier.exchange(out)
        if got.sent:
            self.stats.inc_value("frontier/round_trips")
            self._last_round = now
        self._forget_saved(out, got)  # what was saved is never sent twice
        if got.error is not None:
            self._apply(got)  # what did succeed (a pop's leases above all) is not lost
            raise got.error  # the rest stays queued here and goes again (idempotent)
        del self.book.failed[:len(out.failed)]
        del self.book.handed_back[:len(out.release)]
        for domain in out.crawl_delays:
            if self.crawl_delays.get(domain) == out.crawl_delays[domain]:
                del self.crawl_delays[domain]
        if out.renew:
            self._last_renew = now
        if beat:
            self._last_beat = now
        self._apply(got)
        if self.pushes or self.book.unusable or self.book.done_saved or (
                want and len(got.popped) == want and len(self.book) < self.config.prefetch):
            self._wake.set()

    def _outgoing(self, pop: int, beat: bool) -> Outgoing:
        renew_due = time.monotonic() - self._last_renew >= self.config.lease_seconds / 3
        renew: list[str] = []
        if renew_due:
            # (and the done ones whose acks wait for their children to be saved)
            renew = self.book.to_renew()
        # The acks go in one script with the first batch of pushes (see Outgoing): those
        # whose children may be in a later batch wait until a round has saved them.
        book = self.book
        pending = book.done if len(self.pushes) <= self.config.batch_size else []
        self._sent_acks = (len(book.done_saved), len(pending), len(book.done))
        return Outgoing(
            pushes=list(self.pushes), dead=list(book.unusable), acks=book.done_saved + pending,
            failed=list(book.failed),
            renew=renew, pop=pop, heartbeat=self._node_state() if beat else None, reclaim=beat,
            crawl_delays=dict(self.crawl_delays), release=list(book.handed_back),
        )

    def _forget_saved(self, out: Outgoing, got: Incoming) -> None:
        """Drop from the local lists what ``out`` saved, even if another step failed: a
        push saved twice would enqueue a ``dont_filter`` request twice."""
        saved = {i for chunk in got.saved for i in chunk}
        if len(saved) == len(out.pushes):
            del self.pushes[:len(out.pushes)]
        elif saved:
            self.pushes[:len(out.pushes)] = [
                p for i, p in enumerate(out.pushes) if i not in saved]
        book = self.book
        ready, pending, waiting = self._sent_acks  # ``waiting``: children in ``out.pushes``
        if got.acks_saved:
            del book.done_saved[:ready]
            del book.done[:pending]
            del book.unusable[:len(out.dead)]
            waiting -= pending
        if waiting and len(saved) == len(out.pushes):
            book.done_saved += book.done[:waiting]  # their children are saved now
            del book.done[:waiting]

    def _node_state(self) -> dict[str, Any]:
        busy = (len(self.book) or self.book.in_engine or self.pushes or self.book.owes()
                or self.node.local)
        now = time.monotonic()
        if busy:
            self._idle_since = None
        elif self._idle_since is None:
            self._idle_since = now
        pages = int(self.stats.get_value("response_received_count", 0))
        self._rate.append((now, pages))
        while len(self._rate) > 2 and now - self._rate[0][0] > 60:
            self._rate.popleft()
        span = now - self._rate[0][0]
        return {
            "host": socket.gethostname(), "pid": os.getpid(), "started": self._started,
            "pages": pages, "items": int(self.stats.get_value("item_scraped_count", 0)),
            "errors": int(self.stats.get_value("log_count/ERROR", 0)),
            "ppm": round((pages - self._rate[0][1]) * 60 / span, 1) if span > 0 else 0.0,
            "in_progress": len(self.book.in_engine), "prefetched": len(self.book),
            "idle_for": -1 if self._idle_since is None else now - self._idle_since,
        }

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
        if got.next_ready is not None:  # after a pop: if it came short, pop again when
            # a queued domain may be served (a full pop is followed by another anyway)
            short = len(got.popped) < got.wanted and not math.isinf(got.next_ready)
            self._next_pop_at = time.monotonic() + got.next_ready if short else None
        for entry in got.popped:
            self._take(entry)
        requests = sum(1 for entry in got.popped if entry.is_request)
        if requests:
            self.stats.inc_value("scheduler/dequeued/redis", requests)
        if got.popped:
            self.nextcall.schedule()
        if got.cluster is not None:
            view = got.cluster
            self._obey(view.control)
            self.crawl_finished = membership.crawl_finished(view, self.config.idle_timeout)
            if self.crawl_finished:
                self.nextcall.schedule()  # the engine looks at idleness now, not in 5 s
            nothing = not (view.enqueued or view.seeds or got.popped or self.book.in_engine)
            if nothing and not self._waiting_logged:
                self._waiting_logged = True
                logger.info("Waiting for seeds in Redis key %s (scrapy seed %s FILE, or %s "
                            "them there)", self.frontier.keys.start_urls,
                            self.frontier.keys.crawl,
                            "SADD" if self.config.redis.start_urls_as_set else "LPUSH")

    def _obey(self, control: str) -> None:
        """Follow ``scrapy pause/resume/stop``: the control state every heartbeat reads."""
        if (control == "paused") != self.paused:
            self.paused = control == "paused"
            logger.warning("Crawl %s: handing out no new requests until `scrapy resume`"
                           if self.paused else "Crawl %s resumed", self.frontier.keys.crawl)
            if not self.paused:
                self.nextcall.schedule()
        if control == "stopped" and not self.stopping:
            logger.warning("Crawl %s stopped by `scrapy stop`: this node ends cleanly; its "
                           "state stays in Redis for `scrapy resume`", self.frontier.keys.crawl)
            self.node.stop_crawl()

    def _take(self, entry: Entry) -> None:
        spider = self.node.spider
        assert spider is not None
        try:
            if entry.is_request:
                self.book.lease(entry.id, codec.decode(entry.payload, spider), entry.domain,
                                entry.hold, entry.gap)
                return
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
            reason = f"{type(exc).__name__}: {exc}"
            logger.warning("Queue entry %s moved to the dead letters (%s): %r", entry.id,
                           reason, entry.payload[:120])
            self.stats.inc_value("frontier/dead_letters")
            self.book.unusable_entry(entry, reason)
