"""The key names are a contract with every node and with operators: pin them."""

from __future__ import annotations

from crawler.redis.keys import CrawlKeys


def test_every_key_of_a_crawl_shares_its_hash_tag() -> None:
    keys = CrawlKeys("crawl", "books")
    assert keys.queue == "crawl:{books}:queue"
    assert keys.sequence == "crawl:{books}:seq"
    assert keys.leased == "crawl:{books}:leased"
    assert keys.deadlines == "crawl:{books}:deadlines"
    assert keys.start_urls == "crawl:{books}:start_urls"
    assert keys.seen_meta == "crawl:{books}:seen"
    assert keys.seen_bucket("0a1b") == "crawl:{books}:seen:0a1b"
    assert keys.stats == "crawl:{books}:stats"
    assert keys.nodes == "crawl:{books}:nodes"
    assert keys.dead == "crawl:{books}:dead"
    assert keys.items == "crawl:{books}:items"
    assert keys.item_keys == "crawl:{books}:item_keys"
    assert keys.pattern == "crawl:{books}:*"


def test_scrapy_redis_start_urls_template_is_honoured() -> None:
    assert CrawlKeys("crawl", "books", "%(name)s:start_urls").start_urls == "books:start_urls"


def test_pattern_escapes_glob_characters_in_crawl_names() -> None:
    assert CrawlKeys("crawl", "a*b").pattern == "crawl:{a\\*b}:*"
