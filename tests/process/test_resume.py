"""Stop every node with Ctrl-C part way, start again: the crawl ends with every page once."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import redis

from crawler.redis.keys import CrawlKeys
from tests.conftest import Site, run_scrapy, start_node, wait_all
from tests.helpers import expected_titles, export_titles, queued

KEYS = CrawlKeys("crawl", "site")


def wait_for_items(client: redis.Redis, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while client.xlen(KEYS.items) < count:
        assert time.monotonic() < deadline, f"fewer than {count} items after {timeout} s"
        time.sleep(0.05)


def test_ctrl_c_then_resume_scrapes_every_page_once(redis_url: str, client: redis.Redis,
                                                    site: Site, tmp_path: Path) -> None:
    run_scrapy(redis_url, "seed", "site", "-", stdin=site.page(0) + "\n")
    first = [start_node(redis_url, tmp_path / f"first{i}.log") for i in range(2)]
    wait_for_items(client, int(site.pages * 0.4))
    for node in first:
        node.send_signal(signal.SIGINT)
    assert wait_all(first, timeout=60) == [0, 0]

    stored = client.xlen(KEYS.items)
    assert stored < site.pages, "the crawl finished before it was stopped"
    assert client.hlen(KEYS.leased) == 0, "a stopped node kept leases instead of handing back"
    assert queued(client, KEYS, "127.0.0.1") > 0, "nothing left queued"

    second = [start_node(redis_url, tmp_path / f"second{i}.log") for i in range(2)]
    assert wait_all(second) == [0, 0]
    assert export_titles(redis_url, tmp_path) == expected_titles(site.pages)
