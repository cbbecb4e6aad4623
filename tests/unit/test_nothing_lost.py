"""Issue 13's promises without Redis: an earlier version's entries are still read, and a
meta that JSON would change is refused, not changed."""

from __future__ import annotations

import re

import pytest
from scrapy import Request, Spider

from crawler.frontier.formats import Entry
from crawler.node import codec


def test_entries_of_an_earlier_version_are_still_read() -> None:
    with_domain = Entry.parse(b'0000000000000001ra.example {"url":"http://a.example/"}')
    assert (with_domain.is_request, with_domain.domain) == (True, "a.example")
    assert with_domain.stored() == b'ra.example {"url":"http://a.example/"}'
    alone = Entry.parse(b'0000000000000002r{"url":"http://b.example/ x"}')
    assert (alone.domain, alone.payload) == ("", b'{"url":"http://b.example/ x"}')
    assert alone.stored() == b'r{"url":"http://b.example/ x"}'


@pytest.mark.parametrize(("meta", "named"), [
    ({"by_id": {7: "seven"}}, "int key 7"),
    ({"span": (1, 2)}, "tuple (1, 2)"),
    ({"deep": [{"x": {None: 1}}]}, "NoneType key None"),
])
def test_a_meta_json_would_change_is_refused_not_changed(meta: dict[object, object],
                                                         named: str) -> None:
    with pytest.raises(codec.EncodeError, match=re.escape(f"meta holds a {named}")):
        codec.encode(Request("https://example.com/", meta=meta), Spider("s"))
    kept = {"by_id": {"7": "seven"}, "span": [1, 2]}
    assert codec.decode(codec.encode(Request("https://e.com/", meta=kept), None), None).meta \
        == kept
