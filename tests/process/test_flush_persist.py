"""``SCHEDULER_FLUSH_ON_START`` and ``SCHEDULER_PERSIST = False`` delete the crawl's keys,
through the scheduler's asyncio client (``deletion.delete_crawl_async``)."""

from __future__ import annotations

from pathlib import Path

import redis
import redis.asyncio

from crawler.frontier import deletion
from crawler.redis.keys import CrawlKeys
from tests.conftest import Site, run_scrapy, start_node, wait_all

KEYS = CrawlKeys("crawl", "site")


def test_flush_on_start_and_persist_off_delete_the_crawl(redis_url: str, client: redis.Redis,
                                                         small_site: Site,
                                                         tmp_path: Path) -> None:
    client.set(f"{KEYS.queue}:stale.example", "left by an earlier crawl")
    run_scrapy(redis_url, "seed", "site", "-", stdin=small_site.page(0) + "\n")
    node = start_node(redis_url, tmp_path / "node.log", SCHEDULER_FLUSH_ON_START="True",
                      SCHEDULER_PERSIST="False")
    assert wait_all([node]) == [0]
    log = (tmp_path / "node.log").read_text()
    assert "SCHEDULER_FLUSH_ON_START: deleted the 1 keys" in log
    assert "SCHEDULER_PERSIST is off: deleted the" in log
    assert client.xlen(KEYS.items) == small_site.pages, "the kept seed was not crawled"
    left = {k.decode() for k in client.scan_iter(match=KEYS.pattern)}
    records = {k for k in left if k.startswith(KEYS.item_records)}  # kept by their prefix
    assert len(records) > 1 and KEYS.item_records in deletion.kept_after_finish(KEYS)
    assert left - records <= set(deletion.kept_after_finish(KEYS)), left
