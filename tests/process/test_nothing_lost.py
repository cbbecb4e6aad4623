"""Issue 13's promises with real nodes: a node never hangs, drops or silently changes a
request, and a restarted node's work is back at once."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import redis

from crawler.items.stream import read_items
from crawler.redis.keys import CrawlKeys
from tests.conftest import Site, run_scrapy, start_node, wait_all
from tests.helpers import expected_titles, export_titles

KEYS = CrawlKeys("crawl", "site")
TEST_SPIDERS = {"SPIDER_MODULES": "spiders,tests.spiders"}


def test_requests_that_cannot_go_through_redis_are_fetched_by_their_node(
        redis_url: str, client: redis.Redis, small_site: Site, tmp_path: Path) -> None:
    keys = CrawlKeys("crawl", "kept_local")
    client.rpush(keys.start_urls, small_site.page(0))
    log = tmp_path / "node.log"
    assert wait_all([start_node(redis_url, log, spider="kept_local", **TEST_SPIDERS)]) == [0]
    items = {item["url"]: item for _, item in read_items(client, keys)}
    via = {url.split("via=")[1]: item for url, item in items.items() if "via=" in url}
    assert sorted(via) == ["int+key", "lambda", "object"]
    assert via["int+key"]["by_id_keys"] == ["int"]  # meta came back as it went in
    text = log.read_text()
    assert text.count("cannot go through Redis") == 3  # one warning per cause
    assert "'frontier/kept_local': 3" in text
    assert len(items) == small_site.pages + 3


def test_a_node_whose_frontier_task_fails_closes_instead_of_hanging(
        redis_url: str, client: redis.Redis, small_site: Site, tmp_path: Path) -> None:
    client.set(KEYS.control, b"\xff\xfe")  # a control state no tool of ours writes
    client.rpush(KEYS.start_urls, small_site.page(0))
    log = tmp_path / "node.log"
    try:
        assert wait_all([start_node(redis_url, log)], timeout=60) == [1]
    finally:
        client.delete(KEYS.control)
    text = log.read_text()
    assert "The frontier task stopped (UnicodeDecodeError" in text
    assert "'finish_reason': 'frontier_error'" in text
    # Its leases are handed back on the way out: a healthy node finishes the crawl.
    assert wait_all([start_node(redis_url, log)]) == [0]
    assert export_titles(redis_url, tmp_path) == expected_titles(small_site.pages)


def test_a_restarted_node_takes_its_leases_back_at_once(
        redis_url: str, client: redis.Redis, small_site: Site, tmp_path: Path) -> None:
    # Leases far longer than the test may take: only the restart can hand them back.
    settings = {"SCHEDULER_NODE_ID": "worker-0", "SCHEDULER_LEASE_SECONDS": "600",
                "DOWNLOAD_DELAY": "0.02"}
    client.rpush(KEYS.start_urls, small_site.page(0))
    log = tmp_path / "node.log"
    node = start_node(redis_url, log, **settings)
    while client.xlen(KEYS.items) < 30:
        time.sleep(0.02)
    node.send_signal(signal.SIGKILL)
    node.wait()
    assert client.hlen(KEYS.leased) > 0

    assert wait_all([start_node(redis_url, log, **settings)], timeout=120) == [0]
    taken = [int(line.split("restarted: ")[1].split()[0])
             for line in log.read_text().splitlines() if "Node worker-0 restarted" in line]
    assert len(taken) == 1 and taken[0] > 0
    assert export_titles(redis_url, tmp_path) == expected_titles(small_site.pages)


def test_a_second_node_given_a_running_nodes_id_is_refused(
        redis_url: str, client: redis.Redis, small_site: Site, tmp_path: Path) -> None:
    client.rpush(KEYS.start_urls, small_site.page(0))
    first = start_node(redis_url, tmp_path / "first.log", SCHEDULER_NODE_ID="worker-0",
                       DOWNLOAD_DELAY="0.05")
    while client.hget(KEYS.nodes, "worker-0") is None:
        time.sleep(0.02)
    second = run_scrapy(redis_url, "crawl", "site",
                        settings={"SCHEDULER_NODE_ID": "worker-0", "LOG_LEVEL": "ERROR"})
    assert second.returncode == 1
    assert "node id 'worker-0' is in use by a running node" in second.stderr
    assert wait_all([first]) == [0]
    assert export_titles(redis_url, tmp_path) == expected_titles(small_site.pages)
