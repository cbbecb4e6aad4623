"""Re-crawl control: forget URLs, seed with --recrawl, and re-fetch after an age."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import redis

from crawler.redis.keys import CrawlKeys
from tests.conftest import Site, run_scrapy, start_node, wait_all

KEYS = CrawlKeys("crawl", "site")


def crawl(redis_url: str, folder: Path, name: str, **settings: str) -> None:
    assert wait_all([start_node(redis_url, folder / f"{name}.log", **settings)]) == [0]


def fetched_during(site: Site, action: Callable[[], object]) -> Counter[int]:
    before = Counter(site.hits())
    action()
    return Counter(site.hits()) - before


def test_forget_then_seed_fetches_one_page_again(redis_url: str, client: redis.Redis,
                                                small_site: Site, tmp_path: Path) -> None:
    run_scrapy(redis_url, "seed", "site", "-", stdin=small_site.page(0) + "\n")
    crawl(redis_url, tmp_path, "first")
    forgot = run_scrapy(redis_url, "forget", "site", "-",
                        stdin=f"{small_site.page(5)}\n{small_site.url}/never-seen\n")
    assert forgot.returncode == 0, forgot.stderr
    assert "Forgot 1 of 2 URLs" in forgot.stdout
    seeded = run_scrapy(redis_url, "seed", "site", "-", stdin=small_site.page(5) + "\n")
    assert "Seeded 1 URLs" in seeded.stdout and "0 already known" in seeded.stdout

    again = fetched_during(small_site, lambda: crawl(redis_url, tmp_path, "second"))
    assert again == Counter({5: 1}), "only the forgotten page is fetched again"
    assert client.xlen(KEYS.items) == small_site.pages, "the item store duplicated a page"


def test_seed_recrawl_fetches_a_known_seed_again(redis_url: str, small_site: Site,
                                                 tmp_path: Path) -> None:
    run_scrapy(redis_url, "seed", "site", "-", stdin=small_site.page(0) + "\n")
    crawl(redis_url, tmp_path, "first")
    plain = run_scrapy(redis_url, "seed", "site", "-", stdin=small_site.page(0) + "\n")
    assert "Seeded 0 URLs" in plain.stdout and "1 already known" in plain.stdout
    again = run_scrapy(redis_url, "seed", "site", "--recrawl", "-",
                       stdin=small_site.page(0) + "\n")
    assert "Seeded 1 URLs" in again.stdout
    fetched = fetched_during(small_site, lambda: crawl(redis_url, tmp_path, "second"))
    assert fetched == Counter({0: 1}), "a re-crawled seed's links are still de-duplicated"


def test_pages_older_than_recrawl_after_days_are_fetched_again(
        redis_url: str, client: redis.Redis, small_site: Site, tmp_path: Path) -> None:
    run_scrapy(redis_url, "seed", "site", "-", stdin=small_site.page(0) + "\n")
    crawl(redis_url, tmp_path, "first")
    for bucket in client.scan_iter(match=KEYS.seen_bucket("*")):
        for field, day in client.hgetall(bucket).items():
            client.hset(bucket, field, int(day) - 10)  # seen ten days ago
    run_scrapy(redis_url, "seed", "site", "--recrawl", "-", stdin=small_site.page(0) + "\n")

    fetched = fetched_during(small_site, lambda: crawl(
        redis_url, tmp_path, "week", RECRAWL_AFTER_DAYS="7"))
    assert fetched == Counter(range(small_site.pages)), "every page once more"
    assert fetched_during(small_site, lambda: (
        run_scrapy(redis_url, "seed", "site", "--recrawl", "-",
                   stdin=small_site.page(0) + "\n"),
        crawl(redis_url, tmp_path, "again", RECRAWL_AFTER_DAYS="7"))) == Counter({0: 1})


def test_a_bloom_filter_cannot_forget(redis_url: str, small_site: Site, tmp_path: Path) -> None:
    bloom = {"FINGERPRINT_STORE": "bloom", "BLOOM_CAPACITY": "10000"}
    run_scrapy(redis_url, "seed", "site", "-", stdin=small_site.page(0) + "\n")
    crawl(redis_url, tmp_path, "bloom", **bloom)
    result = run_scrapy(redis_url, "forget", "site", "-", stdin=small_site.page(3) + "\n")
    assert result.returncode == 1
    assert "cannot forget one URL; seed it with --recrawl instead" in result.stderr


def duplicates_counted(redis_url: str, client: redis.Redis, site: Site, folder: Path,
                       name: str, **settings: str) -> tuple[int, int]:
    """Crawl ``site`` from its first page: (duplicates Redis counted, those the node
    dropped itself); every page fetched once."""
    client.flushall()
    run_scrapy(redis_url, "seed", "site", "-", stdin=site.page(0) + "\n")
    fetched = fetched_during(site, lambda: crawl(redis_url, folder, name, **settings))
    assert fetched == Counter(range(site.pages)), "every page once"
    on_node = re.search(r"'frontier/duplicates_on_node': (\d+)", (folder / f"{name}.log")
                        .read_text())
    return int(client.hget(KEYS.stats, "duplicates") or 0), int(on_node[1]) if on_node else 0


def test_links_a_node_drops_itself_add_up_with_those_redis_drops(
        redis_url: str, client: redis.Redis, small_site: Site, tmp_path: Path) -> None:
    """The node's memory of what it saved drops most repeated links before Redis sees
    them; with it off, Redis finds the same number of duplicates."""
    in_redis, on_node = duplicates_counted(redis_url, client, small_site, tmp_path, "on")
    all_in_redis, none = duplicates_counted(redis_url, client, small_site, tmp_path, "off",
                                            SCHEDULER_RECENT_FINGERPRINTS="0")
    assert none == 0 and on_node > in_redis, "most dropped on the node"
    assert in_redis + on_node == all_in_redis
