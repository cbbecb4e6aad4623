"""What a node's heartbeat tells the cluster about it: who it is, its counters, its pages
per minute over the last minute, and how long it has been idle (the end-of-crawl rule in
``crawler.node.membership`` reads the last)."""

from __future__ import annotations

import os
import socket
import time
from collections import deque
from typing import Any

from scrapy.statscollectors import StatsCollector


class Heartbeat:
    """The node's state, as each heartbeat sends it to the nodes hash."""

    def __init__(self, stats: StatsCollector) -> None:
        self.stats = stats
        self._started = time.time()
        self._idle_since: float | None = None
        self._rate: deque[tuple[float, int]] = deque(maxlen=120)  # (monotonic, pages)

    def state(self, busy: bool, in_progress: int, prefetched: int) -> dict[str, Any]:
        """The state to send now; ``busy``: the node holds or owes something."""
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
            "in_progress": in_progress, "prefetched": prefetched,
            "idle_for": -1 if self._idle_since is None else now - self._idle_since,
        }
