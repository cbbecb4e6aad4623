"""A node's short memory of the fingerprints Redis saved for it.

Most links a page yields were seen already (a site's menu, its neighbours' pages): Redis
finds them in its fingerprint store, but only after the node encoded and sent each one.
This memory lets the node drop such a link at once, as Scrapy's in-memory dupefilter
does, when the node itself pushed the same fingerprint a moment ago and Redis saved it.

What it holds is bounded and never wrong for long:

* only pushes Redis confirmed (``Outbox.forget_saved`` tells it which: a push still
  waiting, or in a round that failed, is not remembered);
* each fingerprint for ``seconds`` after it was saved, so that ``scrapy forget URL``
  makes the URL new again on every node within that time (and a re-crawl after days is
  unaffected);
* at most ``size`` fingerprints, the oldest forgotten first.

``dont_filter`` requests never ask it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable

from crawler.frontier.round import Push


class RecentFingerprints:
    """The fingerprints this node's pushes saved in Redis in the last ``seconds``."""

    def __init__(self, seconds: float, size: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.size = size
        self._clock = clock
        self._saved: dict[bytes, float] = {}  # fingerprint -> when known saved
        self._order: deque[bytes] = deque()  # the same, oldest first

    def __len__(self) -> int:
        return len(self._saved)

    def saved(self, pushes: Iterable[Push]) -> None:
        """Redis saved ``pushes`` (as new requests, or found them duplicates)."""
        if not self.size:
            return
        now = self._clock()
        known, order = self._saved, self._order
        for push in pushes:
            fingerprint = push.fingerprint
            if fingerprint is not None and fingerprint not in known:
                known[fingerprint] = now
                order.append(fingerprint)
        self._expire(now)

    def seen(self, fingerprint: bytes) -> bool:
        """Whether a push of this node saved ``fingerprint`` in Redis less than
        ``seconds`` ago."""
        if not self._saved:
            return False
        self._expire(self._clock())
        return fingerprint in self._saved

    def _expire(self, now: float) -> None:
        order, saved = self._order, self._saved
        oldest = now - self.seconds
        while order and (len(order) > self.size or saved[order[0]] <= oldest):
            del saved[order.popleft()]
