"""What a node makes of the cluster view each heartbeat brings back: it pauses, resumes and
stops as ``scrapy pause/resume/stop`` set the crawl's control state, sees the crawl end
(``crawler.node.membership``'s rule), and says once that it waits for seeds."""

from __future__ import annotations

import logging
from collections.abc import Callable

from crawler.frontier.round import ClusterView
from crawler.node import membership
from crawler.node.config import FrontierConfig
from crawler.node.engine import NextCall
from crawler.redis.keys import CrawlKeys

logger = logging.getLogger("crawler.node.exchange_loop")  # where users have always seen it


class CrawlControl:
    """Whether the crawl is paused or finished, as the latest cluster view says."""

    def __init__(self, keys: CrawlKeys, config: FrontierConfig, nextcall: NextCall,
                 stop_crawl: Callable[[], None]) -> None:
        self.keys = keys
        self.config = config
        self.nextcall = nextcall  # wakes the engine: requests again, or the crawl ended
        self.stop_crawl = stop_crawl
        self.paused = False
        self.crawl_finished = False
        self._previous: ClusterView | None = None  # the view before (the two-read rule)
        self._waiting_logged = False

    def follow(self, view: ClusterView, stopping: bool, busy: bool) -> None:
        """Act on ``view``; ``stopping``: the node stops already; ``busy``: it popped or
        holds requests."""
        self._obey(view.control, stopping)
        self.crawl_finished = membership.crawl_finished(view, self.config.idle_timeout,
                                                        self._previous)
        self._previous = view
        if self.crawl_finished:
            self.nextcall.schedule()  # the engine looks at idleness now, not in 5 s
        nothing = not (view.enqueued or view.seeds or busy)
        if nothing and not self._waiting_logged:
            self._waiting_logged = True
            logger.info("Waiting for seeds in Redis key %s (scrapy seed %s FILE, or %s "
                        "them there)", self.keys.start_urls, self.keys.crawl,
                        "SADD" if self.config.redis.start_urls_as_set else "LPUSH")

    def _obey(self, control: str, stopping: bool) -> None:
        """Follow ``scrapy pause/resume/stop``: the control state every heartbeat reads."""
        if (control == "paused") != self.paused:
            self.paused = control == "paused"
            logger.warning("Crawl %s: handing out no new requests until `scrapy resume`"
                           if self.paused else "Crawl %s resumed", self.keys.crawl)
            if not self.paused:
                self.nextcall.schedule()
        if control == "stopped" and not stopping:
            logger.warning("Crawl %s stopped by `scrapy stop`: this node ends cleanly; its "
                           "state stays in Redis for `scrapy resume`", self.keys.crawl)
            self.stop_crawl()
