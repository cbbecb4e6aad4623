"""Requests survive the trip through Redis without pickle; foreign entries never run."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from scrapy import Request, Spider
from scrapy.http import FormRequest

from crawler.errors import DecodeError
from crawler.node import codec


class BookSpider(Spider):
    name = "books"

    def parse_book(self, response: object) -> None:
        pass

    def on_error(self, failure: object) -> None:
        pass


def test_every_field_survives_the_round_trip() -> None:
    spider = BookSpider()
    request = Request(
        "https://example.com/a?b=1", callback=spider.parse_book, errback=spider.on_error,
        method="POST", headers={"X-Token": "t\xe9"}, body=b"\x00\xffraw",
        cookies={"session": "s"}, meta={"depth": 2, "tags": ["a"]}, priority=7,
        dont_filter=True, cb_kwargs={"page": 3}, flags=["seed"])
    back = codec.decode(codec.encode(request, spider), spider)
    assert back.url == request.url
    assert back.callback == spider.parse_book
    assert back.errback == spider.on_error
    assert back.method == "POST"
    assert back.headers.getlist("X-Token") == request.headers.getlist("X-Token")
    assert back.body == b"\x00\xffraw"
    assert back.cookies == {"session": "s"}
    assert back.meta == {"depth": 2, "tags": ["a"]}
    assert (back.priority, back.dont_filter, back.cb_kwargs, back.flags) == (
        7, True, {"page": 3}, ["seed"])


def test_a_plain_get_costs_little_more_than_its_url() -> None:
    encoded = codec.encode(Request("https://example.com/page"), None)
    assert encoded == b'{"url":"https://example.com/page"}'


def test_request_subclasses_come_back_as_themselves() -> None:
    request = FormRequest("https://example.com/login", formdata={"user": "u"})
    assert type(codec.decode(codec.encode(request, None), None)) is FormRequest


def test_what_json_cannot_carry_is_refused_at_encode_time() -> None:
    with pytest.raises(codec.EncodeError):
        codec.encode(Request("https://example.com", meta={"obj": object()}), None)
    with pytest.raises(codec.EncodeError):
        codec.encode(Request("https://example.com", callback=lambda r: None), BookSpider())


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.marker),))  # type: ignore[return-value]


def test_a_pickle_payload_is_rejected_and_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Payload(marker))
    with pytest.raises(DecodeError):
        codec.decode(payload, None)
    assert not marker.exists()


@pytest.mark.parametrize("payload", [
    b"", b"not json", b"[1, 2]", b'{"no_url": 1}', b'{"url": 5}',
    b'{"url": "https://e.com", "_class": "os.system"}',
    b'{"url": "https://e.com", "callback": "no_such_method"}',
    b'{"url": "https://e.com", "priority": "high"}',
])
def test_garbage_raises_decode_error(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        codec.decode(payload, BookSpider())


@pytest.mark.parametrize("url", [
    "https://example.com/caf\xe9 menu?q=a b&x=|^",  # made safe when the request was built
    "https://[::1]:8080/p?id=1&lang=en#top",
    "http://bücher.example/ü",
])
def test_urls_come_back_exactly_as_scrapy_made_them(url: str) -> None:
    request = Request(url, meta={"depth": 1})
    back = codec.decode(codec.encode(request, None), None)
    assert (back.url, back.meta) == (request.url, {"depth": 1})
    assert codec.decode(codec.encode(Request(url), None), None).meta == {}


def test_an_unsafe_url_from_elsewhere_is_made_safe() -> None:
    back = codec.decode(b'{"url": "http://example.com/a b|c"}', None)
    assert back.url == "http://example.com/a%20b%7Cc"
    assert back.meta == {}
