"""Several real ``scrapy crawl`` nodes on one crawl: every page exactly once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from crawler.redis.keys import CrawlKeys
from tests.conftest import Site, run_scrapy, start_node, wait_all
from tests.helpers import expected_titles, export_titles, pages_crawled


@pytest.mark.parametrize("store", [
    {"FINGERPRINT_STORE": "exact"},
    {"FINGERPRINT_STORE": "bloom", "BLOOM_CAPACITY": "100000"},
], ids=["exact", "bloom"])
def test_two_nodes_fetch_every_page_exactly_once(redis_url: str, client: redis.Redis,
                                                 site: Site, tmp_path: Path,
                                                 store: dict[str, str]) -> None:
    logs = [tmp_path / "node1.log", tmp_path / "node2.log"]
    nodes = [start_node(redis_url, log, **store) for log in logs]
    seeded = run_scrapy(redis_url, "seed", "site", "-", stdin=site.page(0) + "\n")
    assert seeded.returncode == 0, seeded.stderr

    assert wait_all(nodes) == [0, 0]

    assert export_titles(redis_url, tmp_path) == expected_titles(site.pages)
    crawled = [pages_crawled(log) for log in logs]
    assert all(n > 0 for n in crawled), f"a node did no work: {crawled}"
    assert sum(crawled) == site.pages, f"pages fetched more than once: {crawled}"

    samples = [json.loads(s) for s in client.lrange(CrawlKeys("crawl", "site").series, 0, -1)]
    assert samples, "no node recorded a sample of the cluster's state"
    assert set(samples[0]) == {"t", "queued", "leased", "seeds", "seen", "done", "items"}
    assert samples[0]["t"] >= samples[-1]["t"]
