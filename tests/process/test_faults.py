"""Fault injection with real processes: killed nodes, a restarted Redis, poison pages.

Every test checks what a user would: the export holds every reachable page exactly once.
Randomness is seeded, times are bounded.
"""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

import pytest
import redis
from scrapy import Request
from scrapy.settings import Settings
from scrapy.utils.request import RequestFingerprinter

from crawler.frontier.fingerprints import layout_from_json
from crawler.items.stream import read_items
from crawler.node.config import FrontierConfig
from crawler.redis.keys import CrawlKeys
from tests.conftest import (
    RedisServer,
    Site,
    free_port,
    run_scrapy,
    serve,
    start_node,
    start_site,
    wait_all,
)
from tests.helpers import expected_titles, export_titles
from tests.spiders.fanout import FANOUT, FILTERED, page_url

KEYS = CrawlKeys("crawl", "site")
FAST_FAILOVER = {"SCHEDULER_LEASE_SECONDS": "2", "SCHEDULER_NODE_TIMEOUT": "2",
                 "SCHEDULER_PREFETCH": "16"}


@pytest.fixture(scope="module")
def big_site() -> Site:
    yield from serve(5000)


def test_ten_kill_9s_lose_nothing(redis_url: str, client: redis.Redis, big_site: Site,
                                  tmp_path: Path) -> None:
    rng = random.Random(20261123)
    run_scrapy(redis_url, "seed", "site", "-", stdin=big_site.page(0) + "\n")
    logs = iter(tmp_path / f"node{i}.log" for i in range(100))
    nodes = [start_node(redis_url, next(logs), **FAST_FAILOVER) for _ in range(3)]
    kills = 0
    while kills < 10:
        time.sleep(rng.uniform(0.5, 2.0))
        stored = client.xlen(KEYS.items)
        assert stored < big_site.pages, f"the crawl ended after only {kills} kills"
        victim = rng.randrange(len(nodes))
        nodes[victim].send_signal(signal.SIGKILL)
        nodes[victim].wait()
        kills += 1
        nodes[victim] = start_node(redis_url, next(logs), **FAST_FAILOVER)

    assert wait_all(nodes) == [0, 0, 0]
    assert export_titles(redis_url, tmp_path) == expected_titles(big_site.pages)
    twice = sum(n - 1 for n in big_site.hits().values() if n > 1)
    print(f"\n10 kill -9s: {twice} pages downloaded twice, 0 lost")
    # What a killed node held under lease: its prefetch buffer (16), the requests in its
    # downloader (CONCURRENT_REQUESTS, 16) and as many again whose responses waited for
    # their callback or whose ack waited for the next round.
    held_per_node = 16 + 2 * 16
    assert twice <= kills * held_per_node
    assert client.llen(KEYS.dead) == 0


def test_redis_restart_mid_crawl_loses_nothing(site: Site, tmp_path: Path) -> None:
    server = RedisServer(free_port(), tmp_path / "redis")
    server.folder.mkdir()
    server.start("--appendonly", "yes")
    try:
        client = redis.Redis.from_url(server.url)
        run_scrapy(server.url, "seed", "site", "-", stdin=site.page(0) + "\n")
        logs = [tmp_path / "node1.log", tmp_path / "node2.log"]
        nodes = [start_node(server.url, log) for log in logs]
        while client.xlen(KEYS.items) < site.pages * 0.4:
            time.sleep(0.05)
        server.stop()
        time.sleep(2)
        server.start("--appendonly", "yes")
        assert wait_all(nodes) == [0, 0]
        assert export_titles(server.url, tmp_path) == expected_titles(site.pages)
        text = "".join(log.read_text() for log in logs)
        assert "unreachable" in text and "is back after" in text
    finally:
        server.stop()


