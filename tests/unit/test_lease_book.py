"""A node's leased requests: popped entries become requests when the engine asks for them,
in order; one that builds none goes to the dead letters and the next one comes."""

from __future__ import annotations

from scrapy import Request

from crawler.frontier.formats import KIND_REQUEST, Entry
from crawler.node.leases import LeaseBook
from crawler.node.pacing import PacedRequests


def entry(number: int, payload: bytes | None = None) -> Entry:
    url = f"http://a.test/{number}"
    return Entry(f"{number:016d}", KIND_REQUEST, "a.test", payload or url.encode())


def book_building(built: list[str]) -> LeaseBook:
    """A book whose entries' payloads are URLs; "bad" builds no request."""
    book: LeaseBook

    def build(leased: Entry) -> Request | None:
        built.append(leased.id)
        if leased.payload == b"bad":
            book.unusable_entry(leased, "ValueError: bad")
            return None
        return Request(leased.payload.decode())

    book = LeaseBook(PacedRequests(lambda: None, lambda _: None, lambda _d, _r: True), build)
    return book


def test_entries_become_requests_when_handed_out_in_order() -> None:
    built: list[str] = []
    book = book_building(built)
    for number in range(3):
        book.lease(entry(number))
    assert built == [] and len(book) == 3  # nothing built at pop time
    assert book.hand_out().url == "http://a.test/0"  # type: ignore[union-attr]
    assert built == [f"{0:016d}"] and len(book) == 2
    assert [book.hand_out().url for _ in range(2)] == [  # type: ignore[union-attr]
        "http://a.test/1", "http://a.test/2"]
    assert book.hand_out() is None
    assert sorted(book.in_engine.values()) == [f"{n:016d}" for n in range(3)]


def test_an_entry_that_builds_no_request_is_skipped_and_dead_lettered() -> None:
    book = book_building([])
    book.lease(entry(0, b"bad"))
    book.lease(entry(1))
    request = book.hand_out()
    assert request is not None and request.url == "http://a.test/1"
    assert [(e.id, reason) for e, reason in book.unusable] == [(f"{0:016d}", "ValueError: bad")]
    assert book.owes() and book.hand_out() is None


def test_unstarted_entries_are_handed_back_by_id_without_being_built() -> None:
    built: list[str] = []
    book = book_building(built)
    for number in range(2):
        book.lease(entry(number))
    assert book.unstarted_ids() == [f"{0:016d}", f"{1:016d}"]
    assert book.release_all() == [f"{0:016d}", f"{1:016d}"]
    assert built == [] and len(book) == 0
