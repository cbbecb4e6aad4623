"""The frontier's parts that need no Redis: the batch size setting, the exact fingerprint
layout, and entries an earlier version left."""

from __future__ import annotations

import pytest
from scrapy.settings import Settings

from crawler.errors import ConfigError
from crawler.frontier.fingerprints import ExactLayout
from crawler.frontier.formats import Entry
from crawler.node.config import FrontierConfig
from crawler.redis.keys import CrawlKeys

KEYS = CrawlKeys("crawl", "t")


def test_a_batch_size_below_one_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="SCHEDULER_BATCH_SIZE=0"):
        FrontierConfig.from_settings(Settings({"SCHEDULER_BATCH_SIZE": 0}))


@pytest.mark.parametrize(("bits", "bucket", "field"), [
    (0, "all", bytes(range(12))),
    (12, "000", bytes(range(1, 12))),
    (16, "0001", bytes(range(2, 12))),
    (20, "00010", bytes(range(2, 12))),
])
def test_fingerprint_layout_keeps_96_bits(bits: int, bucket: str, field: bytes) -> None:
    key, got = ExactLayout(KEYS, bits).locate(bytes(range(20)))
    assert (key, got) == (KEYS.seen_bucket(bucket), field)


def test_an_earlier_versions_entry_elsewhere_keeps_its_whole_request() -> None:
    # Leased or retried when the version changed: no domain, and a space inside its JSON
    # must not be read as the end of one.
    raw = b'0000000000000001r{"url":"http://a.example/","meta":{"shelf":"Home & Garden"}}'
    entry = Entry.parse(raw)
    assert (entry.domain, entry.payload) == ("", raw[17:])