def test_poison_pages_end_in_the_dead_letters(redis_url: str, client: redis.Redis,
                                              small_site: Site, tmp_path: Path) -> None:
    # Leases long enough that a live node on a loaded machine keeps renewing them: only
    # the crashing page should see its leases expire.
    settings = {**FAST_FAILOVER, "SCHEDULER_LEASE_SECONDS": "5",
                "SPIDER_MODULES": "spiders,tests.spiders", "SCHEDULER_MAX_ATTEMPTS": "3"}
    client.rpush(CrawlKeys("crawl", "poison").start_urls, small_site.page(0))
    logs = iter(tmp_path / f"node{i}.log" for i in range(50))
    nodes = [start_node(redis_url, next(logs), spider="poison", **settings) for _ in range(2)]
    crashes = 0
    deadline = time.monotonic() + 240
    while any(n.poll() is None for n in nodes) or any(n.returncode for n in nodes):
        assert time.monotonic() < deadline, "the crawl did not end"
        for i, node in enumerate(nodes):
            if node.poll() is not None and node.returncode != 0:
                crashes += 1  # the crashing page took this node down: start another
                nodes[i] = start_node(redis_url, next(logs), spider="poison", **settings)
        time.sleep(0.2)

    keys = CrawlKeys("crawl", "poison")
    dead = {json.loads(d)["entry"]: json.loads(d) for d in client.lrange(keys.dead, 0, -1)}
    by_page = {json.loads(entry.split(" ", 1)[1])["url"].split("id=")[1].split("&")[0]: letter
               for entry, letter in dead.items()}
    assert sorted(by_page) == ["7", "9"], json.dumps(by_page, indent=1)[:3000]
    assert by_page["7"]["reason"].startswith("poison: failed 3 times")
    assert any(h["reason"].startswith("ValueError: this page always fails")
               for h in by_page["7"]["history"])
    assert by_page["9"]["reason"] == "poison: failed 3 times, last: lease expired"
    assert crashes == 3
    target = tmp_path / "poison.jsonl"
    exported = run_scrapy(redis_url, "export", "poison", "-o", str(target),
                          settings={"SPIDER_MODULES": settings["SPIDER_MODULES"]})
    assert exported.returncode == 0, exported.stderr
    titles = [json.loads(row)["title"] for row in target.read_text().splitlines()]
    assert sorted(titles) == sorted(
        {f"Page {i}" for i in range(small_site.pages)} - {"Page 7", "Page 9"})


def test_redis_refusing_writes_for_a_while_loses_nothing(
        redis_url: str, client: redis.Redis, small_site: Site, tmp_path: Path) -> None:
    run_scrapy(redis_url, "seed", "site", "-", stdin=small_site.page(0) + "\n")
    log = tmp_path / "node.log"
    node = start_node(redis_url, log)
    while client.xlen(KEYS.items) < 20:
        time.sleep(0.02)
    client.config_set("maxmemory", 1)  # every write now fails with OOM
    try:
        time.sleep(3)
    finally:
        client.config_set("maxmemory", 0)
    assert wait_all([node]) == [0]
    assert export_titles(redis_url, tmp_path) == expected_titles(small_site.pages)
    assert "refused a batch" in log.read_text() and "maxmemory" in log.read_text()


def test_a_parent_is_acked_only_once_every_chunk_of_its_children_is_saved(
        redis_url: str, client: redis.Redis, tmp_path: Path) -> None:
    # Page 0 yields 12 children, saved in 3 push scripts of 4; Redis refuses the middle
    # one (its first child's fingerprint bucket has the wrong type), then the node dies.
    # The others are dont_filter (no fingerprint): one saved twice would be fetched twice.
    server, small_site = start_site(20)
    keys = CrawlKeys("crawl", "fanout")
    settings = {**FAST_FAILOVER, "SPIDER_MODULES": "spiders,tests.spiders",
                "SCHEDULER_BATCH_SIZE": "4"}
    config = FrontierConfig.from_settings(Settings(settings))
    layout = layout_from_json(keys, config.fingerprint_layout())
    fingerprinter = RequestFingerprinter()
    buckets = [layout.locate(fingerprinter.fingerprint(Request(page_url(small_site.url, i))))[0]
               for i in range(1, FANOUT + 1)]
    middle = buckets[FILTERED - 1]
    assert buckets.count(middle) == 1, "pick other pages: the bucket is shared"
    client.set(middle, "not a hash")
    client.rpush(keys.start_urls, small_site.page(0))
    log = tmp_path / "node.log"
    node = start_node(redis_url, log, spider="fanout", **settings)
    deadline = time.monotonic() + 60
    while "refused a batch" not in log.read_text() or client.xlen(keys.items) < 9:
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.1)
    time.sleep(4)  # the node retries the refused round 3 times (backoff 0.25, 0.5, 1, 2 s)
    node.send_signal(signal.SIGKILL)
    node.wait()
    hits = small_site.hits()
    assert [hits.get(i, 0) for i in (*range(1, 5), *range(9, 13))] == [1] * 8  # no replay

    client.delete(middle)
    assert wait_all([start_node(redis_url, log, spider="fanout", **settings)]) == [0]
    titles = {item["title"] for _, item in read_items(client, keys)}
    server.terminate()
    server.wait(10)
    assert server.stdout is not None
    server.stdout.close()
    assert titles == {f"Page {i}" for i in range(FANOUT + 1)}
