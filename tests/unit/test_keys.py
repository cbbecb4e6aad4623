"""The key names are a contract with every node and with operators: pin them."""

from __future__ import annotations

from scrapy import Spider
from scrapy_redis.spiders import RedisCrawlSpider, RedisSpider

from crawler.redis.keys import CrawlKeys, is_scrapy_redis_spider


def test_every_key_of_a_crawl_shares_its_hash_tag() -> None:
    keys = CrawlKeys("crawl", "books")
    assert keys.queue == "crawl:{books}:queue"
    assert keys.domain_queue("a.example") == "crawl:{books}:queue:a.example"
    assert keys.pending == "crawl:{books}:pending"
    assert keys.domain_priorities("a.example") == "crawl:{books}:pending:a.example"
    assert keys.pending_list("a.example", -3) == "crawl:{books}:pending:a.example -3"
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
    assert CrawlKeys("crawl", "a*b").domain_queues_pattern == "crawl:{a\\*b}:queue:*"


class Own(RedisSpider):
    name = "own"
    redis_key = "%(name)s:seeds"


class Default(RedisCrawlSpider):
    name = "default"


class Plain(Spider):
    name = "plain"


def test_the_seeds_key_is_the_one_the_spider_reads() -> None:
    assert CrawlKeys.for_spider("crawl", Own, None).start_urls == "own:seeds"
    assert CrawlKeys.for_spider("crawl", Own, "x:%(name)s").start_urls == "own:seeds"
    assert CrawlKeys.for_spider("crawl", Default, None).start_urls == "default:start_urls"
    assert CrawlKeys.for_spider("crawl", Default, "x:%(name)s").start_urls == "x:default"
    assert CrawlKeys.for_spider("crawl", Plain, None).start_urls == "crawl:{plain}:start_urls"
    assert CrawlKeys.for_spider("crawl", Plain, "x:%(name)s").start_urls == "x:plain"
    assert [is_scrapy_redis_spider(s) for s in (Own, Default, Plain, Own())] == [
        True, True, False, True]


def test_partition_zero_is_the_crawl_and_others_have_their_own_tag() -> None:
    keys = CrawlKeys("crawl", "books")
    assert keys.in_partition(0) == keys
    three = keys.in_partition(3)
    assert three.domains == "crawl:{books/3}:domains"
    assert three.pending_list("a.example", 0) == "crawl:{books/3}:pending:a.example 0"
    assert three.seen_bucket("0a") == "crawl:{books/3}:seen:0a"
    assert three.stats == "crawl:{books/3}:stats"
    assert three.leased == "crawl:{books/3}:leased"
    assert three.dead == "crawl:{books/3}:dead"
    # crawl-wide keys stay partition 0's whatever partition the keys name
    assert three.nodes == keys.nodes == "crawl:{books}:nodes"
    assert three.seen_meta == "crawl:{books}:seen"
    assert three.items == "crawl:{books}:items"
    assert three.start_urls == "crawl:{books}:start_urls"
    assert three.control == "crawl:{books}:control"
    assert [k.partition for k in keys.every_partition(4)] == [0, 1, 2, 3]


def test_partitions_pattern_matches_partitions_and_not_other_crawls() -> None:
    from fnmatch import fnmatchcase
    keys = CrawlKeys("crawl", "books")
    assert fnmatchcase("crawl:{books/12}:domains", keys.partitions_pattern)
    assert not fnmatchcase("crawl:{books/x}:domains", keys.partitions_pattern)
    assert not fnmatchcase("crawl:{books}:domains", keys.partitions_pattern)
    assert not fnmatchcase("crawl:{bookshelf/1}:domains", keys.partitions_pattern)


def test_a_crawl_named_as_a_partition_of_another_is_refused() -> None:
    import pytest

    from crawler.errors import ConfigError
    with pytest.raises(ConfigError, match=r"^crawl name 'site/1' ends in /<number>, as the "
                       r"keys of a partition of crawl 'site' do: rename the spider$"):
        CrawlKeys("crawl", "site/1")
    assert CrawlKeys("crawl", "site/x").tag == "site/x"
