"""When the exchange loop's rounds happen: at once when woken (the engine waits for
requests, a request was handed back), else every heartbeat, sooner when a queued domain may
be served again; a round that pops goes at once, one that only saves waits a moment first,
so that a batch gathers."""

from __future__ import annotations

import math
import time

from crawler.frontier.round import Incoming
from crawler.node.config import FrontierConfig


class RoundTiming:
    """The times of the node's latest round and heartbeat, and of its next pop."""

    def __init__(self, config: FrontierConfig) -> None:
        self.config = config
        self.last_beat = 0.0
        self.last_round = 0.0
        self.next_pop_at: float | None = None  # when a queued domain may be served again

    def beat_due(self, now: float) -> bool:
        """Whether this round carries the heartbeat."""
        return now - self.last_beat >= self.config.heartbeat_seconds

    def wait_seconds(self, backoff: float) -> float:
        """How long the loop sleeps unless woken: the ``backoff`` while Redis fails."""
        if backoff:
            return backoff
        if self.next_pop_at is not None:
            wait = self.next_pop_at - time.monotonic()
            if wait <= 0:
                self.next_pop_at = None  # the next pop says when again
            return max(0.01, min(self.config.heartbeat_seconds, wait))
        return self.config.heartbeat_seconds

    def gather_seconds(self, pop_due: bool) -> float:
        """How long to gather before a round: not at all when a pop is due (the engine
        will soon want requests), else ``flush_delay``, and until ``quiet_interval`` after
        the last round (the round only saves and acknowledges)."""
        if pop_due:
            return 0.0
        return max(self.config.flush_delay,
                   self.last_round + self.config.quiet_interval - time.monotonic())

    def popped(self, got: Incoming) -> None:
        """After a pop: if it came short, pop again when a queued domain may be served (a
        full pop is followed by another anyway)."""
        if got.next_ready is not None:
            short = len(got.popped) < got.wanted and not math.isinf(got.next_ready)
            self.next_pop_at = time.monotonic() + got.next_ready if short else None
