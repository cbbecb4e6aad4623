"""What a node owes the frontier, and what of it Redis saved: the bookkeeping of a round.

Each round's ``Outgoing`` is planned here from the requests the node's callbacks yielded,
the Crawl-delays it learned and what ``LeaseBook`` holds to say about its leases. Once
Redis answered, what it saved is dropped, even if another step of the round failed, and
the rest stays for the next round: nothing is sent twice, nothing dropped unsaved.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from crawler.frontier.round import Incoming, Outgoing, Push
from crawler.node.leases import LeaseBook
from crawler.node.recent_fingerprints import RecentFingerprints


@dataclass(frozen=True)
class Sent:
    """One round as planned: its ``Outgoing``, and which of the book's finished requests
    its acks are. ``ready``: the first of ``done_saved`` (their children saved earlier);
    ``pending``: the first of ``done`` (their children in this round's first batch of
    pushes, or none); ``waiting``: all of ``done`` then (their children in ``out.pushes``)."""

    out: Outgoing
    ready: int
    pending: int
    waiting: int


class Outbox:
    """The node's side of the rounds: its new requests and Crawl-delays, and its book."""

    def __init__(self, book: LeaseBook, batch_size: int, lease_seconds: float,
                 partitions: int = 1, recent: RecentFingerprints | None = None) -> None:
        """``recent``: the memory told the fingerprints of the pushes Redis saved."""
        self.book = book
        self.recent = recent if recent is not None else RecentFingerprints(0, 0)
        self.batch_size = batch_size
        self.partitions = partitions  # the crawl's: with several, children may be anywhere
        self.renew_every = lease_seconds / 3
        self.pushes: list[Push] = []  # requests to enqueue, in the order they came
        self.crawl_delays: dict[str, float] = {}  # robots.txt, per domain, not sent yet
        self._last_renew = time.monotonic()

    def has_outgoing(self) -> bool:
        """Whether requests or dead letters wait to be sent."""
        return bool(self.pushes or self.book.unusable)

    def unsaved(self) -> bool:
        """Whether pushes, acknowledgements or dead letters are still to be saved."""
        book = self.book
        return bool(self.pushes or book.done or book.done_saved or book.unusable)

    def plan(self, pop: int, heartbeat: dict[str, Any] | None,
             release: list[str] | None = None) -> Sent:
        """The next round: everything owed, ``pop`` entries wanted, the ``heartbeat`` (with
        a reclaim of expired leases) if due; ``release``: the ids to hand back, if not the
        book's."""
        book = self.book
        renew: list[str] = []
        if time.monotonic() - self._last_renew >= self.renew_every:
            # (and the done ones whose acks wait for their children to be saved)
            renew = book.to_renew()
        # The acks go in one script with the first batch of pushes (see Outgoing): those
        # whose children may be in a later batch, or in another partition (on another
        # master), wait until a round has saved every push it carried. With no push left
        # to send, every child of a finished request is saved already.
        together = self.partitions == 1 and len(self.pushes) <= self.batch_size
        pending = book.done if together or not self.pushes else []
        out = Outgoing(
            pushes=list(self.pushes), dead=list(book.unusable), acks=book.done_saved + pending,
            failed=list(book.failed), renew=renew, pop=pop,
            suspects_ok=book.suspect is None, heartbeat=heartbeat,
            reclaim=heartbeat is not None, crawl_delays=dict(self.crawl_delays),
            release=list(book.handed_back) if release is None else release,
        )
        return Sent(out, len(book.done_saved), len(pending), len(book.done))

    def forget_saved(self, sent: Sent, got: Incoming) -> None:
        """Drop from the local lists what ``sent`` saved, even if another step failed: a
        push saved twice would enqueue a ``dont_filter`` request twice."""
        out, book = sent.out, self.book
        saved = {i for chunk in got.saved for i in chunk}
        if len(saved) == len(out.pushes):
            self.recent.saved(out.pushes)
            del self.pushes[:len(out.pushes)]
        elif saved:
            self.recent.saved(out.pushes[i] for i in saved)
            self.pushes[:len(out.pushes)] = [
                p for i, p in enumerate(out.pushes) if i not in saved]
        waiting = sent.waiting  # done requests whose children are in ``out.pushes``
        if got.acks_saved:
            del book.done_saved[:sent.ready]
            del book.done[:sent.pending]
            del book.unusable[:len(out.dead)]
            waiting -= sent.pending
        if waiting and len(saved) == len(out.pushes):
            book.done_saved += book.done[:waiting]  # their children are saved now
            del book.done[:waiting]

    def forget_sent(self, sent: Sent, planned_at: float) -> None:
        """After a round Redis took whole (planned at monotonic ``planned_at``): drop the
        failures, hand-backs and Crawl-delays it carried, and note its lease renewal."""
        out = sent.out
        del self.book.failed[:len(out.failed)]
        del self.book.handed_back[:len(out.release)]
        for domain in out.crawl_delays:
            if self.crawl_delays.get(domain) == out.crawl_delays[domain]:
                del self.crawl_delays[domain]
        if out.renew:
            self._last_renew = planned_at
