"""A node's short memory of the fingerprints Redis saved for it.

Most links a page yields were seen already (a site's menu, its neighbours' pages): Redis
finds them in its fingerprint store, but only after the node encoded and sent each one.
This memory lets the node drop such a link at once, as Scrapy's in-memory dupefilter
does, when the node itself pushed the same fingerprint a moment ago and Redis saved it.

What it holds is bounded and never wrong for long:

* only pushes Redis confirmed (the exchange loop drops a push from its list once saved:
  a push still there, or in a round that failed, is not remembered);
* each fingerprint for ``seconds`` after it was saved, so that ``scrapy forget URL``
  makes the URL new again on every node within that time (and a re-crawl after days is
  unaffected);
* at most ``size`` fingerprints, the oldest forgotten first.

``dont_filter`` requests never ask it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence

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
        self._pending: deque[Push] = deque()  # pushes not known saved yet, in order

    def __len__(self) -> int:
        return len(self._saved)

    def pushed(self, push: Push) -> None:
        """``push`` went to the exchange loop's list (every push goes through here, so
        that the list's order is this one)."""
        if self.size:
            self._pending.append(push)

    def seen(self, fingerprint: bytes, unsaved: Sequence[Push]) -> bool:
        """Whether a push of this node saved ``fingerprint`` in Redis less than
        ``seconds`` ago. ``unsaved``: the exchange loop's pushes not saved yet (oldest
        first); the pushes before its first one were saved."""
        if not self.size:
            return False
        now = self._clock()
        self._settle(unsaved, now)
        self._expire(now)
        return fingerprint in self._saved

    def _settle(self, unsaved: Sequence[Push], now: float) -> None:
        pending = self._pending
        first = unsaved[0] if unsaved else None
        while pending and pending[0] is not first:
            fingerprint = pending.popleft().fingerprint
            if fingerprint is not None and fingerprint not in self._saved:
                self._saved[fingerprint] = now
                self._order.append(fingerprint)

    def _expire(self, now: float) -> None:
        order, saved = self._order, self._saved
        oldest = now - self.seconds
        while order and (len(order) > self.size or saved[order[0]] <= oldest):
            del saved[order.popleft()]
