"""Every command and a crawl on a Redis Cluster (3 masters, 3 replicas): REDIS_URL names
one node, the engine finds the rest."""

from __future__ import annotations

import json
from pathlib import Path

import redis
from redis.crc import key_slot

from crawler.redis.keys import CrawlKeys
from tests.conftest import Site, run_scrapy, start_node, wait_all
from tests.helpers import expected_titles, export_titles, pages_crawled
from tests.process.test_dashboard import dashboard, fetch, parse_metrics
from tests.redis_topologies import ClusterTopology

KEYS = CrawlKeys("crawl", "site")


def test_every_command_works_on_a_cluster(cluster_url: str, redis_cluster: ClusterTopology,
                                          small_site: Site, tmp_path: Path) -> None:
    seeded = run_scrapy(cluster_url, "seed", "site", "-", stdin=small_site.page(0) + "\n")
    assert seeded.returncode == 0, seeded.stderr
    assert "Seeded 1 URLs into crawl:{site}:start_urls" in seeded.stdout
    assert run_scrapy(cluster_url, "pause", "site").returncode == 0
    status = json.loads(run_scrapy(cluster_url, "status", "site", "--json").stdout)
    assert status["state"] == "paused" and status["seeds_waiting"] == 1
    assert run_scrapy(cluster_url, "resume", "site").returncode == 0

    logs = [tmp_path / "node1.log", tmp_path / "node2.log"]
    nodes = [start_node(cluster_url, log, SCHEDULER_PARTITIONS="1") for log in logs]
    assert wait_all(nodes) == [0, 0]
    crawled = [pages_crawled(log) for log in logs]
    assert sum(crawled) == small_site.pages, f"pages fetched more than once: {crawled}"
    assert export_titles(cluster_url, tmp_path) == expected_titles(small_site.pages)
    status = json.loads(run_scrapy(cluster_url, "status", "site", "--json").stdout)
    assert status["done"] >= small_site.pages

    with dashboard(cluster_url) as url:
        code, _, body = fetch(url + "metrics")
    assert code == 200
    metrics = parse_metrics(body.decode())
    assert metrics['crawler_items_stored_total{crawl="site"}'] == small_site.pages

    forgot = run_scrapy(cluster_url, "forget", "site", "-", stdin=small_site.page(3) + "\n")
    assert "Forgot 1 of 1 URLs" in forgot.stdout, forgot.stderr
    assert run_scrapy(cluster_url, "stop", "site").returncode == 0
    status = json.loads(run_scrapy(cluster_url, "status", "site", "--json").stdout)
    assert status["state"] == "stopped"

    reset = run_scrapy(cluster_url, "reset", "site", "--yes")
    assert reset.returncode == 0 and "Deleted" in reset.stdout, reset.stderr
    for port in redis_cluster.masters():
        with redis.Redis(port=port) as node:
            assert not list(node.scan_iter(match=KEYS.pattern)), f"keys left on {port}"


def test_seeds_on_a_start_key_in_another_slot_are_all_crawled(
        cluster_url: str, redis_cluster: ClusterTopology, small_site: Site,
        tmp_path: Path) -> None:
    # scrapy-redis's key has no hash tag: on a cluster it lies in another slot. (And the
    # explicit scheme, with two start-up nodes.)
    cluster_url = redis_cluster.cluster_url
    start_key = "site:start_urls"
    assert key_slot(start_key.encode()) != key_slot(KEYS.stats.encode())
    settings = {"REDIS_START_URLS_KEY": "%(name)s:start_urls"}
    seeded = run_scrapy(cluster_url, "seed", "site", "-", stdin=small_site.page(0) + "\n",
                        settings=settings)
    assert f"into {start_key}" in seeded.stdout, seeded.stderr
    user = redis.RedisCluster(host="127.0.0.1", port=redis_cluster.base)
    user.lpush(start_key, small_site.page(150), small_site.page(199))  # as scrapy-redis users do

    logs = [tmp_path / "node1.log", tmp_path / "node2.log"]
    assert wait_all([start_node(cluster_url, log, **settings) for log in logs]) == [0, 0]
    crawled = [pages_crawled(log) for log in logs]
    assert sum(crawled) == small_site.pages, f"pages fetched more than once: {crawled}"
    assert export_titles(cluster_url, tmp_path) == expected_titles(small_site.pages)
    assert user.llen(start_key) == 0 and user.llen(KEYS.own_start_urls) == 0
    user.close()
