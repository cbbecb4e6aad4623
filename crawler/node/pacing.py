"""The requests of paced domains a node holds until their time, outside its downloader.

``pop.lua`` hands a paced domain's requests out one interval apart, each with the time
it is due (up to 0.5 s ahead). The node keeps that promise where it matters, at the
downloader's door:

* a request goes to the engine no sooner than it is due, and no sooner than one interval
  after the previous request of its domain left;
* a domain whose robots.txt this node has not read yet waits until it has (the robots
  middleware is asked to read it first), so its requests do not pile up behind it.

For intervals of ``CAREFUL_GAP`` or more (polite paces, where a gap is worth a round
trip), the interval runs from when the previous request reached this node's downloader,
the next one waits while one is on its way there, and a request that could only leave
later than its slot allows (``late_after``) goes back to the frontier for a fresh slot:
leaving late, it could come too close to the next request another node sends on time.
Under faster paces a node's own loop sets the spacing, and all that would only churn.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable

from scrapy import Request

LATE_SHARE = 0.25  # a request may leave up to this share of its domain's interval late
LATE_MIN = 0.05  # ... and at least this many seconds
POLL = 0.01  # seconds between two looks at a request that waits for another
CAREFUL_GAP = 0.1  # seconds: intervals from this up are kept at the downloader's door


def late_after(gap: float) -> float:
    """Seconds after its slot a request of a domain paced ``gap`` apart may still leave."""
    return max(LATE_MIN, gap * LATE_SHARE)


class PacedRequests:
    """A node's held requests of paced domains, by due time (monotonic)."""

    def __init__(self, wake: Callable[[], None], hand_back: Callable[[str], None],
                 robots_read: Callable[[str, Request], bool]) -> None:
        """``wake`` makes the engine ask for requests again; ``hand_back`` returns a leased
        entry to the frontier; ``robots_read(domain, request)`` says whether this node has
        read the domain's robots.txt (and if not, starts reading it and wakes when done)."""
        self.wake = wake
        self.hand_back = hand_back
        self.robots_read = robots_read
        # (due, tie, slot, entry id, request, domain, gap): slot = the time pop.lua gave it
        self._heap: list[tuple[float, int, float, str, Request, str, float]] = []
        self._tie = itertools.count()
        self._sent: dict[str, float] = {}  # domain -> when its last one reached the downloader
        self._entering: dict[str, Request] = {}  # domain -> the one on its way there
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, entry_id: str, request: Request, domain: str, hold: float,
            gap: float) -> None:
        """Hold ``request`` until ``hold`` seconds from now (its slot)."""
        slot = time.monotonic() + hold
        heapq.heappush(self._heap, (slot, next(self._tie), slot, entry_id, request, domain, gap))

    def ids(self) -> list[str]:
        """The entry ids held."""
        return [held[3] for held in self._heap]

    def clear(self) -> list[str]:
        """Forget every held request; return their entry ids."""
        ids = self.ids()
        self._heap.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return ids

    def take(self) -> tuple[str, Request] | None:
        """The held request that may go to the engine now, if any (and else have the
        engine woken when the next may)."""
        now = time.monotonic()
        while self._heap and self._heap[0][0] <= now:
            _, tie, slot, entry_id, request, domain, gap = self._heap[0]
            careful = gap >= CAREFUL_GAP
            if (careful and domain in self._entering) or not self.robots_read(domain, request):
                ready = now + POLL  # and woken as soon as that changes
            else:
                ready = self._sent.get(domain, -gap) + gap
            if ready > now:
                heapq.heapreplace(self._heap, (ready, tie, slot, entry_id, request, domain, gap))
                continue
            heapq.heappop(self._heap)
            if not careful:
                self._note_sent(domain, now)
                return entry_id, request
            if now - slot > late_after(gap):
                self.hand_back(entry_id)
                continue
            self._entering[domain] = request
            return entry_id, request
        if self._heap:
            self._wake_at(self._heap[0][0])
        return None

    def settled(self, request: Request) -> None:
        """``request`` reached the downloader, or left the engine without (a middleware
        dropped it): if it was on its way, its domain's interval runs from now."""
        for domain, entering in self._entering.items():
            if entering is request:
                del self._entering[domain]
                self._note_sent(domain, time.monotonic())
                if self._heap:
                    self.wake()
                return

    def _note_sent(self, domain: str, now: float) -> None:
        if len(self._sent) > 10_000:
            self._sent = {d: t for d, t in self._sent.items() if now - t < 60}
        self._sent[domain] = now

    def _wake_at(self, due: float) -> None:
        loop = asyncio.get_running_loop()
        when = loop.time() + max(0.0, due - time.monotonic())
        if self._timer is not None and not self._timer.cancelled():
            if self._timer.when() <= when:
                return
            self._timer.cancel()
        self._timer = loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self.wake()
