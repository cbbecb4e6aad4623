"""A node's memory of the fingerprints it saved: only what Redis saved, for a while, and
no more than its size."""

from __future__ import annotations

from collections.abc import Sequence

from crawler.frontier.round import Incoming, Push
from crawler.node.leases import LeaseBook
from crawler.node.outbox import Outbox
from crawler.node.pacing import PacedRequests
from crawler.node.recent_fingerprints import RecentFingerprints


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def push(fingerprint: bytes | None) -> Push:
    return Push(fingerprint, 0, "a.test", b'{"url":"http://a.test/"}')


def memory(seconds: float = 10, size: int = 100) -> tuple[RecentFingerprints, Clock]:
    clock = Clock()
    return RecentFingerprints(seconds, size, clock), clock


def outbox_with(recent: RecentFingerprints, pushes: list[Push]) -> Outbox:
    book = LeaseBook(PacedRequests(lambda: None, lambda _: None, lambda _d, _r: True),
                     lambda _entry: None)
    outbox = Outbox(book, batch_size=2, lease_seconds=60, partitions=4, recent=recent)
    outbox.pushes += pushes
    return outbox


def round_saving(outbox: Outbox, saved: Sequence[Sequence[int]]) -> None:
    """A round of ``outbox`` in which Redis saved the pushes at ``saved`` (by script)."""
    sent = outbox.plan(pop=0, heartbeat=None)
    outbox.forget_saved(sent, Incoming(saved=list(saved), acks_saved=True, sent=True))


def test_only_the_pushes_redis_saved_are_remembered() -> None:
    recent, _ = memory()
    outbox = outbox_with(recent, [push(b"1"), push(b"2"), push(b"3"), push(b"4")])
    assert not any(recent.seen(fp) for fp in (b"1", b"2", b"3", b"4")), "nothing saved yet"
    round_saving(outbox, [[2, 3]])  # the second script saved, the first failed
    assert [recent.seen(fp) for fp in (b"1", b"2", b"3", b"4")] == [False, False, True, True]
    round_saving(outbox, [[0, 1]])  # sent again, saved
    assert all(recent.seen(fp) for fp in (b"1", b"2", b"3", b"4"))
    assert not outbox.pushes


def test_a_round_that_saved_nothing_teaches_nothing() -> None:
    recent, _ = memory()
    outbox = outbox_with(recent, [push(b"1")])
    round_saving(outbox, [])
    assert not recent.seen(b"1") and len(outbox.pushes) == 1


def test_a_push_without_fingerprint_is_not_remembered() -> None:
    recent, _ = memory()
    recent.saved([push(None), push(b"2")])
    assert recent.seen(b"2")
    assert len(recent) == 1


def test_a_fingerprint_is_forgotten_after_the_seconds() -> None:
    recent, clock = memory(seconds=10)
    recent.saved([push(b"1")])
    assert recent.seen(b"1")
    clock.now += 9.9
    assert recent.seen(b"1")
    clock.now += 0.1
    assert not recent.seen(b"1")
    assert len(recent) == 0


def test_a_fingerprint_saved_again_keeps_its_first_time() -> None:
    recent, clock = memory(seconds=10)
    recent.saved([push(b"1")])
    clock.now += 5
    recent.saved([push(b"1")])  # (pushed twice before the first was saved, say)
    assert recent.seen(b"1")
    clock.now += 5
    assert not recent.seen(b"1")


def test_the_oldest_are_forgotten_beyond_the_size() -> None:
    recent, clock = memory(size=3)
    for fp in (b"1", b"2", b"3", b"4"):
        clock.now += 1
        recent.saved([push(fp)])
    assert len(recent) == 3
    assert not recent.seen(b"1")
    assert all(recent.seen(fp) for fp in (b"2", b"3", b"4"))


def test_size_zero_remembers_nothing() -> None:
    recent, _ = memory(size=0)
    recent.saved([push(b"1")])
    assert not recent.seen(b"1")
    assert len(recent) == 0
