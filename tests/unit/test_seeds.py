"""Seeds of every JSON shape built into requests; what cannot be built, or a spider hook that
raises or returns nonsense, is named."""

from __future__ import annotations

import pytest
from scrapy import FormRequest

from crawler.node import seeds


def build(line: str) -> FormRequest:
    (request,) = seeds.build(line.encode(), None)
    assert isinstance(request, FormRequest)
    return request


def test_form_values_that_are_numbers_become_text() -> None:
    assert build('{"url": "http://x/", "page": 2, "size": 2.5}').url == \
        "http://x/?page=2&size=2.5"
    post = build('{"url": "http://x/", "method": "post", "page": 2, "tag": ["a", 3]}')
    assert (post.method, post.body) == ("POST", b"page=2&tag=a&tag=3")


@pytest.mark.parametrize(("line", "error"), [
    ('{"url": "http://x/", "page": null}',
     "'page' is null: a form value must be text or a number"),
    ('{"url": "http://x/", "page": {"n": 2}}', "'page' is an object: a form value"),
    ('{"url": "http://x/", "page": true}', "'page' is true or false: a form value"),
    ('{"url": "http://x/", "page": [1, null]}', "'page' is null in a list: a form value"),
    ('{"url": "http://x/", "meta": [1]}', "'meta' must be an object, not a list"),
    ('{"url": "http://x/", "meta": null}', "'meta' must be an object, not null"),
    ('{"url": "http://x/", "priority": 1.5}', "'priority' must be an integer"),
    ('{"url": "http://x/", "priority": NaN}', "bad JSON: NaN is not a JSON number"),
    ('{"url": "http://x/", "method": "GET /"}', "'method' must be an HTTP method"),
    ('{"url": "http://x/", "method": 1}', "'method' must be an HTTP method"),
    ('{"url": "http://x/", "dont_filter": 1}', "'dont_filter' must be true or false"),
    ('{"url": "http://x/", "q": "\\udc00"}', "a string holds a lone surrogate"),
    ('{"url": null}', "'url' must be a string, not null"),
    ("http://[::1/", "not a valid URL (Invalid IPv6 URL)"),
    ("http://x.example:99999/", "not a valid URL (Port out of range"),
    ("http://:80/", "not an http(s) URL"),
    ("[1, 2]", "not an http(s) URL"),
    ("{}", "a JSON seed needs a 'url'"),
])
def test_what_a_node_cannot_build_is_refused_by_name(line: str, error: str) -> None:
    with pytest.raises(seeds.SeedError) as raised:
        seeds.build(line.encode(), None)
    assert str(raised.value).startswith(error)


@pytest.mark.parametrize(("made", "error"), [
    (ValueError("no"), "the spider's make_request_from_data raised ValueError: no"),
    (42, "the spider's make_request_from_data returned int 42, not a Request"),
    ("http://x/", "the spider's make_request_from_data returned str 'http://x/', not"),
    ([FormRequest("http://x/"), {"url": "http://y/"}], "the spider's make_request_from_data "
                                                       "gave dict {'url': 'http://y/'}"),
])
def test_a_spider_hook_that_raises_or_returns_nonsense_is_named(made: object,
                                                                error: str) -> None:
    def hook(raw: bytes) -> object:
        if isinstance(made, Exception):
            raise made
        return made
    with pytest.raises(seeds.SeedError) as raised:
        seeds.build(b"x", hook)
    assert str(raised.value).startswith(error)
