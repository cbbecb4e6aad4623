"""A node's memory of the fingerprints it saved: only what Redis saved, for a while, and
no more than its size."""

from __future__ import annotations

from crawler.frontier.round import Push
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


def test_a_push_is_remembered_once_the_loop_no_longer_holds_it() -> None:
    recent, _ = memory()
    first, second = push(b"1"), push(b"2")
    unsaved = [first, second]  # the exchange loop's list
    recent.pushed(first)
    recent.pushed(second)
    assert not recent.seen(b"1", unsaved), "not saved yet"
    del unsaved[0]  # a round saved the first
    assert recent.seen(b"1", unsaved)
    assert not recent.seen(b"2", unsaved)
    unsaved.clear()
    assert recent.seen(b"2", unsaved)


def test_a_push_saved_after_an_unsaved_one_waits_for_it() -> None:
    """A round that saved a later batch but not an earlier one: nothing after the first
    unsaved push counts as saved (it will be, with it)."""
    recent, _ = memory()
    pushes = [push(b"1"), push(b"2"), push(b"3")]
    for p in pushes:
        recent.pushed(p)
    unsaved = [pushes[0], pushes[2]]  # the second was saved, the first failed
    assert not any(recent.seen(fp, unsaved) for fp in (b"1", b"2", b"3"))
    unsaved = [pushes[2]]
    assert recent.seen(b"1", unsaved) and recent.seen(b"2", unsaved)
    assert not recent.seen(b"3", unsaved)


def test_a_push_without_fingerprint_keeps_the_order_and_is_not_remembered() -> None:
    recent, _ = memory()
    dont_filter, later = push(None), push(b"2")
    recent.pushed(dont_filter)
    recent.pushed(later)
    assert not recent.seen(b"2", [dont_filter, later])
    assert recent.seen(b"2", [])
    assert len(recent) == 1


def test_a_fingerprint_is_forgotten_after_the_seconds() -> None:
    recent, clock = memory(seconds=10)
    recent.pushed(push(b"1"))
    assert recent.seen(b"1", [])
    clock.now += 9.9
    assert recent.seen(b"1", [])
    clock.now += 0.1
    assert not recent.seen(b"1", [])
    assert len(recent) == 0


def test_a_fingerprint_saved_again_keeps_its_first_time() -> None:
    recent, clock = memory(seconds=10)
    recent.pushed(push(b"1"))
    assert recent.seen(b"1", [])
    clock.now += 5
    recent.pushed(push(b"1"))  # (pushed twice before the first was saved, say)
    assert recent.seen(b"1", [])
    clock.now += 5
    assert not recent.seen(b"1", [])


def test_the_oldest_are_forgotten_beyond_the_size() -> None:
    recent, clock = memory(size=3)
    for fp in (b"1", b"2", b"3", b"4"):
        clock.now += 1
        recent.pushed(push(fp))
        recent.seen(b"-", [])
    assert len(recent) == 3
    assert not recent.seen(b"1", [])
    assert all(recent.seen(fp, []) for fp in (b"2", b"3", b"4"))


def test_size_zero_remembers_nothing() -> None:
    recent, _ = memory(size=0)
    recent.pushed(push(b"1"))
    assert not recent.seen(b"1", [])
    assert len(recent) == 0
