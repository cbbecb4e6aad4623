"""``scrapy pause``, ``resume`` and ``stop`` act on every node of a running crawl."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import redis

from crawler.redis.keys import CrawlKeys
from tests.conftest import Site, run_scrapy, start_node, wait_all
from tests.helpers import expected_titles, export_titles

KEYS = CrawlKeys("crawl", "site")


def wait_until(check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_pause_resume_and_stop(redis_url: str, client: redis.Redis, site: Site,
                               tmp_path: Path) -> None:
    run_scrapy(redis_url, "seed", "site", "-", stdin=site.page(0) + "\n")
    nodes = [start_node(redis_url, tmp_path / f"a{i}.log") for i in range(2)]
    wait_until(lambda: client.xlen(KEYS.items) > 200)

    paused = run_scrapy(redis_url, "pause", "site")
    assert paused.returncode == 0 and "paused" in paused.stdout
    status = json.loads(run_scrapy(redis_url, "status", "site", "--json").stdout)
    assert status["state"] == "paused"
    time.sleep(2)  # a heartbeat or two, then in-flight requests finish
    frozen = client.xlen(KEYS.items)
    time.sleep(2)
    assert client.xlen(KEYS.items) == frozen, "pages were still fetched while paused"
    assert all(node.poll() is None for node in nodes), "a paused node exited"

    assert run_scrapy(redis_url, "resume", "site").returncode == 0
    wait_until(lambda: client.xlen(KEYS.items) > frozen + 100)

    assert run_scrapy(redis_url, "stop", "site").returncode == 0
    assert wait_all(nodes, timeout=60) == [0, 0]
    assert client.xlen(KEYS.items) < site.pages
    assert client.hlen(KEYS.leased) == 0, "a stopped node kept its leases"

    late = start_node(redis_url, tmp_path / "late.log")
    assert wait_all([late], timeout=60) == [0]
    assert "stopped by `scrapy stop`" in (tmp_path / "late.log").read_text()

    stopped = json.loads(run_scrapy(redis_url, "status", "site", "--json").stdout)
    assert stopped["state"] == "stopped"
    assert run_scrapy(redis_url, "resume", "site").returncode == 0
    again = [start_node(redis_url, tmp_path / f"b{i}.log") for i in range(2)]
    assert wait_all(again) == [0, 0]
    assert export_titles(redis_url, tmp_path) == expected_titles(site.pages)
