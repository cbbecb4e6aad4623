"""The codec's short path for plain GETs: the same bytes and the same requests as the
long path, and anything else still goes the long way."""

from __future__ import annotations

import pytest
from scrapy import Request, Spider

from crawler.errors import DecodeError
from crawler.node import codec

URL = "https://www.site7.example/section/7/page-12345.html?id=12345"
REFERER = "https://www.site7.example/section/7/page-1.html"
# What the code before the short path wrote for a link a spider yields (DepthMiddleware's
# meta, RefererMiddleware's header): every version reads it, and writes it byte for byte.
LINK = (b'{"url":"' + URL.encode() + b'","callback":"parse_book","headers":{"Referer":["'
        + REFERER.encode() + b'"]},"meta":{"depth":2}}')


class BookSpider(Spider):
    name = "books"
    not_callable = 5

    def parse_book(self, response: object) -> None:
        pass


def test_a_link_is_written_as_before() -> None:
    spider = BookSpider()
    request = Request(URL, callback=spider.parse_book, headers={"Referer": REFERER},
                      meta={"depth": 2})
    assert codec.encode(request, spider) == LINK


def test_a_link_written_before_comes_back_whole() -> None:
    spider = BookSpider()
    back = codec.decode(LINK, spider)
    assert type(back) is Request
    assert (back.url, back.callback, back.meta, back.method) == (
        URL, spider.parse_book, {"depth": 2}, "GET")
    assert back.headers.to_unicode_dict() == {"Referer": REFERER}
    assert codec.encode(back, spider) == LINK


def test_fields_read_but_left_empty_keep_the_short_form() -> None:
    request = Request(URL)
    assert (request.cookies, request.flags, request.cb_kwargs, request.meta) == ({}, [], {}, {})
    assert codec.encode(request, None) == b'{"url":"' + URL.encode() + b'"}'


@pytest.mark.parametrize(("field", "value", "written"), [
    ("priority", 3, b'"priority":3'),
    ("dont_filter", True, b'"dont_filter":true'),
    ("method", "POST", b'"method":"POST"'),
    ("cookies", {"s": "1"}, b'"cookies":{"s":"1"}'),
    ("flags", ["seed"], b'"flags":["seed"]'),
])
def test_any_other_field_is_written_and_read(field: str, value: object, written: bytes) -> None:
    spider = BookSpider()
    request = Request(URL, callback=spider.parse_book, **{field: value})  # type: ignore[arg-type]
    encoded = codec.encode(request, spider)
    assert written in encoded
    assert getattr(codec.decode(encoded, spider), field) == value


@pytest.mark.parametrize("payload", [
    b'{"url":"https://e.com/","callback":"no_such_method"}',
    b'{"url":"https://e.com/","callback":"not_callable"}',
    b'{"url":"https://e.com/","callback":""}',
    b'{"url":"https://e.com/","callback":5}',
    b'{"url":"https://e.com/","meta":[1]}',
    b'{"url":"https://e.com/","headers":{"Referer":[5]}}',
    b'{"url":"e.com/"}',
])
def test_a_plain_looking_bad_entry_raises_decode_error(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        codec.decode(payload, BookSpider())


def test_an_unsafe_url_is_made_safe_and_meta_left_alone() -> None:
    spider = BookSpider()
    back = codec.decode(b'{"url":"http://e.com/a b","callback":"parse_book",'
                        b'"meta":{"depth":1}}', spider)
    assert (back.url, back.meta) == ("http://e.com/a%20b", {"depth": 1})


def test_a_verbatim_url_asked_for_in_meta_stays_asked_for() -> None:
    back = codec.decode(b'{"url":"http://e.com/a b","meta":{"verbatim_url":true}}',
                        BookSpider())
    assert (back.url, back.meta) == ("http://e.com/a b", {"verbatim_url": True})
