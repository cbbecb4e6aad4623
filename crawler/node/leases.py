"""Every request a node holds under lease, from pop to acknowledgement: one owner.

A lease's life on a node::

    popped ─► waiting, or held (paced domain) ─► in the engine ─┬► done ─► done, saved ─► acked
       │            │                                            ├► failed (its callback raised)
       │            └──────► handed back (the node stops, a held one is too late) ◄─┘
       └► unusable: no request can be built from it (a dead letter, with the reason)

``done`` requests may have children not yet saved in Redis: they are acknowledged only
with (or after) the script that saves those children (``crawler.frontier.exchange``). The
exchange loop asks this book what to send and tells it what Redis took; the scheduler
asks it for the next request. Nothing here talks to Redis.

A waiting entry becomes a request when it is handed out, not when it is popped: the
loop can send its next round at once, and the engine builds requests while Redis pops.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Container

from scrapy import Request

from crawler.frontier.formats import Entry
from crawler.node.pacing import PacedRequests

REASON_LIMIT = 500  # characters of a failure's reason kept


class LeaseBook:
    """The node's leased requests, by where they are in their life."""

    def __init__(self, paced: PacedRequests, build: Callable[[Entry], Request | None]) -> None:
        """``build`` makes a popped entry's request, or says why it cannot (it calls
        ``unusable_entry``) and returns None."""
        self.waiting: deque[Entry] = deque()  # for the engine, in order
        self.paced = paced  # held until their domain's pace lets them go
        self.build = build
        self.in_engine: dict[Request, str] = {}  # handed out, callback not finished
        self.callback_errors: dict[Request, str] = {}  # in the engine, their callback raised
        self.done: list[str] = []  # finished; their children may still wait to be pushed
        self.done_saved: list[str] = []  # finished, every child saved: ack them
        self.failed: list[tuple[str, str]] = []  # (id, reason): an attempt to count
        self.handed_back: list[str] = []  # to return to the queue, not as an attempt
        self.unusable: list[tuple[Entry, str]] = []  # (entry, reason): to the dead letters
        self.suspect: str | None = None  # the entry held that failed before, if any

    def __len__(self) -> int:
        """Leased requests not handed to the engine yet (the prefetch)."""
        return len(self.waiting) + len(self.paced)

    def lease(self, entry: Entry) -> None:
        """Keep a request entry popped from the frontier; a paced domain's request waits in
        ``paced`` (see ``crawler.node.pacing``), not in a download slot."""
        if entry.hold <= 0 and entry.gap <= 0:
            self.waiting.append(entry)
            return
        request = self.build(entry)
        if request is not None:
            self.paced.add(entry.id, request, entry.domain, entry.hold, entry.gap)

    def hand_out(self) -> Request | None:
        """The next request for the engine (a paced one once its time came), if any."""
        taken = self.paced.take() if self.paced else None
        while taken is None:
            if not self.waiting:
                return None
            entry = self.waiting.popleft()
            request = self.build(entry)
            if request is not None:
                taken = entry.id, request
        entry_id, request = taken
        self.in_engine[request] = entry_id
        return request

    def callback_failed(self, request: Request, reason: str) -> None:
        """The callback of ``request`` raised: it ends as an attempt, not acknowledged."""
        if request in self.in_engine:
            self.callback_errors[request] = reason[:REASON_LIMIT]

    def hand_back(self, entry_id: str) -> None:
        """Return a leased entry to the queue (next round), not as an attempt."""
        self.settled(entry_id)
        self.handed_back.append(entry_id)

    def unusable_entry(self, entry: Entry, reason: str) -> None:
        """A popped entry no request can be built from: it goes to the dead letters."""
        self.settled(entry.id)
        self.unusable.append((entry, reason))

    def seed_done(self, entry_id: str) -> None:
        """A seed turned into requests (pushed in the same round): acknowledge it with them."""
        self.settled(entry_id)
        self.done.append(entry_id)

    def collect_done(self, inprogress: Container[Request]) -> None:
        """Move the requests that left the engine's in-progress set to ``done`` (or, if
        their callback raised, to ``failed``)."""
        for request in [r for r in self.in_engine if r not in inprogress]:
            entry_id = self.in_engine.pop(request)
            self.paced.settled(request)  # a paced one a middleware dropped, say
            self.settled(entry_id)
            reason = self.callback_errors.pop(request, None)
            if reason is None:
                self.done.append(entry_id)
            else:
                self.failed.append((entry_id, reason))

    def settled(self, entry_id: str) -> None:
        """The entry is done with on this node: if it was the suspect, another may come."""
        if entry_id == self.suspect:
            self.suspect = None

    def to_renew(self) -> list[str]:
        """Every lease the node still needs: unstarted, in the engine, and done ones whose
        acknowledgement waits for their children to be saved."""
        return [*self.in_engine.values(), *self.unstarted_ids(), *self.done, *self.done_saved]

    def unstarted_ids(self) -> list[str]:
        """The ids of the leased requests not handed to the engine yet."""
        return [entry.id for entry in self.waiting] + self.paced.ids()

    def release_all(self) -> list[str]:
        """For a stopping node: forget every request not finished (unstarted, or still in
        the engine) and the ones already to hand back; return their ids, to hand back."""
        ids = [*self.handed_back, *[entry.id for entry in self.waiting], *self.paced.clear(),
               *self.in_engine.values()]
        self.waiting.clear()
        self.in_engine.clear()
        self.callback_errors.clear()
        self.handed_back.clear()
        return ids

    def owes(self) -> bool:
        """Whether anything about a lease is still to be said to the frontier."""
        return bool(self.done or self.done_saved or self.unusable or self.failed
                    or self.handed_back)
